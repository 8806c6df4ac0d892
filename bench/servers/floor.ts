/**
 * Reference point, not a WebSocket server: the least work a TypeScript server
 * built on `Deno.listen` must do, to show what any such server can reach on
 * this machine.
 *
 * Per connection: accept, one read for the request, the accept key through
 * Web Crypto SHA-1, one write for the 101 response, then one pending read with
 * a small buffer. Per message: the frames of each read unmasked, then one
 * write of them back (`--echo`) or to every connection (chat), each write
 * with a bare `.then`. It checks nothing, supports only what the load
 * generator sends (whole, unfragmented frames of up to 64 KiB), and keeps
 * only a `Set` of connections. Chat mode does not order overlapping writes
 * to one connection, so the harness runs it where a connection never has two
 * in flight: connect, echo, and latency (one message in flight).
 *
 * ```sh
 * deno run -N bench/servers/floor.ts --port 0 [--echo]
 * ```
 *
 * @module
 */

const port = Number(flag("--port") ?? "0");
const echo = Deno.args.includes("--echo");
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const IDLE_BUFFER = 128;
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const conns = new Set<Deno.Conn>();

function flag(name: string): string | undefined {
  const at = Deno.args.indexOf(name);
  return at === -1 ? undefined : Deno.args[at + 1];
}

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

// Unmasks the whole frames at the start of `bytes` into server frames.
// Returns them and how many bytes they took.
function unmaskFrames(bytes: Uint8Array): { out: Uint8Array; used: number } {
  const out = new Uint8Array(bytes.length);
  let at = 0;
  let written = 0;
  while (at + 2 <= bytes.length) {
    const short = bytes[at + 1]! & 0x7f;
    const header = short === 126 ? 8 : 6;
    if (at + header > bytes.length) break;
    const length = short === 126 ? (bytes[at + 2]! << 8) | bytes[at + 3]! : short;
    if (at + header + length > bytes.length) break;
    const key = at + header - 4;
    out[written] = bytes[at]!;
    out[written + 1] = short;
    if (short === 126) {
      out[written + 2] = bytes[at + 2]!;
      out[written + 3] = bytes[at + 3]!;
    }
    const from = written + header - 4;
    for (let i = 0; i < length; i++) {
      out[from + i] = bytes[at + header + i]! ^ bytes[key + (i & 3)]!;
    }
    written = from + length;
    at += header + length;
  }
  return { out: out.subarray(0, written), used: at };
}

async function handle(conn: Deno.Conn): Promise<void> {
  const request = new Uint8Array(2048);
  const n = await conn.read(request);
  if (n === null) return;
  const key = /\r\nsec-websocket-key: *([^\r]+)/i.exec(latin1.decode(request.subarray(0, n)))?.[1];
  if (key === undefined) return;
  await writeAll(
    conn,
    encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
    ),
  );
  conns.add(conn);
  let buffer = new Uint8Array(IDLE_BUFFER);
  let held = 0;
  while (true) {
    const read = await conn.read(buffer.subarray(held));
    if (read === null) return;
    held += read;
    const { out, used } = unmaskFrames(buffer.subarray(0, held));
    if (used > 0 && (buffer[0]! & 0x0f) === 0x8) return;
    buffer.copyWithin(0, used, held);
    held -= used;
    if (held === buffer.length) {
      const grown = new Uint8Array(buffer.length * 8);
      grown.set(buffer);
      buffer = grown;
    }
    if (out.length === 0) continue;
    if (echo) {
      await writeAll(conn, out);
    } else {
      for (const peer of conns) {
        peer.write(out).then(
          (n) => n < out.length ? writeAll(peer, out.subarray(n)) : undefined,
        ).catch(() => conns.delete(peer));
      }
    }
  }
}

const listener = Deno.listen({ hostname: "127.0.0.1", port });
console.log(`listening on 127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
for await (const conn of listener) {
  handle(conn).catch(() => {}).finally(() => {
    conns.delete(conn);
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  });
}
