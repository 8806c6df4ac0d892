/**
 * What a socket reads with: a frame decoder and a message assembler, made
 * with the socket's limits on the first bytes from its peer (many sockets
 * only receive, and hold neither).
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import type { Inflater } from "../protocol/deflate.ts";
import { FrameDecoder } from "../protocol/frame_decoder.ts";
import { MessageAssembler } from "../protocol/message.ts";
import { budgetedInflater } from "./peer_budget.ts";
import type { SocketOptions } from "./socket_options.ts";

/** A socket's frame decoder and message assembler. */
export interface FrameReader {
  /** Frames out of the bytes read, within the message size and fragment limits. */
  decoder: FrameDecoder;
  /** Messages out of data frames, inflated within the budget when compressed. */
  assembler: MessageAssembler;
}

/**
 * Makes a socket's frame reader.
 *
 * @example
 * ```ts
 * import { frameReader } from "./frame_reader.ts";
 *
 * const { decoder, assembler } = frameReader({ maxMessageBytes: 1024 }, undefined);
 * const [frame] = decoder.push(new Uint8Array([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]));
 * console.log(assembler.add(frame!)); // "hi"
 * ```
 *
 * @param options The socket's limits.
 * @param inflater The socket's inflater, when permessage-deflate was negotiated.
 * @returns The decoder and assembler.
 */
export function frameReader(options: SocketOptions, inflater: Inflater | undefined): FrameReader {
  return {
    decoder: new FrameDecoder({
      maxMessageBytes: options.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      ...(options.maxFragments === undefined ? {} : { maxFragments: options.maxFragments }),
      allowRsv1: inflater !== undefined,
    }),
    assembler: new MessageAssembler(
      inflater === undefined ? {} : { inflater: budgetedInflater(inflater, options) },
    ),
  };
}
