/**
 * The shared, seeded fuzz engine for the protocol core: a small PRNG, a raw
 * frame builder, generators of valid frame streams and upgrade requests,
 * mutators, the code under test wired as the socket wires it, a reference
 * model to compare it with, and the drivers used by `fuzz_test.ts` (bounded
 * runs) and `fuzz.ts` (long runs).
 *
 * Every input is derived from `(seed, iteration)` alone, so a failure names
 * both and {@linkcode replayFrames} / {@linkcode replayHandshake} rebuild the
 * exact input.
 *
 * @module
 */

import { concatBytes } from "../src/protocol/bytes.ts";
import { decodeClosePayload } from "../src/protocol/close_frame.ts";
import { isValidCloseCode } from "../src/protocol/close_code.ts";
import { HttpError, ProtocolError } from "../src/protocol/errors.ts";
import { type Frame, OPCODE } from "../src/protocol/frame.ts";
import { FrameDecoder } from "../src/protocol/frame_decoder.ts";
import { validateUpgrade } from "../src/protocol/handshake.ts";
import { RequestHeadParser } from "../src/protocol/http_head.ts";
import { MessageAssembler } from "../src/protocol/message.ts";

const encoder = new TextEncoder();
const lenientDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** The close codes a frame-level rejection may carry. */
export const REJECTION_CODES: ReadonlySet<number> = new Set([1002, 1007, 1009]);
/** The HTTP statuses the handshake parser and validator may answer with. */
export const REJECTION_STATUSES: ReadonlySet<number> = new Set([400, 405, 426, 431]);

// ---------------------------------------------------------------------------
// PRNG

/** mulberry32: a tiny, fast, seeded 32-bit PRNG. */
export class Rng {
  #state: number;

