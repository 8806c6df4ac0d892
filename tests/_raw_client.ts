/**
 * A raw TCP WebSocket client for tests: sends exact bytes, reads frames with
 * the project's own decoder in client role, and reports how the server ended
 * the connection.
 *
 * @module
 */

import { encodeBase64 } from "@std/encoding";
import { decodeClosePayload } from "../src/protocol/close_frame.ts";
import {
  encodeFrame,
  type EncodeFrameOptions,
  type Frame,
  OPCODE,
  type Opcode,
} from "../src/protocol/frame.ts";
import { FrameDecoder } from "../src/protocol/frame_decoder.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An upgrade request with the given extra header lines. */
export function upgradeRequest(
  host: string,
  options: { path?: string; key?: string; headers?: Record<string, string> } = {},
): string {
  const key = options.key ?? encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
  let request = `GET ${options.path ?? "/"} HTTP/1.1\r\nHost: ${host}\r\n` +
    "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    request += `${name}: ${value}\r\n`;
  }
  return request + "\r\n";
}

/** Reads until the peer closes or `timeout` ms pass; returns everything read. */
export async function readAll(conn: Deno.Conn, timeout = 5000): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  const timer = setTimeout(() => conn.close(), timeout);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } catch {
    // Closed by the timer or reset by the peer.
  } finally {
    clearTimeout(timer);
  }
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/** Sends a raw HTTP request and returns the whole response as text. */
export async function rawHttp(port: number, request: string | Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, typeof request === "string" ? encoder.encode(request) : request);
    return decoder.decode(await readAll(conn));
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** A WebSocket client over a raw TCP connection. */
export class RawClient {
  readonly conn: Deno.Conn;
  /** The server's 101 response head, as text. */
  response = "";
  readonly #decoder: FrameDecoder;
  #frames: Frame[] = [];
  #ended = false;
  readonly #buffer = new Uint8Array(64 * 1024);

  private constructor(conn: Deno.Conn, rest: Uint8Array, maxMessageBytes: number) {
    this.conn = conn;
    this.#decoder = new FrameDecoder({ requireMask: false, maxMessageBytes, allowRsv1: true });
    if (rest.length > 0) this.#frames.push(...this.#decoder.push(rest));
  }

  /**
   * Connects and completes the opening handshake (plus any bytes given in
   * `pipelined`, sent in the same write as the request).
   */
  static async connect(
    port: number,
    options: {
      pipelined?: Uint8Array;
      headers?: Record<string, string>;
      path?: string;
      maxMessageBytes?: number;
    } = {},
  ): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const request = encoder.encode(upgradeRequest(`127.0.0.1:${port}`, options));
    const pipelined = options.pipelined ?? new Uint8Array(0);
    const first = new Uint8Array(request.length + pipelined.length);
    first.set(request);
    first.set(pipelined, request.length);
    await writeAll(conn, first);
    let head = new Uint8Array(0);
    const buffer = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("connection closed during the handshake");
      const joined = new Uint8Array(head.length + n);
      joined.set(head);
      joined.set(buffer.subarray(0, n), head.length);
      head = joined;
      const end = decoder.decode(head).indexOf("\r\n\r\n");
      if (end !== -1) {
        const status = decoder.decode(head.subarray(0, 12));
        if (!status.startsWith("HTTP/1.1 101")) {
          conn.close();
          throw new Error(`handshake refused: ${decoder.decode(head)}`);
        }
        const client = new RawClient(
          conn,
          head.subarray(end + 4),
          options.maxMessageBytes ?? 64 * 1024 * 1024,
        );
        client.response = decoder.decode(head.subarray(0, end));
        return client;
      }
    }
  }

  /** Writes raw bytes. */
  write(bytes: Uint8Array | number[]): Promise<void> {
    return writeAll(this.conn, bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  }

  /** Writes a hex string such as `"8185 37fa213d 7f9f4d5158"`. */
  writeHex(hex: string): Promise<void> {
    return this.write(fromHex(hex));
  }

  /** Sends one masked frame. */
  sendFrame(
    opcode: Opcode,
    payload: Uint8Array | string,
    options: EncodeFrameOptions = {},
  ): Promise<void> {
    const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
    return this.write(encodeFrame(opcode, bytes, { mask: true, ...options }));
  }

  /** Sends a text message in one masked frame. */
  sendText(text: string): Promise<void> {
    return this.sendFrame(OPCODE.Text, text);
  }

  /** The next frame from the server, or `undefined` once the connection ended. */
  async nextFrame(timeout = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeout;
    while (this.#frames.length === 0 && !this.#ended) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error("timed out waiting for a frame");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(this.#buffer).catch(() => null),
        new Promise<"timeout">((resolve) =>
          timer = setTimeout(() => resolve("timeout"), remaining)
        ),
      ]);
      clearTimeout(timer);
      if (n === "timeout") throw new Error("timed out waiting for a frame");
      if (n === null) {
        this.#ended = true;
        break;
      }
      this.#frames.push(...this.#decoder.push(this.#buffer.subarray(0, n)));
    }
    return this.#frames.shift();
  }

  /** The next text message's content (single-frame messages). */
  async nextText(timeout = 5000): Promise<string> {
    const frame = await this.nextFrame(timeout);
    if (frame === undefined) throw new Error("connection ended before a text frame");
    if (frame.opcode !== OPCODE.Text) {
      throw new Error(`expected a text frame, got opcode ${frame.opcode}`);
    }
    return decoder.decode(frame.payload);
  }

  /**
   * Reads frames until a close frame; returns its code and reason and whether
   * the server then ended TCP. Data frames before it are returned too.
   */
  async expectClose(
    timeout = 5000,
  ): Promise<{ code: number; reason: string; frames: Frame[]; tcpClosed: boolean }> {
    const frames: Frame[] = [];
    while (true) {
      const frame = await this.nextFrame(timeout);
      if (frame === undefined) throw new Error("connection ended without a close frame");
      if (frame.opcode === OPCODE.Close) {
        const { code, reason } = decodeClosePayload(frame.payload);
        return { code, reason, frames, tcpClosed: await this.waitEnd(timeout) };
      }
      frames.push(frame);
    }
  }

  /** Whether the server ends TCP within `timeout` ms (bytes read meanwhile are dropped). */
  async waitEnd(timeout = 5000): Promise<boolean> {
    if (this.#ended) return true;
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(this.#buffer).catch(() => null),
        new Promise<"timeout">((resolve) =>
          timer = setTimeout(() => resolve("timeout"), deadline - Date.now())
        ),
      ]);
      clearTimeout(timer);
      if (n === "timeout") return false;
      if (n === null) {
        this.#ended = true;
        return true;
      }
    }
    return false;
  }

  /** Sends a masked close frame with `code` and ends nothing else. */
  sendClose(code?: number, reason = ""): Promise<void> {
    if (code === undefined) return this.sendFrame(OPCODE.Close, new Uint8Array(0));
    const reasonBytes = encoder.encode(reason);
    const payload = new Uint8Array(2 + reasonBytes.length);
    payload[0] = code >>> 8;
    payload[1] = code & 0xff;
    payload.set(reasonBytes, 2);
    return this.sendFrame(OPCODE.Close, payload);
  }

  /** Closes the TCP connection. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Bytes from hex, ignoring spaces. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
