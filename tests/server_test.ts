import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { servePush } from "../src/app/serve_push.ts";
import { CHAT_PAGE } from "../src/chat/page.ts";
import { OPCODE } from "../src/protocol/frame.ts";
import type { Server } from "../src/server/server.ts";
import type { CloseResult, Socket } from "../src/server/socket.ts";
import { fromHex, RawClient, rawHttp, readAll, upgradeRequest } from "./_raw_client.ts";
import { echo, relay, TestClient, until, withServer } from "./_server.ts";

const encoder = new TextEncoder();

Deno.test("serve() exchanges text and binary with Deno's WebSocket", async () => {
  await withServer({}, echo, async (_server, port) => {
    const [client] = await TestClient.open(port, 1);
    client!.ws.send("héllo");
    client!.ws.send(new Uint8Array([0, 1, 2, 255]));
    const [text, binary] = await client!.waitFor(2);
    assertEquals(text, "héllo");
    assertEquals(new Uint8Array(binary as ArrayBuffer), new Uint8Array([0, 1, 2, 255]));
    await client!.close();
  });
});

Deno.test("three clients chatting each get every message once, in send order", async () => {
  let server: Server;
  await withServer({}, relay(() => server), async (s, port) => {
    server = s;
    const clients = await TestClient.open(port, 3);
    await until(() => s.sockets.size === 3);
    const perClient = 20;
    clients.forEach((client, c) => {
      for (let i = 0; i < perClient; i++) client.ws.send(`${c}:${i}`);
    });
    for (const client of clients) {
      const messages = (await client.waitFor(3 * perClient)) as string[];
      assertEquals(messages.length, 3 * perClient);
      for (let c = 0; c < 3; c++) {
        const fromC = messages.filter((m) => m.startsWith(`${c}:`));
        assertEquals(fromC, Array.from({ length: perClient }, (_, i) => `${c}:${i}`));
      }
    }
    await Promise.all(clients.map((client) => client.close()));
  });
});

Deno.test("a 4 MiB message round-trips with the limit raised", async () => {
  await withServer({ maxMessageBytes: 8 * 1024 * 1024 }, echo, async (_server, port) => {
    const [client] = await TestClient.open(port, 1);
    const big = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    client!.ws.send(big);
    const [echoed] = await client!.waitFor(1, 15000);
    assertEquals(new Uint8Array(echoed as ArrayBuffer), big);
    await client!.close();
  });
});

Deno.test("a message over maxMessageBytes closes the socket with 1009", async () => {
  await withServer({ maxMessageBytes: 1000 }, echo, async (_server, port) => {
    const [client] = await TestClient.open(port, 1);
    client!.ws.send("x".repeat(1001));
    const event = await client!.closed;
    assertEquals(event.code, CLOSE_CODE.MessageTooBig);
  });
});

Deno.test("close with a code and reason from the client side", async () => {
  const results: Promise<CloseResult>[] = [];
  await withServer({}, (socket) => {
    results.push(socket.closed);
  }, async (server, port) => {
    const [client] = await TestClient.open(port, 1);
    const event = await client!.close(4001, "client done");
    assertEquals(event.code, 4001);
    assertEquals(event.wasClean, true);
    assertEquals(await results[0], { code: 4001, reason: "client done", wasClean: true });
    await until(() => server.sockets.size === 0);
  });
});

Deno.test("close with a code and reason from the server side", async () => {
  let serverSocket: Socket | undefined;
  await withServer({}, (socket) => {
    serverSocket = socket;
  }, async (_server, port) => {
    const [client] = await TestClient.open(port, 1);
    await until(() => serverSocket !== undefined);
    serverSocket!.close(4002, "server done");
    const event = await client!.closed;
    assertEquals([event.code, event.reason, event.wasClean], [4002, "server done", true]);
    assertEquals(await serverSocket!.closed, { code: 4002, reason: "server done", wasClean: true });
  });
});

Deno.test("Socket.close() rejects codes that may not be sent and long reasons", async () => {
  let serverSocket: Socket | undefined;
  await withServer({}, (socket) => {
    serverSocket = socket;
  }, async (_server, port) => {
    const [client] = await TestClient.open(port, 1);
    await until(() => serverSocket !== undefined);
    for (const code of [999, 1005, 1006, 1015, 2000, 5000]) {
      let threw = false;
      try {
        serverSocket!.close(code);
      } catch (error) {
        threw = error instanceof RangeError;
      }
      assert(threw, `close(${code}) should throw RangeError`);
    }
    let threw = false;
    try {
      serverSocket!.close(1000, "x".repeat(124));
    } catch (error) {
      threw = error instanceof RangeError;
    }
    assert(threw, "a 124-byte reason should throw RangeError");
    assertEquals(serverSocket!.state, "open");
    await client!.close();
  });
});

