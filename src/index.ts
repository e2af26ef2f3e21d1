// The public API of mypt-native.
export { MyptError } from './errors';
import { loadAddon, NativeBackends } from './native';

/** Which backends this build and machine offer. */
export function backends(): NativeBackends {
  return loadAddon().backends();
}
