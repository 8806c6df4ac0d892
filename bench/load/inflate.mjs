/**
 * A permessage-deflate reader for one connection (RFC 7692), synchronous: each
 * compressed message is inflated on its own, with the server's LZ77 window so
 * far (the last 32 KiB of its compressed messages' text) as the dictionary, so
 * it works whether or not the server takes over its context.
 *
 * @module
 */
import zlib from "node:zlib";

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const WINDOW = 32 * 1024;

/** Inflates one connection's compressed messages in order. */
export class MessageInflater {
  #window = Buffer.alloc(0);

  /** The text of the compressed payload `bytes[at, at + length)`. */
  inflate(bytes, at, length) {
    const input = Buffer.concat([bytes.subarray(at, at + length), TAIL]);
    const output = zlib.inflateRawSync(input, {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(this.#window.length > 0 ? { dictionary: this.#window } : {}),
    });
    const joined = Buffer.concat([this.#window, output]);
    this.#window = joined.subarray(Math.max(0, joined.length - WINDOW));
    return output;
  }
}