Deno.test("shutdown() closes every client with 1001 and ends the registry", async () => {
  let server: Server | undefined;
  await withServer({}, relay(() => server!), async (s, port) => {
    server = s;
    const clients = await TestClient.open(port, 3);
    await until(() => s.sockets.size === 3);
    const joins = (async () => {
      let count = 0;
      for await (const _ of s.sockets) count++;
      return count;
    })();
    await s.shutdown();
    for (const client of clients) assertEquals((await client.closed).code, CLOSE_CODE.GoingAway);
    assertEquals(s.sockets.size, 0);
    assertEquals(await joins, 0);
    await s.finished;
  });
});

Deno.test("an AbortSignal shuts the server down", async () => {
  const controller = new AbortController();
  await withServer({ signal: controller.signal }, undefined, async (server, port) => {
    const [client] = await TestClient.open(port, 1);
    controller.abort();
    assertEquals((await client!.closed).code, CLOSE_CODE.GoingAway);
    await server.finished;
  });
});

Deno.test("a malformed frame gets its close code while other clients keep working", async () => {
  let server: Server;
  await withServer({}, relay(() => server), async (s, port) => {
    server = s;
    const [good] = await TestClient.open(port, 1);
    const bad = await RawClient.connect(port);
    await until(() => s.sockets.size === 2);
    await bad.writeHex("8105 48656c6c6f"); // an unmasked client frame
    const closed = await bad.nextFrame();
    assertEquals(closed?.opcode, OPCODE.Close);
    assertEquals(closed?.payload.subarray(0, 2), new Uint8Array([0x03, 0xea])); // 1002
    await bad.sendClose(CLOSE_CODE.ProtocolError);
    assert(await bad.waitEnd(), "the server ends TCP after the closing handshake");
    bad.close();
    good!.ws.send("still here");
    assertEquals(await good!.waitFor(1), ["still here"]);
    await good!.close();
  });
});

Deno.test("a frame pipelined with the handshake request is handled", async () => {
  await withServer({}, echo, async (_server, port) => {
    const hello = fromHex("8185 37fa213d 7f9f4d5158");
    const client = await RawClient.connect(port, { pipelined: hello });
    assertEquals(await client.nextText(), "Hello");
    await client.sendClose(1000);
    assertEquals((await client.expectClose()).code, 1000);
    client.close();
  });
});

Deno.test("handshake errors answer with their HTTP status", async (t) => {
  await withServer({}, undefined, async (_server, port) => {
    const host = `127.0.0.1:${port}`;
    const cases: [string, string, number, string?][] = [
      ["POST", upgradeRequest(host).replace("GET", "POST"), 405, "Allow: GET"],
      [
        "version 8",
        upgradeRequest(host).replace("Version: 13", "Version: 8"),
        426,
        "Sec-WebSocket-Version: 13",
      ],
      ["a bad key", upgradeRequest(host, { key: "short" }), 400],
      [
        "no Connection upgrade",
        upgradeRequest(host).replace("Connection: Upgrade", "Connection: close"),
        400,
      ],
      ["a malformed request line", "GET\r\n\r\n", 400],
      ["64 KiB of headers", `GET / HTTP/1.1\r\nX: ${"a".repeat(64 * 1024)}\r\n\r\n`, 431],
      ["an unknown path", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404],
    ];
    for (const [name, request, status, header] of cases) {
      await t.step(`${name} → ${status}`, async () => {
        const response = await rawHttp(port, request);
        assert(response.startsWith(`HTTP/1.1 ${status} `), response.slice(0, 80));
        assertStringIncludes(response, "Connection: close");
        assertStringIncludes(response, "Content-Length: ");
        if (header !== undefined) assertStringIncludes(response, header);
      });
    }
  });
});

