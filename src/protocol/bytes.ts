/**
 * Joining byte arrays.
 *
 * @module
 */

/**
 * Joins byte arrays into one new array.
 *
 * @example
 * ```ts
 * import { concatBytes } from "./bytes.ts";
 *
 * concatBytes([new Uint8Array([1, 2]), new Uint8Array([3])]); // Uint8Array(3) [ 1, 2, 3 ]
 * ```
 *
 * @param parts The arrays, in order. Not changed.
 * @param length Their total length, when the caller already knows it.
 * @returns A new array with every part's bytes.
 */
export function concatBytes(parts: readonly Uint8Array[], length?: number): Uint8Array {
  if (length === undefined) {
    length = 0;
    for (const part of parts) length += part.length;
  }
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
