/**
 * The client side of the WebSocket wire, as little as a load generator needs:
 * one fixed upgrade request, masked client frames, and a reader that walks
 * server frames in any chunking while copying at most a frame's first bytes.
 *
 * @module
 */

/** The RFC 6455 §1.3 sample key and the accept value every server must answer. */
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const MAX_RESPONSE_HEAD = 4096;

export const OPCODE = /** @type {const} */ ({ TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 });

/** The permessage-deflate offer of a compressed scenario; the generator itself never compresses. */
export const DEFLATE_OFFER =
  "permessage-deflate; client_no_context_takeover; client_max_window_bits";

/**
 * The upgrade request, identical for every connection to `port`; with `deflate` it offers
 * DEFLATE_OFFER; `path` is the request target (`/?topic=bench` for the push server).
 */
export function upgradeRequest(port, deflate = false, path = "/") {
  return new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${port}\r\n` +
      "Upgrade: websocket\r\n" +
      "Connection: Upgrade\r\n" +
      `Sec-WebSocket-Key: ${KEY}\r\n` +
      (deflate ? `Sec-WebSocket-Extensions: ${DEFLATE_OFFER}\r\n` : "") +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  );
}

/**
 * Collects a server's response head across chunks. `push` returns the offset
 * just past the head once it is complete, -1 while it is incomplete, and
 * throws when the response is not a valid 101 (or, with `deflate`, does not
 * accept permessage-deflate).
 */
export class UpgradeResponse {
  #head = "";
  #deflate;

  constructor(deflate = false) {
    this.#deflate = deflate;
  }

  push(bytes, start, end) {
    const before = this.#head.length;
    this.#head += latin1(bytes, start, end);
    const stop = this.#head.indexOf("\r\n\r\n");
    if (stop === -1) {
      if (this.#head.length > MAX_RESPONSE_HEAD) {
        throw new Error("Cannot upgrade: response head too large");
      }
      return -1;
    }
    const head = this.#head.slice(0, stop).toLowerCase();
    if (!head.startsWith("http/1.1 101")) {
      throw new Error(
        `Cannot upgrade: ${this.#head.slice(0, this.#head.indexOf("\r\n"))}`,
      );
    }
    if (!head.includes(`sec-websocket-accept: ${ACCEPT.toLowerCase()}`)) {
      throw new Error("Cannot upgrade: wrong Sec-WebSocket-Accept");
    }
    if (
      this.#deflate &&
      !/^sec-websocket-extensions: *permessage-deflate/m.test(head)
    ) {
      throw new Error("Cannot upgrade: permessage-deflate not negotiated");
    }
    return start + (stop + 4 - before);
  }
}

function latin1(bytes, start, end) {
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/**
 * Mask keys from xorshift32: servers only unmask, and `crypto.getRandomValues`
 * per frame cost the generator about a sixth of its CPU in echo runs.
 */
let maskState = (Math.random() * 0xffff_ffff) >>> 0 || 1;

function nextMask() {
  maskState ^= maskState << 13;
  maskState ^= maskState >>> 17;
  maskState ^= maskState << 5;
  return maskState >>> 0;
}

/** A masked, final client frame carrying `payload` (copied, never mutated). */
export function clientFrame(opcode, payload) {
  const length = payload.length;
  const header = length < 126 ? 6 : length < 65536 ? 8 : 14;
  const frame = new Uint8Array(header + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  const mask = header - 4;
  const key = nextMask();
  frame[mask] = key >>> 24;
  frame[mask + 1] = (key >>> 16) & 0xff;
  frame[mask + 2] = (key >>> 8) & 0xff;
  frame[mask + 3] = key & 0xff;
  for (let i = 0; i < length; i++) {
    frame[header + i] = payload[i] ^ frame[mask + (i & 3)];
  }
  return frame;
}

/**
 * Walks unmasked server frames. For each frame it calls
 * `onFrame(opcode, bytes, at, prefixLength, payloadLength, compressed)` where
 * `bytes[at, at + prefixLength)` are the payload's first bytes (at most
 * `prefix`) and `compressed` is RSV1; the rest of the payload is skipped
 * without copying.
 */
export class FrameReader {
  #onFrame;
  #prefix;
  #carry;
  #carryLength = 0;
  #skip = 0;

  constructor(prefix, onFrame) {
    this.#prefix = prefix;
    this.#onFrame = onFrame;
    this.#carry = new Uint8Array(14 + prefix);
  }

  push(bytes, start, end) {
    let at = start;
    if (this.#carryLength > 0) {
      const had = this.#carryLength;
      const take = Math.min(this.#carry.length - had, end - at);
      this.#carry.set(bytes.subarray(at, at + take), had);
      const used = this.#frame(this.#carry, 0, had + take);
      if (used < 0) {
        this.#carryLength = had + take;
        return;
      }
      this.#carryLength = 0;
      at += used - had;
    }
    while (at < end) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, end - at);
        this.#skip -= n;
        at += n;
        continue;
      }
      const used = this.#frame(bytes, at, end);
      if (used < 0) {
        this.#carry.set(bytes.subarray(at, end), 0);
        this.#carryLength = end - at;
        return;
      }
      at += used;
    }
  }

  /** Bytes used by the frame at `at` (the rest of its payload goes to #skip); -1 if cut short. */
  #frame(bytes, at, end) {
    const available = end - at;
    if (available < 2) return -1;
    const second = bytes[at + 1];
    if (second & 0x80) {
      throw new Error("Cannot read frame: server frames must not be masked");
    }
    let header = 2;
    let length = second & 0x7f;
    if (length === 126) {
      header = 4;
      if (available < header) return -1;
      length = (bytes[at + 2] << 8) | bytes[at + 3];
    } else if (length === 127) {
      header = 10;
      if (available < header) return -1;
      length = Number(
        new DataView(bytes.buffer, bytes.byteOffset + at + 2, 8).getBigUint64(
          0,
        ),
      );
    }
    const prefix = Math.min(length, this.#prefix);
    if (available < header + prefix) return -1;
    const first = bytes[at];
    this.#onFrame(
      first & 0x0f,
      bytes,
      at + header,
      prefix,
      length,
      (first & 0x40) !== 0,
    );
    const total = header + length;
    if (available >= total) return total;
    this.#skip = total - available;
    return available;
  }
}