Deno.test("GET / serves the chat page and /healthz the counts", async () => {
  await withServer({ page: CHAT_PAGE }, undefined, async (_server, port) => {
    const page = await rawHttp(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert(page.startsWith("HTTP/1.1 200 OK"));
    assertStringIncludes(page, "Content-Type: text/html");
    assertStringIncludes(page.toLowerCase(), "<!doctype html>");
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assertEquals(health.status, 200);
    const body = await health.json();
    assertEquals(body.status, "ok");
    assertEquals(body.sockets, 0);
  });
});

Deno.test("GET / answers 404 when serve() is given no page", async () => {
  await withServer({}, undefined, async (_server, port) => {
    const response = await rawHttp(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert(response.startsWith("HTTP/1.1 404 "), response.slice(0, 80));
  });
});

Deno.test("connections past maxConnections get 503", async () => {
  await withServer({ maxConnections: 2 }, undefined, async (server, port) => {
    const clients = await TestClient.open(port, 2);
    await until(() => server.sockets.size === 2);
    const response = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`));
    assert(response.startsWith("HTTP/1.1 503 "), response.slice(0, 40));
    await Promise.all(clients.map((client) => client.close()));
  });
});

Deno.test("a silent client is dropped at the handshake timeout", async () => {
  await withServer({ handshakeTimeout: 200 }, undefined, async (_server, port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode("GET / HTTP/1.1\r\n"));
    const started = Date.now();
    const rest = await readAll(conn, 3000);
    const elapsed = Date.now() - started;
    assertEquals(rest.length, 0);
    assert(elapsed < 2500, `dropped after ${elapsed} ms`);
  });
});

Deno.test("a peer that ignores pings is closed at the idle timeout", async () => {
  const results: Promise<CloseResult>[] = [];
  await withServer({ idleTimeout: 100 }, (socket) => {
    results.push(socket.closed);
  }, async (_server, port) => {
    const client = await RawClient.connect(port);
    const ping = await client.nextFrame(2000);
    assertEquals(ping?.opcode, OPCODE.Ping);
    // Answer nothing: the server gives up.
    assert(await client.waitEnd(2000), "the server should end the connection");
    const result = await results[0]!;
    assertEquals(result.code, CLOSE_CODE.GoingAway);
    assertEquals(result.wasClean, false);
    client.close();
  });
});

Deno.test("a peer that answers pings stays open past the idle timeout", async () => {
  await withServer({ idleTimeout: 100 }, echo, async (server, port) => {
    const client = await RawClient.connect(port);
    const deadline = Date.now() + 600;
    while (Date.now() < deadline) {
      const frame = await client.nextFrame(1000);
      if (frame?.opcode === OPCODE.Ping) await client.sendFrame(OPCODE.Pong, frame.payload);
    }
    assertEquals(server.sockets.size, 1);
    await client.sendClose(1000);
    await client.expectClose();
    client.close();
  });
});

Deno.test("a client that never reads is closed at the outbox cap; others get everything", async () => {
  const results = new Map<string, Promise<CloseResult>>();
  await withServer({ maxBufferedBytes: 256 * 1024 }, (socket) => {
    results.set(socket.id, socket.closed);
  }, async (server, port) => {
    const [reader] = await TestClient.open(port, 1);
    const stalled = await RawClient.connect(port); // never reads
    await until(() => server.sockets.size === 2);
    const stalledId = [...server.sockets].map((s) => s.id).find((id) => id !== "1")!;
    const payload = "x".repeat(1024);
    const count = 10_000;
    for (let i = 0; i < count; i++) {
      server.sockets.broadcast(`${i}:${payload}`);
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const received = await reader!.waitFor(count, 30_000);
    assertEquals(received.length, count);
    assertEquals((received[count - 1] as string).split(":")[0], String(count - 1));
    const result = await results.get(stalledId)!;
    assertEquals(result.code, CLOSE_CODE.PolicyViolation);
    stalled.close();
    await reader!.close();
  });
});

Deno.test("a handler that throws closes its socket with 1011 only", async () => {
  await withServer({}, (socket) => {
    if (socket.request.path === "/bad") throw new Error("boom");
  }, async (server, port) => {
    const [good] = await TestClient.open(port, 1);
    const bad = new TestClient(port, "/bad");
    assertEquals((await bad.closed).code, CLOSE_CODE.InternalError);
    await until(() => server.sockets.size === 1);
    await good!.close();
  });
});

Deno.test("shutdown frees the port before it resolves, even with an event stream not being read", async () => {
  for (let round = 0; round < 3; round++) {
    const first = servePush({ port: 0, hostname: "127.0.0.1" });
    await first.ready;
    const port = first.server.addr.port;
    const stream = await fetch(`http://127.0.0.1:${port}/events?topic=news`);
    const reader = stream.body!.getReader();
    await reader.read(); // then never again
    await first.server.shutdown();
    const again = servePush({ port, hostname: "127.0.0.1" }); // throws AddrInUse if not free
    await again.server.shutdown();
    await reader.cancel();
  }
});
