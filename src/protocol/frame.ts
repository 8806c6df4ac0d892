/**
 * Frame opcodes and the frame encoder (RFC 6455 §5.2).
 *
 * @module
 */

import { applyMask, randomMaskKey } from "./mask.ts";

/**
 * Frame opcodes.
 *
 * @example
 * ```ts
 * import { OPCODE } from "./frame.ts";
 *
 * console.log(OPCODE.Text); // 1
 * ```
 */
export const OPCODE = {
  /** A continuation of a fragmented message. */
  Continuation: 0x0,
  /** The first frame of a text message. */
  Text: 0x1,
  /** The first frame of a binary message. */
  Binary: 0x2,
  /** A close frame. */
  Close: 0x8,
  /** A ping frame. */
  Ping: 0x9,
  /** A pong frame. */
  Pong: 0xa,
} as const;

/** One of the opcodes in {@linkcode OPCODE}. */
export type Opcode = typeof OPCODE[keyof typeof OPCODE];

/** Whether `opcode` is a control opcode (close, ping, pong). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** A decoded frame. `payload` is unmasked. */
export interface Frame {
  /** Whether this is the final frame of its message. */
  fin: boolean;
  /** The RSV1 bit (set on the first frame of a compressed message). */
  rsv1: boolean;
  /** The frame's opcode. */
  opcode: Opcode;
  /** The unmasked payload. */
  payload: Uint8Array;
}

/** Options for {@linkcode encodeFrame}. */
export interface EncodeFrameOptions {
  /**
   * Whether this is the final frame of its message.
   *
   * @default {true}
   */
  fin?: boolean;
  /**
   * Set RSV1 (only with a negotiated compression extension).
   *
   * @default {false}
   */
  rsv1?: boolean;
  /**
   * Mask the payload, as a client must: `true` for a random key, or the key
   * itself (4 bytes).
   *
   * @default {false}
   */
  mask?: boolean | Uint8Array;
}

/**
 * The size of a frame header for a payload of `length` bytes.
 *
 * @example
 * ```ts
 * import { frameHeaderLength } from "./frame.ts";
 *
 * frameHeaderLength(125); // 2
 * frameHeaderLength(126); // 4
 * frameHeaderLength(65536, true); // 14
 * ```
 *
 * @param length The payload length in bytes.
 * @param masked Whether the header carries a masking key.
 * @returns The header length in bytes (2 to 14).
 */
export function frameHeaderLength(length: number, masked = false): number {
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Encodes one frame: the header with the shortest length form, then the
 * payload, masked when asked. The caller's payload is never changed, so one
 * unmasked frame can be written to any number of sockets.
 *
 * @example The unmasked "Hello" of RFC 6455 §5.7
 * ```ts
 * import { encodeFrame, OPCODE } from "./frame.ts";
 *
 * const frame = encodeFrame(OPCODE.Text, new TextEncoder().encode("Hello"));
 * console.log(frame); // Uint8Array(7) [ 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f ]
 * ```
 *
 * @param opcode The frame's opcode.
 * @param payload The payload bytes.
 * @param options FIN, RSV1 and masking.
 * @returns The frame bytes, in a new buffer.
 */
export function encodeFrame(
  opcode: Opcode,
  payload: Uint8Array,
  options: EncodeFrameOptions = {},
): Uint8Array {
  const { fin = true, rsv1 = false, mask = false } = options;
  if (isControlOpcode(opcode) && (payload.length > 125 || !fin)) {
    throw new RangeError(
      "Cannot encode frame: a control frame must be final with at most 125 payload bytes",
    );
  }
  const key = mask === true ? randomMaskKey() : mask === false ? undefined : mask;
  if (key !== undefined && key.length !== 4) {
    throw new RangeError("Cannot encode frame: a masking key has exactly 4 bytes");
  }
  const length = payload.length;
  const headerLength = frameHeaderLength(length, key !== undefined);
  const frame = new Uint8Array(headerLength + length);
  let offset = writeHeader(
    frame,
    0,
    (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode,
    key !== undefined ? 0x80 : 0,
    length,
  );
  if (key !== undefined) {
    frame.set(key, offset);
    offset += 4;
  }
  frame.set(payload, offset);
  if (key !== undefined) applyMask(frame.subarray(offset), key);
  return frame;
}

// Writes a frame header at `at`: the first byte, the mask bit and the payload
// length in its shortest form. Returns where the header ends.
function writeHeader(
  frame: Uint8Array,
  at: number,
  first: number,
  maskBit: number,
  length: number,
): number {
  frame[at] = first;
  if (length < 126) {
    frame[at + 1] = maskBit | length;
    return at + 2;
  }
  if (length < 0x10000) {
    frame[at + 1] = maskBit | 126;
    frame[at + 2] = length >>> 8;
    frame[at + 3] = length & 0xff;
    return at + 4;
  }
  frame[at + 1] = maskBit | 127;
  const view = new DataView(frame.buffer, frame.byteOffset);
  view.setUint32(at + 2, Math.floor(length / 0x1_0000_0000));
  view.setUint32(at + 6, length >>> 0);
  return at + 10;
}

// Longer strings are encoded first and framed after, rather than framed in
// a buffer three times their length.
const TEXT_FRAME_DIRECT_MAX = 8192;
const encoder = new TextEncoder();

/**
 * An unmasked, final text frame for a string. A short string is encoded
 * straight into the frame buffer (one allocation, no copy); a long one as
 * {@linkcode encodeFrame} would.
 *
 * @example
 * ```ts
 * import { encodeTextFrame } from "./frame.ts";
 *
 * console.log(encodeTextFrame("Hello")); // Uint8Array(7) [ 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f ]
 * ```
 *
 * @param text The message.
 * @returns The frame bytes (possibly a view into a larger buffer).
 */
export function encodeTextFrame(text: string): Uint8Array {
  if (text.length > TEXT_FRAME_DIRECT_MAX) return encodeFrame(OPCODE.Text, encoder.encode(text));
  // At most 3 UTF-8 bytes per UTF-16 code unit.
  const most = text.length * 3;
  const reserved = frameHeaderLength(most);
  const frame = new Uint8Array(reserved + most);
  const { written } = encoder.encodeInto(text, frame.subarray(reserved));
  const start = reserved - frameHeaderLength(written);
  writeHeader(frame, start, 0x80 | OPCODE.Text, 0, written);
  return frame.subarray(start, reserved + written);
}
