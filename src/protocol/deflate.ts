/**
 * The permessage-deflate codec (RFC 7692 §7.2): compressing a message the
 * server sends, decompressing one a client sent, and framing one message for
 * many sockets with as few deflate calls as there are parameter sets.
 *
 * DEFLATE itself is zlib's, through `node:zlib`'s synchronous calls, which
 * the bench (`bench/deflate_bench.ts`) found the fastest way to compress a
 * small message in Deno. Each call starts a fresh zlib stream, which suits
 * the server's policy of `server_no_context_takeover` (see
 * `./extensions.ts`). A client that keeps its context between messages is
 * served by handing zlib the window of earlier messages as a stored block
 * ahead of the new data: Deno's `node:zlib` ignores the `dictionary` option
 * and closes a stream after a synchronous call, and a stored block is how a
 * raw DEFLATE stream carries a preset window.
 *
 * @module
 */

import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { CLOSE_CODE } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";
import { encodeFrame, OPCODE } from "./frame.ts";
import type { DeflateParams, WindowBits } from "./extensions.ts";
import { type PreparedEvent, prepareEvent, type ResumePoint } from "./event_stream.ts";

/**
 * Messages shorter than this many bytes are sent uncompressed: below it,
 * DEFLATE rarely saves more than the few bytes it costs, and the deflate call
 * costs more than sending them.
 *
 * @example
 * ```ts
 * import { DEFLATE_THRESHOLD } from "./deflate.ts";
 *
 * console.log(DEFLATE_THRESHOLD); // 128
 * ```
 */
export const DEFLATE_THRESHOLD = 128;

/** The opcode of a data message: `OPCODE.Text` (1) or `OPCODE.Binary` (2). */
export type DataOpcode = 0x1 | 0x2;

/** Options for {@linkcode createDeflater}. */
export interface DeflaterOptions {
  /**
   * zlib's compression level, 0 (store) to 9 (smallest).
   *
   * @default {6}
   */
  level?: number;
  /**
   * zlib's memory level, 1 to 9: memory for the match finder during a call.
   *
   * @default {8}
   */
  memLevel?: number;
  /**
   * Messages shorter than this many bytes are sent uncompressed.
   *
   * @default {DEFLATE_THRESHOLD}
   */
  threshold?: number;
}

/**
 * Compresses the messages the server sends. Keeps no state between
 * messages, so one deflater serves any number of sockets.
 */
export interface Deflater {
  /**
   * Equal for deflaters that turn equal payloads into equal bytes: the key
   * under which a broadcast shares one compressed frame.
   */
  readonly key: string;
  /** Messages shorter than this many bytes are sent uncompressed. */
  readonly threshold: number;
  /**
   * Compresses one message payload as RFC 7692 §7.2.1 says: raw DEFLATE,
   * flushed with an empty stored block, whose 4 bytes `00 00 ff ff` are then
   * removed.
   *
   * @param payload The message payload. Not changed.
   * @returns The compressed payload (`00` for an empty one).
   */
  deflate(payload: Uint8Array): Uint8Array;
  /**
   * Encodes a message as one unmasked frame: compressed with RSV1 set when
   * it has at least {@linkcode Deflater.threshold} bytes and compression
   * makes it smaller, else as it is.
   *
   * @param opcode Text or binary.
   * @param payload The message payload. Not changed.
   * @returns The frame bytes.
   */
  encodeFrame(opcode: DataOpcode, payload: Uint8Array): Uint8Array;
}

/**
 * Decompresses the messages one client sends. Holds that client's window
 * between messages when it uses context takeover, so it belongs to one
 * connection.
 */
export interface Inflater {
  /**
   * Decompresses one message (RFC 7692 §7.2.2): appends `00 00 ff ff` to the
   * payloads of its frames and inflates them, with the client's earlier
   * messages as the window under context takeover. An empty payload is an
   * empty message; whatever follows a final (BFINAL) block is ignored, as
   * zlib-based peers do.
   *
   * @param fragments The payloads of the message's frames, in order. Not
   * changed or retained.
   * @returns The message payload, in a new buffer.
   * @throws {ProtocolError} 1009 as soon as the message inflates past the
   * limit; 1007 when the data is not valid DEFLATE.
   */
  inflate(fragments: readonly Uint8Array[]): Uint8Array;
  /** How many bytes of window this inflater keeps between messages. */
  readonly retainedBytes: number;
}

