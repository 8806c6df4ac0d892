/**
 * What `serve({ logger })` logs, read back from the lines a `Logger` writes:
 * start and shutdown, refusals at the limits, sockets closed by a limit, and
 * the errors the server recovers from. Loopback, port 0, a few connections.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { HttpError } from "../src/protocol/errors.ts";
import { OPCODE } from "../src/protocol/frame.ts";
import { Logger } from "../src/server/log.ts";
import type { ServeOptions } from "../src/server/options.ts";
import type { SocketHandler } from "../src/server/options.ts";
import { serve, type Server } from "../src/server/server.ts";
import { RawClient, rawHttp, upgradeRequest } from "./_raw_client.ts";
import { until } from "./_server.ts";

type Line = Record<string, unknown> & { level: string; event: string };

/** A server on loopback with a debug logger; its lines, parsed. */
async function withLoggedServer(
  options: ServeOptions,
  handler: SocketHandler | undefined,
  fn: (server: Server, port: number, lines: Line[]) => Promise<void>,
): Promise<Line[]> {
  const lines: Line[] = [];
  const logger = new Logger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const server = serve({ port: 0, hostname: "127.0.0.1", logger, ...options }, handler);
  try {
    await fn(server, server.addr.port, lines);
  } finally {
    await server.shutdown();
  }
  return lines;
}

/** The lines of one event. */
function events(lines: Line[], event: string): Line[] {
  return lines.filter((line) => line.event === event);
}

/** Waits until a line of `event` was written; returns it. */
async function logged(lines: Line[], event: string, timeout = 5000): Promise<Line> {
  await until(() => events(lines, event).length > 0, timeout, `a "${event}" line`);
  return events(lines, event)[0]!;
}

/** Reads up to the server's close frame and answers it; returns its code. */
async function answerClose(client: RawClient): Promise<number> {
  while (true) {
    const frame = await client.nextFrame();
    if (frame === undefined) throw new Error("connection ended without a close frame");
    if (frame.opcode !== OPCODE.Close) continue;
    const code = new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint16(0);
    await client.sendClose(code);
    return code;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("serve({ logger }) logs listening, then shutting-down with what it closed, then stopped", async () => {
  let port = 0;
  let idle: Deno.Conn | undefined;
  const lines = await withLoggedServer({}, undefined, async (server, p, lines) => {
    port = p;
    const clients = [await RawClient.connect(port), await RawClient.connect(port)];
    idle = await Deno.connect({ hostname: "127.0.0.1", port });
    await until(() => server.sockets.size === 2);
    await sleep(100);
    const shutdown = server.shutdown();
    await Promise.all(clients.map((client) => answerClose(client)));
    clients.forEach((client) => client.close());
    await shutdown;
    assertEquals(events(lines, "listening").length, 1);
  });
  idle?.close();
  const listening = events(lines, "listening")[0]!;
  assertEquals(listening.level, "info");
  assertEquals(listening.address, `127.0.0.1:${port}`);
  assertEquals(listening.tls, false);
  assertMatch(String(listening.version), /^\d+\.\d+\.\d+/);
  const shuttingDown = events(lines, "shutting-down");
  assertEquals(shuttingDown.length, 1);
  assertEquals([shuttingDown[0]!.sockets, shuttingDown[0]!.handshakes], [2, 1]);
  const stopped = events(lines, "stopped");
  assertEquals(stopped.length, 1);
  assert(lines.indexOf(stopped[0]!) > lines.indexOf(shuttingDown[0]!), "stopped comes last");
});

Deno.test("refusals at the limits are logged at warn level", async (t) => {
  await t.step("per address (429)", async () => {
    await withLoggedServer({ maxConnectionsPerAddress: 1 }, undefined, async (_s, port, lines) => {
      const held = await Deno.connect({ hostname: "127.0.0.1", port });
      await sleep(100);
      const refused = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`));
      held.close();
      assert(refused.startsWith("HTTP/1.1 429 "), refused);
      const line = await logged(lines, "connection-refused");
      assertEquals(line.level, "warn");
      assertEquals([line.reason, line.remote, line.limit], ["per-address", "127.0.0.1", 1]);
    });
  });
  await t.step("pending handshakes (closed at once)", async () => {
    const options = { maxPendingHandshakes: 1, maxConnectionsPerAddress: 0 };
    await withLoggedServer(options, undefined, async (_s, port, lines) => {
      const held = await Deno.connect({ hostname: "127.0.0.1", port });
      await sleep(100);
      const extra = await Deno.connect({ hostname: "127.0.0.1", port });
      const line = await logged(lines, "connection-refused");
      held.close();
      extra.close();
      assertEquals([line.level, line.reason, line.limit], ["warn", "pending-handshakes", 1]);
    });
  });
  await t.step("connections (503)", async () => {
    await withLoggedServer({ maxConnections: 1 }, undefined, async (server, port, lines) => {
      const client = await RawClient.connect(port);
      await until(() => server.sockets.size === 1);
      const refused = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`));
      client.close();
      assert(refused.startsWith("HTTP/1.1 503 "), refused);
      const line = await logged(lines, "connection-refused");
      assertEquals([line.level, line.reason, line.limit], ["warn", "max-connections", 1]);
    });
  });
  await t.step("a handshake that times out (info)", async () => {
    await withLoggedServer({ handshakeTimeout: 200 }, undefined, async (_s, port, lines) => {
      const silent = await Deno.connect({ hostname: "127.0.0.1", port });
      const line = await logged(lines, "handshake-timeout");
      silent.close();
      assertEquals([line.level, line.remote], ["info", "127.0.0.1"]);
    });
  });
});

