// `mypt-native doctor`: what this installation runs on and what it lacks. The platform, Node, which addon
// binary is in use (a prebuilt one or a source build) and where, the GPU and its driver, the CUDA libraries
// found at run time (cuBLASLt, NCCL: their paths), and for each thing missing what to do about it.
import fs from 'fs';
import os from 'os';
import { addonFile, loadAddon } from '../../native';
import type { NativeBackends } from '../../native';
import { MyptError } from '../../errors';

export interface DoctorLibrary {
  loaded: boolean;
  /** the file in use ("" when not loaded) */
  path: string;
  /** why not ("" when loaded) */
  reason: string;
  version?: string;
}

export interface DoctorReport {
  platform: { os: string; arch: string; libc: 'glibc' | 'musl' | ''; glibcVersion: string; release: string };
  node: { version: string; napi: string };
  binary: { loaded: boolean; path: string; kind: 'prebuilt' | 'source build' | ''; cuda: boolean; error: string };
  gpu: {
    /** the NVIDIA kernel driver's version from /proc/driver/nvidia/version ("" when none is loaded) */
    kernelDriver: string;
    cudaDriverVersion: string;
    cudaRuntimeVersion: string;
    cudaArchs: string;
    available: boolean;
    reason: string;
    devices: { index: number; name: string; memoryGiB: number; computeCapability: string }[];
  };
  libraries: { cublasLt: DoctorLibrary; nccl: DoctorLibrary };
  /** one line per thing that is missing, with what to do about it */
  advice: string[];
  ok: boolean;
}

function kernelDriver(): string {
  try {
    const text = fs.readFileSync('/proc/driver/nvidia/version', 'utf8');
    return (text.match(/Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]+)/) || text.match(/\b(\d{3,}\.\d+(?:\.\d+)?)\b/) || [])[1] || 'present';
  } catch {
    return '';
  }
}

function platformInfo(): DoctorReport['platform'] {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const glibc = header?.glibcVersionRuntime ?? '';
  const libc = process.platform !== 'linux' ? '' : glibc ? 'glibc' : 'musl';
  return { os: process.platform, arch: process.arch, libc, glibcVersion: glibc, release: os.release() };
}

export function doctor(): DoctorReport {
  const platform = platformInfo();
  const node = { version: process.version, napi: String(process.versions.napi ?? '') };
  const advice: string[] = [];
  const pick = addonFile();
  const binary: DoctorReport['binary'] = { loaded: false, path: '', kind: '', cuda: false, error: '' };
  if ('file' in pick) {
    binary.path = pick.file;
    binary.kind = pick.prebuilt ? 'prebuilt' : 'source build';
  }
  let b: NativeBackends | undefined;
  try {
    b = loadAddon().backends();
    binary.loaded = true;
  } catch (e) {
    binary.error = e instanceof MyptError ? e.message : String(e);
  }
  const driver = kernelDriver();
  const gpu: DoctorReport['gpu'] = {
    kernelDriver: driver, cudaDriverVersion: b?.cudaDriverVersion ?? '', cudaRuntimeVersion: b?.cudaRuntimeVersion ?? '',
    cudaArchs: b?.cudaArchs ?? '', available: !!b?.cuda, reason: b ? b.cudaReason : 'the addon did not load',
    devices: (b?.devices ?? []).map((d) => ({ index: d.index, name: d.name, memoryGiB: Math.round((d.memoryBytes / 2 ** 30) * 10) / 10, computeCapability: d.computeCapability })),
  };
  const noCudaBuild = !b || /built without CUDA/.test(b.cudaReason);
  binary.cuda = !!b && !noCudaBuild;
  const lib = (loaded: boolean, p: string | undefined, reason: string, version?: string): DoctorLibrary =>
    ({ loaded, path: loaded ? p ?? '' : '', reason: loaded ? '' : reason, ...(version ? { version } : {}) });
  const libraries = {
    cublasLt: lib(!!b?.cublasLt, b?.cublasLtPath, b ? b.cublasLtReason : 'the addon did not load'),
    nccl: lib(!!b?.nccl, b?.ncclPath, b ? b.ncclReason : 'the addon did not load', b?.ncclVersion),
  };

  if (!binary.loaded) {
    advice.push(`the native addon does not load (${'error' in pick ? pick.error : binary.error}): run \`npm rebuild mypt-native\`; ` +
      'a source build needs cmake >= 3.20, a C++17 compiler and make (nvcc optional), and names what is missing');
  } else if (noCudaBuild) {
    if (driver) {
      advice.push(`an NVIDIA driver (${driver}) is here but this binary has no CUDA backend: rebuild with the CUDA toolkit's nvcc ` +
        '(`MYPT_BUILD_FROM_SOURCE=1 npm rebuild mypt-native`), or install a package whose prebuilt binary has CUDA');
    }
  } else if (!b!.cuda) {
    advice.push(driver ? `the CUDA backend is built in but unusable: ${b!.cudaReason}`
      : `no NVIDIA driver is loaded (${b!.cudaReason}): training and sampling run on the CPU; for a GPU install an NVIDIA driver that supports CUDA ${gpu.cudaRuntimeVersion || 'the version this binary was built with'} (nvidia-smi shows the CUDA version a driver supports)`);
  } else {
    const major = gpu.cudaRuntimeVersion.split('.')[0] || '12';
    if (!libraries.cublasLt.loaded && /no cuBLASLt plugin/.test(libraries.cublasLt.reason)) {
      advice.push(`cuBLASLt is not loaded (${libraries.cublasLt.reason}): the built-in GEMMs run instead (slower); ` +
        'rebuild where the CUDA toolkit has cuBLAS: `MYPT_BUILD_FROM_SOURCE=1 npm rebuild mypt-native`');
    } else if (!libraries.cublasLt.loaded) {
      advice.push(`cuBLASLt is not loaded (${libraries.cublasLt.reason}): the built-in GEMMs run instead (slower); ` +
        `\`pip install nvidia-cublas-cu${major}\` (or PyTorch), install the CUDA toolkit, or set MYPT_CUBLASLT_LIB=/path/to/libcublasLt.so.${major}`);
    }
    if (!libraries.nccl.loaded && gpu.devices.length > 1) {
      advice.push(`NCCL is not loaded (${libraries.nccl.reason}): \`--gpus N\` needs it; \`pip install nvidia-nccl-cu${major}\` or set MYPT_NCCL_LIB`);
    }
  }
  if (platform.libc === 'musl' && binary.kind !== 'source build') {
    advice.push('musl (Alpine) has no prebuilt binary: `npm rebuild mypt-native` builds one from source');
  }
  return { platform, node, binary, gpu, libraries, advice, ok: binary.loaded && advice.length === 0 };
}
