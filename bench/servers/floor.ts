/**
 * Reference point, not a WebSocket server: the least work a TypeScript server
 * built on `Deno.listen` must do, to show what any such server can reach on
 * this machine.
 *
 * Per connection: accept, one read for the request, the accept key through
 * Web Crypto SHA-1, one write for the 101 response (all in a function of its
 * own, so that nothing of it stays alive), then one pending read with a small
 * buffer. Per message: the frames of each read unmasked, then queued back
 * (`--echo`) or for every connection (chat); once the task ends, each
 * connection with frames queued gets one `conn.write` of them joined. A
 * connection has at most one write in flight, and what comes meanwhile is
 * joined into its next write (the least that keeps its frames in order). It
 * checks nothing, supports only what the load generator sends (whole,
 * unfragmented frames of up to 64 KiB), and keeps only a map of connections.
 *
 * ```sh
 * deno run -N bench/servers/floor.ts --port 0 [--echo]
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";

const port = Number(flag("--port") ?? "0");
const echo = Deno.args.includes("--echo");
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const IDLE_BUFFER = 128;
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
// Each connection, what is queued for it, and whether a write is in flight.
interface Peer {
  conn: Deno.Conn;
  queued: Uint8Array[];
  writing: boolean;
}
const conns = new Map<Deno.Conn, Peer>();
const dirty: Peer[] = [];

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

// The handshake: whether the connection was upgraded.
async function upgrade(conn: Deno.Conn): Promise<boolean> {
  const request = new Uint8Array(2048);
  const n = await conn.read(request);
  if (n === null) return false;
  const key = /\r\nsec-websocket-key: *([^\r]+)/i.exec(latin1.decode(request.subarray(0, n)))?.[1];
  if (key === undefined) return false;
  await writeAll(
    conn,
    encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
    ),
  );
  return true;
}

// Queues `bytes` for `conn`. Connections with something queued are written
// once the current task ends (one write each for everything queued by then),
// and again as each write completes while more waits.
function send(conn: Deno.Conn, bytes: Uint8Array): void {
  const peer = conns.get(conn);
  if (peer === undefined) return;
  peer.queued.push(bytes);
  if (peer.writing || peer.queued.length > 1) return;
  dirty.push(peer);
  if (dirty.length === 1) setImmediate(flush);
}

function flush(): void {
  for (const peer of dirty.splice(0)) write(peer);
}

function write(peer: Peer): void {
  peer.writing = peer.queued.length > 0;
  if (!peer.writing) return;
  const bytes = join(peer.queued);
  peer.queued = [];
  writeAll(peer.conn, bytes).then(() => write(peer), () => conns.delete(peer.conn));
}

function join(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

async function handle(conn: Deno.Conn): Promise<void> {
  if (!await upgrade(conn)) return;
  conns.set(conn, { conn, queued: [], writing: false });
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
      send(conn, out);
    } else {
      for (const peer of conns.keys()) send(peer, out);
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
