/**
 * Small helpers for a raw TCP (or TLS) connection: read a request head,
 * write all of some bytes, read the status of a response, close politely
 * after a response, answer and close within a bound of time, close without
 * caring whether it was closed already, and tell a peer's disconnection
 * from a fault.
 *
 * @module
 */

import type { RequestHead, RequestHeadParser } from "../protocol/http_head.ts";

const READ_CHUNK = 2048;
// Read buffers of finished heads, for the next ones: a handshake then
// allocates (and the collector frees) no buffer of its own. The parser copies
// what it keeps of each chunk.
const spareBuffers: Uint8Array[] = [];
const MAX_SPARE_BUFFERS = 256;

/**
 * Reads until a request head is complete, into a read buffer shared with
 * the handshakes before and after it.
 *
 * @param conn The connection.
 * @param parser The parser of its head (its `rest` then holds what followed).
 * @returns The head, or `undefined` when the client left first.
 * @throws {HttpError} From the parser: 431 or 400.
 */
export async function readHead(
  conn: { read(buffer: Uint8Array): Promise<number | null> },
  parser: RequestHeadParser,
): Promise<RequestHead | undefined> {
  const buffer = spareBuffers.pop() ?? new Uint8Array(READ_CHUNK);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) return undefined;
      const head = parser.push(buffer.subarray(0, n));
      if (head !== undefined) return head;
    }
  } finally {
    // No read is pending on it any more.
    if (spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(buffer);
  }
}

/**
 * Writes every byte, however many writes it takes.
 *
 * @param conn The connection (anything with a `Deno.Conn`-like `write`).
 * @param bytes What to write.
 * @returns Resolves once all of it is written.
 */
export async function writeAll(
  conn: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * The status code of response bytes (`HTTP/1.1 200 OK...`).
 *
 * @param response A complete response.
 * @returns Its status.
 */
export function statusOf(response: Uint8Array): number {
  return Number(String.fromCharCode(response[9]!, response[10]!, response[11]!));
}

const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;

/**
 * After a response, stops writing and reads what the client still sends (up
 * to a bound of bytes and time) before closing: closing with unread input
 * would reset the connection, and the client could lose the response.
 *
 * @param conn The connection.
 * @returns Resolves once it is closed.
 */
export async function lingerClose(conn: Deno.Conn): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
  try {
    await conn.closeWrite();
    const buffer = new Uint8Array(16 * 1024);
    let drained = 0;
    while (drained < LINGER_BYTES) {
      const n = await conn.read(buffer);
      if (n === null) break;
      drained += n;
    }
  } catch {
    // Reset or closed by the timer: nothing more to do.
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Writes a response and closes the connection politely (as
 * {@linkcode lingerClose} does), all within 2 seconds however slowly the
 * peer reads or writes; the connection is closed in the end either way.
 *
 * @param conn The connection.
 * @param response A complete response.
 * @returns Resolves once the connection is closed.
 */
export async function answerAndClose(conn: Deno.Conn, response: Uint8Array): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
  try {
    await writeAll(conn, response);
    await lingerClose(conn);
  } catch {
    // Reset by the peer or closed by the timer: nothing more to say.
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

/**
 * Whether an error is a peer's doing on the network (reset, gone, closed
 * under a read or write, garbage where TLS was expected) rather than a
 * fault of the server: such errors are expected and logged at debug level
 * only.
 *
 * @example
 * ```ts
 * import { isDisconnection } from "./conn_io.ts";
 *
 * console.log(isDisconnection(new Deno.errors.ConnectionReset("reset"))); // true
 * console.log(isDisconnection(new TypeError("a bug"))); // false
 * ```
 *
 * @param error What was thrown.
 * @returns `true` for a disconnection.
 */
export function isDisconnection(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof Deno.errors.InvalidData; // A TLS peer that does not speak TLS.
}

/**
 * Closes a connection, whether or not it was closed already.
 *
 * @param conn The connection.
 */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
