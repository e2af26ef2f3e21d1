// nanoGPT's `--init_from`: fine-tune from pretrained GPT-2 (gpt2, gpt2-medium, gpt2-large, gpt2-xl) found in a
// local Hugging Face folder or the Hugging Face cache, never the network; or from any checkpoint loadModel
// reads (a PATH: nanoGPT ckpt.pt, a Hugging Face folder, a bundle, ...). The architecture comes from the
// source; the training flags (and --dropout) from the command line.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { MyptError } from '../../errors';
import { readAnySync } from '../../formats/detect';
import type { DetectedCheckpoint } from '../../formats/types';
import { gpt2Files } from '../../tokenizer/gpt2-vocab';
import { GPT2_VOCAB } from '../../tokenizer';
import type { Tokenizer } from '../../tokenizer';
import { tokenizerOf } from '../open/open';

export const GPT2_MODELS = ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl'] as const;

type Env = Record<string, string | undefined>;
const WEIGHTS = ['model.safetensors', 'pytorch_model.bin'];

const hasWeights = (dir: string) => fs.existsSync(path.join(dir, 'config.json')) && WEIGHTS.some((w) => fs.existsSync(path.join(dir, w)));

/** The Hugging Face hub caches to search, in huggingface_hub's order of precedence. */
export function hubCaches(env: Env = process.env, home = os.homedir()): string[] {
  const out: string[] = [];
  for (const d of [env.HF_HUB_CACHE, env.HUGGINGFACE_HUB_CACHE, env.HF_HOME && path.join(env.HF_HOME, 'hub'),
    env.XDG_CACHE_HOME && path.join(env.XDG_CACHE_HOME, 'huggingface', 'hub'), path.join(home, '.cache', 'huggingface', 'hub')]) {
    if (d && !out.includes(d)) out.push(d);
  }
  return out;
}

/** A snapshot of `models--<repo>` holding weights: the one refs/main names, else the newest. */
function snapshotIn(repoDir: string): string | undefined {
  const snaps = path.join(repoDir, 'snapshots');
  let names: string[];
  try {
    names = fs.readdirSync(snaps);
  } catch {
    return undefined;
  }
  let main: string | undefined;
  try {
    main = fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8').trim();
  } catch { /* no refs/main */ }
  const full = names.map((n) => path.join(snaps, n)).filter(hasWeights);
  const named = main ? full.find((d) => path.basename(d) === main) : undefined;
  if (named) return named;
  return full.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

/**
 * Where `--init_from NAME` is: a GPT-2 name looks in ./NAME (a Hugging Face folder), then in each hub
 * cache's models--NAME and models--openai-community--NAME snapshots; anything else is a path. Absent: one
 * E_NO_CHECKPOINT error naming the folders searched and how to get the files.
 */
export function locateInitFrom(name: string, env: Env = process.env, home = os.homedir(), cwd = process.cwd()): string {
  if (!(GPT2_MODELS as readonly string[]).includes(name)) {
    if (!fs.existsSync(name)) {
      throw new MyptError('E_NO_CHECKPOINT', `--init_from ${name}: no such file or folder`,
        `give ${GPT2_MODELS.join(', ')} or the path of a checkpoint (nanoGPT ckpt.pt, a Hugging Face folder, a bundle)`);
    }
    return name;
  }
  const local = path.resolve(cwd, name);
  if (hasWeights(local)) return local;
  const looked = [local];
  for (const cache of hubCaches(env, home)) {
    for (const repo of [`models--${name}`, `models--openai-community--${name}`]) {
      const dir = path.join(cache, repo);
      looked.push(path.join(dir, 'snapshots', '*'));
      const snap = snapshotIn(dir);
      if (snap) return snap;
    }
  }
  throw new MyptError('E_NO_CHECKPOINT', `--init_from ${name}: no local copy of ${name} (looked in ${looked.join(', ')}; the network is never used)`,
    `fetch it once with \`huggingface-cli download ${name} config.json model.safetensors\`, or give --init_from a folder holding config.json and model.safetensors`);
}

/** GPT-2 tokenizer files beside a model (vocab.json; tokenizer.json of the BPE kind) must hold GPT-2's own
 *  vocabulary (its ids): another BPE would have the text read with the wrong ids. */
function checkGpt2Vocab(dir: string): void {
  for (const name of ['vocab.json', 'tokenizer.json']) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    let j: unknown;
    try {
      j = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new MyptError('E_TOKENIZER', `${file}: not valid JSON (${(e as Error).message})`);
    }
    const model = name === 'tokenizer.json' ? (j as { model?: { type?: unknown; vocab?: unknown } } | null)?.model : undefined;
    if (name === 'tokenizer.json' && model?.type !== 'BPE') continue; // not a BPE tokenizer (the char kind is read elsewhere)
    const vocab = (name === 'vocab.json' ? j : model?.vocab) as Record<string, number> | null;
    const n = vocab && typeof vocab === 'object' ? Object.keys(vocab).length : 0;
    if (n !== GPT2_VOCAB || gpt2Files().tokens.some((t, id) => vocab![t] !== id)) {
      throw new MyptError('E_TOKENIZER', `${file}: a BPE vocabulary of ${n} tokens that is not GPT-2's`,
        "training reads text with GPT-2's BPE or a character vocabulary (tokenizer.json); remove the file to use GPT-2's");
    }
  }
}

/** The checkpoint at `where` (located already) and its tokenizer; modded-nanogpt files are refused. */
export function readInitFrom(where: string, flag: string): { checkpoint: DetectedCheckpoint; tokenizer: Tokenizer } {
  const a = readAnySync(where, {});
  if (a.family !== 'gpt') {
    throw new MyptError('E_UNSUPPORTED', `${flag}: ${where} is a modded-nanogpt checkpoint; train fine-tunes GPT checkpoints`);
  }
  const d = a.checkpoint;
  if (d.format === 'hf-gpt2' && d.tokenizer?.token_kind === 'gpt2') checkGpt2Vocab(path.dirname(d.path));
  const tokenizer = tokenizerOf(d);
  if (!tokenizer) throw new MyptError('E_TOKENIZER', `${flag}: ${d.tokenizerProblem ?? `${where} records no tokenizer`}`, 'put a tokenizer.json beside it');
  return { checkpoint: d, tokenizer };
}