  /** @param seed Any 32-bit integer. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** `true` with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const word = this.next();
      out[i] = word;
      if (i + 1 < n) out[i + 1] = word >>> 8;
      if (i + 2 < n) out[i + 2] = word >>> 16;
      if (i + 3 < n) out[i + 3] = word >>> 24;
    }
    return out;
  }
}

/** The seed of one iteration: a hash of the run's seed and the index. */
export function iterationSeed(seed: number, iteration: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(iteration + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------
// UTF-8 reference

/**
 * An incremental UTF-8 validator written from the table of well-formed byte
 * sequences (Unicode §3.9, Table 3-7), independent of `TextDecoder`.
 */
export class Utf8Validator {
  #needed = 0;
  #lower = 0x80;
  #upper = 0xbf;

  /**
   * Validates the next bytes.
   *
   * @returns The index in `bytes` of the first byte that cannot continue
   * well-formed UTF-8, or -1.
   */
  push(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (this.#needed === 0) {
        if (b <= 0x7f) continue;
        if (b >= 0xc2 && b <= 0xdf) {
          this.#needed = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          this.#needed = 2;
          if (b === 0xe0) this.#lower = 0xa0;
          if (b === 0xed) this.#upper = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          this.#needed = 3;
          if (b === 0xf0) this.#lower = 0x90;
          if (b === 0xf4) this.#upper = 0x8f;
        } else {
          return i;
        }
        continue;
      }
      if (b < this.#lower || b > this.#upper) return i;
      this.#lower = 0x80;
      this.#upper = 0xbf;
      this.#needed--;
    }
    return -1;
  }

  /** Whether no code point is left unfinished. */
  get complete(): boolean {
    return this.#needed === 0;
  }
}

/**
 * Where `bytes` stop being UTF-8: -1 when valid, the index of the first
 * offending byte, or `bytes.length` when only the end is missing.
 */
export function utf8FailIndex(bytes: Uint8Array): number {
  const validator = new Utf8Validator();
  const at = validator.push(bytes);
  if (at !== -1) return at;
  return validator.complete ? -1 : bytes.length;
}

// ---------------------------------------------------------------------------
// Raw frames

/** A frame to encode byte for byte, rule-breaking ones included. */
export interface FrameSpec {
  /** FIN. @default {true} */
  fin?: boolean;
  /** RSV1..RSV3 as a 3-bit number (4 = RSV1, 2 = RSV2, 1 = RSV3). @default {0} */
  rsv?: number;
  /** Any 4-bit opcode. */
  opcode: number;
  /** The payload, unmasked. */
  payload: Uint8Array;
  /** The masking key, or `false` for an unmasked frame. @default {[0x37, 0xfa, 0x21, 0x3d]} */
  mask?: Uint8Array | false;
  /** The length form: 7-bit, 16-bit or 64-bit. @default {the shortest} */
  lengthForm?: 7 | 16 | 64;
  /** A declared length other than the payload's (64-bit form for large values). */
  declaredLength?: number | bigint;
}

const DEFAULT_MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

/** Encodes a {@linkcode FrameSpec} exactly as described. */
export function buildFrame(spec: FrameSpec): Uint8Array {
  const { fin = true, rsv = 0, opcode, payload } = spec;
  const mask = spec.mask === undefined ? DEFAULT_MASK : spec.mask;
  const declared = BigInt(spec.declaredLength ?? payload.length);
  const form = spec.lengthForm ??
    (declared < 126n ? 7 : declared < 0x10000n ? 16 : 64);
  const extended = form === 7 ? 0 : form === 16 ? 2 : 8;
  const header = new Uint8Array(2 + extended + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) {
    header[1] = maskBit | Number(declared & 0x7fn);
  } else if (form === 16) {
    header[1] = maskBit | 126;
    header[2] = Number((declared >> 8n) & 0xffn);
    header[3] = Number(declared & 0xffn);
  } else {
    header[1] = maskBit | 127;
    for (let i = 0; i < 8; i++) header[2 + i] = Number((declared >> BigInt(56 - 8 * i)) & 0xffn);
  }
  const frame = new Uint8Array(header.length + payload.length);
  frame.set(header);
  if (mask) {
    frame.set(mask, 2 + extended);
    const offset = header.length;
    for (let i = 0; i < payload.length; i++) frame[offset + i] = payload[i]! ^ mask[i & 3]!;
  } else {
    frame.set(payload, header.length);
  }
  return frame;
}

/** Joins byte arrays. */
export const concat = (parts: readonly Uint8Array[]): Uint8Array => concatBytes(parts);

/** Bytes as hex. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

// ---------------------------------------------------------------------------
// Outcomes

/**
 * What a byte stream did to a server socket: the events it caused, in
 * order (`pong:<hex>` for an answered ping, `text:<n>:<text>`,
 * `binary:<n>:<hash>`, `close:<code>:<reason>`), and the close code it was
 * failed with, if any.
 */
export interface StreamOutcome {
  /** The events, in order. */
  events: string[];
  /** The close code of the rejection, or `undefined`. */
  error: number | undefined;
}

function hashBytes(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h >>> 0).toString(16);
}

function textEvent(text: string): string {
  return `text:${text.length}:${text}`;
}

function binaryEvent(bytes: Uint8Array): string {
  return `binary:${bytes.length}:${hashBytes(bytes)}`;
}

function pongEvent(payload: Uint8Array): string {
  return `pong:${toHex(payload)}`;
}

function closeEvent(code: number, reason: string): string {
  return `close:${code}:${reason}`;
}

/** A non-protocol error escaped the code under test. */
export class EscapeError extends Error {
  /** The error that escaped. */
  override readonly cause: unknown;

  constructor(cause: unknown) {
    super(`an error other than a typed protocol error escaped: ${describe(cause)}`);
    this.name = "EscapeError";
    this.cause = cause;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

// ---------------------------------------------------------------------------
// The code under test, wired as socket.ts wires it

/** Options shared by the pipeline and the reference model. */
export interface StreamOptions {
  /** The message size limit. */
  maxMessageBytes: number;
}

/**
 * Runs chunks through {@linkcode FrameDecoder}, {@linkcode MessageAssembler}
 * and {@linkcode decodeClosePayload} the way a socket does: frames in order,
 * then a pending decoder error, then fail-fast validation of the frame still
 * arriving; nothing after a close frame or an error.
 *
 * @throws {EscapeError} When anything but a {@linkcode ProtocolError} is
 * thrown, or a frame breaks an invariant the decoder promises.
 */
export function runPipeline(chunks: readonly Uint8Array[], options: StreamOptions): StreamOutcome {
  const decoder = new FrameDecoder({ maxMessageBytes: options.maxMessageBytes });
  const assembler = new MessageAssembler();
  const events: string[] = [];
  let error: ProtocolError | undefined;
  let closed = false;
  const onFrame = (frame: Frame): void => {
    checkFrame(frame, options);
    switch (frame.opcode) {
      case OPCODE.Ping:
        events.push(pongEvent(frame.payload));
        return;
      case OPCODE.Pong:
        return;
      case OPCODE.Close: {
        const { code, reason } = decodeClosePayload(frame.payload);
        events.push(closeEvent(code, reason));
        closed = true;
        return;
      }
      default: {
        const message = assembler.add(frame);
        if (message === undefined) return;
        if (message.length > options.maxMessageBytes) {
          throw new EscapeError(new RangeError("a message exceeds maxMessageBytes"));
        }
        events.push(typeof message === "string" ? textEvent(message) : binaryEvent(message));
      }
    }
  };
  for (const chunk of chunks) {
    try {
      const frames = decoder.push(chunk);
      for (const frame of frames) {
        onFrame(frame);
        if (closed) break;
      }
      if (closed) break;
      const pending = decoder.pendingError;
      if (pending !== undefined) throw pending;
      const partial = decoder.partial;
      if (partial !== undefined) assembler.check(partial);
    } catch (caught) {
      if (caught instanceof EscapeError) throw caught;
      if (!(caught instanceof ProtocolError)) throw new EscapeError(caught);
      error = caught;
      break;
    }
  }
  if (error !== undefined) {
    if (!REJECTION_CODES.has(error.code)) {
      throw new EscapeError(new RangeError(`a rejection carries close code ${error.code}`));
    }
    if (!isValidCloseCode(error.code)) {
      throw new EscapeError(new RangeError(`close code ${error.code} cannot be sent`));
    }
  }
  return { events, error: error?.code };
}

function checkFrame(frame: Frame, options: StreamOptions): void {
  const control = (frame.opcode & 0x8) !== 0;
  if (control && (frame.payload.length > 125 || !frame.fin)) {
    throw new EscapeError(new RangeError("the decoder let through a bad control frame"));
  }
  if (frame.payload.length > options.maxMessageBytes) {
    throw new EscapeError(new RangeError("the decoder let through a frame over the limit"));
  }
}

// ---------------------------------------------------------------------------
// The reference model: the same rules, written plainly over the whole input

/**
 * Decodes a whole byte stream with the rules of RFC 6455 as this project
 * applies them, without any of the incremental machinery: the oracle the
 * pipeline is compared with.
 */
export function referenceOutcome(bytes: Uint8Array, options: StreamOptions): StreamOutcome {
  const events: string[] = [];
  let position = 0;
  let inMessage = false;
  let messageText = false;
  let messageBytes = 0;
  let parts: Uint8Array[] = [];
  let utf8 = new Utf8Validator();
  const fail = (code: number): StreamOutcome => ({ events, error: code });
  while (position < bytes.length) {
    if (bytes.length - position < 2) break;
    const b0 = bytes[position]!;
    const b1 = bytes[position + 1]!;
    const length7 = b1 & 0x7f;
    const masked = (b1 & 0x80) !== 0;
    const headerLength = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (bytes.length - position < headerLength) break;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const control = opcode >= 8;
    if ((b0 & 0x30) !== 0) return fail(1002);
    if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10))) return fail(1002);
    if ((b0 & 0x40) !== 0) return fail(1002);
    if (control && !fin) return fail(1002);
    if (opcode === 0 && !inMessage) return fail(1002);
    if ((opcode === 1 || opcode === 2) && inMessage) return fail(1002);
    if (!masked) return fail(1002);
    if (control && length7 > 125) return fail(1002);
    let length = length7;
    if (length7 === 126) {
      length = bytes[position + 2]! * 256 + bytes[position + 3]!;
    } else if (length7 === 127) {
      if (bytes[position + 2]! & 0x80) return fail(1002);
      length = 0;
      for (let i = 0; i < 8; i++) length = length * 256 + bytes[position + 2 + i]!;
    }
    if (!control) {
      const total = (opcode === 0 ? messageBytes : 0) + length;
      if (total > options.maxMessageBytes) return fail(1009);
      if (opcode !== 0) {
        messageText = opcode === 1;
        messageBytes = 0;
        parts = [];
        utf8 = new Utf8Validator();
      }
      messageBytes = total;
      inMessage = !fin;
    }
    const key = bytes.subarray(position + headerLength - 4, position + headerLength);
    const start = position + headerLength;
    const available = Math.min(length, bytes.length - start);
    const payload = new Uint8Array(available);
    for (let i = 0; i < available; i++) payload[i] = bytes[start + i]! ^ key[i & 3]!;
    if (!control && messageText && utf8.push(payload) !== -1) return fail(1007);
    if (available < length) break;
    position = start + length;
    if (opcode === 9) {
      events.push(pongEvent(payload));
    } else if (opcode === 8) {
      if (payload.length === 1) return fail(1002);
      if (payload.length === 0) {
        events.push(closeEvent(1005, ""));
        return { events, error: undefined };
      }
      const code = payload[0]! * 256 + payload[1]!;
      if (!referenceCloseCodeValid(code)) return fail(1002);
      const reason = payload.subarray(2);
      if (utf8FailIndex(reason) !== -1) return fail(1007);
      events.push(closeEvent(code, lenientDecoder.decode(reason)));
      return { events, error: undefined };
    } else if (!control) {
      parts.push(payload);
      if (fin) {
        const message = concat(parts);
        parts = [];
        if (messageText) {
          if (!utf8.complete) return fail(1007);
          events.push(textEvent(lenientDecoder.decode(message)));
        } else {
          events.push(binaryEvent(message));
        }
      }
    }
  }
  return { events, error: undefined };
}

/**
 * The close codes a peer may send: 1000–1003, 1007–1014 (RFC 6455 and the
 * IANA registry: 1012 Service Restart, 1013 Try Again Later, 1014 Bad
 * Gateway) and 3000–4999. Written out independently of `close_code.ts`.
 */
export function referenceCloseCodeValid(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014].includes(code);
}