const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const EMPTY = new Uint8Array(0);
// The largest stored block (RFC 1951 §3.2.4) holds 65535 bytes; a window holds 32768.
const STORED_HEADER = 5;
// node:zlib's output buffer sizes: its minimum, and a cap so that a large
// message is collected in several buffers rather than one huge one.
const MIN_CHUNK = 64;
const MAX_CHUNK = 256 * 1024;

/**
 * Makes the server's compressor for sockets with these parameters. Only the
 * window size matters: the server never keeps context between messages.
 *
 * @example The "Hello" of RFC 7692 §7.2.3.1, byte for byte
 * ```ts
 * import { createDeflater } from "./deflate.ts";
 * import { OPCODE } from "./frame.ts";
 *
 * const deflater = createDeflater({ serverMaxWindowBits: 15 });
 * const hello = new TextEncoder().encode("Hello");
 * console.log(deflater.deflate(hello)); // Uint8Array(7) [ 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 ]
 * // Frames: a 5-byte message stays plain (below the threshold, and 7 > 5).
 * console.log(deflater.encodeFrame(OPCODE.Text, hello)[0]); // 0x81: FIN, no RSV1
 * const json = new TextEncoder().encode(JSON.stringify({ text: "hi ".repeat(100) }));
 * console.log(deflater.encodeFrame(OPCODE.Text, json)[0]); // 0xc1: FIN and RSV1
 * ```
 *
 * @param params The negotiated parameters (see `negotiateDeflate`).
 * @param options Compression level, memory and threshold.
 * @returns A deflater; deflaters with equal keys may be shared.
 * @throws {RangeError} For a level, memory level or threshold out of range.
 */
export function createDeflater(
  params: Pick<DeflateParams, "serverMaxWindowBits">,
  options: DeflaterOptions = {},
): Deflater {
  return new ServerDeflater(params.serverMaxWindowBits, options);
}

/**
 * Makes the decompressor for one client's messages, with a limit on the size
 * of a decompressed message that zlib enforces while it inflates: a small
 * "zip bomb" frame fails with 1009 after at most `maxBytes` bytes of output.
 *
 * @example A compressed frame's payload back to "Hello"
 * ```ts
 * import { createInflater } from "./deflate.ts";
 *
 * const inflater = createInflater(
 *   { clientNoContextTakeover: true, clientMaxWindowBits: 15 },
 *   1024 * 1024,
 * );
 * const payload = new Uint8Array([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
 * console.log(new TextDecoder().decode(inflater.inflate([payload]))); // "Hello"
 * ```
 *
 * @param params The negotiated parameters (see `negotiateDeflate`).
 * @param maxBytes The largest decompressed message, in bytes.
 * @returns An inflater for one connection.
 * @throws {RangeError} When `maxBytes` is not a positive integer.
 */
export function createInflater(
  params: Pick<DeflateParams, "clientNoContextTakeover" | "clientMaxWindowBits">,
  maxBytes: number,
): Inflater {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError("Cannot create inflater: maxBytes must be a positive integer");
  }
  return new ClientInflater(
    params.clientNoContextTakeover ? 0 : 1 << params.clientMaxWindowBits,
    maxBytes,
  );
}

/** Options for {@linkcode PreparedMessage}. */
export interface PreparedMessageOptions {
  /**
   * Where the message stands in its topic: event streams send it as the
   * event's id (see `ResumePoint`); WebSocket ignores it.
   */
  resume?: ResumePoint;
}

/**
 * One message to send to many sockets, framed lazily: once without
 * compression, once per {@linkcode Deflater.key} among the sockets that
 * negotiated permessage-deflate, and once as an event for event streams.
 * Every socket of a kind gets the same bytes.
 *
 * @example A broadcast to sockets with and without compression
 * ```ts
 * import { createDeflater, PreparedMessage } from "./deflate.ts";
 *
 * const deflater = createDeflater({ serverMaxWindowBits: 15 });
 * const message = new PreparedMessage(JSON.stringify({ text: "hi ".repeat(100) }));
 * const compressed = message.frame(deflater); // deflated once
 * console.log(message.frame(deflater) === compressed); // true: the same bytes again
 * console.log(message.frame(undefined).length > compressed.length); // true
 * ```
 */
export class PreparedMessage {
  /** Where the message stands in its topic, for event streams. */
  readonly resume: ResumePoint | undefined;
  readonly #opcode: DataOpcode;
  readonly #payload: Uint8Array;
  #plain: Uint8Array | undefined;
  readonly #compressed = new Map<string, Uint8Array>();
  #event: PreparedEvent | undefined;
  #idLine: Uint8Array | undefined;

