// A pickle virtual machine for protocols 0-5 that never executes anything: GLOBALs become
// PyGlobal records and calls on them are resolved by `calls` (known torch/numpy/builtin
// reconstructors) or kept as inert PyObject records. Every read is bounds-checked; errors are
// MyptError('E_BAD_FILE', '<file>: pickle: ...').

import { MyptError } from '../../errors';
import { PyDict, PyFloat, PyGlobal, PyObject, PyTuple } from './pyvalues';

export interface UnpickleContext {
  /** File name for error messages. */
  where: string;
  /** Refuse every GLOBAL outside `isAllowedStrict`. */
  strict: boolean;
  persistentLoad(pid: unknown): unknown;
  /** Calls (REDUCE, NEWOBJ, INST, OBJ) of a global: return the constructed value. */
  call(g: PyGlobal, args: unknown[]): unknown;
  /** BUILD: apply `state` to `obj` (returning the object that replaces it on the stack). */
  build(obj: unknown, state: unknown): unknown;
  isAllowedStrict(g: PyGlobal): boolean;
  /** Read integral floats (1.0) as PyFloat so that writing them back keeps them floats. */
  keepFloatType?: boolean;
}

/** Thrown when the buffer ends before STOP but more of the file could be supplied (legacy format). */
export class NeedMoreData extends Error {}