// ---------------------------------------------------------------------------
// Generating frame streams

const TEXT_PIECES = [
  "a",
  "Hello",
  " ",
  "é",
  "µ@ßöäüàá",
  "€",
  "κόσμε",
  "𝄞",
  "\u0000",
  "\uFEFF",
  "\uFFFD",
  "\u{10FFFF}",
  "\uFFFF",
  "日本語",
];

const INVALID_UTF8 = [
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf0, 0x8f, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5],
  [0xfe],
  [0xff],
  [0xc2],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
];

const VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
const INVALID_CLOSE_CODES = [
  0,
  1,
  999,
  1004,
  1005,
  1006,
  1015,
  1016,
  1100,
  2000,
  2999,
  5000,
  65535,
];

function payloadLength(rng: Rng): number {
  const r = rng.float();
  if (r < 0.7) return rng.int(0, 24);
  if (r < 0.9) return rng.int(25, 300);
  if (r < 0.997) return rng.pick([124, 125, 126, 127, 128, 1000, 4096]);
  return rng.pick([65535, 65536, 70000]);
}

/** Text of about `bytes` UTF-8 bytes, never more than `limit`. */
function randomText(rng: Rng, bytes: number, limit = Infinity, pieces = TEXT_PIECES): string {
  const sizes = pieceSizes(pieces);
  const out: string[] = [];
  let length = 0;
  while (length < bytes) {
    const i = Math.floor(rng.float() * pieces.length);
    if (length + sizes[i]! > limit) break;
    out.push(pieces[i]!);
    length += sizes[i]!;
  }
  return out.join("");
}

const sizeCache = new Map<readonly string[], number[]>();

function pieceSizes(pieces: readonly string[]): number[] {
  let sizes = sizeCache.get(pieces);
  if (sizes === undefined) {
    sizes = pieces.map((piece) => encoder.encode(piece).length);
    sizeCache.set(pieces, sizes);
  }
  return sizes;
}

const HEADER_PIECES = ["a", "Z", "0", " ", "-", "/", ";", "=", "é", "\t"];

