// Checks an unpickled value before handing it out: nesting depth bounded and no cycles, so
// callers (and writers) may walk it recursively. Linear in the number of containers.

import { MyptError } from '../../errors';
import { PyDict, PyObject } from './pyvalues';

export const MAX_NESTING = 1000;

function children(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (v instanceof Map) { const c: unknown[] = []; for (const [k, x] of v) c.push(k, x); return c; }
  if (v instanceof Set) return [...v];
  if (v instanceof PyObject) {
    const c: unknown[] = [...v.args, v.state];
    if (v.listItems) c.push(...v.listItems);
    if (v.dictItems) c.push(v.dictItems);
    return c;
  }
  return undefined;
}

export function checkStructure(root: unknown, where: string): void {
  const done = new Set<object>();
  const onPath = new Set<object>();
  const rootKids = children(root);
  if (!rootKids) return;
  const work: { node: object; kids: unknown[]; i: number }[] = [{ node: root as object, kids: rootKids, i: 0 }];
  onPath.add(root as object);
  while (work.length) {
    const top = work[work.length - 1];
    if (top.i >= top.kids.length) {
      work.pop();
      onPath.delete(top.node);
      done.add(top.node);
      continue;
    }
    const c = top.kids[top.i++];
    if (c === null || typeof c !== 'object' || done.has(c)) continue;
    if (onPath.has(c)) throw new MyptError('E_BAD_FILE', `${where}: recursive structure (a container holds itself)`);
    const kids = children(c);
    if (!kids) continue;
    if (c instanceof PyDict && c.attrs) kids.push(...Object.values(c.attrs));
    if (work.length >= MAX_NESTING) throw new MyptError('E_BAD_FILE', `${where}: containers nested deeper than ${MAX_NESTING}`);
    onPath.add(c);
    work.push({ node: c, kids, i: 0 });
  }
}
