/**
 * Message assembly: data frames → messages, with text validated as UTF-8
 * while it arrives.
 *
 * @module
 */

import { concatBytes } from "./bytes.ts";
import { CLOSE_CODE } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";
import { type Frame, OPCODE } from "./frame.ts";
import type { PartialFrame } from "./frame_decoder.ts";
import type { Inflater } from "./deflate.ts";

// Decodes whole messages for every socket: without `stream` it keeps no state.
const wholeDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A WebSocket message: text arrives as a string, binary as bytes. */
export type Message = string | Uint8Array;

/**
 * Joins data frames into messages. Text is decoded by a fatal `TextDecoder`
 * (a streaming one for fragmented text), so invalid UTF-8 fails with 1007 as soon as the offending
 * bytes are seen — inside a fragment, or inside a frame still arriving (feed
 * it with {@linkcode MessageAssembler.check}) — including a code point split
 * across fragments. Frame order and size are enforced by the
 * {@linkcode FrameDecoder}.
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
  #parts: Uint8Array[] = [];
  #partsLength = 0;
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
    if (frame.fin && this.#parts.length === 0) return frame.payload;
    this.#parts.push(frame.payload);
    this.#partsLength += frame.payload.length;
    if (!frame.fin) return undefined;
    return this.#joinParts();
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
    this.#parts.push(frame.payload);
    if (!frame.fin) return undefined;
    const parts = this.#parts;
    this.#parts = [];
    this.#partsLength = 0;
    const bytes = this.#inflater!.inflate(parts);
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

  #joinParts(): Uint8Array {
    const message = concatBytes(this.#parts, this.#partsLength);
    this.#parts = [];
    this.#partsLength = 0;
    return message;
  }
}
