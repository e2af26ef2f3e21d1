// modded-nanogpt checkpoints (FORMATS.md section 6, MODDED.md): detect the small (S2) or medium (M1)
// layout, check every key and shape, and describe the file.
//
// A saved file is dict(step, code, model=state_dict, optimizers=[...], val_loss?) with state_dict keys
// prefixed `_orig_mod.` (torch.compile). mypt-native's converter adds a top-level `forward` key
// ('small' | 'medium') naming the forward pass the weights need when it differs from the layout's own
// (a small model converted to the medium layout keeps `forward: 'small'`).
//   small:  scalars [5L + pad]  embed.weight [Ve, d]  value_embeds.{0,1,2}.weight [Ve, d]
//           blocks.i.attn.qkv_w [3, hdim, d]  blocks.i.attn.c_proj.weight [d, hdim]   (no attn keys on layer 7)
//           blocks.i.mlp.c_fc.weight [4d, d]  blocks.i.mlp.c_proj.weight [d, 4d]  lm_head.weight [Vp, d]
//   medium: scalars [5L]  embed.weight, value_embeds.* [V, d]  blocks.i.attn.qkvo_w [4, hdim, d]
//           blocks.i.mlp.fc_w [4d, d]  blocks.i.mlp.proj_w [d, 4d]  lm_head_w [Vp, d]

import { MyptError } from '../../errors';
import { Tensor } from '../tensor';

export type ModdedLayout = 'small' | 'medium';
export const MODDED_PREFIX = '_orig_mod.';

export interface ModdedInfo {
  layout: ModdedLayout;
  /** The forward pass these weights need: the file's `forward` key, else the layout's own. */
  forward: ModdedLayout;
  forwardRecorded: boolean;
  prefix: string;                 // '_orig_mod.' or ''
  n_layer: number;
  dim: number;
  n_head: number;
  head_dim: number;
  headSource: string;             // where n_head came from
  hdim: number;                   // n_head * head_dim
  mlp_hidden: number;
  embed_rows: number;             // rows of embed / value_embeds
  head_rows: number;              // rows of the output head (padded vocab)
  vocab: number | null;           // the real vocab, when known
  vocabSource: string;
  padded_vocab: number;           // next multiple of 128 of the real vocab (= head_rows in files the scripts wrote)
  attention_layers: number[];
  no_attention_layers: number[];
  scalars_len: number;
  scalars_pad: number;            // entries after 5L (small only; ones, unused)
  world_sizes: number[] | null;   // GPU counts in 1..8 whose pad (-5L) % ws gives scalars_pad (small only)
  step: number | null;
  val_loss: number | null;
  dtypes: Record<string, string>; // embed, value_embeds, matrices, lm_head, scalars
  num_params: number;
  num_tensors: number;
  optimizer_states: number;       // entries of `optimizers` (rank-0 shards: not resumable elsewhere)
  attention: string;              // the mask the forward applies (causal, document, sliding window)
}

/** What parseModded gives: the info and the state dict with the prefix removed. */
export interface ModdedParsed {
  info: ModdedInfo;
  top: Map<unknown, unknown> | null;   // the saved dict (null when a bare state dict was given)
  sd: Map<string, Tensor>;             // prefix-free names, file order
}

// ---- small helpers over Python values --------------------------------------------------------

export function pyGet(obj: unknown, key: string): unknown {
  if (obj instanceof Map) return obj.get(key);
  if (obj && typeof obj === 'object') return (obj as Record<string, unknown>)[key];
  return undefined;
}

function entries(obj: unknown): [string, unknown][] {
  if (obj instanceof Map) return [...obj.entries()].map(([k, v]) => [String(k), v]);
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) return Object.entries(obj as Record<string, unknown>);
  return [];
}

export function isTensor(v: unknown): v is Tensor {
  return !!v && typeof v === 'object' && typeof (v as Tensor).dtype === 'string' && Array.isArray((v as Tensor).shape);
}

