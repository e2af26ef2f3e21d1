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
