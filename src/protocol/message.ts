/**
 * Message assembly: data frames → messages, with text validated as UTF-8
 * while it arrives, and the bytes of a fragmented message gathered in one
 * growing buffer.
 *
 * @module
 */

import { CLOSE_CODE } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";
import { type Frame, OPCODE } from "./frame.ts";
import type { PartialFrame } from "./frame_decoder.ts";
import type { Inflater } from "./deflate.ts";

// Decodes whole messages for every socket: without `stream` it keeps no state.
const wholeDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const EMPTY = new Uint8Array(0);
// The first buffer of a fragmented message holds at least this many bytes.
const BUFFER_MIN = 256;

/** A WebSocket message: text arrives as a string, binary as bytes. */
export type Message = string | Uint8Array;

/**
 * Joins data frames into messages. Text is decoded by a fatal `TextDecoder`
 * (a streaming one for fragmented text), so invalid UTF-8 fails with 1007 as soon as the offending
 * bytes are seen — inside a fragment, or inside a frame still arriving (feed
 * it with {@linkcode MessageAssembler.check}) — including a code point split
 * across fragments. The bytes of a fragmented binary or compressed message
 * are copied into one buffer that doubles as it fills, so a message of many
 * small fragments holds no object per fragment. Frame order, size and the
 * number of fragments are enforced by the {@linkcode FrameDecoder}.
 *
 * @example
 * ```ts
 * import { MessageAssembler } from "./message.ts";
 * import { OPCODE } from "./frame.ts";
 *
 * const assembler = new MessageAssembler();
 * const bytes = new TextEncoder().encode("Hello");
 * assembler.add({ fin: false, rsv1: false, opcode: OPCODE.Text, payload: bytes.subarray(0, 3) });
 * const message = assembler.add({
 *   fin: true, rsv1: false, opcode: OPCODE.Continuation, payload: bytes.subarray(3),
 * });
 * console.log(message); // "Hello"
 * ```
 */
export class MessageAssembler {
  // Made on the first text fragment: most sockets only see whole messages.
  #streamDecoder: TextDecoder | undefined;
  // Whether #streamDecoder holds the start of the text being decoded.
  #streaming = false;
  readonly #inflater: Inflater | undefined;
  #text = false;
  // Whether the message being assembled is compressed (RSV1 on its first frame).
  #compressed = false;
  // The bytes of the fragmented message so far: #length of #buffer.
  #buffer: Uint8Array = EMPTY;
  #length = 0;
  #textSoFar = "";
  // How many bytes of the frame now arriving were already decoded by check().
  #checked = 0;

  /**
   * Makes an assembler for one connection.
   *
   * @param options The connection's permessage-deflate inflater, when the
   * extension was negotiated.
   */
  constructor(options: { inflater?: Inflater } = {}) {
    this.#inflater = options.inflater;
  }

  /**
   * Adds a complete data frame.
   *
   * @param frame A text, binary or continuation frame, in order.
   * @returns The message the frame completes, or `undefined`.
   * @throws {ProtocolError} 1007 when text is not valid UTF-8 (or compressed
   * data is not DEFLATE), 1009 when a compressed message inflates past the
   * limit, 1002 for a compressed frame without a negotiated extension.
   */
  add(frame: Frame): Message | undefined {
    if (frame.opcode !== OPCODE.Continuation) {
      this.#text = frame.opcode === OPCODE.Text;
      this.#compressed = frame.rsv1;
      if (frame.rsv1 && this.#inflater === undefined) {
        throw new ProtocolError(CLOSE_CODE.ProtocolError, "Cannot read message: RSV1 is set");
      }
    }
    if (this.#compressed) return this.#addCompressed(frame);
    const unseen = this.#checked === 0 ? frame.payload : frame.payload.subarray(this.#checked);
    this.#checked = 0;
    if (this.#text) {
      if (frame.fin) {
        const message = this.#textSoFar + this.#decode(unseen, false);
        this.#textSoFar = "";
        return message;
      }
      this.#textSoFar += this.#decode(unseen, true);
      return undefined;
    }
    // Earlier empty fragments add nothing: the last one is the message.
    if (frame.fin && this.#length === 0) return frame.payload;
    this.#append(frame.payload);
    return frame.fin ? this.#take() : undefined;
  }

  /**
   * Validates the received part of a text frame that is still arriving, so
   * invalid UTF-8 fails before the frame ends.
   *
   * @param partial The decoder's {@linkcode FrameDecoder.partial}.
   * @throws {ProtocolError} 1007 when the bytes so far cannot be UTF-8.
   */
  check(partial: PartialFrame): void {
    // Compressed bytes are checked once inflated.
    if (partial.rsv1 || (partial.opcode === OPCODE.Continuation && this.#compressed)) return;
    const text = partial.opcode === OPCODE.Continuation
      ? this.#text
      : partial.opcode === OPCODE.Text;
    if (!text || partial.received.length <= this.#checked) return;
    if (partial.opcode !== OPCODE.Continuation) this.#text = true;
    this.#textSoFar += this.#decode(partial.received.subarray(this.#checked), true);
    this.#checked = partial.received.length;
  }

  #addCompressed(frame: Frame): Message | undefined {
    let payload = frame.payload;
    if (!frame.fin || this.#length > 0) {
      this.#append(payload);
      if (!frame.fin) return undefined;
      // The inflater copies its input: a view of the buffer will do.
      payload = this.#buffer.subarray(0, this.#length);
      this.#buffer = EMPTY;
      this.#length = 0;
    }
    const bytes = this.#inflater!.inflate([payload]);
    return this.#text ? this.#decode(bytes, false) : bytes;
  }

  #decode(bytes: Uint8Array, stream: boolean): string {
    try {
      if (!stream && !this.#streaming) return wholeDecoder.decode(bytes);
      this.#streaming = stream;
      this.#streamDecoder ??= new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
      return this.#streamDecoder.decode(bytes, { stream });
    } catch {
      throw new ProtocolError(CLOSE_CODE.InvalidPayloadData, "Cannot read message: invalid UTF-8");
    }
  }

  #append(bytes: Uint8Array): void {
    const length = this.#length + bytes.length;
    if (length > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(length, this.#buffer.length * 2, BUFFER_MIN));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#length);
    this.#length = length;
  }

  // The message gathered so far, in a buffer of its exact size.
  #take(): Uint8Array {
    const buffer = this.#buffer;
    const message = buffer.length === this.#length ? buffer : buffer.slice(0, this.#length);
    this.#buffer = EMPTY;
    this.#length = 0;
    return message;
  }
}
