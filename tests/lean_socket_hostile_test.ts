/**
 * What keeps an idle socket lean, from the outside: hostile and unusual
 * clients (and API users) against reused request-head buffers, frame readers
 * made on the first bytes (bytes pipelined with the upgrade), one close
 * callback per server (registry, metrics, per-address limits),
 * `HeaderFields`, the shared idle sweeps and the inbox iterator.
 *
 * Real sockets on 127.0.0.1, port 0; every test bounded in time; no timing
 * assertions.
 *
 * @module
 */

import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { concatBytes } from "../src/protocol/bytes.ts";
import { encodeFrame, type Frame, OPCODE } from "../src/protocol/frame.ts";
import type { CloseResult, Socket } from "../src/server/socket.ts";
import type { Server } from "../src/server/server.ts";
import type { ServeOptions, SocketHandler } from "../src/server/options.ts";
import { SILENT } from "../src/server/log.ts";
import { exchange } from "./_hostile.ts";
import { RawClient, rawHttp, readAll, upgradeRequest } from "./_raw_client.ts";
import { until, withServer } from "./_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const DEFLATE_TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concatBytes(parts) as Uint8Array<ArrayBuffer>;
}

function masked(
  opcode: typeof OPCODE[keyof typeof OPCODE],
  payload: string | Uint8Array,
  options: { fin?: boolean; rsv1?: boolean } = {},
): Uint8Array {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  return encodeFrame(opcode, bytes, { mask: true, ...options });
}

/** A masked text frame compressed as a permessage-deflate client would (no context takeover). */
function compressedText(text: string): Uint8Array {
  const deflated = new Uint8Array(
    deflateRawSync(encoder.encode(text), { finishFlush: constants.Z_SYNC_FLUSH }),
  );
  // RFC 7692 §7.2.1: the trailing 00 00 ff ff is removed.
  const payload = deflated.subarray(0, deflated.length - 4);
  return masked(OPCODE.Text, payload, { rsv1: true });
}

