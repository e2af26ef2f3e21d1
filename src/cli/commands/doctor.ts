// `mypt-native doctor`: the platform, the addon binary in use, the GPU, the CUDA libraries found and what to
// do about what is missing (use-cases/doctor). Exit 1 only when the addon does not load.
import type { Argv } from 'yargs';
import { doctor, type DoctorReport } from '../../use-cases/doctor/doctor';
import { handler as wrap } from '../errors';

export const command = 'doctor';
export const describe = 'Check the installation: platform, binary in use, GPU, driver, CUDA libraries, what is missing';

export function builder(y: Argv) {
  return y.option('json', { type: 'boolean', describe: 'print JSON for machines' });
}

function text(r: DoctorReport): string {
  const p = r.platform;
  const lines = [
    `platform   ${p.os}-${p.arch}${p.libc ? ` ${p.libc}${p.glibcVersion ? ` ${p.glibcVersion}` : ''}` : ''} (kernel ${p.release})`,
    `node       ${r.node.version} (N-API ${r.node.napi})`,
    `binary     ${r.binary.path || 'none found'}${r.binary.kind ? ` (${r.binary.kind}, ${r.binary.loaded ? (r.binary.cuda ? 'CPU and CUDA' : 'CPU only') : 'does not load'})` : ''}`,
    `driver     ${r.gpu.kernelDriver ? `NVIDIA ${r.gpu.kernelDriver}` : 'no NVIDIA driver loaded'}${r.gpu.cudaDriverVersion ? ` (CUDA ${r.gpu.cudaDriverVersion})` : ''}`,
    `cuda       ${r.gpu.available ? 'available' : `not available: ${r.gpu.reason}`}${r.gpu.cudaRuntimeVersion ? `; runtime ${r.gpu.cudaRuntimeVersion} (static)` : ''}${r.gpu.cudaArchs ? `; archs ${r.gpu.cudaArchs}` : ''}`,
    ...r.gpu.devices.map((d) => `gpu ${d.index}      ${d.name}, ${d.memoryGiB} GiB, compute ${d.computeCapability}`),
    `cublasLt   ${r.libraries.cublasLt.loaded ? r.libraries.cublasLt.path || 'loaded' : `not loaded: ${r.libraries.cublasLt.reason}`}`,
    `nccl       ${r.libraries.nccl.loaded ? `${r.libraries.nccl.version ?? ''} ${r.libraries.nccl.path}`.trim() : `not loaded: ${r.libraries.nccl.reason}`}`,
  ];
  lines.push('', ...(r.advice.length ? ['to do:', ...r.advice.map((a) => `  - ${a}`)] : ['nothing missing']));
  return lines.join('\n') + '\n';
}

function run(a: { json?: boolean }) {
  const r = doctor();
  process.stdout.write(a.json ? JSON.stringify(r, null, 2) + '\n' : text(r));
  if (!r.binary.loaded) process.exitCode = 1;
}

export const handler = wrap(run);
