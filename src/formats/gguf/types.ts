// GGUF (ggml's model file, version 3; docs/gguf.md of ggml): the value types of its metadata, the ggml
// tensor types with their block sizes, and the records the reader returns and the writer takes.
//
// File: "GGUF" u32 version u64 tensor_count u64 kv_count, then kv_count (string key, u32 type, value),
// then tensor_count (string name, u32 n_dims, u64 dims[n_dims] (ne0 first: the fastest-varying axis),
// u32 ggml_type, u64 offset), zero padding to `general.alignment` (default 32), then the tensor data, each
// tensor at its offset (a multiple of the alignment) from the data start. Strings are u64 length + UTF-8;
// an array is u32 item type + u64 count + items. Everything little-endian.

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_metadata_value_type). */
export const GGUF_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GGUF_TYPE)[keyof typeof GGUF_TYPE];

/** Bytes of one scalar of each fixed-size value type. */
export const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
export const TYPE_NAME: Record<number, string> = {
  0: 'uint8', 1: 'int8', 2: 'uint16', 3: 'int16', 4: 'uint32', 5: 'int32', 6: 'float32', 7: 'bool', 8: 'string',
  9: 'array', 10: 'uint64', 11: 'int64', 12: 'float64',
};

/** A scalar or string value (64-bit integers as bigint). */
export type GgufScalar = number | bigint | boolean | string;

/** One metadata entry: its type, and for arrays the item type and the items. */
export type GgufValue =
  | { type: Exclude<GgufValueType, 9>; value: GgufScalar }
  | { type: 9; itemType: Exclude<GgufValueType, 9>; value: GgufScalar[] };

/** ggml tensor types (ggml_type) this package decodes and encodes. */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export type GgmlTypeName = 'f32' | 'f16' | 'bf16' | 'q8_0';
export const GGML_TYPE_OF: Record<GgmlTypeName, number> = { f32: 0, f16: 1, bf16: 30, q8_0: 8 };

/** [block size in elements, bytes per block] of the ggml types whose layout is known (gguf-py's table); the
 *  others make a file unreadable here, as their sizes cannot be checked. */
export const GGML_BLOCK: Record<number, [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 40],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8], 30: [1, 2],
};
export const GGML_NAME: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
  12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL',
  21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16',
};

/** general.file_type (llama_ftype) for a file whose weight matrices are all of one type. */
export const FILE_TYPE: Record<GgmlTypeName, number> = { f32: 0, f16: 1, q8_0: 7, bf16: 32 };

/** A tensor as the header describes it; data is read on demand. */
export interface GgufTensorInfo {
  name: string;
  /** ggml order: ne0 (the contiguous axis) first. A PyTorch [rows, cols] matrix is dims [cols, rows]. */
  dims: number[];
  type: number;
  /** From the start of the data section. */
  offset: number;
  byteLength: number;
}
