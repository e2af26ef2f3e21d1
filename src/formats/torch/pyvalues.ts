// JavaScript shapes of the Python values found in pickles.
//   dict / OrderedDict -> PyDict (a Map keeping key types and insertion order)
//   tuple / torch.Size -> PyTuple (an Array subclass)      list -> Array
//   int -> number (bigint beyond 2^53)   float -> number (PyFloat to force a float when writing)
//   None -> null   str -> string   bytes -> Uint8Array   set/frozenset -> Set
//   a class or function named by GLOBAL -> PyGlobal; calling/instantiating it -> PyObject (inert)

import { MyptError } from '../../errors';

export type PyKey = string | number | bigint | boolean | null;

export class PyDict<V = unknown> extends Map<PyKey, V> {
  /** true: collections.OrderedDict, false: a plain dict (as read from a pickle); unset: written as OrderedDict. */
  declare ordered?: boolean;
  /** Attributes set by BUILD (a state_dict's `_metadata` lands here as `attrs._metadata`). */
  declare attrs?: Record<string, unknown>;
  static get [Symbol.species]() { return Map; }
  /** The `_metadata` PyTorch attaches to state_dicts, when present. */
  get _metadata(): unknown { return this.attrs?._metadata; }
  /** A plain object of a string-keyed dict (a state_dict: name -> TorchTensor); nested dicts stay PyDicts. */
  toObject(): Record<string, V> {
    const out: Record<string, V> = {};
    for (const [k, v] of this) {
      if (typeof k !== 'string') throw new MyptError('E_BAD_ARGUMENT', `toObject: the dict has a ${typeof k} key (${String(k)}); only string-keyed dicts become objects (use it as a Map)`);
      out[k] = v;
    }
    return out;
  }
}

export class PyTuple<T = unknown> extends Array<T> {
  static get [Symbol.species]() { return Array; }
  static make<T>(...items: T[]): PyTuple<T> {
    const t = new PyTuple<T>();
    for (const x of items) t.push(x);
    return t;
  }
  static fromItems<T>(items: Iterable<T>): PyTuple<T> {
    const t = new PyTuple<T>();
    for (const x of items) t.push(x);
    return t;
  }
}

/** A torch.Size (a tuple that is written back as torch.Size). */
export class TorchSize<T = unknown> extends PyTuple<T> {}

/** A Python float; only needed to keep an integral value (1.0) a float when writing. */
export class PyFloat {
  constructor(readonly value: number) {}
  valueOf(): number { return this.value; }
  toJSON(): number { return this.value; }
}

/** A class or function named by a pickle GLOBAL, never resolved to code. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get fullName(): string { return `${this.module}.${this.name}`; }
  toString(): string { return this.fullName; }
}

/** An object the pickle asked to construct: kept as an inert record (nothing is executed). */
export class PyObject {
  /** Items appended (list subclasses) or set (dict subclasses) after construction. */
  declare listItems?: unknown[];
  declare dictItems?: PyDict;
  constructor(readonly module: string, readonly name: string, readonly args: unknown[], public state: unknown = undefined) {}
  get fullName(): string { return `${this.module}.${this.name}`; }
}
