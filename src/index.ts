// The public API of mypt-native.
export { MyptError } from './errors';
import { loadAddon, NativeBackends } from './native';
export { createModel, Model, setCpuThreads, getCpuThreads } from './model';
export type { NamedTensors, NamedInput, AdamWOptions, GenerateOptions } from './model';
export { resolveModelConfig } from './model-config';
export type { ModelConfig, ResolvedModelConfig, Arch, Activation } from './model-config';
export type { Tokens } from './tokens';

/** Which backends this build and machine offer. */
export function backends(): NativeBackends {
  return loadAddon().backends();
}
export { loadTorch, loadTorchSync, saveTorch, saveTorchSync, TorchTensor, TorchStorage, PyDict, PyTuple, PyFloat, PyObject, PyGlobal, TorchSize, NumpyArray, NumpyDType } from './checkpoint/torch';
export type { LoadTorchOptions, PyKey } from './checkpoint/torch';
export { toFloat32, bfloat16ToFloat32, float32ToBfloat16, float16ToFloat32, float32ToFloat16 } from './checkpoint/tensor';
export type { DType, Tensor, TypedArray } from './checkpoint/tensor';
export { loadSafetensors, loadSafetensorsSync, saveSafetensors, saveSafetensorsSync } from './checkpoint/safetensors';
export type { SafetensorsFile } from './checkpoint/safetensors';
