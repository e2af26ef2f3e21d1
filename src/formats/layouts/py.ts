// The Python containers the layouts build, from the torch I/O module, plus two small constructors.
import { PyDict, PyFloat, PyTuple } from '../torch/pyvalues';

export { PyDict, PyFloat, PyTuple };

/** A Python float even when integral (0.0 and 1.0 stay floats when written). */
export function pyFloat(v: number): PyFloat {
  return new PyFloat(v);
}

/** A plain Python dict (torch writes optimizer state_dicts and checkpoint dicts as dict, not OrderedDict). */
export function plainDict<V = unknown>(entries: Iterable<readonly [string | number, V]> = []): PyDict<V> {
  const d = new PyDict<V>(entries as Iterable<readonly [string, V]>);
  d.ordered = false;
  return d;
}
