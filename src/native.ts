// The only file that touches the addon: loads it and declares its whole surface.
import path from 'path';
import { MyptError } from './errors';

export interface NativeDevice {
  index: number;
  name: string;
  memoryBytes: number;
  computeCapability: string;
  multiprocessors: number;
}

export interface NativeBackends {
  cpu: true;
  cuda: boolean;
  cudaReason: string;
  devices: NativeDevice[];
}

export interface NativeAddon {
  backends(): NativeBackends;
}

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    cached = require('node-gyp-build')(root) as NativeAddon;
  } catch (e) {
    throw new MyptError(
      'E_NO_ADDON',
      `the mypt-native addon could not be loaded: ${(e as Error).message.split('\n')[0]}`,
      'run `npm install` (or `npm run build:native`) in the package folder to build it',
    );
  }
  return cached;
}
