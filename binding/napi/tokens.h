// Token buffers from JavaScript for the engine's data sampler (engine/data.h):
//
//   mapTokens(path, byteOffset, count, dtype 'uint16' | 'int32') -> TokenMap
//       a read-only memory map of `count` tokens of a file (MAP_SHARED, PROT_READ, madvise random); the
//       handle has `length`, `dtype`, `path` and `close()`. The mapping lives while the handle or any
//       model's data refers to it (shared ownership): close() and garbage collection only drop the
//       handle's reference. Errors name the file: E_IO (open, stat, mmap), E_BAD_FILE (too short, not a
//       regular file), E_BAD_ARGUMENT (bad offset, count or dtype).
//   sampleBatch(tokens, B, T, seed, stream, counter) -> { x: Int32Array, y: Int32Array }
//       one batch of the native sampler (engine/data.h sample_batch), for tests against TypeScript's.
//
// This is N-API code because the engine knows no files: the engine sees a TokenView (pointer, length,
// type and a shared owner), never a path.
#pragma once
#include <napi.h>

#include "engine/data.h"

namespace mypt_binding {

// The tokens of a JS value: an Int32Array or Uint16Array (a view of JS memory with no owner: copy it
// before keeping it) or a TokenMap (a view that shares the mapping), then tokens [start, start + count)
// of it (start, count: undefined for all). Throws Napi::TypeError for another kind of value,
// std::invalid_argument for a bad range, CodedError E_DISPOSED for a closed TokenMap.
mypt::TokenView token_view(const Napi::Value& tokens, const Napi::Value& start, const Napi::Value& count);

}  // namespace mypt_binding
