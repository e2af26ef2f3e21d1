// The public API of mypt-native: the one barrel (require('mypt-native')). Everything a user may call is
// named here, grouped by what it is for; nothing else in src/ is a public entry point.
import { loadAddon, NativeBackends } from './native';

export { MyptError, ERROR_CODES } from './errors';
export type { ErrorCode } from './errors';

/** Which backends this build and machine offer. */
export function backends(): NativeBackends {
  return loadAddon().backends();
}

// ---- models: one Model interface for every family (GPT, modded-nanogpt) --------------------------------
export { createModel, GptModel, ModdedModel, setCpuThreads, getCpuThreads, resolveModelConfig, ProcessGroup, groupId } from './model';
export type {
  Model, ModelSummary, ModelOrigin, Family, Tokens, SampleOptions, GenerateOptions, TextOptions, TrainBatch,
  NamedTensors, NamedInput, AdamWOptions, ModelConfig, ResolvedModelConfig, Arch, Activation,
  ModdedSpec, ModdedOptions, ModdedGenerateOptions, ModdedLayout, ModdedSoftcap, ModdedNativeConfig, ProcessGroupOptions,
} from './model';
export { loadModel, loadModdedModel, openCheckpoint, tokenizerOf } from './use-cases/open/open';
export type { LoadModelOptions, LoadModelOptions as LoadModdedOptions, LoadedModel, OpenedCheckpoint } from './use-cases/open/open';

// ---- use cases ---------------------------------------------------------------------------------------
export { train } from './use-cases/train/train';
export type { TrainEvent, TrainResult, TrainRunOptions } from './use-cases/train/train';
export type { TrainOptions } from './use-cases/train/options';
export { listPresets, getPreset } from './use-cases/train/presets';
export type { Preset } from './use-cases/train/presets';
export { createCheckpointSaver } from './use-cases/train/savers';
export type { CheckpointSaver, CheckpointSaverOptions, SaveContext } from './use-cases/train/savers';
export { generate, generateStream } from './use-cases/generate/generate';
export type { GenerateOptions as GenerateTextOptions } from './use-cases/generate/generate';
export { getModelInfo, formatModelInfo } from './use-cases/inspect/inspect';
export type { ModelInfo } from './use-cases/inspect/inspect';
export { convert, planConversions } from './use-cases/convert/convert';
export type { ConvertOptions, ConversionPlan, ConversionResult } from './use-cases/convert/convert';
export { convertLayout, LAYOUT_TARGETS } from './use-cases/convert/layout';
export type { ConvertLayoutOptions, ConvertLayoutResult, LayoutTarget } from './use-cases/convert/layout';
export { exportModel, EXPORT_FORMATS, GGUF_TYPES, HF_DTYPES } from './use-cases/export/export';
export type { ExportOptions, ExportResult, ExportCheck, ExportFormat, HfDtype, GgmlTypeName } from './use-cases/export/export';
export { listCheckpoints, selectCheckpoint } from './use-cases/list/list';
export type { CheckpointEntry, ListedFormat } from './use-cases/list/list';
export { loadCheckpoint, loadModelOnly, getModelStateDict, hasOptimizerState, modelFromData } from './use-cases/load-checkpoint/load';
export type { LoadCheckpointOptions, LoadedCheckpoint } from './use-cases/load-checkpoint/load';
export { runInference, resumeFromCheckpoint } from './use-cases/load-checkpoint/run';
export { readTrainingEnv, readLoadCheckpointEnv } from './use-cases/load-checkpoint/env';
export type { TrainingEnv, LoadCheckpointEnv } from './use-cases/load-checkpoint/env';
export { serve } from './use-cases/serve/server';
export type { ServeOptions, ServeHandle } from './use-cases/serve/server';
export { benchTorchIO } from './use-cases/bench/torch-io';
export type { TorchIOBench } from './use-cases/bench/torch-io';

// ---- tokenizers ----------------------------------------------------------------------------------------
export { createTokenizer, tokenizerFromJSON, CharTokenizer, Gpt2Tokenizer } from './tokenizer';
export type { Tokenizer, TokenizerJSON, TokenKind, TextCodec } from './tokenizer';
export { loadTokenizerFile, gpt2Codec } from './tokenizer/file';
export { HfByteLevelBpe } from './tokenizer/hf-bpe';

// ---- files: torch .pt and safetensors, tensors -----------------------------------------------------------
export { loadTorch, loadTorchSync, saveTorch, saveTorchSync, TorchTensor, TorchStorage, PyDict, PyTuple, PyFloat, PyObject, PyGlobal, TorchSize, NumpyArray, NumpyDType } from './formats/torch';
export type { LoadTorchOptions, PyKey } from './formats/torch';
export { toFloat32, bfloat16ToFloat32, float32ToBfloat16, float16ToFloat32, float32ToFloat16 } from './formats/tensor';
export type { DType, Tensor, TypedArray } from './formats/tensor';
export { loadSafetensors, loadSafetensorsSync, saveSafetensors, saveSafetensorsSync } from './formats/safetensors';
export type { SafetensorsFile } from './formats/safetensors';

// ---- checkpoint formats: the registry, the layouts, each family's files ----------------------------------
export { detectCheckpoint, detectCheckpointSync, resolveCheckpoint, formatOf } from './formats/detect';
export type { CheckpointFormat, DetectedCheckpoint, DetectOptions, TokenizerRecord } from './formats/detect';
export { stateDictToCanonical, canonicalToStateDict, canonicalToOptimizerStateDict, optimizerToCanonical, layoutOf, layoutForConfig } from './formats/layouts';
export type { LayoutName, FormatModelConfig } from './formats/layouts';
export { loadBundle, saveBundle, readBundleMeta, isBundle, findBundle } from './formats/mypt/bundle';
export { loadConfig, saveConfig } from './formats/mypt/json';
export type { MyptConfigJson, TrainingStateJson, TrainingConfigJson } from './formats/mypt/json';
export { readCheckpoint } from './formats/separated/read';
export type { CheckpointFormat as CheckpointFileFormat, ReadCheckpoint } from './formats/separated/read';
export { writeEnvCheckpoint, readEnvCheckpoint } from './formats/lecture/envvar';
export { envCheckpointFileName, parseEnvCheckpointFileName } from './formats/lecture/envvar-name';
export { writeSeparated, writeUnified, resolveCheckpointPaths, separatedBase } from './formats/separated/separated';
export type { CheckpointData } from './formats/separated/data';
export { describeModded, formatModdedInfo, detectModded } from './formats/modded/modded';
export { convertModded } from './formats/modded/convert';
export { readGgufHeader, readGgufTensor } from './formats/gguf/read';
export type { GgufFile } from './formats/gguf/read';
export { writeGguf, writeGgufSync } from './formats/gguf/write';
export type { GgufOut, GgufTensorOut } from './formats/gguf/write';
export type { GgufValue, GgufTensorInfo } from './formats/gguf/types';
