// `serve`: an OpenAI-compatible HTTP server over one loaded model (fastify). Routes:
//   POST /v1/completions       text completions, streamed as server-sent events when `stream` is true
//   POST /v1/chat/completions  a clear 400: no tokenizer here carries a chat template
//   GET  /v1/models            the one model      GET /health   ready, device, queue length
//   GET  /                     the playground page (static, offline)   GET /card  its model card
// Requests wait in a fair queue (scheduler.ts) and run one at a time; a full queue answers 503 with
// Retry-After; a client that goes away frees its place at once; close() drains, then stops.
import fs from 'fs';
import path from 'path';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MyptError } from '../../errors';
import { BatchDecoder, GptModel } from '../../model';
import { loadModel, LoadedModel } from '../open/open';
import { readMetrics } from '../train/metrics';
import { availableMemory, gib } from '../train/memory';
import { ApiError, badRequest, CompletionRequest, parseCompletion } from './openai';
import { FairQueue, QueueFullError } from './scheduler';
import { ChoiceResult, promptTokens, runChoice } from './complete';

export interface ServeOptions {
  checkpoint?: string;
  model_name?: string;
  checkpoints_dir?: string;
  input_file?: string;
  tokenizer?: string;
  device?: 'auto' | 'cpu' | 'cuda';
  /** Default 127.0.0.1: only this machine. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Sequences decoded together (continuous batching, where the backend has a multi-slot decoder; else one
   *  at a time). Default 16; 1: one at a time. */
  max_batch?: number;
  /** Requests that may wait; beyond it, 503 with Retry-After. Default 256. */
  max_queue?: number;
  /** When set, every /v1 request needs `Authorization: Bearer <api_key>`. */
  api_key?: string;
  /** A model already loaded (the server does not dispose it). */
  model?: LoadedModel;
  log?: (line: string) => void;
}