function splitBytes(rng: Rng, bytes: Uint8Array, pieces: number): Uint8Array[] {
  const cuts = Array.from({ length: pieces - 1 }, () => rng.int(0, bytes.length)).sort((a, b) =>
    a - b
  );
  const out: Uint8Array[] = [];
  let previous = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(previous, cut));
    previous = cut;
  }
  out.push(bytes.subarray(previous));
  return out;
}

function randomMask(rng: Rng): Uint8Array {
  return rng.chance(0.05) ? new Uint8Array(4) : rng.bytes(4);
}

function controlFrame(rng: Rng, frames: FrameSpec[], expected: string[]): void {
  const payload = rng.bytes(rng.chance(0.1) ? 125 : rng.int(0, 12));
  const ping = rng.chance(0.6);
  frames.push({ opcode: ping ? OPCODE.Ping : OPCODE.Pong, payload, mask: randomMask(rng) });
  if (ping) expected.push(pongEvent(payload));
}

/** A valid client stream, as frames, with the events it must cause. */
export interface GeneratedStream {
  /** The frames, in order. */
  frames: FrameSpec[];
  /** The events a correct server sees. */
  expected: string[];
}

/** Generates a valid stream of 1–5 messages and control frames. */
export function generateStream(rng: Rng, options: StreamOptions): GeneratedStream {
  const frames: FrameSpec[] = [];
  const expected: string[] = [];
  const count = rng.int(1, 5);
  for (let m = 0; m < count; m++) {
    const kind = rng.float();
    if (kind < 0.2) {
      controlFrame(rng, frames, expected);
      continue;
    }
    const text = kind < 0.65;
    let payload: Uint8Array;
    let event: string;
    const size = Math.min(payloadLength(rng), options.maxMessageBytes);
    if (text) {
      const value = randomText(rng, size, options.maxMessageBytes);
      payload = encoder.encode(value);
      event = textEvent(value);
    } else {
      payload = rng.bytes(size);
      event = binaryEvent(payload);
    }
    const pieces = rng.chance(0.6) ? 1 : rng.int(2, 5);
    const fragments = splitBytes(rng, payload, pieces);
    fragments.forEach((fragment, i) => {
      if (i > 0 && rng.chance(0.3)) controlFrame(rng, frames, expected);
      frames.push({
        fin: i === fragments.length - 1,
        opcode: i > 0 ? OPCODE.Continuation : text ? OPCODE.Text : OPCODE.Binary,
        payload: fragment,
        mask: randomMask(rng),
      });
    });
    expected.push(event);
  }
  if (rng.chance(0.25)) {
    if (rng.chance(0.2)) {
      frames.push({ opcode: OPCODE.Close, payload: new Uint8Array(0), mask: randomMask(rng) });
      expected.push(closeEvent(1005, ""));
    } else {
      const code = rng.chance(0.5) ? rng.pick(VALID_CLOSE_CODES) : rng.int(3000, 4999);
      const reason = rng.chance(0.5) ? "" : randomText(rng, rng.int(1, 123), 123);
      const reasonBytes = encoder.encode(reason);
      frames.push({
        opcode: OPCODE.Close,
        payload: concat([new Uint8Array([code >> 8, code & 0xff]), reasonBytes]),
        mask: randomMask(rng),
      });
      expected.push(closeEvent(code, reason));
    }
  }
  return { frames, expected };
}

// ---------------------------------------------------------------------------
// Mutating frame streams

function insertBytes(payload: Uint8Array, at: number, bytes: readonly number[]): Uint8Array {
  return concat([payload.subarray(0, at), new Uint8Array(bytes), payload.subarray(at)]);
}

/** Breaks one rule at the frame level (before encoding). */
function mutateFrames(rng: Rng, frames: FrameSpec[], options: StreamOptions): void {
  const index = rng.int(0, frames.length - 1);
  const frame = { ...frames[index]! };
  frames[index] = frame;
  switch (rng.int(0, 13)) {
    case 0:
      frame.rsv = rng.int(1, 7);
      break;
    case 1:
      frame.opcode = rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]);
      break;
    case 2:
      frame.fin = !(frame.fin ?? true);
      break;
    case 3:
      frame.opcode = frame.opcode === OPCODE.Continuation
        ? rng.pick([OPCODE.Text, OPCODE.Binary])
        : OPCODE.Continuation;
      break;
    case 4:
      frames.splice(index, 0, {
        opcode: rng.pick([OPCODE.Ping, OPCODE.Pong, OPCODE.Close]),
        payload: rng.bytes(rng.int(126, 200)),
        fin: rng.chance(0.8),
      });
      break;
    case 5: {
      const bad = rng.pick(INVALID_UTF8);
      frame.payload = insertBytes(frame.payload, rng.int(0, frame.payload.length), bad);
      if (frame.opcode === OPCODE.Binary) frame.opcode = OPCODE.Text;
      break;
    }
    case 6: {
      const code = rng.pick(INVALID_CLOSE_CODES);
      frames.splice(index, 0, {
        opcode: OPCODE.Close,
        payload: rng.chance(0.3)
          ? new Uint8Array([rng.int(0, 255)])
          : new Uint8Array([code >> 8, code & 0xff]),
      });
      break;
    }
    case 7: {
      const reason = rng.pick(INVALID_UTF8);
      frames.splice(index, 0, {
        opcode: OPCODE.Close,
        payload: concat([
          new Uint8Array([0x03, 0xe8]),
          encoder.encode("ok"),
          new Uint8Array(reason),
        ]),
      });
      break;
    }
    case 8:
      frame.mask = false;
      break;
    case 9:
      frame.lengthForm = frame.payload.length < 0x10000 ? rng.pick([16, 64]) : 64;
      break;
    case 10:
      frame.declaredLength = rng.pick<number | bigint>([
        2n ** 62n,
        2n ** 63n,
        2n ** 64n - 1n,
        2n ** 53n,
        2n ** 32n,
        0x7fff_ffff,
        options.maxMessageBytes + 1,
        frame.payload.length + rng.int(1, 10),
        Math.max(0, frame.payload.length - rng.int(1, 10)),
      ]);
      break;
    case 11:
      frames.splice(index, 0, {
        opcode: rng.pick([OPCODE.Text, OPCODE.Binary, OPCODE.Continuation]),
        fin: rng.chance(0.5),
        payload: rng.bytes(rng.int(0, 8)),
      });
      break;
    case 12:
      frames.splice(index, 1);
      break;
    default:
      frames.splice(index, 0, { ...frames[rng.int(0, frames.length - 1)]! });
  }
}

