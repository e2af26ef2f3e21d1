// The Python containers the layouts build. Until the torch I/O branch lands these are local stand-ins
// with the contract's shape (PyDict: a Map keeping key types and order; PyTuple: an Array); afterwards
// this file only re-exports the real classes, so a writer recognises them.
export class PyDict<K = unknown, V = unknown> extends Map<K, V> {}
export class PyTuple<T = unknown> extends Array<T> {
  static of<T>(...items: T[]): PyTuple<T> {
    const t = new PyTuple<T>();
    t.push(...items);
    return t;
  }
}

/** A Python float even when integral (0.0 stays a float). Stand-in: the torch writer's PyFloat replaces it. */
export function pyFloat(v: number): unknown {
  return v;
}