export interface ServeHandle {
  /** http://host:port */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly model: LoadedModel;
  /** Stops accepting, lets running requests finish (cancelled after graceMs, default 30 s), closes. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

const PAGE = path.join(__dirname, '..', '..', '..', 'src', 'use-cases', 'serve', 'playground.html');

function checkOptions(o: ServeOptions): void {
  if (o === null || typeof o !== 'object') throw new MyptError('E_BAD_ARGUMENT', 'serve: options must be an object');
  if (o.checkpoint && o.model_name) throw new MyptError('E_BAD_ARGUMENT', 'give either --model_name or --checkpoint, not both');
  const int = (v: unknown, name: string, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) {
      throw new MyptError('E_BAD_ARGUMENT', `--${name} ${String(v)}: must be a whole number from ${min} to ${max}`);
    }
  };
  int(o.port, 'port', 0, 65535);
  int(o.max_batch, 'max_batch', 1, 4096);
  int(o.max_queue, 'max_queue', 0, 1_000_000);
  if (o.api_key !== undefined && (typeof o.api_key !== 'string' || o.api_key === '')) throw new MyptError('E_BAD_ARGUMENT', '--api_key must be a non-empty string');
}

/** Starts the server; resolves once it listens. */
export async function serve(o: ServeOptions): Promise<ServeHandle> {
  checkOptions(o);
  const log = o.log ?? (() => {});
  const owned = !o.model;
  const model = o.model ?? await loadModel(o.checkpoint ?? o.model_name ?? 'default', {
    device: o.device, checkpoints_dir: o.checkpoints_dir, input_file: o.input_file, tokenizer: o.tokenizer,
  });
  let batch: BatchDecoder | undefined;
  try {
    checkCachesFit(model, o.max_batch ?? 16);
    batch = openBatch(model, o.max_batch ?? 16, log);
  } catch (e) {
    if (owned) model.dispose();
    throw e;
  }
  const info = model.info();
  const modelId = modelIdOf(o, model);
  const queue = new FairQueue(batch?.slots ?? 1, o.max_queue ?? 256);
  const created = Math.floor(Date.now() / 1000);
  const inflight = new Set<AbortController>();
  let draining = false;
  const counts = { completed: 0, cancelled: 0, failed: 0 };

  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof ApiError) return sendError(reply, err);
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status === 500) log(`error: ${err.message}`);
    const message = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError
      ? `the request body is not valid JSON: ${err.message}` : err.message;
    return sendError(reply, new ApiError(status, message, null, status === 500 ? 'internal_error' : 'invalid_request'));
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new ApiError(404, `no route ${req.method} ${req.url}`, null, 'unknown_url')));

  app.addHook('onRequest', async (req) => {
    if (!o.api_key || !req.url.startsWith('/v1/')) return;
    const h = req.headers.authorization ?? '';
    if (h !== `Bearer ${o.api_key}`) {
      throw new ApiError(401, h ? 'Incorrect API key provided' : 'You didn\'t provide an API key: send it as "Authorization: Bearer KEY"', null, 'invalid_api_key');
    }
  });

  app.get('/health', async () => ({
    status: draining ? 'draining' : 'ok', ready: !draining, model: modelId, device: model.device,
    queue: queue.queued, running: queue.running, max_queue: queue.maxQueue, batching: batch ? batch.slots : false, requests: { ...counts },
  }));

  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: modelId, object: 'model', created, owned_by: 'mypt-native' }] }));
  app.get('/v1/models/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    if (id !== modelId) throw new ApiError(404, `The model '${id}' does not exist (this server serves '${modelId}')`, 'model', 'model_not_found');
    return { id: modelId, object: 'model', created, owned_by: 'mypt-native' };
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(fs.readFileSync(PAGE, 'utf8')));
  app.get('/card', async () => card(model, modelId, info));
  app.get('/loss.svg', async (_req, reply) => {
    const svg = lossSvgOf(model);
    if (!svg) throw new ApiError(404, 'this checkpoint has no loss.svg', null, 'not_found');
    return reply.type('image/svg+xml').send(fs.readFileSync(svg));
  });

  app.post('/v1/chat/completions', async () => {
    throw badRequest(`the model '${modelId}' has no chat template (its tokenizer is ${model.tokenizer?.source ?? 'none'}); use /v1/completions with a plain prompt`,
      'messages', 'model_not_supported');
  });

  app.post('/v1/completions', async (req: FastifyRequest, reply: FastifyReply) => {
    if (draining) throw new ApiError(503, 'the server is shutting down', null, 'shutting_down');
    const r = parseCompletion(req.body);
    if (!model.tokenizer) throw badRequest(`the model '${modelId}' has no tokenizer, so it cannot complete text`, 'prompt', 'model_not_supported');
    if (r.stream && r.logprobs !== null) throw badRequest(`'logprobs' is not available with 'stream' here; ask without streaming`, 'logprobs', 'unsupported_parameter');
    // prompts to ids once: their lengths against the context
    const lengths = r.prompts.map((p, i) => {
      try { return promptTokens(model, p).length; } catch (e) {
        throw badRequest(`prompt ${i} cannot be encoded by this model's tokenizer: ${(e as Error).message}`, 'prompt', 'invalid_prompt');
      }
    });
    const limit = info.blockSize;
    let maxTokens = r.max_tokens ?? 16;
    for (const c of lengths) {
      if (limit !== null && c > limit) throw badRequest(`This model's maximum context length is ${limit} tokens, but the prompt is ${c} tokens. Please shorten the prompt.`, 'prompt', 'context_length_exceeded');
      if (limit !== null && c + maxTokens > limit) {
        if (r.max_tokens === undefined) maxTokens = limit - c;
        else throw badRequest(`This model's maximum context length is ${limit} tokens, but you requested ${c + maxTokens} tokens (${c} in the prompt, ${maxTokens} for the completion). Please reduce max_tokens or the prompt.`, 'max_tokens', 'context_length_exceeded');
      }
    }
    const tasks = r.prompts.length * r.n;
    if (!queue.canTake(tasks)) {
      throw new ApiError(503, `the server is busy: its queue is full (${queue.maxQueue} waiting); retry shortly`, null, 'queue_full', 'server_error', { 'retry-after': '1' });
    }
    const controller = new AbortController();
    inflight.add(controller);
    let gone = false;
    let failed = false;
    reply.raw.on('close', () => { if (!reply.raw.writableFinished) { gone = true; controller.abort(); } });
    const seed = r.seed ?? Math.floor(Math.random() * 2 ** 31);
    const id = `cmpl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
    const base = { id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: modelId };
    const usage = (results: ChoiceResult[]) => {
      const prompt_tokens = lengths.reduce((a, b) => a + b, 0);
      const completion_tokens = results.reduce((a, c) => a + (c?.completion_tokens ?? 0), 0);
      return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
    };
    const runAll = (onText?: (index: number, piece: string) => void, onDone?: (index: number, res: ChoiceResult) => void) =>
      Promise.all(r.prompts.flatMap((prompt, pi) => Array.from({ length: r.n }, (_, k) => {
        const index = pi * r.n + k;
        return queue.submit({
          signal: controller.signal,
          run: async (signal) => {
            if (r.echo) onText?.(index, prompt);
            const res = await runChoice(model, prompt, {
              max_tokens: maxTokens, temperature: r.temperature, top_p: r.top_p, top_k: r.top_k, seed: seed + k, stop: r.stop,
              logprobs: r.logprobs, echo: r.echo,
            }, signal, onText && ((piece) => onText(index, piece)), batch);
            onDone?.(index, res);
            return res;
          },
        });
      })));
    try {
      if (!r.stream) {
        const results = await runAll();
        return {
          ...base,
          choices: results.map((c, index) => ({
            text: (r.echo ? r.prompts[Math.floor(index / r.n)] : '') + c.text, index, logprobs: c.logprobs, finish_reason: c.finish_reason,
          })),
          usage: usage(results),
        };
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      const send = (obj: unknown) => { if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(obj)}\n\n`); };
      const chunk = (index: number, text: string, finish_reason: string | null) => ({
        ...base, choices: [{ text, index, logprobs: null, finish_reason }], ...(r.include_usage ? { usage: null } : {}),
      });
      try {
        const results = await runAll((index, piece) => send(chunk(index, piece, null)), (index, c) => send(chunk(index, '', c.finish_reason)));
        if (r.include_usage) send({ ...base, choices: [], usage: usage(results) });
        if (!res.writableEnded && !res.destroyed) res.end('data: [DONE]\n\n');
      } catch (e) {
        if (!controller.signal.aborted) {
          failed = true;
          const err = apiErrorOf(e, log);
          send(err.body());
        }
        if (!res.writableEnded && !res.destroyed) res.end('data: [DONE]\n\n');
      }
      return reply;
    } catch (e) {
      failed = true;
      throw apiErrorOf(e, log);
    } finally {
      counts[gone ? 'cancelled' : failed ? 'failed' : 'completed']++;
      controller.abort(); // a choice that failed stops its siblings
      inflight.delete(controller);
    }
  });

  try {
    await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 8080 });
  } catch (e) {
    if (owned) model.dispose();
    const code = (e as NodeJS.ErrnoException).code;
    const where = `${o.host ?? '127.0.0.1'}:${o.port ?? 8080}`;
    if (code === 'EADDRINUSE') throw new MyptError('E_IO', `--port ${o.port ?? 8080}: ${where} is already in use`, 'pick another --port, or 0 for a free one');
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new MyptError('E_BAD_ARGUMENT', `--host ${o.host}: not an address of this machine`);
    if (code === 'EACCES') throw new MyptError('E_IO', `--port ${o.port}: not allowed to listen there`, 'ports below 1024 need root; pick another --port');
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 8080);
  const host = o.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`serving ${modelId} (${model.device}) at ${url}`);

  let closing: Promise<void> | undefined;
  const close = (c: { graceMs?: number } = {}) => {
    closing ??= (async () => {
      draining = true;
      queue.close(); // the waiting requests are refused now
      const deadline = Date.now() + (c.graceMs ?? 30_000);
      while (inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const ctl of inflight) ctl.abort();
      app.server.closeAllConnections?.();
      await app.close();
      if (owned) model.dispose();
    })();
    return closing;
  };
  return { url, host, port, model, close };
}