Deno.test("sockets closed by a limit are logged by their cause", async (t) => {
  await t.step("a slow consumer (warn, 1008)", async () => {
    const options = { maxBufferedBytes: 64 * 1024 };
    await withLoggedServer(options, undefined, async (server, port, lines) => {
      const stalled = await RawClient.connect(port); // never reads
      await until(() => server.sockets.size === 1);
      const payload = "x".repeat(16 * 1024);
      for (let i = 0; i < 2000 && events(lines, "slow-consumer").length === 0; i++) {
        server.sockets.broadcast(payload);
        if (i % 20 === 19) await sleep(1);
      }
      const line = await logged(lines, "slow-consumer");
      stalled.close();
      assertEquals([line.level, line.code, line.remote], [
        "warn",
        CLOSE_CODE.PolicyViolation,
        "127.0.0.1",
      ]);
      assertEquals(typeof line.socket, "string");
    });
  });
  await t.step("a protocol error (info, with its close code)", async () => {
    await withLoggedServer({}, undefined, async (_server, port, lines) => {
      const client = await RawClient.connect(port);
      await client.writeHex("a180 00000000"); // RSV2 set
      assertEquals((await client.expectClose()).code, CLOSE_CODE.ProtocolError);
      client.close();
      const line = await logged(lines, "protocol-error");
      assertEquals([line.level, line.code], ["info", CLOSE_CODE.ProtocolError]);
    });
  });
  await t.step("an idle timeout (info)", async () => {
    await withLoggedServer({ idleTimeout: 150 }, undefined, async (_server, port, lines) => {
      const client = await RawClient.connect(port); // reads, never answers pings
      const reading = client.expectClose(5000).catch(() => undefined);
      const line = await logged(lines, "idle-timeout");
      await reading;
      client.close();
      assertEquals(line.level, "info");
    });
  });
  await t.step("a close by either side (debug only)", async () => {
    await withLoggedServer({}, undefined, async (server, port, lines) => {
      const client = await RawClient.connect(port);
      await until(() => server.sockets.size === 1);
      await client.sendClose(1000);
      await client.expectClose();
      client.close();
      const line = await logged(lines, "socket-closed");
      assertEquals([line.level, line.cause, line.code], ["debug", "peer", 1000]);
    });
  });
});

Deno.test("errors the server recovers from are logged at error level, with their stack", async (t) => {
  await t.step("a handler that throws", async () => {
    const handler = () => {
      throw new Error("handler boom");
    };
    await withLoggedServer({}, handler, async (_server, port, lines) => {
      const client = await RawClient.connect(port);
      assertEquals(await answerClose(client), CLOSE_CODE.InternalError);
      client.close();
      const line = await logged(lines, "handler-failed");
      assertEquals([line.level, line.error], ["error", "handler boom"]);
      assertMatch(String(line.stack), /handler boom/);
    });
  });
  await t.step("an authorize hook that throws (500)", async () => {
    const authorize = () => {
      throw new TypeError("authorize boom");
    };
    await withLoggedServer({ authorize }, undefined, async (_server, port, lines) => {
      const response = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`));
      assert(response.startsWith("HTTP/1.1 500 "), response);
      const line = await logged(lines, "authorize-failed");
      assertEquals([line.level, line.error, line.name], ["error", "authorize boom", "TypeError"]);
    });
  });
  await t.step("a route that throws (500); a route's HttpError is no error", async () => {
    const routes = {
      "/boom": {
        methods: ["GET"],
        handle: () => {
          throw new RangeError("route boom");
        },
      },
      "/teapot": {
        methods: ["GET"],
        handle: () => {
          throw new HttpError(418, "short and stout");
        },
      },
    };
    await withLoggedServer({ routes }, undefined, async (_server, port, lines) => {
      const boom = await rawHttp(port, "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
      assert(boom.startsWith("HTTP/1.1 500 "), boom);
      assert(!boom.includes("route boom"), "the error stays out of the response");
      const teapot = await rawHttp(port, "GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n");
      assert(teapot.startsWith("HTTP/1.1 418 "), teapot);
      const line = await logged(lines, "route-failed");
      assertEquals([line.level, line.error, line.path], ["error", "route boom", "/boom"]);
      assertEquals(events(lines, "route-failed").length, 1);
    });
  });
});
