/**
 * Small helpers for a raw TCP (or TLS) connection: write all of some bytes,
 * read the status of a response, close politely after a response, close
 * without caring whether it was closed already.
 *
 * @module
 */

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
