/**
 * The benchmark's message payload: a 21-byte ASCII stamp, then padding.
 *
 *     k ssssssss tttttttttttt ....
 *     kind, sequence number (8 hex digits), send time in µs (12 hex digits)
 *
 * Kinds: `s` sync, `w` warm-up, `m` measured, `e` echo. The payload is valid
 * UTF-8 so it travels as a text frame, as chat messages do.
 *
 * @module
 */

export const STAMP_LENGTH = 21;
const HEX = "0123456789abcdef";
const PAD = 0x2e; // "."

/** Microseconds since this process started, from the monotonic clock. */
export function nowMicros() {
  return performance.now() * 1000;
}

/** A payload of `size` bytes (at least STAMP_LENGTH) carrying the stamp. */
export function writeStamp(size, kind, seq, micros) {
  if (size < STAMP_LENGTH) {
    throw new RangeError(`Cannot stamp ${size} bytes: need ${STAMP_LENGTH}`);
  }
  const bytes = new Uint8Array(size).fill(PAD);
  bytes[0] = kind.charCodeAt(0);
  writeHex(bytes, 1, 8, seq >>> 0);
  writeHex(bytes, 9, 12, Math.floor(micros));
  return bytes;
}

function writeHex(bytes, at, digits, value) {
  let rest = value;
  for (let i = at + digits - 1; i >= at; i--) {
    bytes[i] = HEX.charCodeAt(rest % 16);
    rest = Math.floor(rest / 16);
  }
}

/** Reads `digits` hex digits at `at`; NaN when one is not a lowercase hex digit. */
export function readHex(bytes, at, digits) {
  let value = 0;
  for (let i = at; i < at + digits; i++) {
    const c = bytes[i];
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) return NaN;
    value = value * 16 + d;
  }
  return value;
}

/** The kind character code, sequence number and send time of the stamp at `at`. */
export function readStamp(bytes, at) {
  return {
    kind: bytes[at],
    seq: readHex(bytes, at + 1, 8),
    micros: readHex(bytes, at + 9, 12),
  };
}

/**
 * A compressible, JSON-like payload of `size` bytes (at least STAMP_LENGTH):
 * the stamp, then records with repeated keys and values that vary with `seq`.
 */
export function writeJsonStamp(size, kind, seq, micros) {
  const bytes = writeStamp(size, kind, seq, micros);
  let text = "";
  for (let i = 0; text.length < size - STAMP_LENGTH; i++) {
    const id = seq * 31 + i;
    text += `{"id":${id},"user":"user-${id % 97}","room":"lobby-${i % 7}",` +
      `"score":${(id * 7919) % 1000},"online":${id % 3 === 0}},`;
  }
  for (let i = STAMP_LENGTH; i < size; i++) {
    bytes[i] = text.charCodeAt(i - STAMP_LENGTH);
  }
  return bytes;
}
