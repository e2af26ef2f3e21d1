// Converting modded-nanogpt files between the small (S2) and medium (M1) layouts (FORMATS.md section 6).
//
// small -> medium, per layer i (tensors keep their dtypes; no transposes anywhere):
//   qkvo_w[0:3] = attn.qkv_w            [3, hdim, d]
//   qkvo_w[3]   = attn.c_proj.weight    [d, hdim] AS STORED: both scripts apply it as F.linear(y, W) = y @ W.T,
//                                       so a transpose would change the function (the original project's converter does)
//   fc_w = mlp.c_fc.weight, proj_w = mlp.c_proj.weight, lm_head_w = lm_head.weight
//   scalars = scalars[:5L] (the pad after 5L is the GPU-count padding, ones, never read)
//   the head is padded with zero rows to the next multiple of 128 only when it is not one already
//   layer 7 has no attention in either script: its keys stay absent
// medium -> small is the inverse (lossless; `world_size` re-adds the pad of ones).
// The two scripts' forward passes differ (MODDED.md), so the output records in a top-level
// `forward` key the pass the weights need whenever it is not the output layout's own.

import * as fs from 'fs';
import * as path from 'path';
import { MyptError } from '../../errors';
import { ModdedLayout, ModdedParsed, nextMultiple128, parseModded } from './modded';
import { Tensor, TypedArray } from '../tensor';
import { loadTorch, PyDict, saveTorch } from '../torch';

export interface ConvertModdedOptions {
  to: ModdedLayout;
  /** Output path; default `<dir>/<name>-<to>.pt` beside the input. */
  out?: string;
  /** Replace an existing output file. */
  overwrite?: boolean;
  /** small -> medium: cut embed/value_embeds to the real vocab (the medium script's unpadded shape). */
  trim_embeddings?: boolean;
  /** medium -> small: pad scalars with ones as a run on this many GPUs did ((-5L) % world_size). */
  world_size?: number;
  /** Head size, when the file's saved code does not name num_heads and the width is no multiple of 128. */
  head_dim?: number;
}

export interface ConvertModdedResult {
  in: string;
  out: string;
  from: ModdedLayout;
  to: ModdedLayout;
  /** The forward pass the output needs (recorded in its `forward` key when not the layout's own). */
  forward: ModdedLayout;
  /** One line per change made beyond renaming. */
  notes: string[];
}

function typedLike(a: TypedArray, n: number): TypedArray {
  return new (a.constructor as { new (n: number): TypedArray })(n);
}

