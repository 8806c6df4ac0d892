/**
 * permessage-deflate for a server: the answer to a client's offer, and the
 * compression state of each socket. Deflaters keep no state between
 * messages, so every socket with the same parameters shares one, and a
 * broadcast is compressed once per parameter set.
 *
 * @module
 */

import {
  createDeflater,
  createInflater,
  type Deflater,
  type DeflaterOptions,
  type Inflater,
} from "../protocol/deflate.ts";
import {
  type DeflateNegotiation,
  type DeflateOptions,
  negotiateDeflate,
} from "../protocol/extensions.ts";
import { encodeFrame, encodeTextFrame, OPCODE } from "../protocol/frame.ts";

const encoder = new TextEncoder();

/**
 * The frame of one message for one socket: compressed when the socket has a
 * deflater and the message is long enough, plain otherwise (text that
 * cannot reach the threshold is framed without encoding it twice).
 *
 * @example
 * ```ts
 * import { messageFrame } from "./compression.ts";
 *
 * console.log(messageFrame("hi", undefined)); // Uint8Array(4) [ 129, 2, 104, 105 ]
 * ```
 *
 * @param data A string (a text frame) or bytes (a binary frame).
 * @param deflater The socket's deflater, if it negotiated permessage-deflate.
 * @returns The frame's bytes.
 */
export function messageFrame(
  data: string | Uint8Array,
  deflater: Deflater | undefined,
): Uint8Array {
  if (
    typeof data === "string" && (deflater === undefined || data.length * 3 < deflater.threshold)
  ) {
    return encodeTextFrame(data);
  }
  const opcode = typeof data === "string" ? OPCODE.Text : OPCODE.Binary;
  const payload = typeof data === "string" ? encoder.encode(data) : data;
  return deflater !== undefined && payload.length >= deflater.threshold
    ? deflater.encodeFrame(opcode, payload)
    : encodeFrame(opcode, payload);
}

/** The compression state a socket is made with. */
export interface SocketCompression {
  /** Compresses what the socket sends (shared by sockets with equal parameters). */
  deflater: Deflater;
  /** Inflates what the socket receives (the socket's own). */
  inflater: Inflater;
  /** The `Sec-WebSocket-Extensions` response that agreed to it. */
  response: string;
}

/**
 * A server's compression setting: negotiates each offer and makes each
 * socket's compression.
 *
 * @example
 * ```ts
 * import { Compression } from "./compression.ts";
 *
 * const compression = new Compression(true);
 * const negotiation = compression.negotiate("permessage-deflate; client_max_window_bits");
 * console.log(negotiation?.response); // "permessage-deflate"
 * ```
 */
export class Compression {
  readonly #setting: boolean | (DeflateOptions & DeflaterOptions);
  readonly #deflaters = new Map<number, Deflater>();

  /**
   * Makes the server's compression from its `perMessageDeflate` option.
   *
   * @param setting `false` for none, `true` for the defaults, or options.
   */
  constructor(setting: boolean | (DeflateOptions & DeflaterOptions)) {
    this.#setting = setting;
  }

  /**
   * Answers a client's `Sec-WebSocket-Extensions` offer. A malformed or
   * unacceptable offer means no compression, never a refusal.
   *
   * @param offer The header's value, or `""`.
   * @returns The negotiated parameters and the response header, or
   * `undefined` for none.
   */
  negotiate(offer: string): DeflateNegotiation | undefined {
    if (this.#setting === false || offer === "") return undefined;
    return negotiateDeflate(offer, this.#setting === true ? {} : this.#setting);
  }

  /**
   * A socket's compression for a negotiation: the shared deflater of its
   * parameters and an inflater of its own.
   *
   * @param negotiation What {@linkcode Compression.negotiate} answered.
   * @param maxMessageBytes The largest message the inflater may produce.
   * @returns The socket's compression.
   */
  forSocket(negotiation: DeflateNegotiation, maxMessageBytes: number): SocketCompression {
    const { params } = negotiation;
    const key = params.serverMaxWindowBits;
    let deflater = this.#deflaters.get(key);
    if (deflater === undefined) {
      deflater = createDeflater(params, typeof this.#setting === "object" ? this.#setting : {});
      this.#deflaters.set(key, deflater);
    }
    return {
      deflater,
      inflater: createInflater(params, maxMessageBytes),
      response: negotiation.response,
    };
  }
}
