// The workflow API (contracts D): train, loadModel, generate, generateStream, getModelInfo, and helpers
// that load and save a bundle's config.json.
import path from 'path';
import { readConfigJson, configJsonText, parseConfigJson, MyptConfigJson } from '../formats/mypt/json';
import { writeFileAtomicSync } from '../formats/atomic';

export { train } from './train/train';
export type { TrainEvent, TrainResult, TrainRunOptions } from './train/train';
export type { TrainOptions } from './train/options';
export { loadModel, loadSampler, generate, generateStream, LoadedModel } from './generate/generate';
export type { TextSampler } from './generate/generate';
export type { GenerateOptions as GenerateTextOptions, SampleOptions } from './generate/generate';
export { getModelInfo, formatModelInfo } from './inspect/inspect';
export type { ModelInfo } from './inspect/inspect';
export { listPresets, getPreset } from './train/presets';
export type { Preset } from './train/presets';
export { createTokenizer, tokenizerFromJSON, CharTokenizer, Gpt2Tokenizer } from '../tokenizer';
export type { Tokenizer, TokenizerJSON, TokenKind } from '../tokenizer';
export { loadBundle, saveBundle, readBundleMeta, isBundle, findBundle } from '../formats/mypt/bundle';
export type { MyptConfigJson, TrainingStateJson, TrainingConfigJson } from '../formats/mypt/json';

/** Reads config.json from a bundle folder (or a config.json path), leniently (missing keys defaulted). */
export function loadConfig(dirOrFile: string): MyptConfigJson {
  return dirOrFile.endsWith('.json') ? readConfigJson(path.dirname(dirOrFile)) : readConfigJson(dirOrFile);
}

/** Writes config.json as MyPT does (indent 2, MyPT's key order), atomically. */
export function saveConfig(dirOrFile: string, config: Partial<MyptConfigJson>): string {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, 'config.json');
  writeFileAtomicSync(file, configJsonText(parseConfigJson(config, file)));
  return file;
}