function asNumber(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && typeof (v as { valueOf(): unknown }).valueOf() === 'number') return (v as { valueOf(): number }).valueOf();
  if (isTensor(v) && v.shape.length === 0) return Number((v.data as ArrayLike<number | bigint>)[0]);
  return null;
}

export const nextMultiple128 = (n: number): number => Math.ceil(n / 128) * 128;

/** The state dict of a saved dict (its `model`), or the value itself when it is already one. */
function stateDictOf(obj: unknown): { top: Map<unknown, unknown> | null; raw: unknown } {
  const model = pyGet(obj, 'model');
  if (model && typeof model === 'object' && entries(model).some(([, v]) => isTensor(v))) {
    const top = obj instanceof Map ? obj : new Map(Object.entries(obj as object));
    return { top, raw: model };
  }
  return { top: null, raw: obj };
}

/** 'small' | 'medium' when the value (a saved dict or a state dict) has a modded layout's keys, else null. */
/** The error of every GPT-only path (loadModel, load-checkpoint, layout conversion) given a modded file. */
export function moddedIsNotGpt(file: string, layout: ModdedLayout): MyptError {
  return new MyptError('E_UNSUPPORTED', `${file}: a modded-nanogpt ${layout}-layout checkpoint, which runs its own forward pass, not a GPT-2/MyPT one`,
    'sample it with generate() or `mypt-native generate --checkpoint`; load it with loadModdedModel(); inspect it with `mypt-native inspect`');
}

export function detectModded(obj: unknown): ModdedLayout | null {
  const { raw } = stateDictOf(obj);
  const names = new Set(entries(raw).map(([k]) => (k.startsWith(MODDED_PREFIX) ? k.slice(MODDED_PREFIX.length) : k)));
  if (!names.has('scalars') || !names.has('embed.weight')) return null;
  if (names.has('lm_head_w') || [...names].some((k) => /^blocks\.\d+\.attn\.qkvo_w$/.test(k))) return 'medium';
  if (names.has('lm_head.weight') || [...names].some((k) => /^blocks\.\d+\.attn\.qkv_w$/.test(k))) return 'small';
  return null;
}

function fromCode(code: unknown, re: RegExp): number | null {
  if (typeof code !== 'string') return null;
  const m = re.exec(code);
  return m ? Number(m[1]) : null;
}

const shapeStr = (s: number[]) => `[${s.join(', ')}]`;

/**
 * Checks a modded file's dict (or bare state dict) and describes it. Throws MyptError E_BAD_FILE
 * naming every missing, misshapen or unexpected key. `where` names the file in messages.
 * opts.head_dim: the head size when neither the saved code nor the 128 convention gives it.
 */