function concat(parts: Tensor[], shape: number[]): Tensor {
  const n = parts.reduce((s, t) => s + t.data.length, 0);
  const data = typedLike(parts[0].data, n);
  let o = 0;
  for (const t of parts) {
    (data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(t.data as ArrayLike<unknown>, o);
    o += t.data.length;
  }
  return { dtype: parts[0].dtype, shape, data };
}

function rows(t: Tensor, from: number, to: number): Tensor {
  const w = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = typedLike(t.data, (to - from) * w);
  (data as unknown as { set(a: ArrayLike<unknown>): void }).set((t.data as unknown as { subarray(a: number, b: number): ArrayLike<unknown> }).subarray(from * w, Math.min(to, t.shape[0]) * w));
  return { dtype: t.dtype, shape: [to - from, ...t.shape.slice(1)], data };
}

/** The converted state dict (prefix-free names) and notes. Pure: no files. */
export function convertModdedStateDict(p: ModdedParsed, to: ModdedLayout, opts: ConvertModdedOptions = { to }): { sd: Map<string, Tensor>; notes: string[] } {
  const { info, sd } = p;
  const L = info.n_layer;
  const out = new Map<string, Tensor>();
  const notes: string[] = [];
  const get = (k: string) => sd.get(k)!;
  const embedRows = to === 'medium' && opts.trim_embeddings && info.vocab && info.vocab < info.embed_rows ? info.vocab : info.embed_rows;
  if (embedRows !== info.embed_rows) notes.push(`embed and value_embeds cut from ${info.embed_rows} to ${embedRows} rows (the real vocab)`);
  else if (to === 'medium' && opts.trim_embeddings) notes.push('embeddings kept: the real vocab is unknown or already the row count');
  const emb = (k: string) => (embedRows === info.embed_rows ? get(k) : rows(get(k), 0, embedRows));

  if (to === 'medium') {
    for (let i = 0; i < L; i++) {
      const p0 = `blocks.${i}.`;
      if (info.attention_layers.includes(i)) {
        const qkv = get(`${p0}attn.qkv_w`);
        const o = get(`${p0}attn.c_proj.weight`);
        if (qkv.dtype !== o.dtype) throw new MyptError('E_BAD_FILE', `blocks.${i}: qkv_w is ${qkv.dtype} but attn.c_proj.weight is ${o.dtype}; qkvo_w needs one dtype`);
        out.set(`${p0}attn.qkvo_w`, concat([qkv, o], [4, info.hdim, info.dim]));  // o untransposed
      }
      out.set(`${p0}mlp.fc_w`, get(`${p0}mlp.c_fc.weight`));
      out.set(`${p0}mlp.proj_w`, get(`${p0}mlp.c_proj.weight`));
    }
    const head = get('lm_head.weight');
    const padded = nextMultiple128(head.shape[0]);
    if (padded !== head.shape[0]) notes.push(`lm_head padded with zero rows from ${head.shape[0]} to ${padded}`);
    out.set('lm_head_w', padded === head.shape[0] ? head : rows(head, 0, padded));
    const sc = get('scalars');
    if (info.scalars_pad) notes.push(`scalars: the ${info.scalars_pad} pad entries after 5L = ${5 * L} dropped`);
    out.set('scalars', info.scalars_pad ? rows(sc, 0, 5 * L) : sc);
    out.set('embed.weight', emb('embed.weight'));
    for (let j = 0; j < 3; j++) out.set(`value_embeds.${j}.weight`, emb(`value_embeds.${j}.weight`));
    return { sd: out, notes };
  }

  // medium -> small, in the small script's state_dict order
  const sc = get('scalars');
  const ws = opts.world_size ?? 0;
  if (ws && (!Number.isInteger(ws) || ws < 1)) throw new MyptError('E_BAD_ARGUMENT', `world_size must be a positive integer (got ${ws})`);
  const pad = ws ? ((-5 * L) % ws + ws) % ws : 0;
  if (pad) {
    const padded = rows(sc, 0, 5 * L + pad);
    const one = sc.dtype === 'bfloat16' ? 0x3f80 : sc.dtype === 'float16' ? 0x3c00 : 1;
    for (let k = 5 * L; k < 5 * L + pad; k++) (padded.data as unknown as number[])[k] = one;
    out.set('scalars', padded);
    notes.push(`scalars padded with ${pad} ones for ${ws} GPUs`);
  } else out.set('scalars', sc);
  out.set('embed.weight', get('embed.weight'));
  for (let j = 0; j < 3; j++) out.set(`value_embeds.${j}.weight`, get(`value_embeds.${j}.weight`));
  const hd = info.hdim * info.dim;
  for (let i = 0; i < L; i++) {
    const p0 = `blocks.${i}.`;
    if (info.attention_layers.includes(i)) {
      const qkvo = get(`${p0}attn.qkvo_w`);
      const d = qkvo.data as unknown as { subarray(a: number, b: number): TypedArray };
      out.set(`${p0}attn.qkv_w`, { dtype: qkvo.dtype, shape: [3, info.hdim, info.dim], data: d.subarray(0, 3 * hd) });
      out.set(`${p0}attn.c_proj.weight`, { dtype: qkvo.dtype, shape: [info.dim, info.hdim], data: d.subarray(3 * hd, 4 * hd) });
    }
    out.set(`${p0}mlp.c_fc.weight`, get(`${p0}mlp.fc_w`));
    out.set(`${p0}mlp.c_proj.weight`, get(`${p0}mlp.proj_w`));
  }
  out.set('lm_head.weight', get('lm_head_w'));
  return { sd: out, notes };
}

/** `<dir>/<name>-<to>.pt` beside the input. */
export function defaultModdedOut(inPath: string, to: ModdedLayout): string {
  const ext = path.extname(inPath);
  return path.join(path.dirname(inPath), `${path.basename(inPath, ext)}-${to}${ext || '.pt'}`);
}

/**
 * Converts a modded-nanogpt file to the other layout and writes it (PyTorch loads it with
 * torch.load(weights_only=True)); the output is read back and checked before returning.
 * Every top-level entry of the input (step, code, optimizers, val_loss) is kept as it is.
 */
export async function convertModded(inPath: string, opts: ConvertModdedOptions): Promise<ConvertModdedResult> {
  if (opts.to !== 'small' && opts.to !== 'medium') throw new MyptError('E_BAD_ARGUMENT', `convert: --to must be small or medium for a modded-nanogpt file (got ${String(opts.to)})`);
  const parsed = parseModded(await loadTorch(inPath), inPath, { head_dim: opts.head_dim });
  const { info, top } = parsed;
  if (info.layout === opts.to) throw new MyptError('E_BAD_ARGUMENT', `${inPath} is already in the modded ${opts.to} layout`, 'nothing to convert');
  const out = opts.out ?? defaultModdedOut(inPath, opts.to);
  if (path.resolve(out) === path.resolve(inPath)) throw new MyptError('E_BAD_ARGUMENT', `convert: the output ${out} is the input file`);
  if (fs.existsSync(out) && !opts.overwrite) throw new MyptError('E_IO', `convert: ${out} exists`, 'pass --out PATH (out) for another file, or --yes (overwrite: true) to replace it');

  const { sd, notes } = convertModdedStateDict(parsed, opts.to, opts);
  const model = new PyDict<Tensor>();
  model.ordered = true;  // a state_dict is an OrderedDict
  for (const [k, t] of sd) model.set(info.prefix + k, t);

  const forward = info.forward;
  const saved = new PyDict<unknown>();
  if (top instanceof PyDict) saved.ordered = top.ordered;
  const entries: [unknown, unknown][] = top ? [...top.entries()] : [['model', null]];
  for (const [k, v] of entries) {
    if (k === 'forward') continue;
    saved.set(k as string, k === 'model' ? model : v);
  }
  if (forward !== opts.to) {
    saved.set('forward', forward);
    notes.push(`the weights need the ${forward} forward pass: recorded as forward: '${forward}'`);
  }
  // a bare state dict stays bare unless the forward must be recorded: then it becomes {model, forward}
  const wrap = top !== null || forward !== opts.to;
  if (!top && wrap) notes.push(`bare state dict written inside {model, forward}`);
  await saveTorch(out, wrap ? saved : model);

  // read it back: the same layout checks as any input
  const back = parseModded(await loadTorch(out), out, { head_dim: info.head_dim });
  if (back.info.layout !== opts.to || back.info.forward !== forward) {
    throw new MyptError('E_IO', `convert: ${out} reads back as ${back.info.layout} layout with the ${back.info.forward} forward, expected ${opts.to} / ${forward}`);
  }
  return { in: inPath, out, from: info.layout, to: opts.to, forward, notes };
}

/** One line for the CLI: what was written and what changed. */
export function formatConvertModded(r: ConvertModdedResult): string {
  const extra = r.notes.length ? `; ${r.notes.join('; ')}` : '';
  return `${r.in} (modded ${r.from}) -> ${r.out} (modded ${r.to}, needs the ${r.forward} forward)${extra}`;
}
