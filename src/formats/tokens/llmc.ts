// llm.c's token shards (dev/data/data_common.py write_datafile): a header of 256 little-endian int32
// (magic 20240520, version 1, the token count, then zeros), then the tokens as uint16.
import { MyptError } from '../../errors';

export const LLMC_MAGIC = 20240520;
export const LLMC_VERSION = 1;
export const LLMC_HEADER_BYTES = 256 * 4;

/** The 1024-byte header of a shard of `count` uint16 tokens. */
export function llmcHeader(count: number): Buffer {
  if (!Number.isInteger(count) || count < 0 || count > 0x7fffffff) {
    throw new MyptError('E_BAD_ARGUMENT', `an llm.c shard holds at most 2^31 - 1 tokens (got ${count})`);
  }
  const h = Buffer.alloc(LLMC_HEADER_BYTES);
  h.writeInt32LE(LLMC_MAGIC, 0);
  h.writeInt32LE(LLMC_VERSION, 4);
  h.writeInt32LE(count, 8);
  return h;
}

/** The token count of a shard, after checking its header against the file's size. */
export function parseLlmcHeader(head: Buffer, fileBytes: number, file: string): number {
  if (head.length < LLMC_HEADER_BYTES) throw new MyptError('E_BAD_FILE', `${file}: ${fileBytes} bytes, shorter than llm.c's 1024-byte header`);
  const magic = head.readInt32LE(0);
  const version = head.readInt32LE(4);
  const count = head.readInt32LE(8);
  if (magic !== LLMC_MAGIC) throw new MyptError('E_BAD_FILE', `${file}: not an llm.c token shard (magic ${magic}, expected ${LLMC_MAGIC})`);
  if (version !== LLMC_VERSION) throw new MyptError('E_UNSUPPORTED', `${file}: llm.c shard version ${version}; only version 1 (uint16 tokens) is read`);
  const need = LLMC_HEADER_BYTES + count * 2;
  if (count < 0 || fileBytes !== need) {
    throw new MyptError('E_BAD_FILE', `${file}: the header says ${count} tokens (${need} bytes with the header), the file holds ${fileBytes} bytes`);
  }
  return count;
}
