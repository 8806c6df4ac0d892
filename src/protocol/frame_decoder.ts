/**
 * The incremental frame decoder: bytes in any chunking → complete frames.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { CLOSE_CODE, type CloseCode } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";
import { type Frame, isControlOpcode, type Opcode } from "./frame.ts";
import { applyMask } from "./mask.ts";

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * The largest message, summed over its fragments, in bytes. A frame that
   * would take a message past it fails with 1009 before anything is
   * allocated.
   *
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * The most frames one message may arrive in (its first frame and its
   * continuation frames). A frame past it fails with 1009, as a message too
   * big to assemble, before its payload is read. By default a message of
   * `maxMessageBytes` may come in 64-byte fragments (Autobahn's smallest),
   * and never fewer than 16384.
   *
   * @default {16384}
   */
  maxFragments?: number;
  /**
   * Require masked frames, as a server must (RFC 6455 §5.1). Set `false` to
   * decode frames sent by a server.
   *
   * @default {true}
   */
  requireMask?: boolean;
  /**
   * Accept RSV1, which only a negotiated extension (permessage-deflate) may
   * set, on the first frame of a data message.
   *
   * @default {false}
   */
  allowRsv1?: boolean;
}

/** The data frame being received, for validation before it is complete. */
export interface PartialFrame {
  /** The frame's opcode (text, binary or continuation). */
  opcode: Opcode;
  /** The unmasked payload bytes received so far. */
  received: Uint8Array;
  /** The frame's RSV1 bit (a compressed message's first frame). */
  rsv1: boolean;
}

const enum State {
  Header,
  Payload,
}

const HEADER_MAX = 14;
// The default maxFragments lets a message come in fragments this small.
const FRAGMENT_BYTES_MIN = 64;
const EMPTY = new Uint8Array(0);

/**
 * Decodes a stream of frames. {@linkcode FrameDecoder.push} takes bytes in
 * any chunking (one byte at a time, many frames at once) and returns the
 * frames it completed. Checks run in RFC order on each header, and the size
 * limit is checked before a payload is allocated. Every violation throws a
 * {@linkcode ProtocolError} carrying its close code; after one, the decoder
 * must not be used again.
 *
 * @example The masked "Hello" of RFC 6455 §5.7, in two chunks
 * ```ts
 * import { FrameDecoder } from "./frame_decoder.ts";
 *
 * const decoder = new FrameDecoder();
 * const bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
 * decoder.push(new Uint8Array(bytes.slice(0, 3))); // []
 * const [frame] = decoder.push(new Uint8Array(bytes.slice(3)));
 * console.log(new TextDecoder().decode(frame!.payload)); // "Hello"
 * ```
 */
export class FrameDecoder {
  readonly #maxMessageBytes: number;
  readonly #maxFragments: number;
  readonly #requireMask: boolean;
  readonly #allowRsv1: boolean;

  #state = State.Header;
  // Collects a header that spans chunks; made on first need.
  #header: Uint8Array | undefined;
  #headerFilled = 0;

  // The frame whose payload is being received.
  #fin = false;
  #rsv1 = false;
  #opcode: Opcode = 0;
  #masked = false;
  // The masking key, big-endian in one number (no buffer per decoder).
  #maskKey = 0;
  #payloadLength = 0;
  // The buffer of a payload that spans reads, and how much of it has arrived.
  #payload: Uint8Array = EMPTY;
  #payloadFilled = 0;

  // Fragmentation: whether a data message is open, its size and frames so far.
  #inMessage = false;
  #messageBytes = 0;
  #fragments = 0;

  #pendingError: ProtocolError | undefined;