const MAX_LONG_BYTES = 1 << 16;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export class Unpickler {
  private pos: number;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private memo = new Map<number, unknown>();

  /** `complete`: whether `buf` holds the rest of the file (else running out throws NeedMoreData). */
  constructor(private readonly buf: Uint8Array, start: number, private readonly ctx: UnpickleContext, private readonly complete = true) {
    this.pos = start;
  }

  get position(): number { return this.pos; }

  private bad(what: string): never {
    throw new MyptError('E_BAD_FILE', `${this.ctx.where}: pickle: ${what} (at byte ${this.pos})`);
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      if (!this.complete) throw new NeedMoreData();
      this.bad('data ends early (truncated file?)');
    }
  }
  private u8(): number { this.need(1); return this.buf[this.pos++]; }
  private u16(): number { this.need(2); const b = this.buf, p = this.pos; this.pos += 2; return b[p] | (b[p + 1] << 8); }
  private u32(): number { this.need(4); const b = this.buf, p = this.pos; this.pos += 4; return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000; }
  private i32(): number { this.need(4); const b = this.buf, p = this.pos; this.pos += 4; return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24); }
  private u64(): number {
    const lo = this.u32(), hi = this.u32();
    if (hi > 0x1fffff) this.bad('64-bit length too large');
    return hi * 0x100000000 + lo;
  }
  private bytes(n: number): Uint8Array { this.need(n); const s = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return s; }
  private line(): string {
    const b = this.buf;
    let e = this.pos;
    while (e < b.length && b[e] !== 0x0a) e++;
    if (e >= b.length) { if (!this.complete) throw new NeedMoreData(); this.bad('unterminated text line'); }
    const s = Buffer.from(b.buffer, b.byteOffset + this.pos, e - this.pos).toString('latin1');
    this.pos = e + 1;
    return s;
  }
  private utf8(n: number): string {
    const raw = this.bytes(n);
    try { return UTF8.decode(raw); } catch { return Buffer.from(raw).toString('utf8'); }   // lone surrogates (surrogatepass)
  }

  private push(v: unknown): void { this.stack.push(v); }
  private pop(): unknown {
    if (this.stack.length <= (this.marks.length ? this.marks[this.marks.length - 1] : 0)) this.bad('stack underflow');
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length <= (this.marks.length ? this.marks[this.marks.length - 1] : 0)) this.bad('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.bad('no MARK to pop');
    return this.stack.splice(m);
  }
  private memoGet(i: number): unknown {
    if (!this.memo.has(i)) this.bad(`memo key ${i} missing`);
    return this.memo.get(i);
  }
  private memoPut(i: number): void {
    if (this.memo.size >= 1 << 24 && !this.memo.has(i)) this.bad('memo too large');
    this.memo.set(i, this.top());
  }

  private global(module: string, name: string): PyGlobal {
    const g = new PyGlobal(module, name);
    if (this.ctx.strict && !this.ctx.isAllowedStrict(g)) {
      throw new MyptError('E_BAD_FILE', `${this.ctx.where}: refuses global ${g.fullName} (strict mode allows only tensors and plain containers)`);
    }
    return g;
  }

  private callValue(f: unknown, args: unknown): unknown {
    if (!(f instanceof PyGlobal)) this.bad(`call of a non-global (${describe(f)})`);
    if (!Array.isArray(args)) this.bad(`arguments of ${f.fullName} are not a tuple`);
    return this.ctx.call(f, args as unknown[]);
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2) this.bad('SETITEMS with an odd number of items');
    let d: PyDict;
    if (target instanceof PyDict) d = target;
    else if (target instanceof PyObject) d = target.dictItems ??= new PyDict();
    else this.bad(`SETITEM on ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) d.set(items[i] as any, items[i + 1]);
  }

  private appendItems(target: unknown, items: unknown[]): void {
    if (Array.isArray(target) && !(target instanceof PyTuple)) { for (const x of items) target.push(x); return; }
    if (target instanceof PyObject) { (target.listItems ??= []).push(...items); return; }
    this.bad(`APPEND on ${describe(target)}`);
  }

  private addItems(target: unknown, items: unknown[]): void {
    if (!(target instanceof Set)) this.bad(`ADDITEMS on ${describe(target)}`);
    for (const x of items) target.add(x);
  }

  private long(n: number): number | bigint {
    if (n > MAX_LONG_BYTES) this.bad(`integer of ${n} bytes`);
    const b = this.bytes(n);
    return decodeLong(b);
  }

  private float(v: number): number | PyFloat {
    return this.ctx.keepFloatType && Number.isInteger(v) ? new PyFloat(v) : v;
  }

  /** Runs to STOP and returns the unpickled value. */
  load(): unknown {
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x80: { const v = this.u8(); if (v > 5) this.bad(`unsupported protocol ${v}`); break; }       // PROTO
        case 0x95: { const n = this.u64(); this.need(Math.min(n, 1)); break; }                             // FRAME (framing ignored)
        case 0x2e: {                                                                                      // STOP
          if (this.marks.length) this.bad('STOP inside a MARK');
          if (this.stack.length !== 1) this.bad(`STOP with ${this.stack.length} values on the stack`);
          return this.stack.pop();
        }
        // ---- stack and memo
        case 0x28: if (this.marks.length >= 1 << 20) this.bad('too many MARKs'); this.marks.push(this.stack.length); break;  // MARK
        case 0x30: if (this.stack.length && this.marks[this.marks.length - 1] === this.stack.length) this.marks.pop(); else this.pop(); break; // POP
        case 0x31: this.popMark(); break;                                                                  // POP_MARK
        case 0x32: this.push(this.top()); break;                                                          // DUP
        case 0x67: this.push(this.memoGet(parseDecimal(this.line(), () => this.bad('bad GET')))); break;  // GET
        case 0x68: this.push(this.memoGet(this.u8())); break;                                             // BINGET
        case 0x6a: this.push(this.memoGet(this.u32())); break;                                            // LONG_BINGET
        case 0x70: this.memoPut(parseDecimal(this.line(), () => this.bad('bad PUT'))); break;             // PUT
        case 0x71: this.memoPut(this.u8()); break;                                                        // BINPUT
        case 0x72: this.memoPut(this.u32()); break;                                                       // LONG_BINPUT
        case 0x94: this.memoPut(this.memo.size); break;                                                   // MEMOIZE
        // ---- constants and numbers
        case 0x4e: this.push(null); break;                                                                // NONE
        case 0x88: this.push(true); break;                                                                // NEWTRUE
        case 0x89: this.push(false); break;                                                               // NEWFALSE
        case 0x4a: this.push(this.i32()); break;                                                          // BININT
        case 0x4b: this.push(this.u8()); break;                                                           // BININT1
        case 0x4d: this.push(this.u16()); break;                                                          // BININT2
        case 0x8a: this.push(this.long(this.u8())); break;                                                // LONG1
        case 0x8b: { const n = this.i32(); if (n < 0) this.bad('negative LONG4 size'); this.push(this.long(n)); break; }
        case 0x47: { this.need(8); const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleBE(0); this.pos += 8; this.push(this.float(v)); break; } // BINFLOAT
        case 0x49: this.push(parseIntLine(this.line(), () => this.bad('bad INT'))); break;                // INT
        case 0x4c: this.push(parseIntLine(this.line().replace(/L$/, ''), () => this.bad('bad LONG'))); break; // LONG
        case 0x46: { const s = this.line(); const v = Number(s); if (Number.isNaN(v) && !/nan/i.test(s)) this.bad('bad FLOAT'); this.push(this.float(v)); break; } // FLOAT
        // ---- strings and bytes
        case 0x58: this.push(this.utf8(this.u32())); break;                                               // BINUNICODE
        case 0x8c: this.push(this.utf8(this.u8())); break;                                                // SHORT_BINUNICODE
        case 0x8d: this.push(this.utf8(this.u64())); break;                                               // BINUNICODE8
        case 0x56: this.push(decodeRawUnicodeEscape(this.line())); break;                                 // UNICODE
        case 0x53: this.push(decodePyStringRepr(this.line(), () => this.bad('bad STRING'))); break;       // STRING
        case 0x54: { const n = this.i32(); if (n < 0) this.bad('negative BINSTRING size'); this.push(this.utf8(n)); break; } // BINSTRING
        case 0x55: this.push(this.utf8(this.u8())); break;                                                // SHORT_BINSTRING
        case 0x42: this.push(Uint8Array.from(this.bytes(this.u32()))); break;                             // BINBYTES
        case 0x43: this.push(Uint8Array.from(this.bytes(this.u8()))); break;                              // SHORT_BINBYTES
        case 0x8e: this.push(Uint8Array.from(this.bytes(this.u64()))); break;                             // BINBYTES8
        case 0x96: this.push(Uint8Array.from(this.bytes(this.u64()))); break;                             // BYTEARRAY8
        case 0x97: this.bad('out-of-band buffers (NEXT_BUFFER) are not supported');
        case 0x98: break;                                                                                 // READONLY_BUFFER
        // ---- containers
        case 0x29: this.push(new PyTuple()); break;                                                       // EMPTY_TUPLE
        case 0x5d: this.push([]); break;                                                                  // EMPTY_LIST
        case 0x7d: { const d = new PyDict(); d.ordered = false; this.push(d); break; }                                                        // EMPTY_DICT
        case 0x8f: this.push(new Set()); break;                                                           // EMPTY_SET
        case 0x74: this.push(PyTuple.fromItems(this.popMark())); break;                                        // TUPLE
        case 0x85: { const a = this.pop(); this.push(PyTuple.make(a)); break; }                             // TUPLE1
        case 0x86: { const b = this.pop(), a = this.pop(); this.push(PyTuple.make(a, b)); break; }          // TUPLE2
        case 0x87: { const c = this.pop(), b = this.pop(), a = this.pop(); this.push(PyTuple.make(a, b, c)); break; } // TUPLE3
        case 0x6c: this.push(this.popMark()); break;                                                      // LIST
        case 0x64: { const items = this.popMark(); const d = new PyDict(); d.ordered = false; this.setItems(d, items); this.push(d); break; } // DICT
        case 0x91: this.push(new Set(this.popMark())); break;                                             // FROZENSET
        case 0x61: { const v = this.pop(); this.appendItems(this.top(), [v]); break; }                    // APPEND
        case 0x65: { const items = this.popMark(); this.appendItems(this.top(), items); break; }          // APPENDS
        case 0x73: { const v = this.pop(), k = this.pop(); this.setItems(this.top(), [k, v]); break; }    // SETITEM
        case 0x75: { const items = this.popMark(); this.setItems(this.top(), items); break; }             // SETITEMS
        case 0x90: { const items = this.popMark(); this.addItems(this.top(), items); break; }             // ADDITEMS
        // ---- objects (never executed)
        case 0x63: { const m = this.line(), n = this.line(); this.push(this.global(m, n)); break; }       // GLOBAL
        case 0x93: {                                                                                      // STACK_GLOBAL
          const n = this.pop(), m = this.pop();
          if (typeof m !== 'string' || typeof n !== 'string') this.bad('STACK_GLOBAL needs two strings');
          this.push(this.global(m, n));
          break;
        }
        case 0x52: { const args = this.pop(), f = this.pop(); this.push(this.callValue(f, args)); break; } // REDUCE
        case 0x81: { const args = this.pop(), cls = this.pop(); this.push(this.callValue(cls, args)); break; } // NEWOBJ
        case 0x92: { this.pop(); const args = this.pop(), cls = this.pop(); this.push(this.callValue(cls, args)); break; } // NEWOBJ_EX (kwargs dropped)
        case 0x69: { const m = this.line(), n = this.line(); const args = this.popMark(); this.push(this.callValue(this.global(m, n), args)); break; } // INST
        case 0x6f: { const items = this.popMark(); if (!items.length) this.bad('OBJ without a class'); this.push(this.callValue(items[0], items.slice(1))); break; } // OBJ
        case 0x62: { const state = this.pop(); const obj = this.pop(); this.push(this.ctx.build(obj, state)); this.rememo(obj); break; } // BUILD
        case 0x50: this.push(this.ctx.persistentLoad(this.line())); break;                                // PERSID
        case 0x51: this.push(this.ctx.persistentLoad(this.pop())); break;                                 // BINPERSID
        case 0x82: case 0x83: case 0x84: this.bad('extension registry codes (EXT1/2/4) are not supported');
        default: this.bad(`unknown opcode 0x${op.toString(16)}`);
      }
    }
  }

  /** When BUILD replaced an object by another, memo slots holding the old one follow. */
  private rememo(old: unknown): void {
    const now = this.stack[this.stack.length - 1];
    if (now === old) return;
    for (const [k, v] of this.memo) if (v === old) this.memo.set(k, now);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return v.fullName;
  if (v instanceof PyObject) return `${v.fullName} object`;
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyDict) return 'dict';
  return (v as any)?.constructor?.name ?? typeof v;
}

function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  if (b.length <= 6) {
    let v = 0;
    for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i];
    if (b[b.length - 1] & 0x80) v -= 2 ** (8 * b.length);
    return v;
  }
  let hex = '';
  for (let i = b.length - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, '0');
  let v = BigInt('0x' + hex);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v;
}

function parseDecimal(s: string, bad: () => never): number {
  if (!/^\d{1,15}$/.test(s)) bad();
  return Number(s);
}

function parseIntLine(s: string, bad: () => never): number | bigint | boolean {
  if (s === '01') return true;
  if (s === '00') return false;
  if (!/^[+-]?\d{1,4300}$/.test(s)) bad();
  const v = BigInt(s);
  return Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

function decodeRawUnicodeEscape(s: string): string {
  const bytes = Buffer.from(s, 'latin1').toString('utf8');
  return bytes.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a, b) => String.fromCodePoint(parseInt(a ?? b, 16)));
}

function decodePyStringRepr(s: string, bad: () => never): string {
  const q = s[0];
  if ((q !== '"' && q !== "'") || s.length < 2 || s[s.length - 1] !== q) bad();
  const body = s.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' } as Record<string, string>)[e] ?? '\\' + e;
  });
}
