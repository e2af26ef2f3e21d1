// Token shard folders: the manifest `prepare` writes, llm.c's shard header, nanoGPT's meta.pkl, and the
// description of a folder `train --data` and `eval` read.
export { describeDataset, splitTokens } from './dataset';
export type { DatasetInfo, ShardRef } from './dataset';
export { readManifest, manifestText, MANIFEST, TOKEN_FORMATS } from './manifest';
export type { Manifest, ShardEntry, SplitName, TokenFormat, TokenizerRecord } from './manifest';
export { llmcHeader, parseLlmcHeader, LLMC_HEADER_BYTES, LLMC_MAGIC, LLMC_VERSION } from './llmc';
export { metaPklBytes } from './meta-pkl';