/** Breaks the encoded bytes: flips, edits, inserts, deletes, truncates. */
function mutateBytes(rng: Rng, bytes: Uint8Array, donor: Uint8Array): Uint8Array {
  if (bytes.length === 0) return rng.bytes(rng.int(1, 16));
  const at = rng.int(0, bytes.length - 1);
  switch (rng.int(0, 7)) {
    case 0: {
      const out = bytes.slice();
      out[at]! ^= 1 << rng.int(0, 7);
      return out;
    }
    case 1: {
      const out = bytes.slice();
      out[at] = rng.pick([0x00, 0x7e, 0x7f, 0x80, 0xfe, 0xff, rng.int(0, 255)]);
      return out;
    }
    case 2:
      return concat([bytes.subarray(0, at), rng.bytes(rng.int(1, 8)), bytes.subarray(at)]);
    case 3:
      return concat([
        bytes.subarray(0, at),
        bytes.subarray(Math.min(bytes.length, at + rng.int(1, 8))),
      ]);
    case 4:
      return bytes.subarray(0, at);
    case 5: {
      const length = rng.int(1, Math.min(64, bytes.length - at));
      return concat([bytes.subarray(0, at + length), bytes.subarray(at)]);
    }
    case 6: {
      const from = rng.int(0, Math.max(0, donor.length - 1));
      return concat([bytes.subarray(0, at), donor.subarray(from)]);
    }
    default:
      return concat([bytes, donor.subarray(0, rng.int(0, donor.length))]);
  }
}

/** One frame-stream fuzz input, rebuilt from its seed. */
export interface FrameInput {
  /** The bytes the client sends. */
  bytes: Uint8Array;
  /** How the bytes are split into reads (chunk lengths summing to the total). */
  chunks: Uint8Array[];
  /** The message size limit in force. */
  maxMessageBytes: number;
  /** The events of the unmutated stream, when no mutation was applied. */
  expected: string[] | undefined;
}

/** Builds the frame-stream input of one iteration. */
export function frameInput(seed: number, iteration: number): FrameInput {
  const rng = new Rng(iterationSeed(seed, iteration));
  const maxMessageBytes = rng.pick([256, 4096, 1024 * 1024]);
  const options = { maxMessageBytes };
  const stream = generateStream(rng, options);
  let mutated = false;
  if (rng.chance(0.45)) {
    const count = rng.int(1, 3);
    for (let i = 0; i < count && stream.frames.length > 0; i++) {
      mutateFrames(rng, stream.frames, options);
    }
    mutated = true;
  }
  let bytes = concat(stream.frames.map(buildFrame));
  if (rng.chance(0.45)) {
    const donor = concat(generateStream(rng, options).frames.map(buildFrame));
    const count = rng.int(1, 3);
    for (let i = 0; i < count; i++) bytes = mutateBytes(rng, bytes, donor);
    mutated = true;
  }
  return {
    bytes,
    chunks: chunkSplit(rng, bytes),
    maxMessageBytes,
    expected: mutated ? undefined : stream.expected,
  };
}

/** Splits bytes into reads: random cut points, or one byte at a time. */
export function chunkSplit(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  if (bytes.length <= 400 && rng.chance(0.15)) {
    return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  }
  return splitBytes(rng, bytes, rng.int(1, 9));
}

// ---------------------------------------------------------------------------
// Handshake requests

const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function randomKey(rng: Rng): string {
  let key = "";
  for (let i = 0; i < 21; i++) key += KEY_ALPHABET[rng.int(0, 63)];
  return key + KEY_ALPHABET[rng.int(0, 3) * 16] + "==";
}

function randomCase(rng: Rng, text: string): string {
  if (rng.chance(0.6)) return text;
  let out = "";
  for (const char of text) out += rng.chance(0.5) ? char.toUpperCase() : char.toLowerCase();
  return out;
}

function pad(rng: Rng): string {
  return rng.chance(0.8) ? "" : rng.pick([" ", "  ", "\t", " \t"]);
}

/** One handshake fuzz input, rebuilt from its seed. */
export interface HandshakeInput {
  /** The request bytes, possibly followed by pipelined bytes. */
  bytes: Uint8Array;
  /** How the bytes are split into reads. */
  chunks: Uint8Array[];
  /** The largest head the parser accepts. */
  maxHeadBytes: number;
  /** For an unmutated request: the key and the pipelined bytes. */
  expected: { key: string; rest: Uint8Array } | undefined;
}

