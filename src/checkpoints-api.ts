// The public API of the env-var and separated / unified / model-only checkpoints (FORMATS.md 4 and 5).
export { loadCheckpoint, loadModelOnly, getModelStateDict, hasOptimizerState, modelFromData } from './load-checkpoint';
export type { LoadCheckpointOptions, LoadedCheckpoint } from './load-checkpoint';
export { listCheckpoints, selectCheckpoint } from './checkpoint/select';
export type { CheckpointEntry, ListedFormat } from './checkpoint/select';
export { convertLayout, LAYOUT_TARGETS } from './checkpoint/convert-layout';
export type { ConvertLayoutOptions, ConvertLayoutResult, LayoutTarget } from './checkpoint/convert-layout';
export { createCheckpointSaver } from './checkpoint/savers';
export type { CheckpointSaver, CheckpointSaverOptions, SaveContext } from './checkpoint/savers';
export { readCheckpoint } from './checkpoint/read-any';
export type { CheckpointFormat as CheckpointFileFormat, ReadCheckpoint } from './checkpoint/read-any';
export { writeEnvCheckpoint, readEnvCheckpoint } from './checkpoint/envvar';
export { envCheckpointFileName, parseEnvCheckpointFileName } from './checkpoint/envvar-name';
export { writeSeparated, writeUnified, resolveCheckpointPaths, separatedBase } from './checkpoint/separated';
export type { CheckpointData } from './checkpoint/ckpt-data';
export { runInference, resumeFromCheckpoint } from './checkpoint-run';
export { readTrainingEnv, readLoadCheckpointEnv } from './env';
export type { TrainingEnv, LoadCheckpointEnv } from './env';
