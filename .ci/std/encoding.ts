/**
 * Offline stand-in for the JSR package `@std/encoding`, used when jsr.io
 * cannot be reached (see `task.ts` beside this file).
 *
 * It implements the part of `@std/encoding` that pushwire uses, with the same
 * names, signatures and error behaviour:
 *
 * - {@linkcode encodeBase64} and {@linkcode decodeBase64}: RFC 4648 §4 base64
 * - {@linkcode encodeHex} and {@linkcode decodeHex}: lowercase hexadecimal
 *
 * ```ts
 * import { decodeBase64, encodeBase64 } from "@std/encoding";
 * import { assertEquals } from "@std/assert";
 *
 * const foobar = new TextEncoder().encode("foobar");
 * assertEquals(encodeBase64(foobar), "Zm9vYmFy");
 * assertEquals(decodeBase64("Zm9vYmFy"), foobar);
 * ```
 *
 * @module
 */

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX_ALPHABET = "0123456789abcdef";
const PAD = 0x3d; // "="
const INVALID = 0xff;

/** Maps an ASCII code to its 6-bit base64 value, or INVALID. */
const BASE64_VALUES: Uint8Array = buildLookup(BASE64_ALPHABET);
/** Maps an ASCII code to its 4-bit hex value (either case), or INVALID. */
const HEX_VALUES: Uint8Array = buildLookup(HEX_ALPHABET, HEX_ALPHABET.toUpperCase());

function buildLookup(...alphabets: string[]): Uint8Array {
  const table = new Uint8Array(128).fill(INVALID);
  for (const alphabet of alphabets) {
    for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  }
  return table;
}

function toBytes(data: ArrayBuffer | Uint8Array | string): Uint8Array {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(
    `Cannot encode input: expected a Uint8Array, an ArrayBuffer or a string, received ${
      describeType(data)
    }`,
  );
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object";
}

/** The character that starts at byte `index` of the UTF-8 encoded `bytes`. */
function charAt(bytes: Uint8Array, index: number): string {
  const text = new TextDecoder().decode(bytes.subarray(index, index + 4));
  return String.fromCodePoint(text.codePointAt(0) ?? 0xfffd);
}

function invalidCharacter(name: string, bytes: Uint8Array, index: number): TypeError {
  return new TypeError(
    `Cannot decode input as ${name}: Invalid character (${charAt(bytes, index)})`,
  );
}

function valueOf(table: Uint8Array, bytes: Uint8Array, index: number, name: string): number {
  const value = table[bytes[index]!] ?? INVALID;
  if (value === INVALID) throw invalidCharacter(name, bytes, index);
  return value;
}

/**
 * Converts data into a base64-encoded string (RFC 4648 §4, padded).
 * Strings are encoded as UTF-8 first.
 *
 * @param data The data to encode.
 * @returns The base64-encoded string.
 *
 * @example Usage
 * ```ts
 * import { encodeBase64 } from "@std/encoding";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(encodeBase64("foobar"), "Zm9vYmFy");
 * ```
 */
export function encodeBase64(data: ArrayBuffer | Uint8Array | string): string {
  const input = toBytes(data);
  const output = new Uint8Array(Math.ceil(input.length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < input.length; i += 3) {
    const group = (input[i]! << 16) | (input[i + 1]! << 8) | input[i + 2]!;
    output[o++] = BASE64_ALPHABET.charCodeAt(group >> 18);
    output[o++] = BASE64_ALPHABET.charCodeAt((group >> 12) & 0x3f);
    output[o++] = BASE64_ALPHABET.charCodeAt((group >> 6) & 0x3f);
    output[o++] = BASE64_ALPHABET.charCodeAt(group & 0x3f);
  }
  const rest = input.length - i;
  if (rest > 0) {
    const group = (input[i]! << 16) | (rest === 2 ? input[i + 1]! << 8 : 0);
    output[o++] = BASE64_ALPHABET.charCodeAt(group >> 18);
    output[o++] = BASE64_ALPHABET.charCodeAt((group >> 12) & 0x3f);
    output[o++] = rest === 2 ? BASE64_ALPHABET.charCodeAt((group >> 6) & 0x3f) : PAD;
    output[o++] = PAD;
  }
  return new TextDecoder().decode(output);
}

/**
 * Decodes a base64-encoded string (RFC 4648 §4). Padding is optional, but
 * once a `=` appears only `=` may follow it.
 *
 * @param b64 The base64-encoded string to decode.
 * @returns The decoded bytes.
 * @throws {TypeError} If the input contains a character outside the alphabet.
 * @throws {RangeError} If the unpadded length leaves a remainder of 1 when
 * divided by 4.
 *
 * @example Usage
 * ```ts
 * import { decodeBase64 } from "@std/encoding";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeBase64("Zm9vYmFy"), new TextEncoder().encode("foobar"));
 * ```
 */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const input = new TextEncoder().encode(b64);
  let end = input.length;
  for (let p = Math.max(0, input.length - 2); p < input.length; p++) {
    if (input[p] !== PAD) continue;
    for (let q = p + 1; q < input.length; q++) {
      if (input[q] !== PAD) throw invalidCharacter("base64", input, q);
    }
    end = p;
    break;
  }
  if (end % 4 === 1) {
    throw new RangeError(
      `Cannot decode input as base64: Length (${end}), excluding padding, must not have a remainder of 1 when divided by 4`,
    );
  }
  const output = new Uint8Array(Math.floor(end / 4) * 3 + Math.max(0, (end % 4) - 1));
  let o = 0;
  for (let i = 0; i < end; i += 4) {
    const count = Math.min(4, end - i);
    let group = 0;
    for (let k = 0; k < 4; k++) {
      group = (group << 6) | (k < count ? valueOf(BASE64_VALUES, input, i + k, "base64") : 0);
    }
    output[o++] = group >> 16;
    if (count > 2) output[o++] = (group >> 8) & 0xff;
    if (count > 3) output[o++] = group & 0xff;
  }
  return output;
}

/**
 * Converts data into a lowercase hex-encoded string. Strings are encoded as
 * UTF-8 first.
 *
 * @param src The data to encode.
 * @returns The hex-encoded string.
 *
 * @example Usage
 * ```ts
 * import { encodeHex } from "@std/encoding";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(encodeHex("abc"), "616263");
 * ```
 */
export function encodeHex(src: string | Uint8Array | ArrayBuffer): string {
  const input = toBytes(src);
  let output = "";
  for (const byte of input) output += HEX_ALPHABET[byte >> 4]! + HEX_ALPHABET[byte & 0x0f]!;
  return output;
}

/**
 * Decodes a hex-encoded string; upper- and lowercase digits are accepted.
 *
 * @param src The hex-encoded string to decode.
 * @returns The decoded bytes.
 * @throws {RangeError} If the input has an odd length.
 * @throws {TypeError} If the input contains a character that is not a hex digit.
 *
 * @example Usage
 * ```ts
 * import { decodeHex } from "@std/encoding";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeHex("616263"), new TextEncoder().encode("abc"));
 * ```
 */
export function decodeHex(src: string): Uint8Array<ArrayBuffer> {
  const input = new TextEncoder().encode(src);
  if (input.length % 2 === 1) {
    throw new RangeError(
      `Cannot decode input as hex: Length (${input.length}) must be divisible by 2`,
    );
  }
  const output = new Uint8Array(input.length / 2);
  for (let i = 0; i < output.length; i++) {
    output[i] = (valueOf(HEX_VALUES, input, 2 * i, "hex") << 4) |
      valueOf(HEX_VALUES, input, 2 * i + 1, "hex");
  }
  return output;
}
