// The rendezvous of a data-parallel job and its control channel, over TCP (Node's net module).
//
// Rank 0 listens on MASTER_PORT; every other rank connects to MASTER_ADDR:MASTER_PORT (retrying until
// rank 0 is up) and says who it is. Once all world - 1 ranks are in, rank 0 sends each the group id (the
// NCCL unique id, or the CPU group's port: model/group.ts groupId) and every rank connects its group.
//
// The connections stay open for the whole run, as the job's watchdog across hosts: when a rank's process
// ends without saying goodbye (killed, crashed, its host gone: TCP keepalive), rank 0 sees its connection
// close and tells every other rank, and when rank 0 goes, every rank sees it go. Each rank then hears,
// within about a second, a message naming the rank that failed (onFailure), instead of waiting in a
// collective that will never complete. A rank that fails with an error says so first (reportFailure), so
// the others print its reason. A rank that finishes says goodbye (close) and its leaving is no failure.
//
// Lines of JSON: {type: 'hello', rank, world, device}, {type: 'welcome', id}, {type: 'reject', reason},
// {type: 'failure', reason}, {type: 'abort', reason}, {type: 'bye'}.
import net from 'net';
import { MyptError } from '../../../errors';

export interface RendezvousOptions {
  rank: number;
  world: number;
  masterAddr: string;
  masterPort: number;
  /** rank 0: the group id to hand out; other ranks: undefined */
  id?: Uint8Array;
  /** the device of the group (every rank must agree) */
  device: string;
  /** how long to wait for every rank to arrive (ms) */
  timeoutMs: number;
}

export interface Control {
  /** Called once, with a message naming the rank, when another rank fails or leaves without goodbye. */
  onFailure(cb: (message: string) => void): void;
  /** This rank failed: tell the job (best effort) so the others stop with this reason. */
  reportFailure(reason: string): void;
  /** This rank is done: goodbye to the others, connections closed. */
  close(): void;
}

type Msg = { type: string; [k: string]: unknown };

function fail(message: string): MyptError {
  return new MyptError('E_DISTRIBUTED', message);
}

/** Reads lines of JSON from a socket. */
function onLines(sock: net.Socket, cb: (m: Msg) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m: Msg | undefined;
      try {
        m = JSON.parse(line) as Msg;
      } catch {
        m = undefined;
      }
      if (m && typeof m.type === 'string') cb(m);
    }
  });
}

const send = (sock: net.Socket, m: Msg) => {
  if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(m) + '\n');
};

class Watch {
  private cb?: (message: string) => void;
  private pending?: string;
  fired = false;
  done = false;
  onFailure(cb: (message: string) => void): void {
    this.cb = cb;
    if (this.pending !== undefined) this.fire(this.pending);
  }
  fire(message: string): void {
    if (this.fired || this.done) return;
    if (!this.cb) {
      this.pending ??= message;
      return;
    }
    this.fired = true;
    this.cb(message);
  }
}

