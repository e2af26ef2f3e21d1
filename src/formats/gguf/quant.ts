// Tensor data of the ggml types mypt-native writes and reads: F32, F16, BF16 and Q8_0, to and from float32.
//   F16 / BF16: round to nearest even (numpy's astype(float16), gguf-py's bf16 rounding), NaN kept quiet.
//   Q8_0: blocks of 32 values along the contiguous axis: an fp16 scale d, then 32 int8 q, value = d * q.
//         d = max|x| / 127 and q = round(x / d) (half away from zero), computed in fp32 as ggml's
//         quantize_row_q8_0_ref does, so a file written here holds the bytes llama.cpp would write.
import { MyptError } from '../../errors';
import { float16ToFloat32, float32ToBfloat16, float32ToFloat16, bfloat16ToFloat32, halfToFloat } from '../tensor';
import { GGML_BLOCK, GGML_NAME, GGML_TYPE } from './types';

export const QK8_0 = 32;
const Q8_0_BYTES = 2 + QK8_0;

/** Bytes of `numel` values of ggml type `type` (whole blocks). */
export function ggmlBytes(type: number, numel: number): number {
  const [block, bytes] = GGML_BLOCK[type];
  return (numel / block) * bytes;
}

const fround = Math.fround;
const roundAway = (v: number) => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % QK8_0 !== 0) throw new MyptError('E_BAD_ARGUMENT', `Q8_0 needs rows of a multiple of ${QK8_0} values, got ${x.length}`);
  const nb = x.length / QK8_0;
  const out = new Uint8Array(nb * Q8_0_BYTES);
  const view = new DataView(out.buffer);
  const half = new Float32Array(1);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[b * QK8_0 + j]));
    const d = fround(amax / 127);
    const id = d ? fround(1 / d) : 0;
    half[0] = d;
    view.setUint16(b * Q8_0_BYTES, float32ToFloat16(half)[0], true);
    for (let j = 0; j < QK8_0; j++) view.setInt8(b * Q8_0_BYTES + 2 + j, roundAway(fround(x[b * QK8_0 + j] * id)));
  }
  return out;
}

function dequantizeQ8_0(bytes: Uint8Array, numel: number): Float32Array {
  const out = new Float32Array(numel);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < numel / QK8_0; b++) {
    const d = halfToFloat(view.getUint16(b * Q8_0_BYTES, true));
    for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = d * view.getInt8(b * Q8_0_BYTES + 2 + j);
  }
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** float32 values -> the bytes of ggml type `type` (F32, F16, BF16, Q8_0). */
export function encodeGgml(x: Float32Array, type: number): Uint8Array {
  switch (type) {
    case GGML_TYPE.F32: return bytesOf(x);
    case GGML_TYPE.F16: return bytesOf(float32ToFloat16(x));
    case GGML_TYPE.BF16: return bytesOf(float32ToBfloat16(x));
    case GGML_TYPE.Q8_0: return quantizeQ8_0(x);
    default: throw new MyptError('E_UNSUPPORTED', `writing ggml type ${GGML_NAME[type] ?? type} is not supported (F32, F16, BF16, Q8_0)`);
  }
}

/** The bytes of `numel` values of ggml type `type` -> float32 (`where` names the tensor in errors). */
export function decodeGgml(bytes: Uint8Array, type: number, numel: number, where: string): Float32Array {
  const aligned = (n: number) => (bytes.byteOffset % n === 0 ? bytes : Uint8Array.from(bytes));
  switch (type) {
    case GGML_TYPE.F32: { const b = aligned(4); return new Float32Array(b.buffer, b.byteOffset, numel).slice(); }
    case GGML_TYPE.F16: { const b = aligned(2); return float16ToFloat32(new Uint16Array(b.buffer, b.byteOffset, numel)); }
    case GGML_TYPE.BF16: { const b = aligned(2); return bfloat16ToFloat32(new Uint16Array(b.buffer, b.byteOffset, numel)); }
    case GGML_TYPE.Q8_0: return dequantizeQ8_0(bytes, numel);
    default:
      throw new MyptError('E_UNSUPPORTED', `${where}: ggml type ${GGML_NAME[type] ?? type} cannot be read here (F32, F16, BF16 and Q8_0 can)`);
  }
}
