// The public API of mypt-native.
export { MyptError } from './errors';
import { loadAddon, NativeBackends } from './native';
export { createModel, Model, setCpuThreads, getCpuThreads } from './model/gpt';
export type { NamedTensors, NamedInput, AdamWOptions, GenerateOptions } from './model/gpt';
export { resolveModelConfig } from './model/config';
export type { ModelConfig, ResolvedModelConfig, Arch, Activation } from './model/config';
export type { Tokens } from './model/tokens';

/** Which backends this build and machine offer. */
export function backends(): NativeBackends {
  return loadAddon().backends();
}
export { loadTorch, loadTorchSync, saveTorch, saveTorchSync, TorchTensor, TorchStorage, PyDict, PyTuple, PyFloat, PyObject, PyGlobal, TorchSize, NumpyArray, NumpyDType } from './formats/torch';
export type { LoadTorchOptions, PyKey } from './formats/torch';
export { toFloat32, bfloat16ToFloat32, float32ToBfloat16, float16ToFloat32, float32ToFloat16 } from './formats/tensor';
export type { DType, Tensor, TypedArray } from './formats/tensor';
export { loadSafetensors, loadSafetensorsSync, saveSafetensors, saveSafetensorsSync } from './formats/safetensors';
export type { SafetensorsFile } from './formats/safetensors';
export { benchTorchIO } from './formats/torch';
export type { TorchIOBench } from './formats/torch';
export {
  train, loadModel, loadSampler, LoadedModel, generate, generateStream, getModelInfo, formatModelInfo, listPresets, getPreset, createTokenizer,
  tokenizerFromJSON, CharTokenizer, Gpt2Tokenizer, loadBundle, saveBundle, readBundleMeta, isBundle, findBundle,
  loadConfig, saveConfig,
} from './use-cases/api';
export type {
  TrainEvent, TrainResult, TrainRunOptions, TrainOptions, GenerateTextOptions, TextSampler, SampleOptions, ModelInfo, Preset,
  Tokenizer, TokenizerJSON, TokenKind, MyptConfigJson, TrainingStateJson, TrainingConfigJson,
} from './use-cases/api';
export * from './use-cases/checkpoints-api';
// Checkpoints from other tools (formats helper): one registry for any file/folder/model name, conversion,
// and the state_dict layout mappings.
export { detectCheckpoint, detectCheckpointSync, resolveCheckpoint, formatOf } from './formats/detect';
export type { CheckpointFormat, DetectedCheckpoint, DetectOptions, TokenizerRecord } from './formats/detect';
export { convert, planConversions } from './use-cases/convert/convert';
export type { ConvertOptions, ConversionPlan, ConversionResult } from './use-cases/convert/convert';
export { stateDictToCanonical, canonicalToStateDict, canonicalToOptimizerStateDict, optimizerToCanonical, layoutOf, layoutForConfig } from './formats/layouts';
export type { LayoutName, FormatModelConfig } from './formats/layouts';
export { openCheckpoint, tokenizerOf } from './use-cases/open/open';
export type { OpenedCheckpoint } from './use-cases/open/open';
// modded-nanogpt speedrun checkpoints (small / medium layouts)
export { loadModdedModel, ModdedModel } from './model/modded';
export { describeModded, formatModdedInfo, detectModded } from './formats/modded/modded';
export { convertModded } from './formats/modded/convert';
export type { LoadModdedOptions, ModdedGenerateOptions } from './model/modded';
// tokenizer files (modded-nanogpt models trained with their own vocabulary)
export { loadTokenizerFile, gpt2Codec } from './tokenizer/file';
export { HfByteLevelBpe } from './tokenizer/hf-bpe';
export type { TextCodec } from './tokenizer/hf-bpe';
