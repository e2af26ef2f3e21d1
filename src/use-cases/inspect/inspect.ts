// What a checkpoint holds, without building a model: read once through the registry (formats/detect.ts
// readAnySync, the same path loadModel takes), described as MyPT's inspect_model does (format, config,
// tokenizer, training state) plus the parameter count, the weights' dtypes and the files with their sizes.
// A modded-nanogpt file carries its own description (`modded`).
import { expectPath } from '../../errors';
import fs from 'fs';
import path from 'path';
import { readAnySync } from '../../formats/detect';
import type { CheckpointFormat, DetectedCheckpoint } from '../../formats/detect';
import type { ModdedInfo } from '../../formats/modded/modded';
import { MYPT_CONFIG_DEFAULTS } from '../../formats/mypt/json';
import type { MyptConfigJson, TrainingStateJson } from '../../formats/mypt/json';
import type { ModelInfo } from './types';

export { formatModelInfo, formatBytes } from './format';

export type { ModelInfo } from './types';

export async function getModelInfo(nameOrPath: string, opts: { checkpoints_dir?: string; input_file?: string } = {}): Promise<ModelInfo> {
  expectPath(nameOrPath, 'getModelInfo');
  const a = readAnySync(nameOrPath, { checkpointsDir: opts.checkpoints_dir, inputFile: opts.input_file });
  if (a.family === 'modded') {
    const { info } = a.checkpoint.parsed;
    return {
      name: nameOrPath, format: a.checkpoint.format, location: a.checkpoint.path,
      config: {
        ...MYPT_CONFIG_DEFAULTS, block_size: 0, vocab_size: info.vocab ?? info.head_rows, n_embd: info.dim, n_head: info.n_head,
        n_layer: info.n_layer, dropout: 0, bias: false, device: 'cpu', arch: `modded-${info.forward}`,
      },
      tokenizer: { kind: 'gpt2', vocab_size: info.vocab, chars: null },
      training: { step: info.step, training_config: null, optimizer_file: null, val_loss: info.val_loss },
      num_params: info.num_params, dtypes: [...new Set(Object.values(info.dtypes))],
      files: a.checkpoint.files.map((f) => ({ name: path.basename(f.name), bytes: f.bytes })), modded: info,
    };
  }
  return gptInfo(nameOrPath, a.checkpoint);
}

function gptInfo(label: string, det: DetectedCheckpoint): ModelInfo {
  const c = det.config as unknown as Record<string, unknown>;
  const bundle = det.format === 'mypt-bundle' ? (det.extra.config_json as MyptConfigJson) : undefined;
  const state = det.extra.training_state as TrainingStateJson | null | undefined;
  const config: MyptConfigJson = bundle ?? {
    ...MYPT_CONFIG_DEFAULTS, batch_size: recordedBatchSize(det.extra) ?? MYPT_CONFIG_DEFAULTS.batch_size, block_size: det.config.block_size,
    vocab_size: det.config.vocab_size, n_embd: det.config.n_embd, n_head: det.config.n_head, n_layer: det.config.n_layer,
    dropout: Number(c.dropout ?? 0), bias: Boolean(c.bias), device: 'cpu', arch: String(c.arch ?? 'mypt'),
  };
  const num = Object.values(det.params).reduce((n, t) => n + t.data.length, 0);
  // a separated pair is both its files and a bundle its folder's (the registry lists them with their sizes)
  const recorded = det.extra.files as Array<{ name: string; bytes: number }> | undefined;
  const files = (recorded ?? [{ name: det.path, bytes: fs.statSync(det.path).size }]).map((f) => ({ name: path.basename(f.name), bytes: f.bytes }));
  const notes = bundle ? undefined : [`layout: ${det.layout}`, ...(det.tokenizerSource ? [`tokenizer from ${det.tokenizerSource}`] : []),
    ...(det.tokenizerProblem ? [det.tokenizerProblem] : []), ...det.warnings];
  const optimizerFile = bundle ? state?.optimizer_file ?? (det.hasOptimizer ? 'optimizer.pt' : null)
    : det.hasOptimizer ? (files.length > 1 ? files[1].name : '(in the file)') : null;
  return {
    name: label, format: det.format, location: det.path, config, notes,
    tokenizer: {
      kind: det.tokenizer?.token_kind ?? null,
      vocab_size: det.tokenizer ? (det.tokenizer.token_kind === 'gpt2' ? 50304 : det.tokenizer.chars?.length ?? null) : null,
      chars: det.tokenizer?.chars ?? null,
    },
    training: {
      step: det.step ?? null, training_config: state?.training_config ?? null, optimizer_file: optimizerFile,
      ...(bundle ? {} : { val_loss: typeof det.extra.val_loss === 'number' ? det.extra.val_loss : null }),
    },
    num_params: num,
    dtypes: Array.isArray(det.extra.dtypes) ? (det.extra.dtypes as string[]) : ['(read as float32)'],
    checkpoint_dtype: typeof det.extra.checkpoint_dtype === 'string' ? det.extra.checkpoint_dtype : undefined,
    files,
  };
}

/** batch_size as the file records it (MyPT legacy config, nanoGPT config, lecture hyperparameters). */
function recordedBatchSize(extra: Record<string, unknown>): number | undefined {
  for (const k of ['config', 'hyperparameters', 'train_config']) {
    const rec = extra[k];
    const v = rec instanceof Map ? rec.get('batch_size') : rec && typeof rec === 'object' ? (rec as Record<string, unknown>).batch_size : undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  const v = extra.batch_size;
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}
