// What the benchmark ran on, recorded beside every result.
import os from 'os';
import { execFileSync } from 'child_process';
import { loadAddon } from '../../native';

export interface MachineInfo {
  date: string;
  cpu: string;
  cores: number;
  memory_gb: number;
  os: string;
  node: string;
  package_version: string;
  gpu: string | null;
  gpu_memory_gb: number | null;
  driver: string | null;
  cuda_reason: string | null;
}

function nvidiaDriver(): string | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=driver_version', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
    return out.trim().split('\n')[0] || null;
  } catch {
    return null;
  }
}

export function machineInfo(): MachineInfo {
  const b = loadAddon().backends();
  const gpu = b.devices[0];
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pkg = require('../../../package.json');
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    package_version: pkg.version,
    gpu: gpu ? gpu.name : null,
    gpu_memory_gb: gpu ? Math.round((gpu.memoryBytes / 2 ** 30) * 10) / 10 : null,
    driver: gpu ? nvidiaDriver() : null,
    cuda_reason: b.cuda ? null : b.cudaReason,
  };
}