/** Refuses, before listening, a --max_batch whose key/value caches (2 x slots x n_layer x block_size x n_embd
 *  values: fp32 on the CPU, the model's precision on a GPU) and weights cannot fit the device's memory: the
 *  first requests would otherwise fail one by one for lack of it. */
function checkCachesFit(m: LoadedModel, slots: number): void {
  if (!(m instanceof GptModel) || slots <= 1) return;
  const c = m.config;
  const bytes = m.device.startsWith('cuda') && !/fp32/.test(m.device) ? 2 : 4;
  const caches = 2 * slots * c.n_layer * c.block_size * c.n_embd * bytes;
  const { total, what } = availableMemory(m.device);
  if (caches + m.numParams * bytes > total) {
    throw new MyptError('E_OUT_OF_MEMORY',
      `--max_batch ${slots}: the key/value caches of ${slots} sequences of ${c.block_size} tokens need about ${gib(caches)} beside the weights; ${what}`,
      'lower --max_batch');
  }
}

/** The model's multi-slot decoder, or undefined (one at a time) where the backend has none or slots is 1. */
function openBatch(m: LoadedModel, slots: number, log: (l: string) => void): BatchDecoder | undefined {
  if (slots <= 1 || !(m instanceof GptModel)) return undefined;
  try {
    return m.openDecoder(slots);
  } catch (e) {
    if (e instanceof MyptError && e.code === 'E_UNSUPPORTED') {
      log(`note: ${m.device} has no batched decoder here; requests run one at a time`);
      return undefined;
    }
    throw e;
  }
}

