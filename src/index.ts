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
export { benchTorchIO } from './checkpoint/torch';
export type { TorchIOBench } from './checkpoint/torch';
export {
  train, loadModel, loadSampler, LoadedModel, generate, generateStream, getModelInfo, formatModelInfo, listPresets, getPreset, createTokenizer,
  tokenizerFromJSON, CharTokenizer, Gpt2Tokenizer, loadBundle, saveBundle, readBundleMeta, isBundle, findBundle,
  loadConfig, saveConfig,
} from './api';
export type {
  TrainEvent, TrainResult, TrainRunOptions, TrainOptions, GenerateTextOptions, TextSampler, SampleOptions, ModelInfo, Preset,
  Tokenizer, TokenizerJSON, TokenKind, MyptConfigJson, TrainingStateJson, TrainingConfigJson,
} from './api';
export * from './checkpoints-api';
// Checkpoints from other tools (formats helper): one registry for any file/folder/model name, conversion,
// and the state_dict layout mappings.
export { detectCheckpoint, detectCheckpointSync, resolveCheckpoint, formatOf } from './checkpoint/detect';
export type { CheckpointFormat, DetectedCheckpoint, DetectOptions, TokenizerRecord } from './checkpoint/detect';
export { convert, planConversions } from './convert';
export type { ConvertOptions, ConversionPlan, ConversionResult } from './convert';
export { stateDictToCanonical, canonicalToStateDict, canonicalToOptimizerStateDict, optimizerToCanonical, layoutOf, layoutForConfig } from './checkpoint/layouts';
export type { LayoutName, FormatModelConfig } from './checkpoint/layouts';
export { openCheckpoint, tokenizerOf } from './checkpoint/open';
export type { OpenedCheckpoint } from './checkpoint/open';
// modded-nanogpt speedrun checkpoints (small / medium layouts)
export { loadModdedModel, ModdedModel } from './modded-model';
export { describeModded, formatModdedInfo, detectModded } from './checkpoint/modded';
export { convertModded } from './checkpoint/modded-convert';
export type { LoadModdedOptions, ModdedGenerateOptions } from './modded-model';
// tokenizer files (modded-nanogpt models trained with their own vocabulary)
export { loadTokenizerFile, gpt2Codec } from './tokenizer/file';
export { HfByteLevelBpe } from './tokenizer/hf-bpe';
export type { TextCodec } from './tokenizer/hf-bpe';