/** Rank 0: waits for every rank, hands out the id, then watches the connections. */
function serve(o: RendezvousOptions): Promise<Control> {
  const peers = new Map<number, net.Socket>();
  const left = new Set<number>();
  const watch = new Watch();
  return new Promise<Control>((resolve, reject) => {
    let settled = false;
    const server = net.createServer();
    const abortAll = (reason: string, except?: number) => {
      for (const [r, s] of peers) if (r !== except) send(s, { type: 'abort', reason });
    };
    const timer = setTimeout(() => {
      const missing = [];
      for (let r = 1; r < o.world; r++) if (!peers.has(r)) missing.push(r);
      giveUp(`${missing.length === 1 ? 'rank' : 'ranks'} ${missing.join(', ')} did not reach rank 0 at port ${o.masterPort} within ${o.timeoutMs / 1000} s`);
    }, o.timeoutMs);
    const giveUp = (message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abortAll(message);
      for (const s of peers.values()) s.destroy();
      server.close();
      reject(fail(message));
    };
    server.on('error', (e: NodeJS.ErrnoException) => {
      giveUp(e.code === 'EADDRINUSE'
        ? `rank 0 cannot listen on port ${o.masterPort}: it is in use (another job? choose --master_port)`
        : `rank 0 cannot listen on port ${o.masterPort}: ${e.message}`);
    });
    server.on('connection', (sock) => {
      sock.setNoDelay(true);
      sock.setKeepAlive(true, 5000);
      let rank = -1;
      sock.on('error', () => {});
      sock.on('close', () => {
        if (rank < 0 || peers.get(rank) !== sock) return;
        if (left.has(rank) || watch.done) return;
        const message = `rank ${rank} ended without finishing (its process exited or was killed, or its host is unreachable)`;
        if (!settled) return giveUp(message);
        abortAll(message, rank);
        watch.fire(message);
      });
      onLines(sock, (m) => {
        if (m.type === 'hello' && rank < 0) {
          const r = Number(m.rank);
          const why = m.world !== o.world ? `it says the job has ${m.world} ranks, rank 0 says ${o.world} (same --gpus and --nnodes on every host?)`
            : !Number.isInteger(r) || r < 1 || r >= o.world ? `rank ${m.rank} is not a rank of this job`
              : peers.has(r) ? `rank ${r} joined twice (two hosts with the same --node_rank?)`
                : m.device !== o.device ? `it trains on ${m.device}, rank 0 on ${o.device}` : '';
          if (why) {
            send(sock, { type: 'reject', reason: `rank 0 refused a rank: ${why}` });
            sock.end();
            giveUp(`a rank could not join: ${why}`);
            return;
          }
          rank = r;
          peers.set(r, sock);
          if (peers.size === o.world - 1) welcome();
        } else if (m.type === 'bye') {
          left.add(rank);
        } else if (m.type === 'failure') {
          const message = `rank ${rank} failed: ${String(m.reason)}`;
          left.add(rank);
          abortAll(message, rank);
          watch.fire(message);
        }
      });
    });
    const welcome = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      server.close(); // no new connections; the open ones stay
      const id = Buffer.from(o.id ?? []).toString('base64');
      for (const s of peers.values()) send(s, { type: 'welcome', id });
      resolve({
        onFailure: (cb) => watch.onFailure(cb),
        reportFailure: (reason) => {
          abortAll(`rank 0 failed: ${reason}`);
          watch.done = true;
        },
        close: () => {
          watch.done = true;
          for (const s of peers.values()) {
            send(s, { type: 'bye' });
            s.end();
          }
        },
      });
    };
    server.listen(o.masterPort);
  });
}

/** Rank r > 0: reaches rank 0 (retrying until it listens), gets the id, then watches the connection. */
function join(o: RendezvousOptions): Promise<{ id: Uint8Array; control: Control }> {
  const watch = new Watch();
  const deadline = Date.now() + o.timeoutMs;
  const where = `${o.masterAddr}:${o.masterPort}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let lastError = '';
    const attempt = () => {
      const sock = net.connect({ host: o.masterAddr, port: o.masterPort });
      let welcomed = false;
      let byeFromRoot = false;
      sock.setNoDelay(true);
      sock.on('connect', () => {
        sock.setKeepAlive(true, 5000);
        send(sock, { type: 'hello', rank: o.rank, world: o.world, device: o.device });
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        lastError = e.code ?? e.message;
      });
      sock.on('close', () => {
        if (!welcomed) {
          if (settled) return;
          if (Date.now() > deadline) {
            settled = true;
            reject(fail(`rank ${o.rank} could not reach rank 0 at ${where} within ${o.timeoutMs / 1000} s (${lastError || 'no answer'})`));
          } else {
            setTimeout(attempt, 250);
          }
          return;
        }
        if (!byeFromRoot) watch.fire(`rank 0 ended without finishing (its process exited or was killed, or its host ${o.masterAddr} is unreachable)`);
      });
      onLines(sock, (m) => {
        if (m.type === 'welcome' && !welcomed) {
          welcomed = true;
          if (settled) return;
          settled = true;
          resolve({
            id: Uint8Array.from(Buffer.from(String(m.id), 'base64')),
            control: {
              onFailure: (cb) => watch.onFailure(cb),
              reportFailure: (reason) => {
                send(sock, { type: 'failure', reason });
                watch.done = true;
              },
              close: () => {
                watch.done = true;
                send(sock, { type: 'bye' });
                sock.end();
              },
            },
          });
        } else if (m.type === 'reject') {
          if (!settled) {
            settled = true;
            reject(fail(String(m.reason)));
          }
          sock.destroy();
        } else if (m.type === 'abort') {
          if (!settled) {
            settled = true;
            reject(fail(String(m.reason)));
          } else {
            watch.fire(String(m.reason));
          }
        } else if (m.type === 'bye') {
          byeFromRoot = true;
        }
      });
    };
    attempt();
  });
}

/** Meets the other ranks; rank 0 passes the group id in `o.id` and every rank gets it back. */
export async function rendezvous(o: RendezvousOptions): Promise<{ id: Uint8Array; control: Control }> {
  if (o.rank === 0) {
    if (!o.id) throw new MyptError('E_BAD_ARGUMENT', 'rendezvous: rank 0 needs the group id');
    if (o.world === 1) return { id: o.id, control: { onFailure: () => {}, reportFailure: () => {}, close: () => {} } };
    const control = await serve(o);
    return { id: o.id, control };
  }
  return join(o);
}