export function parseModded(obj: unknown, where: string, opts: { head_dim?: number } = {}): ModdedParsed {
  const { top, raw } = stateDictOf(obj);
  const layout = detectModded(raw);
  if (!layout) {
    const keys = entries(raw).map(([k]) => k).slice(0, 8).join(', ');
    throw new MyptError('E_BAD_FILE', `${where}: not a modded-nanogpt checkpoint (expected scalars, embed.weight and qkv_w or qkvo_w keys; found ${keys || 'no keys'})`);
  }
  const all = entries(raw);
  const prefixed = all.filter(([k]) => k.startsWith(MODDED_PREFIX)).length;
  const prefix = prefixed > 0 ? MODDED_PREFIX : '';
  const problems: string[] = [];
  if (prefixed > 0 && prefixed !== all.length) problems.push(`${all.length - prefixed} keys lack the ${MODDED_PREFIX} prefix the others have`);
  const sd = new Map<string, Tensor>();
  for (const [k, v] of all) {
    const name = prefix && k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (!isTensor(v)) problems.push(`${k} is not a tensor`);
    else sd.set(name, v);
  }
  const shapeOf = (k: string) => sd.get(k)?.shape;
  const bail = () => {
    const shown = problems.slice(0, 10).join('; ');
    const more = problems.length > 10 ? `; and ${problems.length - 10} more` : '';
    throw new MyptError('E_BAD_FILE', `${where}: modded ${layout} layout: ${shown}${more}`);
  };

  // sizes from the anchors: embed [Ve, d], head [Vp, d], layer count from block indices
  const embed = shapeOf('embed.weight');
  const headKey = layout === 'small' ? 'lm_head.weight' : 'lm_head_w';
  const head = shapeOf(headKey);
  if (!embed || embed.length !== 2) problems.push(`embed.weight ${embed ? `has shape ${shapeStr(embed)}, expected [vocab, dim]` : 'is missing'}`);
  if (!head || head.length !== 2) problems.push(`${headKey} ${head ? `has shape ${shapeStr(head)}, expected [padded vocab, dim]` : 'is missing'}`);
  const layerIds = [...sd.keys()].map((k) => /^blocks\.(\d+)\./.exec(k)).filter(Boolean).map((m) => Number(m![1]));
  if (layerIds.length === 0) problems.push('no blocks.* keys');
  if (problems.length) bail();
  const L = Math.max(...layerIds) + 1;
  const d = embed![1];
  const Ve = embed![0];
  const Vp = head![0];

  const attnKey = layout === 'small' ? 'qkv_w' : 'qkvo_w';
  const qkvShapes = [...Array(L).keys()].map((i) => shapeOf(`blocks.${i}.attn.${attnKey}`)).filter(Boolean) as number[][];
  const hdim = qkvShapes.length ? qkvShapes[0][1] : d;
  const F = shapeOf(layout === 'small' ? 'blocks.0.mlp.c_fc.weight' : 'blocks.0.mlp.fc_w')?.[0] ?? 4 * d;

  const expected = new Map<string, number[]>();
  expected.set('scalars', [-1]);
  expected.set('embed.weight', [Ve, d]);
  for (let j = 0; j < 3; j++) expected.set(`value_embeds.${j}.weight`, [Ve, d]);
  const attention_layers: number[] = [];
  const no_attention_layers: number[] = [];
  for (let i = 0; i < L; i++) {
    const p = `blocks.${i}.`;
    // both scripts build layer 7 without attention: its keys are absent, not zero
    const hasAttn = !(i === 7 && L > 7);
    (hasAttn ? attention_layers : no_attention_layers).push(i);
    if (hasAttn) {
      if (layout === 'small') {
        expected.set(`${p}attn.qkv_w`, [3, hdim, d]);
        expected.set(`${p}attn.c_proj.weight`, [d, hdim]);
      } else {
        expected.set(`${p}attn.qkvo_w`, [4, hdim, d]);
      }
    }
    if (layout === 'small') {
      expected.set(`${p}mlp.c_fc.weight`, [F, d]);
      expected.set(`${p}mlp.c_proj.weight`, [d, F]);
    } else {
      expected.set(`${p}mlp.fc_w`, [F, d]);
      expected.set(`${p}mlp.proj_w`, [d, F]);
    }
  }
  expected.set(headKey, [Vp, d]);
  if (layout === 'medium' && hdim !== d) problems.push(`qkvo_w stacks [3, ${hdim}, ${d}] with the output projection [${d}, ${hdim}]: it needs n_head * head_dim == dim`);

  for (const [k, shape] of expected) {
    const got = shapeOf(k);
    if (!got) problems.push(`missing ${prefix}${k}`);
    else if (k === 'scalars') {
      if (got.length !== 1 || got[0] < 5 * L) problems.push(`${prefix}scalars has shape ${shapeStr(got)}, expected [${5 * L}${layout === 'small' ? ' + pad' : ''}] (5 per layer)`);
    } else if (got.length !== shape.length || got.some((s, j) => s !== shape[j])) {
      problems.push(`${prefix}${k} has shape ${shapeStr(got)}, expected ${shapeStr(shape)}`);
    }
  }
  for (const k of sd.keys()) if (!expected.has(k)) problems.push(`unexpected key ${prefix}${k}`);
  if (Ve > Vp) problems.push(`embed.weight has ${Ve} rows but ${headKey} only ${Vp}`);
  if (problems.length) bail();

  // heads: the saved training script names them; else the scripts' head_dim of 128
  const code = top ? top.get('code') : undefined;
  let head_dim = opts.head_dim ?? 0;
  let headSource = 'given';
  if (!head_dim) {
    const nh = fromCode(code, /num_heads\s*=\s*(\d+)/);
    if (nh && hdim % nh === 0) {
      head_dim = hdim / nh;
      headSource = 'num_heads in the saved code';
    } else if (hdim % 128 === 0) {
      head_dim = 128;
      headSource = 'head_dim 128 (the scripts\' value)';
    } else {
      throw new MyptError('E_BAD_FILE', `${where}: cannot tell the head count (attention width ${hdim} is not a multiple of 128 and the saved code names no num_heads)`, 'give the head size: convert --head_dim N, or the head_dim option of loadModdedModel');
    }
  }
  if (hdim % head_dim !== 0 || head_dim % 2) throw new MyptError('E_BAD_ARGUMENT', `${where}: head_dim ${head_dim} does not divide the attention width ${hdim} into even heads`);

  // vocab: unpadded embeddings give it; else the saved code's vocab_size
  let vocab: number | null = null;
  let vocabSource = 'unknown (the embedding is padded and the saved code names no vocab_size)';
  if (Ve < Vp) {
    vocab = Ve;
    vocabSource = 'embedding rows (unpadded)';
  } else {
    const v = fromCode(code, /vocab_size\s*=\s*(\d+)/);
    if (v && v <= Ve) {
      vocab = v;
      vocabSource = 'vocab_size in the saved code';
    } else if (Vp === 50304) {
      vocab = 50257;
      vocabSource = 'GPT-2 (50257, padded to 50304)';
    }
  }

  const scalars_len = shapeOf('scalars')![0];
  const scalars_pad = scalars_len - 5 * L;
  const world_sizes = layout === 'small' ? [1, 2, 3, 4, 5, 6, 7, 8].filter((ws) => ((-5 * L) % ws + ws) % ws === scalars_pad) : null;
  if (layout === 'medium' && scalars_pad !== 0) throw new MyptError('E_BAD_FILE', `${where}: modded medium layout: scalars has ${scalars_len} entries, expected exactly ${5 * L}`);

  const dt = (k: string) => sd.get(k)!.dtype;
  const matrixDtypes = new Set<string>();
  for (const [k, t] of sd) if (k.startsWith('blocks.')) matrixDtypes.add(t.dtype);
  let num_params = 0;
  for (const t of sd.values()) num_params += t.shape.reduce((a, b) => a * b, 1);
  const fwdRaw = top ? top.get('forward') : undefined;
  if (fwdRaw !== undefined && fwdRaw !== 'small' && fwdRaw !== 'medium') {
    throw new MyptError('E_BAD_FILE', `${where}: the 'forward' key is ${JSON.stringify(fwdRaw)}, expected 'small' or 'medium'`);
  }
  const forward = (fwdRaw as ModdedLayout | undefined) ?? layout;
  const optimizers = top ? top.get('optimizers') : undefined;

  const info: ModdedInfo = {
    layout, forward, forwardRecorded: fwdRaw !== undefined, prefix,
    n_layer: L, dim: d, n_head: hdim / head_dim, head_dim, headSource, hdim, mlp_hidden: F,
    embed_rows: Ve, head_rows: Vp, vocab, vocabSource, padded_vocab: vocab ? nextMultiple128(vocab) : Vp,
    attention_layers, no_attention_layers, scalars_len, scalars_pad, world_sizes,
    step: top ? asNumber(top.get('step')) : null,
    val_loss: top ? asNumber(top.get('val_loss')) : null,
    dtypes: {
      embed: dt('embed.weight'), value_embeds: dt('value_embeds.0.weight'), matrices: [...matrixDtypes].join('+'),
      lm_head: dt(headKey), scalars: dt('scalars'),
    },
    num_params, num_tensors: sd.size,
    optimizer_states: Array.isArray(optimizers) ? optimizers.length : 0,
    attention: attentionText(forward, L),
  };
  return { info, top, sd };
}