/** A server frame's text, inflated when RSV1 is set. */
function textOf(frame: Frame): string {
  if (!frame.rsv1) return decoder.decode(frame.payload);
  const inflated = inflateRawSync(concat(frame.payload, DEFLATE_TAIL), {
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  return decoder.decode(new Uint8Array(inflated));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** GET /metrics as its body (loopback: allowed without a token). */
async function scrape(port: number): Promise<string> {
  const text = await rawHttp(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  assert(text.startsWith("HTTP/1.1 200"), text.slice(0, 80));
  return text.slice(text.indexOf("\r\n\r\n") + 4);
}

/** A sample's value in a Prometheus rendering (0 when absent). */
function metric(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

/** GET /healthz as JSON. */
async function health(port: number): Promise<{ sockets: number; handshakes: number }> {
  const text = await rawHttp(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  return JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
}

/** Two pipelined pings whose pongs cannot both fit an outbox of `maxBufferedBytes` < 127. */
function twoBigPings(): Uint8Array {
  const ping = masked(OPCODE.Ping, new Uint8Array(100).fill(0x61));
  return concat(ping, ping);
}

// ---------------------------------------------------------------------------
// A socket that closes while it is being made (on bytes pipelined with its
// upgrade request) leaves server.sockets like any other.
// ---------------------------------------------------------------------------

Deno.test("pipelined pings that overflow the outbox: the socket closes and leaves server.sockets", async () => {
  const results: Promise<CloseResult>[] = [];
  const handler: SocketHandler = (socket) => {
    results.push(socket.closed);
  };
  await withServer({ maxBufferedBytes: 100, metricsCacheTtl: 0 }, handler, async (server, port) => {
    const client = await RawClient.connect(port, { pipelined: twoBigPings() });
    try {
      // The server drops the connection (slow consumer: its pongs pass the cap).
      assert(await client.waitEnd(3000), "the server ends the connection");
    } finally {
      client.close();
    }
    assertEquals(results.length, 1, "the handler saw the socket");
    const result = await results[0]!;
    assertEquals(result.code, 1008);
    const [socket] = [...server.sockets];
    // Give the server every chance to forget it.
    await until(() => server.sockets.size === 0, 2000, "server.sockets to empty").catch(() => {});
    assertEquals(
      { size: server.sockets.size, state: socket?.state },
      { size: 0, state: undefined },
      "a closed socket must not stay in server.sockets",
    );
    const text = await scrape(port);
    assertEquals(metric(text, "pushwire_sockets_open"), 0, "no socket is open");
    assertEquals(metric(text, 'pushwire_sockets_closed_by_cause_total{cause="slow-consumer"}'), 1);
    assertEquals((await health(port)).sockets, 0, "/healthz counts no socket");
  });
});

Deno.test("pipelined pings that overflow the outbox: closed sockets do not use up maxConnections", async () => {
  await withServer(
    { maxBufferedBytes: 100, maxConnections: 2 },
    undefined,
    async (server, port) => {
      for (let i = 0; i < 2; i++) {
        const client = await RawClient.connect(port, { pipelined: twoBigPings() });
        try {
          assert(await client.waitEnd(3000), "the server ends the connection");
        } finally {
          client.close();
        }
      }
      // Nothing is open: a well-behaved client must get in.
      await until(() => server.sockets.size === 0, 2000, "server.sockets to empty").catch(() => {});
      const answer = await exchange(port, upgradeRequest(`127.0.0.1:${port}`));
      assertEquals(answer.status, 101, `a new client is refused: ${answer.head.split("\r\n")[0]}`);
    },
  );
});

// ---------------------------------------------------------------------------
// Bytes pipelined with the upgrade request (the frame reader made on them).
// ---------------------------------------------------------------------------

const echo: SocketHandler = async (socket) => {
  for await (const message of socket) socket.send(message);
};

Deno.test("a masked frame in the same write as the upgrade request is read (no extension)", async () => {
  await withServer({}, echo, async (server, port) => {
    const pipelined = concat(
      masked(OPCODE.Text, "first"),
      masked(OPCODE.Text, "par", { fin: false }),
      masked(OPCODE.Ping, "p"),
      masked(OPCODE.Continuation, "ts"),
      masked(OPCODE.Binary, new Uint8Array([1, 2, 3])),
    );
    const client = await RawClient.connect(port, { pipelined });
    try {
      assertEquals(client.response.toLowerCase().includes("sec-websocket-extensions"), false);
      const frames: Frame[] = [];
      while (frames.length < 4) frames.push((await client.nextFrame())!);
      const pong = frames.find((frame) => frame.opcode === OPCODE.Pong);
      assertEquals(decoder.decode(pong?.payload), "p");
      const data = frames.filter((frame) => frame.opcode !== OPCODE.Pong);
      assertEquals(data.map((frame) => frame.opcode), [OPCODE.Text, OPCODE.Text, OPCODE.Binary]);
      assertEquals(data.slice(0, 2).map(textOf), ["first", "parts"]);
      assertEquals([...data[2]!.payload], [1, 2, 3]);
      await client.sendClose(1000);
      const close = await client.expectClose();
      assertEquals(close.code, 1000);
    } finally {
      client.close();
    }
    await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
  });
});

Deno.test("a compressed first message pipelined with the upgrade request is inflated", async () => {
  await withServer({ perMessageDeflate: true }, echo, async (server, port) => {
    const long = "compressible ".repeat(40);
    const pipelined = concat(compressedText("hello, deflate"), compressedText(long));
    const client = await RawClient.connect(port, {
      pipelined,
      headers: { "Sec-WebSocket-Extensions": "permessage-deflate" },
    });
    try {
      assert(
        client.response.toLowerCase().includes("permessage-deflate"),
        `deflate negotiated: ${client.response}`,
      );
      const first = (await client.nextFrame())!;
      const second = (await client.nextFrame())!;
      assertEquals([textOf(first), textOf(second)], ["hello, deflate", long]);
      // And a compressed message after the pipelined ones, in a write of its own.
      await client.write(compressedText("later"));
      assertEquals(textOf((await client.nextFrame())!), "later");
      await client.sendClose(1000);
      assertEquals((await client.expectClose()).code, 1000);
    } finally {
      client.close();
    }
    await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
  });
});

Deno.test("a compressed pipelined frame without negotiated deflate is a protocol error (1002)", async () => {
  await withServer({ perMessageDeflate: true }, echo, async (server, port) => {
    const client = await RawClient.connect(port, { pipelined: compressedText("sneaky") });
    try {
      const close = await client.expectClose();
      assertEquals(close.code, 1002);
      assertEquals(close.frames.length, 0);
    } finally {
      client.close();
    }
    await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
  });
});

Deno.test("a pipelined close frame is echoed and the socket leaves the registry", async () => {
  const results: Promise<CloseResult>[] = [];
  await withServer({}, (socket) => {
    results.push(socket.closed);
  }, async (server, port) => {
    const close = masked(OPCODE.Close, new Uint8Array([0x0f, 0xa0, 0x62, 0x79, 0x65])); // 4000 "bye"
    const client = await RawClient.connect(port, { pipelined: close });
    try {
      const answer = await client.expectClose();
      assertEquals(answer.code, 4000);
      assert(answer.tcpClosed);
    } finally {
      client.close();
    }
    assertEquals(await results[0], { code: 4000, reason: "bye", wasClean: true });
    await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
  });
});

// ---------------------------------------------------------------------------
// Request heads arriving in pieces, interleaved with whole ones.
// ---------------------------------------------------------------------------

Deno.test("heads in pieces interleaved with whole heads: no bytes from one connection in another", async () => {
  const handler: SocketHandler = async (socket) => {
    const headers = socket.request.headers;
    for await (const message of socket) {
      socket.send(
        `${headers.get("x-id")}|${socket.request.query.get("n")}|${headers.get("x-pad")?.length}|` +
          `${headers.size}|${message}`,
      );
    }
  };
  await withServer({}, handler, async (server, port) => {
    const count = 24;
    const run = async (n: number): Promise<string> => {
      const pad = String.fromCharCode(0x41 + (n % 26)).repeat(37 * n + 1);
      const request = upgradeRequest(`127.0.0.1:${port}`, {
        path: `/who?n=${n}`,
        headers: { "X-Id": `id-${n}`, "X-Pad": pad, ...(n % 3 === 0 ? { "X-Extra": "1" } : {}) },
      });
      const bytes = concat(encoder.encode(request), masked(OPCODE.Text, `msg-${n}`));
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const timer = setTimeout(() => conn.close(), 8000);
      try {
        if (n % 2 === 0) {
          // Slowloris: the head (and the frame after it) in small pieces.
          const piece = 5 + (n % 7);
          for (let at = 0; at < bytes.length; at += piece) {
            await writeAll(conn, bytes.subarray(at, at + piece));
            await sleep(1);
          }
        } else {
          await writeAll(conn, bytes);
        }
        let text = "";
        const buffer = new Uint8Array(4096);
        let raw: Uint8Array = new Uint8Array(0);
        while (true) {
          const read = await conn.read(buffer);
          if (read === null) throw new Error(`connection ${n} ended early: ${text}`);
          raw = concat(raw, buffer.subarray(0, read));
          text = decoder.decode(raw);
          const end = text.indexOf("\r\n\r\n");
          if (end === -1) continue;
          assert(text.startsWith("HTTP/1.1 101"), text);
          const after = raw.subarray(new TextEncoder().encode(text.slice(0, end + 4)).length);
          if (after.length < 2 || after.length < 2 + (after[1]! & 0x7f)) continue;
          return decoder.decode(after.subarray(2, 2 + (after[1]! & 0x7f)));
        }
      } finally {
        clearTimeout(timer);
        try {
          conn.close();
        } catch {
          // Closed by the timer.
        }
      }
    };
    const answers = await Promise.all(Array.from({ length: count }, (_, n) => run(n)));
    for (let n = 0; n < count; n++) {
      const fields = n % 3 === 0 ? 8 : 7;
      assertEquals(answers[n], `id-${n}|${n}|${37 * n + 1}|${fields}|msg-${n}`);
    }
    await until(() => server.sockets.size === 0, 5000, "server.sockets to empty");
  });
});

Deno.test("a head split right before its blank line, with a frame after: rest is exact", async () => {
  await withServer({}, echo, async (server, port) => {
    // Warm the pool of read buffers with a long head first.
    const warm = await exchange(
      port,
      upgradeRequest(`127.0.0.1:${port}`, { headers: { "X-Junk": "Z".repeat(1500) } }),
    );
    assertEquals(warm.status, 101);
    const request = encoder.encode(upgradeRequest(`127.0.0.1:${port}`));
    const frame = masked(OPCODE.Text, "tail");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(conn, request.subarray(0, request.length - 2));
      await sleep(20);
      await writeAll(conn, concat(request.subarray(request.length - 2), frame));
      const all = await readAll(conn, 1000);
      const text = decoder.decode(all);
      assert(text.startsWith("HTTP/1.1 101"), text);
      const after = all.subarray(all.indexOf(0x0a, text.indexOf("\r\n\r\n") + 3) + 1);
      assertEquals(decoder.decode(after.subarray(2, 2 + (after[1]! & 0x7f))), "tail");
      assertEquals(after[0], 0x81);
    } finally {
      try {
        conn.close();
      } catch {
        // Closed.
      }
    }
    await until(() => server.sockets.size === 0, 5000, "server.sockets to empty");
  });
});

// ---------------------------------------------------------------------------
// Header fields as the application sees them.
// ---------------------------------------------------------------------------

Deno.test("request headers: duplicates, odd case, Map-style iteration, 100 fields", async () => {
  const seen: Socket[] = [];
  await withServer({}, (socket) => {
    seen.push(socket);
  }, async (_server, port) => {
    const extra: string[] = [];
    // Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version: 5 fields.
    for (let i = 0; i < 95 - 3; i++) extra.push(`X-F${i}: v${i}`);
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    const head = `GET /h HTTP/1.1\r\nhOsT: 127.0.0.1:${port}\r\nUPGRADE: WebSocket\r\n` +
      `connection: keep-alive, Upgrade\r\nSec-WebSocket-KEY: ${key}\r\n` +
      `sec-websocket-version: 13\r\nX-Dup: one\r\nx-dup:   two  \r\nX-DUP: three\r\n` +
      extra.join("\r\n") + "\r\n\r\n";
    const answer = await exchange(port, head);
    assertEquals(answer.status, 101, answer.head);
    await until(() => seen.length === 1);
    const headers = seen[0]!.request.headers;
    // 5 handshake fields + x-dup + 92 extras.
    assertEquals(headers.size, 98);
    assertEquals(headers.get("host"), `127.0.0.1:${port}`);
    assertEquals(headers.get("upgrade"), "WebSocket");
    assertEquals(headers.get("x-dup"), "one, two, three");
    assertEquals(headers.get("X-Dup"), undefined, "names are looked up in lower case");
    assertEquals(headers.has("x-dup"), true);
    assertEquals(headers.has("nope"), false);
    const entries = [...headers];
    assertEquals(entries.length, 98);
    assertEquals(entries[0], ["host", `127.0.0.1:${port}`]);
    assertEquals(entries[5], ["x-dup", "one, two, three"]);
    assertEquals(entries[97], ["x-f91", "v91"]);
    assertEquals([...headers.keys()], entries.map(([name]) => name));
    assertEquals([...headers.values()], entries.map(([, value]) => value));
    assertEquals([...headers.entries()], entries);
    const viaForEach: [string, string][] = [];
    const self: unknown[] = [];
    headers.forEach(function (this: unknown, value, name, map) {
      viaForEach.push([name, value]);
      self.push(map === headers, this);
    }, "ctx");
    assertEquals(viaForEach, entries);
    assertEquals(self.slice(0, 2), [true, "ctx"]);
    assertEquals(new Map(headers).get("x-f0"), "v0");
    assertEquals(Object.fromEntries(headers)["sec-websocket-version"], "13");
    assertEquals(new Headers([...headers]).get("X-DUP"), "one, two, three");
    // Iterating twice gives the same.
    assertEquals([...headers], entries);
  });
});

Deno.test("request heads: exactly 100 fields pass, 101 are refused with 431", async () => {
  await withServer({}, undefined, async (_server, port) => {
    const build = (fields: number) => {
      const lines = [
        `Host: 127.0.0.1:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
      ];
      for (let i = lines.length; i < fields; i++) lines.push(`X-${i}: ${i}`);
      return `GET / HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
    };
    assertEquals((await exchange(port, build(100))).status, 101);
    assertEquals((await exchange(port, build(101))).status, 431);
    assertEquals((await exchange(port, build(100))).status, 101);
  });
});

Deno.test("a repeated Host is still refused, in any case", async () => {
  await withServer({}, undefined, async (_server, port) => {
    const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHOST: evil.example\r\n` +
      "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assertEquals((await exchange(port, request)).status, 400);
  });
});

// ---------------------------------------------------------------------------
// Per-address limits released exactly once, however a socket ends.
// ---------------------------------------------------------------------------

const LIMIT = 2;

/** Opens LIMIT sockets (all accepted) and one more (429), then lets them all go. */
async function assertLimitFree(server: Server, port: number, path = "/idle"): Promise<void> {
  await until(() => server.sockets.size === 0, 5000, "server.sockets to empty");
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < LIMIT; i++) clients.push(await RawClient.connect(port, { path }));
    const refused = await exchange(port, upgradeRequest(`127.0.0.1:${port}`, { path }));
    assertEquals(refused.status, 429, "one more than the limit is refused");
  } finally {
    for (const client of clients) client.close();
  }
  await until(() => server.sockets.size === 0, 5000, "server.sockets to empty");
}

Deno.test("maxConnectionsPerAddress is released once for every way a socket ends", async () => {
  const results: Promise<CloseResult>[] = [];
  const handler: SocketHandler = async (socket) => {
    results.push(socket.closed);
    switch (socket.request.path) {
      case "/echo":
        for await (const message of socket) socket.send(message);
        return;
      case "/greet":
        socket.send("x".repeat(200_000));
        return;
      case "/flood":
        socket.send("y".repeat(1500));
        socket.send("z".repeat(1500));
        return;
      case "/bye":
        socket.close(4001, "bye");
        return;
      case "/throw":
        throw new Error("handler failure on purpose");
      default:
        return;
    }
  };
  const options: ServeOptions = {
    maxConnectionsPerAddress: LIMIT,
    maxBufferedBytes: 2000,
    metricsCacheTtl: 0,
    closeTimeout: 500,
    logger: SILENT,
  };
  await withServer(options, handler, async (server, port) => {
    await assertLimitFree(server, port);

    // 1. The peer's close frame.
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, { path: "/echo" });
      await client.sendClose(1000, "done");
      assertEquals((await client.expectClose()).code, 1000);
      client.close();
    }
    await assertLimitFree(server, port);

    // 2. TCP ends without a close frame.
    for (let i = 0; i < LIMIT; i++) (await RawClient.connect(port, { path: "/echo" })).close();
    await assertLimitFree(server, port);

    // 3. A reset: the client closes with unread bytes.
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, { path: "/greet" });
      await sleep(20);
      client.close();
    }
    await assertLimitFree(server, port);

    // 4. A protocol error: an unmasked frame.
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, { path: "/echo" });
      await client.write(encodeFrame(OPCODE.Text, encoder.encode("unmasked")));
      assertEquals((await client.expectClose()).code, 1002);
      client.close();
    }
    await assertLimitFree(server, port);

    // 5. A protocol error pipelined with the upgrade request.
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, {
        path: "/echo",
        pipelined: encodeFrame(OPCODE.Text, encoder.encode("unmasked")),
      });
      assertEquals((await client.expectClose()).code, 1002);
      client.close();
    }
    await assertLimitFree(server, port);

    // 6. A slow consumer (the outbox passes maxBufferedBytes).
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, { path: "/flood" });
      assert(await client.waitEnd(3000));
      client.close();
    }
    await assertLimitFree(server, port);

    // 7. The server closes first.
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, { path: "/bye" });
      const frame = await client.nextFrame();
      assertEquals(frame?.opcode, OPCODE.Close);
      await client.sendClose(4001);
      assert(await client.waitEnd(3000));
      client.close();
    }
    await assertLimitFree(server, port);

    // 8. The server closes first and the client never answers (close timeout).
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, { path: "/bye" });
      assert(await client.waitEnd(3000), "the close timeout ends it");
      client.close();
    }
    await assertLimitFree(server, port);

    // 9. The handler throws (1011).
    for (let i = 0; i < LIMIT; i++) {
      const client = await RawClient.connect(port, { path: "/throw" });
      const close = await client.expectClose();
      assertEquals(close.code, 1011);
      client.close();
    }
    await assertLimitFree(server, port);

    const settled = await Promise.all(results);
    const text = await scrape(port);
    assertEquals(metric(text, "pushwire_sockets_open"), 0);
    assertEquals(metric(text, "pushwire_sockets_accepted_total"), settled.length);
    const closedTotal = text.split("\n")
      .filter((line) => line.startsWith("pushwire_sockets_closed_total{"))
      .reduce((sum, line) => sum + Number(line.split(" ")[1]), 0);
    assertEquals(closedTotal, settled.length, "every closed socket counted once");
    assertEquals(metric(text, 'pushwire_sockets_closed_total{code="1002"}'), 2 * LIMIT);
    assertEquals(
      metric(text, 'pushwire_sockets_closed_by_cause_total{cause="slow-consumer"}'),
      LIMIT,
    );
    assertEquals(metric(text, "pushwire_slow_consumer_closes_total"), LIMIT);
    assertEquals(metric(text, 'pushwire_sockets_closed_total{code="1011"}'), LIMIT);
  });
});

Deno.test("idle timeout: silent clients are pinged then dropped, and the limit is released", async () => {
  const results: Promise<CloseResult>[] = [];
  const causes: (string | undefined)[] = [];
  await withServer(
    { idleTimeout: 60, maxConnectionsPerAddress: LIMIT },
    async (socket) => {
      const result = await socket.closed;
      causes.push(socket.closeCause);
      results.push(Promise.resolve(result));
    },
    async (server, port) => {
      // Two rounds: the shared sweep for this interval stops in between and starts again.
      for (let round = 0; round < 2; round++) {
        const clients = await Promise.all(
          Array.from({ length: LIMIT }, () => RawClient.connect(port)),
        );
        for (const client of clients) {
          const frame = await client.nextFrame(3000);
          assertEquals(frame?.opcode, OPCODE.Ping, "an idle client is pinged first");
          assert(await client.waitEnd(3000), "then dropped");
          client.close();
        }
        await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
        const refusedOrNot = await RawClient.connect(port);
        refusedOrNot.close();
      }
      await until(() => causes.length === 2 * LIMIT + 2, 3000, "every close");
      assertEquals(causes.filter((cause) => cause === "idle-timeout").length >= 2 * LIMIT, true);
      for (const result of await Promise.all(results)) {
        if (result.code !== 1006) assertEquals(result.code, 1001);
      }
    },
  );
});

Deno.test("server shutdown closes every socket with 1001 and empties the registry", async () => {
  const server = (await import("../src/server/server.ts")).serve(
    { port: 0, hostname: "127.0.0.1", maxConnectionsPerAddress: LIMIT },
    echo,
  );
  const port = server.addr.port;
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < LIMIT; i++) clients.push(await RawClient.connect(port));
    const sockets = [...server.sockets];
    const shutdown = server.shutdown();
    for (const client of clients) {
      const close = await client.nextFrame();
      assertEquals(close?.opcode, OPCODE.Close);
      assertEquals([...close!.payload.subarray(0, 2)], [0x03, 0xe9]); // 1001
      await client.sendClose(1001);
      assert(await client.waitEnd(3000));
    }
    await shutdown;
    assertEquals(server.sockets.size, 0);
    for (const socket of sockets) assertEquals((await socket.closed).code, 1001);
  } finally {
    for (const client of clients) client.close();
    await server.shutdown();
  }
});

// ---------------------------------------------------------------------------
// socket.closed made lazily; the inbox iterator.
// ---------------------------------------------------------------------------

Deno.test("socket.closed first asked for after the close, or never", async () => {
  const late: (CloseResult | string)[] = [];
  const sockets: Socket[] = [];
  await withServer({}, async (socket) => {
    sockets.push(socket);
    if (socket.request.path === "/never") return;
    for await (const _ of socket) {
      // Read until the end.
    }
    // The iteration ends on the peer's close frame; wait for the connection's end.
    await until(() => socket.state === "closed", 3000, "the socket to close");
    // The close already happened: only now is `closed` asked for.
    late.push(socket.state);
    const first = socket.closed;
    assertStrictEquals(socket.closed, first, "the same promise every time");
    late.push(await first);
  }, async (server, port) => {
    const a = await RawClient.connect(port, { path: "/late" });
    await a.sendClose(4005, "later");
    assertEquals((await a.expectClose()).code, 4005);
    a.close();
    const b = await RawClient.connect(port, { path: "/never" });
    b.close();
    await until(() => late.length === 2, 3000, "the late close");
    await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
    assertEquals(late, ["closed", { code: 4005, reason: "later", wasClean: true }]);
    assertEquals(sockets[1]!.state, "closed");
    assertEquals(await sockets[1]!.closed, { code: 1006, reason: "", wasClean: false });
  });
});

Deno.test("a socket iterated twice, and an iterator returned early", async () => {
  const log: string[] = [];
  await withServer({}, async (socket) => {
    const first = socket[Symbol.asyncIterator]();
    const one = await first.next();
    log.push(`first:${one.value}`);
    await first.return!();
    assertEquals(await first.next(), { value: undefined, done: true });
    assertEquals(await first.return!(), { value: undefined, done: true }, "return twice");
    for await (const message of socket) {
      log.push(`second:${message}`);
      socket.send(`got ${message}`);
      if (message === "c") break;
    }
    // A third iteration after a break sees what remains, then the end.
    for await (const message of socket) log.push(`third:${message}`);
    log.push("end");
  }, async (server, port) => {
    const client = await RawClient.connect(port, {
      pipelined: concat(masked(OPCODE.Text, "a"), masked(OPCODE.Text, "b")),
    });
    try {
      assertEquals(await client.nextText(), "got b");
      await client.sendText("c");
      assertEquals(await client.nextText(), "got c");
      await client.sendText("d");
      await client.sendClose(1000);
      assertEquals((await client.expectClose()).code, 1000);
    } finally {
      client.close();
    }
    await until(() => log.at(-1) === "end", 3000, "the handler to finish");
    assertEquals(log, ["first:a", "second:b", "second:c", "third:d", "end"]);
    await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
  });
});

Deno.test("an event stream with bytes pipelined after its request ends and leaves the registry", async () => {
  await withServer(
    { eventStream: "/events", metricsCacheTtl: 0 },
    undefined,
    async (server, port) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await writeAll(
          conn,
          encoder.encode(
            `GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n` +
              "GET / HTTP/1.1\r\n\r\n",
          ),
        );
        const text = decoder.decode(await readAll(conn, 3000));
        assert(text.startsWith("HTTP/1.1 200"), text);
        assert(text.includes("event: close"), text);
      } finally {
        try {
          conn.close();
        } catch {
          // Closed.
        }
      }
      await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
      const metrics = await scrape(port);
      assertEquals(metric(metrics, "pushwire_sockets_open"), 0);
      assertEquals(metric(metrics, "pushwire_event_streams_open"), 0);
    },
  );
});

Deno.test("heads cut off by the handshake timeout leave nothing behind in the next heads", async () => {
  await withServer({ handshakeTimeout: 150 }, echo, async (server, port) => {
    // Slowloris clients: part of a head full of junk, then silence until dropped.
    const slow = await Promise.all(
      Array.from({ length: 8 }, async (_, n) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await writeAll(
          conn,
          encoder.encode(`GET /junk${n} HTTP/1.1\r\nX-Junk: ${"J".repeat(1800)}\r\nHost: x\r\n`),
        );
        return conn;
      }),
    );
    for (const conn of slow) {
      const rest = await readAll(conn, 3000);
      assertEquals(rest.length, 0, "dropped without an answer");
      conn.close();
    }
    // Fresh clients, with short heads and a frame right after: nothing of the junk shows.
    const clients = await Promise.all(
      Array.from({ length: 8 }, (_, n) =>
        RawClient.connect(port, {
          path: `/fresh${n}`,
          pipelined: masked(OPCODE.Text, `fresh-${n}`),
        })),
    );
    try {
      for (let n = 0; n < clients.length; n++) {
        assertEquals(await clients[n]!.nextText(), `fresh-${n}`);
      }
      const paths = [...server.sockets].map((socket) => socket.request.path).sort();
      assertEquals(paths, Array.from({ length: 8 }, (_, n) => `/fresh${n}`).sort());
      for (const socket of server.sockets) {
        assertEquals(socket.request.headers.has("x-junk"), false);
      }
    } finally {
      for (const client of clients) client.close();
    }
    await until(() => server.sockets.size === 0, 3000, "server.sockets to empty");
  });
});

// ---------------------------------------------------------------------------
// An idle timeout past what a timer takes (2^31 − 1 ms) is cut to that,
// rather than firing every millisecond.
// ---------------------------------------------------------------------------

Deno.test("an idleTimeout of 2^31 ms (about 25 days) does not drop a fresh socket at once", async () => {
  const causes: (string | undefined)[] = [];
  await withServer({ idleTimeout: 2 ** 31 }, async (socket) => {
    await socket.closed;
    causes.push(socket.closeCause);
  }, async (_server, port) => {
    const client = await RawClient.connect(port);
    try {
      // Bounded wait: a correct server keeps the socket open far longer than this.
      const ended = await client.waitEnd(500);
      assertEquals(
        { ended, causes },
        { ended: false, causes: [] },
        "a socket idle for half a second outlives a 25-day idle timeout",
      );
    } finally {
      client.close();
    }
  });
});
