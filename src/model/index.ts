// The model layer: one Model interface (types.ts) and its families, GPT (gpt.ts) and modded-nanogpt
// (modded.ts), over the native engine. Knows no file.
export type { Model, ModelSummary, ModelOrigin, Family, Tokens, SampleOptions, GenerateOptions, TextOptions, TrainBatch } from './types';
export { GptModel, createModel, setCpuThreads, getCpuThreads } from './gpt';
export type { NamedTensors, NamedInput, AdamWOptions, SnapshotBuffers } from './gpt';
export { BatchDecoder } from './decoder';
export { ModdedModel, createModdedModel } from './modded';
export type { ModdedSpec, ModdedOptions, ModdedGenerateOptions, ModdedLayout, ModdedSoftcap, ModdedNativeConfig } from './modded';
export { resolveModelConfig } from './config';
export type { ModelConfig, ResolvedModelConfig, Arch, Activation } from './config';
export { resolvePlacement, resolveDevice, requireCuda } from './placement';
export { ProcessGroup, groupId, requireNccl } from './group';
export type { ProcessGroupOptions } from './group';
export { MAX_NEW_TOKENS } from './text';