  /**
   * Prepares a message.
   *
   * @param data A string (a text message) or bytes (binary), not changed
   * afterwards.
   * @param options Where it stands in its topic.
   * @throws {TypeError} For a resume point with a `,` or a line break.
   */
  constructor(data: string | Uint8Array, options: PreparedMessageOptions = {}) {
    if (typeof data === "string") {
      this.#opcode = OPCODE.Text;
      this.#payload = new TextEncoder().encode(data);
    } else {
      this.#opcode = OPCODE.Binary;
      this.#payload = data;
    }
    this.resume = options.resume;
    if (this.resume !== undefined && /[,\r\n]/.test(this.resume.topic + this.resume.id)) {
      throw new TypeError("Cannot prepare a message: its resume point has a comma or line break");
    }
  }

  /** The uncompressed payload. */
  get payload(): Uint8Array {
    return this.#payload;
  }

  /**
   * The bytes this message holds: its payload and every frame made from it
   * so far (the plain one, one per compression parameter set, and its own
   * bytes as an event).
   */
  get byteLength(): number {
    let bytes = this.#payload.length + (this.#plain?.length ?? 0);
    for (const frame of this.#compressed.values()) {
      if (frame !== this.#plain) bytes += frame.length;
    }
    return bytes + (this.#event?.ownBytes ?? 0) + (this.#idLine?.length ?? 0);
  }

  /**
   * The frame for a socket.
   *
   * @param deflater The socket's deflater, or `undefined` for a socket
   * without permessage-deflate.
   * @returns Frame bytes shared with every socket of the same kind; they
   * must not be changed.
   */
  frame(deflater: Deflater | undefined): Uint8Array {
    if (deflater === undefined || this.#payload.length < deflater.threshold) {
      return this.#plainFrame();
    }
    let frame = this.#compressed.get(deflater.key);
    if (frame === undefined) {
      frame = deflater.encodeFrame(this.#opcode, this.#payload);
      // Not worth compressing: share the plain frame instead.
      if ((frame[0]! & 0x40) === 0) frame = this.#plainFrame();
      this.#compressed.set(deflater.key, frame);
    }
    return frame;
  }

  /**
   * The message as an event for event streams, without its `id:` line
   * (see `prepareEvent`); made once.
   *
   * @returns The event, shared by every stream.
   */
  event(): PreparedEvent {
    return this.#event ??= prepareEvent(this.#payload, this.#opcode === OPCODE.Text);
  }

  /**
   * The `id:` line of a stream of this message's topic alone: `id: <id>`;
   * made once.
   *
   * @returns The line, or `undefined` without a resume point.
   */
  idLine(): Uint8Array | undefined {
    if (this.resume === undefined) return undefined;
    return this.#idLine ??= new TextEncoder().encode(`id: ${this.resume.id}\n`);
  }

  #plainFrame(): Uint8Array {
    return this.#plain ??= encodeFrame(this.#opcode, this.#payload);
  }
}

class ServerDeflater implements Deflater {
  readonly key: string;
  readonly threshold: number;
  readonly #options: {
    level: number;
    memLevel: number;
    windowBits: number;
    finishFlush: number;
  };

  constructor(windowBits: WindowBits, options: DeflaterOptions) {
    const level = options.level ?? 6;
    const memLevel = options.memLevel ?? 8;
    const threshold = options.threshold ?? DEFLATE_THRESHOLD;
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new RangeError("Cannot create deflater: level must be 0 to 9");
    }
    if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) {
      throw new RangeError("Cannot create deflater: memLevel must be 1 to 9");
    }
    if (!Number.isSafeInteger(threshold) || threshold < 0) {
      throw new RangeError("Cannot create deflater: threshold must be a non-negative integer");
    }
    if (!Number.isInteger(windowBits) || windowBits < 8 || windowBits > 15) {
      throw new RangeError("Cannot create deflater: serverMaxWindowBits must be 8 to 15");
    }
    this.threshold = threshold;
    this.key = `w${windowBits}l${level}m${memLevel}t${threshold}`;
    this.#options = {
      level,
      memLevel,
      // zlib's raw deflate needs a window of at least 2^9; it never reaches
      // farther back than 2^9 - 262 = 250 bytes, within a window of 2^8.
      windowBits: Math.max(windowBits, 9),
      finishFlush: constants.Z_SYNC_FLUSH,
    };
  }

  deflate(payload: Uint8Array): Uint8Array {
    // An output buffer that fits the usual result, rather than zlib's 16 KiB:
    // the bench measured 25% less time for 1 KiB, and far less garbage.
    const chunkSize = Math.min(Math.max(payload.length + 64, MIN_CHUNK), MAX_CHUNK);
    const output = deflateRawSync(payload, { ...this.#options, chunkSize });
    // A sync flush always ends with the empty stored block 00 00 ff ff.
    return new Uint8Array(output.buffer, output.byteOffset, output.length - TAIL.length);
  }

  encodeFrame(opcode: DataOpcode, payload: Uint8Array): Uint8Array {
    if (payload.length >= this.threshold) {
      const compressed = this.deflate(payload);
      if (compressed.length < payload.length) {
        return encodeFrame(opcode, compressed, { rsv1: true });
      }
    }
    return encodeFrame(opcode, payload);
  }
}

class ClientInflater implements Inflater {
  // How many bytes of earlier messages the client may refer back to: 0 when
  // it compresses each message on its own.
  readonly #windowBytes: number;
  readonly #maxBytes: number;
  // The last bytes the client sent, at most #windowBytes of them.
  #window: Uint8Array = EMPTY;

  constructor(windowBytes: number, maxBytes: number) {
    this.#windowBytes = windowBytes;
    this.#maxBytes = maxBytes;
  }

  get retainedBytes(): number {
    return this.#window.length;
  }

  inflate(fragments: readonly Uint8Array[]): Uint8Array {
    let length = 0;
    for (const fragment of fragments) length += fragment.length;
    // With nothing to inflate, the appended tail would open a stored block
    // that never ends: an empty payload is an empty message.
    if (length === 0) return new Uint8Array(0);
    const window = this.#window;
    const prefix = window.length === 0 ? 0 : STORED_HEADER + window.length;
    const input = new Uint8Array(prefix + length + TAIL.length);
    if (prefix > 0) writeStoredBlock(input, window);
    let offset = prefix;
    for (const fragment of fragments) {
      input.set(fragment, offset);
      offset += fragment.length;
    }
    input.set(TAIL, offset);
    const maxOutputLength = window.length + this.#maxBytes;
    // Room for the window and a message 4 times its compressed size.
    const chunkSize = Math.max(
      MIN_CHUNK,
      Math.min(window.length + 4 * length + 64, maxOutputLength, MAX_CHUNK),
    );
    const output = this.#run(input, maxOutputLength, chunkSize);
    if (this.#windowBytes > 0) {
      this.#window = copy(output, Math.max(0, output.length - this.#windowBytes));
    }
    return copy(output, window.length);
  }

  #run(input: Uint8Array, maxOutputLength: number, chunkSize: number): Uint8Array {
    try {
      return inflateRawSync(input, {
        windowBits: 15,
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength,
        chunkSize,
      });
    } catch (error) {
      if (hasCode(error, "ERR_BUFFER_TOO_LARGE")) {
        throw new ProtocolError(
          CLOSE_CODE.MessageTooBig,
          `Cannot inflate message: it exceeds ${this.#maxBytes} bytes`,
        );
      }
      if (hasCode(error, "Z_")) {
        throw new ProtocolError(
          CLOSE_CODE.InvalidPayloadData,
          `Cannot inflate message: ${error.message}`,
        );
      }
      throw error;
    }
  }
}

// A copy of `bytes` from `start` in a buffer of its own (a Buffer's `slice`
// is a view), so that neither the caller nor the window holds zlib's buffer.
function copy(bytes: Uint8Array, start: number): Uint8Array {
  const result = new Uint8Array(bytes.length - start);
  result.set(bytes.subarray(start));
  return result;
}

// A stored (uncompressed), non-final block holding `window`, which is at
// most 32 KiB: once inflated, it is the history later back-references reach.
function writeStoredBlock(into: Uint8Array, window: Uint8Array): void {
  const length = window.length;
  into[0] = 0x00; // BFINAL 0, BTYPE 00, padding to the byte boundary
  into[1] = length & 0xff;
  into[2] = length >>> 8;
  into[3] = ~length & 0xff;
  into[4] = (~length >>> 8) & 0xff;
  into.set(window, STORED_HEADER);
}

// Whether `error` is one of node:zlib's, with a code that starts with `prefix`.
function hasCode(error: unknown, prefix: string): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith(prefix);
}