/** Builds the handshake input of one iteration. */
export function handshakeInput(seed: number, iteration: number): HandshakeInput {
  const rng = new Rng(iterationSeed(seed, iteration) ^ 0x5bd1e995);
  const maxHeadBytes = rng.pick([512, 8192]);
  const key = randomKey(rng);
  const eol = rng.chance(0.9) ? "\r\n" : "\n";
  const target = rng.pick(["/", "/chat", "/chat?topic=news&x=%20y", "/a/b/../c", "/?"]);
  let lines: string[] = [
    `${randomCase(rng, "Host")}:${pad(rng)} 127.0.0.1:8080${pad(rng)}`,
    `${randomCase(rng, "Upgrade")}: ${randomCase(rng, "websocket")}`,
    `${randomCase(rng, "Connection")}: ${rng.pick(["Upgrade", "keep-alive, Upgrade", "upgrade"])}`,
    `${randomCase(rng, "Sec-WebSocket-Key")}:${pad(rng)} ${key}${pad(rng)}`,
    `${randomCase(rng, "Sec-WebSocket-Version")}: 13`,
  ];
  if (rng.chance(0.5)) lines.push(`Origin: http://example.com`);
  if (rng.chance(0.3)) lines.push(`Sec-WebSocket-Protocol: chat, superchat`);
  if (rng.chance(0.3)) {
    lines.push(`Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits`);
  }
  if (rng.chance(0.5)) lines.push(`User-Agent: fuzz/${rng.int(0, 99)} (é)`);
  for (let i = rng.int(0, 4); i > 0; i--) {
    lines.push(`X-Extra-${i}: ${randomText(rng, rng.int(0, 30), 30, HEADER_PIECES).trim()}`);
  }
  lines = shuffle(rng, lines);
  let requestLine = `GET ${target} HTTP/1.1`;
  let mutated = false;
  if (rng.chance(0.5)) {
    mutated = true;
    const count = rng.int(1, 3);
    for (let i = 0; i < count; i++) {
      [requestLine, lines] = mutateRequestLines(rng, requestLine, lines, maxHeadBytes);
    }
  }
  const head = latin1Bytes(requestLine + eol + lines.map((line) => line + eol).join("") + eol);
  const rest = rng.chance(0.3)
    ? buildFrame({ opcode: OPCODE.Text, payload: rng.bytes(rng.int(0, 20)) })
    : new Uint8Array(0);
  let bytes = concat([head, rest]);
  if (rng.chance(0.35)) {
    mutated = true;
    const count = rng.int(1, 3);
    for (let i = 0; i < count; i++) bytes = mutateBytes(rng, bytes, head);
  }
  return {
    bytes,
    chunks: chunkSplit(rng, bytes),
    maxHeadBytes,
    expected: mutated || head.length > maxHeadBytes ? undefined : { key, rest },
  };
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function latin1Bytes(text: string): Uint8Array {
  // Characters above U+00FF go out as UTF-8, as a real client might send them.
  const out: number[] = [];
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code <= 0xff) out.push(code);
    else out.push(...encoder.encode(char));
  }
  return new Uint8Array(out);
}