function sendError(reply: FastifyReply, e: ApiError) {
  for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
  return reply.status(e.status).send(e.body());
}

function apiErrorOf(e: unknown, log: (l: string) => void): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof QueueFullError) return new ApiError(503, e.message, null, 'queue_full', 'server_error', { 'retry-after': '1' });
  if (e instanceof Error && e.name === 'AbortError') return new ApiError(503, 'the request was cancelled (the server is shutting down)', null, 'cancelled');
  if (e instanceof MyptError && e.code === 'E_BAD_ARGUMENT') return badRequest(e.message, null, 'invalid_value');
  if (e instanceof MyptError && e.code === 'E_OUT_OF_MEMORY') {
    // the server stays up; the operator's remedy is a smaller batch
    log(`error: ${e.message} (lower --max_batch)`);
    return new ApiError(503, `out of memory: ${e.message}`, null, 'out_of_memory', 'server_error', { 'retry-after': '1' });
  }
  log(`error: ${(e as Error)?.message ?? String(e)}`);
  return new ApiError(500, (e as Error)?.message ?? String(e), null, 'internal_error');
}

function modelIdOf(o: ServeOptions, m: LoadedModel): string {
  if (o.model_name) return o.model_name;
  const p = o.checkpoint ?? m.origin?.path;
  if (!p) return 'mypt-native';
  const base = path.basename(p.replace(/[\\/]+$/, ''));
  return ['model.pt', 'ckpt.pt'].includes(base) ? path.basename(path.dirname(p)) : base;
}

function bundleDir(m: LoadedModel): string | undefined {
  const p = m.origin?.path;
  if (!p) return undefined;
  try { return fs.statSync(p).isDirectory() ? p : path.dirname(p); } catch { return undefined; }
}

function lossSvgOf(m: LoadedModel): string | undefined {
  const dir = bundleDir(m);
  const f = dir && path.join(dir, 'loss.svg');
  return f && fs.existsSync(f) ? f : undefined;
}

/** The playground's model card: architecture, parameters, training steps, val loss, loss.svg. */
function card(m: LoadedModel, id: string, info: ReturnType<LoadedModel['info']>) {
  const c = info.config as Record<string, unknown>;
  const step = typeof m.origin?.step === 'number' ? m.origin.step : null;
  let val_loss = typeof m.origin?.val_loss === 'number' ? m.origin.val_loss : null;
  if (val_loss === null) {
    const hist = readMetrics(bundleDir(m), step ?? Number.MAX_SAFE_INTEGER).filter((r) => typeof r.val_loss === 'number');
    if (hist.length) val_loss = hist[hist.length - 1].val_loss as number;
  }
  return {
    id, family: info.family, format: m.origin?.format ?? null, device: m.device, parameters: info.numParams,
    architecture: { arch: c.arch ?? info.family, n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd ?? c.dim, block_size: info.blockSize, vocab_size: info.vocabSize },
    tokenizer: info.tokenizer, steps: step, val_loss, loss_svg: lossSvgOf(m) ? '/loss.svg' : null,
  };
}