  /**
   * Makes a decoder for one connection's stream of frames.
   *
   * @param options Size limit, masking and extension rules.
   */
  constructor(options: FrameDecoderOptions = {}) {
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULTS.maxMessageBytes;
    this.#maxFragments = options.maxFragments ??
      Math.max(DEFAULTS.maxFragments, Math.ceil(this.#maxMessageBytes / FRAGMENT_BYTES_MIN));
    this.#requireMask = options.requireMask ?? true;
    this.#allowRsv1 = options.allowRsv1 ?? false;
  }

  /**
   * The violation found after the frames last returned by
   * {@linkcode FrameDecoder.push}, if any. Handle those frames, then this.
   */
  get pendingError(): ProtocolError | undefined {
    return this.#pendingError;
  }

  /**
   * The data frame whose payload has started to arrive but is not complete,
   * or `undefined`. Lets a receiver validate text before the frame ends.
   */
  get partial(): PartialFrame | undefined {
    if (this.#state !== State.Payload || isControlOpcode(this.#opcode)) return undefined;
    return {
      opcode: this.#opcode,
      received: this.#payload.subarray(0, this.#payloadFilled),
      rsv1: this.#rsv1,
    };
  }

  /**
   * Feeds bytes to the decoder.
   *
   * @param chunk The next bytes from the peer. Not changed and not retained.
   * @returns The frames completed by these bytes, in order. When the bytes
   * complete some frames and then break a rule, those frames are returned
   * and the error is kept in {@linkcode FrameDecoder.pendingError}.
   * @throws {ProtocolError} When the bytes break RFC 6455 or a size limit
   * before completing any frame, or when an error is pending.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#pendingError !== undefined) throw this.#pendingError;
    const frames: Frame[] = [];
    let position = 0;
    const end = chunk.length;
    try {
      while (position < end) {
        position = this.#state === State.Header
          ? this.#readHeader(chunk, position, frames)
          : this.#readPayload(chunk, position, frames);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError) || frames.length === 0) throw error;
      this.#pendingError = error;
    }
    return frames;
  }

  #readHeader(chunk: Uint8Array, position: number, frames: Frame[]): number {
    const available = chunk.length - position;
    if (this.#headerFilled === 0 && available >= 2) {
      const needed = headerLength(chunk[position + 1]!);
      if (available >= needed) {
        this.#parseHeader(chunk, position);
        return this.#afterHeader(position + needed, frames);
      }
    }
    // The header spans chunks: collect it until it is complete.
    const header = this.#header ??= new Uint8Array(HEADER_MAX);
    while (position < chunk.length) {
      header[this.#headerFilled++] = chunk[position++]!;
      if (this.#headerFilled >= 2 && this.#headerFilled === headerLength(header[1]!)) {
        this.#headerFilled = 0;
        this.#parseHeader(header, 0);
        return this.#afterHeader(position, frames);
      }
    }
    return position;
  }

  #parseHeader(bytes: Uint8Array, at: number): void {
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    if ((b0 & 0x30) !== 0) fail(CLOSE_CODE.ProtocolError, "RSV2 and RSV3 must be clear");
    if (!isKnownOpcode(opcode)) fail(CLOSE_CODE.ProtocolError, `reserved opcode ${opcode}`);
    const control = isControlOpcode(opcode);
    if (rsv1 && (!this.#allowRsv1 || control || opcode === 0)) {
      fail(CLOSE_CODE.ProtocolError, "RSV1 must be clear");
    }
    if (control && !fin) fail(CLOSE_CODE.ProtocolError, "a control frame must not be fragmented");
    if (!control) {
      if (opcode === 0 && !this.#inMessage) {
        fail(CLOSE_CODE.ProtocolError, "a continuation frame must follow a data frame");
      }
      if (opcode !== 0 && this.#inMessage) {
        fail(CLOSE_CODE.ProtocolError, "a fragmented message must end before another begins");
      }
    }
    if (masked !== this.#requireMask) {
      fail(
        CLOSE_CODE.ProtocolError,
        this.#requireMask ? "a client frame must be masked" : "a server frame must not be masked",
      );
    }
    let length = b1 & 0x7f;
    // A control frame may only use the 7-bit length form, so its size is
    // known here, before any extended length is read.
    if (control && length > 125) {
      fail(CLOSE_CODE.ProtocolError, "a control frame must carry at most 125 bytes");
    }
    let offset = at + 2;
    if (length === 126) {
      length = (bytes[offset]! << 8) | bytes[offset + 1]!;
      offset += 2;
    } else if (length === 127) {
      const high = readUint32(bytes, offset);
      if (high & 0x8000_0000) {
        fail(CLOSE_CODE.ProtocolError, "the top bit of a 64-bit length is set");
      }
      if (high >= 0x20_0000) fail(CLOSE_CODE.MessageTooBig, "frame length exceeds the limit");
      length = high * 0x1_0000_0000 + readUint32(bytes, offset + 4);
      offset += 8;
    }
    if (!control) this.#countMessage(opcode === 0, fin, length);
    this.#fin = fin;
    this.#rsv1 = rsv1;
    this.#opcode = opcode as Opcode;
    this.#masked = masked;
    if (masked) this.#maskKey = readUint32(bytes, offset);
    this.#payloadLength = length;
    this.#payloadFilled = 0;
  }

  // Adds a data frame to its message's size and frame count, within the limits.
  #countMessage(continuation: boolean, fin: boolean, length: number): void {
    const messageBytes = (continuation ? this.#messageBytes : 0) + length;
    if (messageBytes > this.#maxMessageBytes) {
      fail(CLOSE_CODE.MessageTooBig, `message exceeds ${this.#maxMessageBytes} bytes`);
    }
    const fragments = continuation ? this.#fragments + 1 : 1;
    if (fragments > this.#maxFragments) {
      fail(CLOSE_CODE.MessageTooBig, `message exceeds ${this.#maxFragments} fragments`);
    }
    this.#messageBytes = messageBytes;
    this.#fragments = fragments;
    this.#inMessage = !fin;
  }

  #afterHeader(position: number, frames: Frame[]): number {
    if (this.#payloadLength === 0) {
      this.#emit(frames, EMPTY);
    } else {
      this.#state = State.Payload;
    }
    return position;
  }

  #readPayload(chunk: Uint8Array, position: number, frames: Frame[]): number {
    const length = this.#payloadLength;
    const into = this.#payloadFilled;
    const available = chunk.length - position;
    if (into === 0 && available >= length) {
      // The whole payload is here: one copy, unmasked in place.
      const payload = chunk.slice(position, position + length);
      if (this.#masked) applyMask(payload, maskKey(this.#maskKey));
      this.#state = State.Header;
      this.#emit(frames, payload);
      return position + length;
    }
    // The payload spans reads: fill a buffer of its announced size.
    if (into === 0) this.#payload = new Uint8Array(length);
    const payload = this.#payload;
    const take = Math.min(length - into, available);
    payload.set(chunk.subarray(position, position + take), into);
    if (this.#masked) {
      applyMask(payload.subarray(into, into + take), maskKey(this.#maskKey), into);
    }
    this.#payloadFilled += take;
    if (this.#payloadFilled === length) {
      this.#state = State.Header;
      this.#payload = EMPTY;
      this.#emit(frames, payload);
    }
    return position + take;
  }

  #emit(frames: Frame[], payload: Uint8Array): void {
    frames.push({ fin: this.#fin, rsv1: this.#rsv1, opcode: this.#opcode, payload });
    this.#payloadFilled = 0;
  }
}

// One key buffer for every decoder: filled just before each synchronous use.
const KEY = new Uint8Array(4);

function maskKey(key: number): Uint8Array {
  KEY[0] = key >>> 24;
  KEY[1] = (key >>> 16) & 0xff;
  KEY[2] = (key >>> 8) & 0xff;
  KEY[3] = key & 0xff;
  return KEY;
}

function headerLength(secondByte: number): number {
  const length = secondByte & 0x7f;
  const base = length < 126 ? 2 : length === 126 ? 4 : 10;
  return (secondByte & 0x80) !== 0 ? base + 4 : base;
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) |
    bytes[at + 3]!);
}

function isKnownOpcode(opcode: number): boolean {
  return opcode <= 2 || (opcode >= 8 && opcode <= 10);
}

function fail(code: CloseCode, message: string): never {
  throw new ProtocolError(code, `Cannot decode frame: ${message}`);
}