// Broken pieces of a request, one table per place they go.
const BAD_METHODS = ["POST", "get", "HEAD", "G\x00T", "", "GET GET"];
const BAD_VERSIONS = ["HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "HTTP/", "http/1.1", "HTTP/1.10"];
const ODD_TARGETS = ["*", "chat", "http://h/x", "//x", "/\x7f", "/%zz", ""];
const BAD_REQUEST_LINES = ["", " ", "GET", "GET /", "GET / HTTP/1.1 extra", "\x16\x03\x01"];
const BAD_LINES = [": empty", "NoColon", " Lead: x", "Bad Name: x", "X : y", "X:\x00", "\x80: y"];
const BAD_VALUES = ["", "13, 8", "8", "websocket2", "AAAA", "dGhlIHNhbXBsZSBub25jZQ==,x"];
const BAD_KEYS = ["", "short", "!!!!!!!!!!!!!!!!!!!!!!==", "AAAAAAAAAAAAAAAAAAAAAA=="];
const BAD_LINE_ENDS = ["\r", "\r\r", "\x00", "\u00ff"];
const BAD_PROTOCOLS = ["a b", "chat,,x", "(bad)", ""];

/** Breaks the request line or the header lines. */
function mutateRequestLines(
  rng: Rng,
  requestLine: string,
  lines: string[],
  maxHeadBytes: number,
): [string, string[]] {
  const out = lines.slice();
  const at = rng.int(0, Math.max(0, out.length - 1));
  const line = out[at] ?? "X: y";
  switch (rng.int(0, 15)) {
    case 0:
      return [requestLine.replace("GET", rng.pick(BAD_METHODS)), out];
    case 1:
      return [requestLine.replace("HTTP/1.1", rng.pick(BAD_VERSIONS)), out];
    case 2:
      return [requestLine.replace(/ \S+ /, ` ${rng.pick(ODD_TARGETS)} `), out];
    case 3:
      return [rng.pick(BAD_REQUEST_LINES), out];
    case 4:
      out.splice(at, 1);
      break;
    case 5:
      out.splice(at, 0, line);
      break;
    case 6:
      out.splice(at, 0, rng.pick(BAD_LINES));
      break;
    case 7:
      out[at] = line.replace(/:.*/, ": " + rng.pick(BAD_VALUES));
      break;
    case 8:
      out.splice(at, 0, `X-Big: ${"a".repeat(rng.int(maxHeadBytes - 200, maxHeadBytes + 200))}`);
      break;
    case 9:
      for (let i = rng.int(95, 110); i > 0; i--) out.push(`X-${i}: ${i}`);
      break;
    case 10:
      out.splice(at, 0, " folded continuation");
      break;
    case 11:
      out[at] = line.toUpperCase();
      break;
    case 12:
      out[at] = line + rng.pick(BAD_LINE_ENDS);
      break;
    case 13:
      out.splice(at, 0, `Sec-WebSocket-Key: ${rng.pick(BAD_KEYS)}`);
      break;
    case 14:
      out.splice(at, 0, "Host: second");
      break;
    default:
      out.splice(at, 0, `Sec-WebSocket-Protocol: ${rng.pick(BAD_PROTOCOLS)}`);
  }
  return [requestLine, out];
}

/**
 * What the handshake parser and validator made of a request: still waiting,
 * refused with a status, or accepted (with the key, path and the bytes after
 * the head).
 */
export type HandshakeOutcome =
  | { kind: "incomplete" }
  | { kind: "refused"; status: number }
  | { kind: "accepted"; key: string; path: string; rest: string };

/**
 * Feeds chunks to {@linkcode RequestHeadParser}, then validates the head with
 * {@linkcode validateUpgrade}, as the server does.
 *
 * @throws {EscapeError} When anything but a {@linkcode HttpError} with
 * one of {@linkcode REJECTION_STATUSES} is thrown.
 */
export function runHandshake(
  chunks: readonly Uint8Array[],
  maxHeadBytes: number,
): HandshakeOutcome {
  const parser = new RequestHeadParser({ maxHeadBytes });
  try {
    for (let i = 0; i < chunks.length; i++) {
      const head = parser.push(chunks[i]!);
      if (head === undefined) continue;
      const request = validateUpgrade(head);
      // The socket reads whatever comes after the head's chunk itself.
      const rest = concat([parser.rest, ...chunks.slice(i + 1)]);
      return { kind: "accepted", key: request.key, path: request.path, rest: toHex(rest) };
    }
    return { kind: "incomplete" };
  } catch (error) {
    if (!(error instanceof HttpError)) throw new EscapeError(error);
    if (!REJECTION_STATUSES.has(error.status)) {
      throw new EscapeError(new RangeError(`a refusal carries status ${error.status}`));
    }
    return { kind: "refused", status: error.status };
  }
}

/**
 * Where the request head ends (just past its blank line), or -1: the plain
 * reading of "the head ends at the first empty line".
 */
export function referenceHeadEnd(bytes: Uint8Array): number {
  for (let i = 1; i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i - 1] === 0x0a) return i + 1;
    if (bytes[i - 1] === 0x0d && i >= 2 && bytes[i - 2] === 0x0a) return i + 1;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Drivers

/** A fuzz run found a bug; the message names the seed and iteration. */
export class FuzzFailure extends Error {
  /** The run's seed. */
  readonly seed: number;
  /** The failing iteration. */
  readonly iteration: number;
  /** The failing input as hex. */
  readonly input: string;

  constructor(kind: string, seed: number, iteration: number, input: Uint8Array, why: string) {
    super(
      `${kind} fuzz failure (seed ${seed}, iteration ${iteration}): ${why}\n` +
        `  replay: deno task fuzz --${kind} --seed ${seed} --iteration ${iteration}\n` +
        `  input (${input.length} bytes): ${toHex(input.subarray(0, 512))}` +
        (input.length > 512 ? "..." : ""),
    );
    this.name = "FuzzFailure";
    this.seed = seed;
    this.iteration = iteration;
    this.input = toHex(input);
  }
}

/** How a fuzz run went. */
export interface FuzzStats {
  /** Inputs tried. */
  iterations: number;
  /** Inputs that were rejected, by close code or HTTP status. */
  rejections: Record<number, number>;
  /** Inputs accepted whole (all events as expected, or a clean outcome). */
  accepted: number;
  /** Unmutated inputs checked against the generator's expectation. */
  checkedValid: number;
  /** Bytes fed to the code under test (each split once). */
  bytes: number;
  /** The slowest single input, in milliseconds. */
  slowestMs: number;
  /** Wall time of the run, in milliseconds. */
  elapsedMs: number;
}

/** Options of a fuzz run. */
export interface FuzzOptions {
  /** The run's seed. */
  seed: number;
  /** The first iteration. @default {0} */
  start?: number;
  /** How many inputs to try. @default {Infinity} */
  iterations?: number;
  /** Stop after this many milliseconds. @default {Infinity} */
  budgetMs?: number;
  /** Fail when a single input takes longer than this. @default {250} */
  maxInputMs?: number;
}

/** Counters at zero. */
export function newStats(): FuzzStats {
  return {
    iterations: 0,
    rejections: {},
    accepted: 0,
    checkedValid: 0,
    bytes: 0,
    slowestMs: 0,
    elapsedMs: 0,
  };
}

function sameOutcome(a: StreamOutcome, b: StreamOutcome): boolean {
  if (a.error !== b.error || a.events.length !== b.events.length) return false;
  return a.events.every((event, i) => event === b.events[i]);
}

function show(outcome: StreamOutcome): string {
  const events = outcome.events.map((event) =>
    event.length > 80 ? event.slice(0, 80) + "…" : event
  );
  return JSON.stringify({ events, error: outcome.error });
}

/**
 * Checks one frame-stream input: the pipeline fed whole and fed in chunks
 * must agree with each other and with the reference model (and with the
 * generator, for an unmutated stream); only typed errors may escape.
 *
 * @returns The outcome, or a description of the failure.
 */
export function checkFrameInput(input: FrameInput): StreamOutcome | string {
  const options = { maxMessageBytes: input.maxMessageBytes };
  let whole: StreamOutcome;
  let chunked: StreamOutcome;
  try {
    whole = runPipeline([input.bytes], options);
    chunked = runPipeline(input.chunks, options);
  } catch (error) {
    return describe(error);
  }
  const reference = referenceOutcome(input.bytes, options);
  if (!sameOutcome(whole, chunked)) {
    return `whole ${show(whole)} differs from chunked ${show(chunked)} (chunks ${
      input.chunks.map((chunk) => chunk.length)
    })`;
  }
  if (!sameOutcome(whole, reference)) {
    return `pipeline ${show(whole)} differs from the reference ${show(reference)}`;
  }
  if (input.expected !== undefined) {
    const expected = { events: input.expected, error: undefined };
    if (!sameOutcome(whole, expected)) {
      return `a valid stream gave ${show(whole)}, expected ${show(expected)}`;
    }
  }
  return whole;
}

/**
 * Checks one handshake input: whole and chunked parsing agree, only typed
 * refusals escape, the head ends where the reference says, 431 exactly when
 * it ends past the limit, and an unmutated request is accepted with its key
 * and its pipelined bytes.
 *
 * @returns The outcome, or a description of the failure.
 */
export function checkHandshakeInput(input: HandshakeInput): HandshakeOutcome | string {
  let whole: HandshakeOutcome;
  let chunked: HandshakeOutcome;
  try {
    whole = runHandshake([input.bytes], input.maxHeadBytes);
    chunked = runHandshake(input.chunks, input.maxHeadBytes);
  } catch (error) {
    return describe(error);
  }
  if (JSON.stringify(whole) !== JSON.stringify(chunked)) {
    return `whole ${JSON.stringify(whole)} differs from chunked ${JSON.stringify(chunked)}`;
  }
  const end = referenceHeadEnd(input.bytes);
  const limit = input.maxHeadBytes;
  const tooLarge = end === -1 ? input.bytes.length >= limit : end > limit;
  const where = `head end ${end} of ${input.bytes.length} bytes (limit ${limit})`;
  if (tooLarge) {
    if (whole.kind !== "refused" || whole.status !== 431) {
      return `${where} gave ${JSON.stringify(whole)}, expected 431`;
    }
  } else if (end === -1) {
    if (whole.kind !== "incomplete") return `${where} gave ${JSON.stringify(whole)}`;
  } else if (whole.kind === "incomplete") {
    return `${where}: the finished head was not parsed`;
  }
  if (whole.kind === "accepted" && whole.rest !== toHex(input.bytes.subarray(end))) {
    return `the bytes after the head were ${whole.rest}, expected ${
      toHex(input.bytes.subarray(end))
    }`;
  }
  if (input.expected !== undefined) {
    if (whole.kind !== "accepted") return `a valid request gave ${JSON.stringify(whole)}`;
    if (whole.key !== input.expected.key) return `key ${whole.key}, expected ${input.expected.key}`;
    if (whole.rest !== toHex(input.expected.rest)) return `the pipelined bytes were changed`;
  }
  return whole;
}

function run<I extends { bytes: Uint8Array; expected: unknown }, O>(
  kind: string,
  options: FuzzOptions,
  build: (seed: number, iteration: number) => I,
  check: (input: I) => O | string,
  classify: (outcome: O, stats: FuzzStats) => void,
): FuzzStats {
  const { seed, start = 0, iterations = Infinity, budgetMs = Infinity, maxInputMs = 250 } = options;
  const stats = newStats();
  const began = performance.now();
  for (let i = start; i < start + iterations; i++) {
    if (((i - start) & 255) === 0 && performance.now() - began > budgetMs) break;
    const input = build(seed, i);
    const before = performance.now();
    const outcome = check(input);
    const took = performance.now() - before;
    if (typeof outcome === "string") {
      throw new FuzzFailure(kind, seed, i, input.bytes, outcome);
    }
    let slowest = took;
    if (took > maxInputMs) {
      // Time it again: a garbage-collection pause is not the input's fault.
      const again = performance.now();
      check(input);
      slowest = performance.now() - again;
      if (slowest > maxInputMs) {
        throw new FuzzFailure(kind, seed, i, input.bytes, `took ${slowest.toFixed(1)} ms twice`);
      }
    }
    if (slowest > stats.slowestMs) stats.slowestMs = slowest;
    stats.iterations++;
    stats.bytes += input.bytes.length;
    if (input.expected !== undefined) stats.checkedValid++;
    classify(outcome, stats);
  }
  stats.elapsedMs = performance.now() - began;
  return stats;
}

/**
 * Fuzzes the frame decoder and message assembly.
 *
 * @throws {FuzzFailure} On the first failing input.
 */
export function fuzzFrames(options: FuzzOptions): FuzzStats {
  return run("frames", options, frameInput, checkFrameInput, (outcome, stats) => {
    if (outcome.error === undefined) stats.accepted++;
    else stats.rejections[outcome.error] = (stats.rejections[outcome.error] ?? 0) + 1;
  });
}

/**
 * Fuzzes the handshake parser and validator.
 *
 * @throws {FuzzFailure} On the first failing input.
 */
export function fuzzHandshakes(options: FuzzOptions): FuzzStats {
  return run("handshake", options, handshakeInput, checkHandshakeInput, (outcome, stats) => {
    if (outcome.kind === "refused") {
      stats.rejections[outcome.status] = (stats.rejections[outcome.status] ?? 0) + 1;
    } else if (outcome.kind === "accepted") {
      stats.accepted++;
    }
  });
}