// The scripts' windows at the end of training (blocks of 128 tokens; short = long / 2), when the depth is theirs.
function attentionText(forward: ModdedLayout, L: number): string {
  const [depth, long, layers] = forward === 'small' ? [12, 14, '0, 4, 7, 11'] : [16, 27, '0, 4, 11, 15'];
  const win = L === depth
    ? `sliding window ${long * 128} / ${Math.floor(long / 2) * 128} tokens (long on layers ${layers})`
    : `no sliding window (the ${forward} script's window pattern is for ${depth} layers)`;
  return `causal, document mask (EOT 50256), ${win}`;
}

/** The plain description object of a modded file's dict (what `inspect --json` shows). */
export function describeModded(obj: unknown, where = 'checkpoint', opts: { head_dim?: number } = {}): ModdedInfo {
  return parseModded(obj, where, opts).info;
}

/** Human-readable lines for `inspect`. */
export function formatModdedInfo(i: ModdedInfo): string {
  const v = i.vocab !== null ? `${i.vocab} (${i.vocabSource})` : i.vocabSource;
  const ws = i.world_sizes ? ` -> trained on ${i.world_sizes.length ? `${i.world_sizes.join('/')} GPUs` : 'an unknown GPU count'} (pad (-5L) % world_size)` : ' (5 per layer, no pad)';
  const fwd = i.forward === i.layout ? `${i.forward} (the layout's own)` : `${i.forward} (recorded in the file: these are ${i.forward}-model weights in the ${i.layout} layout)`;
  const lines = [
    'FORMAT',
    `  modded-nanogpt ${i.layout} layout (${i.layout === 'small' ? 'qkv_w + c_proj CastedLinear weights' : 'qkvo_w, fc_w, proj_w, lm_head_w'})`,
    `  forward pass:     ${fwd}`,
    `  key prefix:       ${i.prefix ? i.prefix : '(none)'}`,
    'CONFIG',
    `  layers:           ${i.n_layer} (no attention on ${i.no_attention_layers.length ? i.no_attention_layers.join(', ') : 'none'})`,
    `  width:            ${i.dim}, MLP ${i.mlp_hidden}`,
    `  heads:            ${i.n_head} x ${i.head_dim} (${i.headSource})`,
    `  vocab:            ${v}; embedding rows ${i.embed_rows}, head rows ${i.head_rows} (padded to a multiple of 128: ${i.padded_vocab})`,
    `  scalars:          ${i.scalars_len} = 5 x ${i.n_layer}${i.scalars_pad ? ` + ${i.scalars_pad} pad` : ''}${ws}`,
    `  attention:        ${i.attention}`,
    'TRAINING STATE',
    `  step:             ${i.step ?? '(none)'}`,
    `  val loss:         ${i.val_loss ?? '(none)'}`,
    `  optimizer states: ${i.optimizer_states} (one rank's shard: not resumable on another GPU count)`,
    'TENSORS',
    `  ${i.num_tensors} tensors, ${i.num_params.toLocaleString('en-US')} parameters`,
    `  dtypes:           embed ${i.dtypes.embed}, value_embeds ${i.dtypes.value_embeds}, matrices ${i.dtypes.matrices}, lm_head ${i.dtypes.lm_head}, scalars ${i.dtypes.scalars}`,
  ];
  return lines.join('\n');
}
