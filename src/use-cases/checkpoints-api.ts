// The public API of the env-var and separated / unified / model-only checkpoints (FORMATS.md 4 and 5).
export { loadCheckpoint, loadModelOnly, getModelStateDict, hasOptimizerState, modelFromData } from './load-checkpoint/load';
export type { LoadCheckpointOptions, LoadedCheckpoint } from './load-checkpoint/load';
export { listCheckpoints, selectCheckpoint } from './list/list';
export type { CheckpointEntry, ListedFormat } from './list/list';
export { convertLayout, LAYOUT_TARGETS } from './convert/layout';
export type { ConvertLayoutOptions, ConvertLayoutResult, LayoutTarget } from './convert/layout';
export { createCheckpointSaver } from './train/savers';
export type { CheckpointSaver, CheckpointSaverOptions, SaveContext } from './train/savers';
export { readCheckpoint } from '../formats/separated/read';
export type { CheckpointFormat as CheckpointFileFormat, ReadCheckpoint } from '../formats/separated/read';
export { writeEnvCheckpoint, readEnvCheckpoint } from '../formats/lecture/envvar';
export { envCheckpointFileName, parseEnvCheckpointFileName } from '../formats/lecture/envvar-name';
export { writeSeparated, writeUnified, resolveCheckpointPaths, separatedBase } from '../formats/separated/separated';
export type { CheckpointData } from '../formats/separated/data';
export { runInference, resumeFromCheckpoint } from './load-checkpoint/run';
export { readTrainingEnv, readLoadCheckpointEnv } from './load-checkpoint/env';
export type { TrainingEnv, LoadCheckpointEnv } from './load-checkpoint/env';
