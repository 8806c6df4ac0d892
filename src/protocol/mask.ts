/**
 * XOR masking of WebSocket payloads (RFC 6455 §5.3).
 *
 * @module
 */

const scratchKey = new Uint8Array(4);
const scratchKey32 = new Uint32Array(scratchKey.buffer);
const WORD_THRESHOLD = 16;

/**
 * XORs `data` in place with the 4-byte masking `key`, starting at byte
 * `keyOffset` of the key stream. Masking and unmasking are the same
 * operation. Works in 32-bit words on the aligned middle of `data`.
 *
 * @example
 * ```ts
 * import { applyMask } from "./mask.ts";
 *
 * const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
 * const data = new Uint8Array([0x7f, 0x9f, 0x4d, 0x51, 0x58]);
 * applyMask(data, key);
 * console.log(new TextDecoder().decode(data)); // "Hello"
 * ```
 *
 * @param data The bytes to mask or unmask; changed in place.
 * @param key The 4-byte masking key.
 * @param keyOffset How many payload bytes came before `data` in the frame.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, keyOffset = 0): void {
  const length = data.length;
  let i = 0;
  if (length >= WORD_THRESHOLD) {
    const head = (4 - (data.byteOffset & 3)) & 3;
    for (; i < head; i++) data[i]! ^= key[(keyOffset + i) & 3]!;
    const words = (length - i) >>> 2;
    for (let j = 0; j < 4; j++) scratchKey[j] = key[(keyOffset + i + j) & 3]!;
    const key32 = scratchKey32[0]!;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= key32;
    i += words << 2;
  }
  for (; i < length; i++) data[i]! ^= key[(keyOffset + i) & 3]!;
}

/**
 * Four random bytes for masking a client frame.
 *
 * @example
 * ```ts
 * import { randomMaskKey } from "./mask.ts";
 *
 * console.log(randomMaskKey().length); // 4
 * ```
 *
 * @returns A fresh masking key.
 */
export function randomMaskKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(4));
}
