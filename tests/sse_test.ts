/**
 * Server-Sent Events from the wire, with `fetch` and raw (TCP and TLS)
 * connections: the response and its first bytes; events named by type with
 * resume ids; the same JSON as on WebSocket; resume with `Last-Event-ID` for
 * one topic and several (exactly the missed messages, in order, once), or a
 * gap; tokens, grants, origins, CORS and preflights; heartbeats; the
 * slow-consumer close; `event: close` with 4403 and 1001; the connection
 * limits; metrics; TLS; plain `serve()`.
 */

import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { jwtAuthorizer } from "../src/auth/jwt.ts";
import { type PushServer, servePush } from "../src/app/serve_push.ts";
import { SECRET, signToken } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { TestClient, until, withServer } from "./_server.ts";
import {
  openStream as open,
  publicationTexts as texts,
  readUntil,
  SseClient,
  streamRequest,
} from "./_sse.ts";
import { makeCertificate } from "./_tls.ts";

const url = (port: number, path: string) => `http://127.0.0.1:${port}${path}`;

/** The status, headers and body of a request that must be refused (or answered plainly). */
async function refused(port: number, path: string, init: RequestInit = {}) {
  const response = await fetch(url(port, path), init);
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** Publishes text messages, one after another. */
async function publishTexts(push: PushServer, topic: string, names: string[]): Promise<void> {
  for (const text of names) await push.publish(topic, { type: "text", text });
}

Deno.test("GET /events answers text/event-stream, and a publication reaches it and a WebSocket alike", async () => {
  await withPush({}, async (push, port) => {
    const { response, client } = await SseClient.fetch(url(port, "/events?topic=news"));
    assert(client !== undefined);
    assertEquals(response.status, 200);
    assertEquals(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assertEquals(response.headers.get("cache-control"), "no-store");
    assertEquals(response.headers.get("x-accel-buffering"), "no");
    assertEquals(response.headers.get("content-length"), null);
    const subscribed = await client.next();
    assertEquals(subscribed.event, "subscribed");
    assertEquals(client.retry, 2000);
    assert(client.comments >= 1, "an initial comment");
    const last = JSON.parse(subscribed.data).last as string;
    assertEquals([subscribed.hasId, subscribed.lastEventId], [true, last]);

    const ws = new TestClient(port, "/?topic=news");
    await ws.waitFor(1);
    await push.publish("news", { type: "json", value: { price: 42 } });
    const publication = await client.next();
    await ws.waitFor(2);
    assertEquals(publication.event, "publication");
    assertEquals(publication.data, ws.messages[1]);
    assertEquals(publication.lastEventId, JSON.parse(publication.data).id);
    assertMatch(publication.lastEventId, /^[0-9a-z]+:1$/);

    // An event stream is a socket: counted in /healthz and /metrics.
    const health = await (await fetch(url(port, "/healthz"))).json();
    assertEquals(health.sockets, 2);
    const metrics = await (await fetch(url(port, "/metrics"))).text();
    assertMatch(metrics, /pushwire_sockets_open 2\n/);
    assertMatch(metrics, /pushwire_event_streams_open 1\n/);
    await ws.close();
    await client.close();
  });
});

Deno.test("resume with Last-Event-ID, one topic: exactly the missed messages, in order, once", async (t) => {
  for (const how of ["header", "parameter"] as const) {
    await t.step(how, () =>
      withPush({}, async (push, port) => {
        const first = await open(port, "/events?topic=news");
        await first.next();
        await publishTexts(push, "news", ["p1", "p2"]);
        assertEquals(texts(await first.json(2), "news"), ["p1", "p2"]);
        const last = first.lastEventId;
        await first.close();
        await until(() => push.server.topics.count("news") === 0, 5000, "the first stream's end");
        await publishTexts(push, "news", ["p3", "p4", "p5"]);

        const second = how === "header"
          ? await open(port, "/events?topic=news", { "Last-Event-ID": last })
          : await open(port, `/events?topic=news&lastEventId=${encodeURIComponent(last)}`);
        const resumed = await readUntil(second, "subscribed");
        await publishTexts(push, "news", ["p6"]);
        resumed.push(...await second.json(1));
        assertEquals(resumed.map((event) => event.type), [
          "publication",
          "publication",
          "publication",
          "subscribed",
          "publication",
        ]);
        assertEquals(texts(resumed, "news"), ["p3", "p4", "p5", "p6"]);
        assertMatch(second.lastEventId, /:6$/);
        await second.close();
      }));
  }
});

Deno.test("resume with Last-Event-ID, several topics: one id resumes each, nothing lost or doubled", async () => {
  await withPush({}, async (push, port) => {
    const first = await open(port, "/events?topic=a&topic=b");
    await first.json(2); // subscribed a, b
    await publishTexts(push, "a", ["a1"]);
    await publishTexts(push, "b", ["b1"]);
    await publishTexts(push, "a", ["a2"]);
    await first.json(3);
    const last = first.lastEventId;
    const epoch = last.split(":")[1];
    assertEquals(last, `a:${epoch}:2,b:${epoch}:1`);
    await first.close();
    await until(() => push.server.topics.count("a") === 0, 5000, "the first stream's end");
    await publishTexts(push, "b", ["b2"]);
    await publishTexts(push, "a", ["a3"]);
    await publishTexts(push, "b", ["b3"]);

    const second = await open(port, "/events?topic=a&topic=b", { "Last-Event-ID": last });
    const events = await readUntil(second, "subscribed", 2);
    assertEquals(events.filter((event) => event.type === "gap"), []);
    assertEquals(texts(events, "a"), ["a3"]);
    assertEquals(texts(events, "b"), ["b2", "b3"]);
    assertEquals(second.lastEventId, `a:${epoch}:3,b:${epoch}:3`);
    await publishTexts(push, "b", ["b4"]);
    assertEquals(texts(await second.json(1), "b"), ["b4"]);
    assertEquals(second.lastEventId, `a:${epoch}:3,b:${epoch}:4`);
    await second.close();
  });
});

Deno.test("a gap event comes first for an expired id and for an id from before a restart", async () => {
  await withPush({ historySize: 2 }, async (push, port) => {
    const first = await open(port, "/events?topic=news");
    await first.next();
    const last = first.lastEventId;
    await first.close();
    await publishTexts(push, "news", ["p1", "p2", "p3", "p4"]);
    const second = await open(port, "/events?topic=news", { "Last-Event-ID": last });
    const events = await readUntil(second, "subscribed");
    assertEquals(events[0], { type: "gap", topic: "news", since: last, reason: "expired" });
    assertEquals(texts(events, "news"), ["p3", "p4"]);
    await second.close();
  });
  // A server run's id on the next run: a new epoch.
  let before = "";
  await withPush({}, async (push, port) => {
    const client = await open(port, "/events?topic=news");
    await client.next();
    await publishTexts(push, "news", ["old"]);
    await client.next();
    before = client.lastEventId;
    await client.close();
  });
  await withPush({}, async (push, port) => {
    await publishTexts(push, "news", ["new"]);
    const client = await open(port, "/events?topic=news", { "Last-Event-ID": before });
    const events = await readUntil(client, "subscribed");
    assertEquals(events[0], { type: "gap", topic: "news", since: before, reason: "restart" });
    assertEquals(texts(events, "news"), ["new"]);
    await client.close();
  });
});

Deno.test("an event stream request is refused with the status that says why", async (t) => {
  await withPush({}, async (_push, port) => {
    const cases: [string, string, RequestInit, number, RegExp][] = [
      ["no topic", "/events", {}, 400, /without a topic/],
      ["a bad topic", "/events?topic=a%20b", {}, 400, /Cannot use topic/],
      [
        "a malformed Last-Event-ID",
        "/events?topic=a",
        {
          headers: { "Last-Event-ID": "nonsense" },
        },
        400,
        /Invalid Last-Event-ID/,
      ],
      [
        "a plain id with several topics",
        "/events?topic=a&topic=b",
        {
          headers: { "Last-Event-ID": "abc:1" },
        },
        400,
        /several topics/,
      ],
      [
        "an id of a topic not named",
        "/events?topic=a",
        {
          headers: { "Last-Event-ID": "b:abc:1" },
        },
        400,
        /not subscribed/,
      ],
      [
        "17 topics",
        `/events?${Array.from({ length: 17 }, (_, i) => `topic=t${i}`).join("&")}`,
        {},
        400,
        /at most 16 topics/,
      ],
      [
        "a reconnect's head too large",
        `/events?${Array.from({ length: 16 }, (_, i) => `topic=${"t".repeat(126)}${i}`).join("&")}`,
        { headers: { "X-Pad": "x".repeat(3500) } },
        431,
        /would not fit/,
      ],
      ["POST", "/events?topic=a", { method: "POST", body: "x" }, 405, /opened with GET/],
    ];
    for (const [name, path, init, status, body] of cases) {
      await t.step(name, async () => {
        const answer = await refused(port, path, init);
        assertEquals(answer.status, status, answer.body);
        assertMatch(answer.body, body);
      });
    }
    assertEquals(
      (await refused(port, "/events?topic=a", { method: "POST" })).headers.get("allow"),
      "GET, OPTIONS",
    );
  });
});

Deno.test("tokens: 401 without one, 403 outside the grant, ?token= or Authorization, expiry", async () => {
  const authorize = jwtAuthorizer({ secret: SECRET });
  await withPush({ authorize }, async (_push, port) => {
    const missing = await refused(port, "/events?topic=news");
    assertEquals(missing.status, 401);
    assertMatch(missing.headers.get("www-authenticate") ?? "", /Bearer/);
    const token = await signToken({ topics: ["news"] });
    const outside = await refused(port, `/events?topic=secret&token=${token}`);
    assertEquals([outside.status, outside.body], [403, 'Not allowed to subscribe to "secret"\n']);
    const inUrl = await open(port, `/events?topic=news&token=${token}`);
    assertEquals((await inUrl.next()).event, "subscribed");
    const inHeader = await open(port, "/events?topic=news", { Authorization: `Bearer ${token}` });
    assertEquals((await inHeader.next()).event, "subscribed");
    await inUrl.close();
    await inHeader.close();

    // A token about to expire: told at once, then closed with 4401.
    const short = await signToken({ topics: ["news"], expiresIn: 1 });
    const expiring = await open(port, `/events?topic=news&token=${short}`);
    const events = await expiring.end(5000);
    assertEquals(events.map((event) => event.event), ["subscribed", "expiring", "close"]);
    assertEquals(JSON.parse(events[2]!.data), { code: 4401, reason: "Token expired" });
  });
});

Deno.test("origins: 403 for another site by default; CORS for allowed origins and their preflight", async () => {
  await withPush({}, async (_push, port) => {
    const foreign = await refused(port, "/events?topic=a", {
      headers: { Origin: "https://evil.example" },
    });
    assertEquals([foreign.status, foreign.body], [403, "Origin not allowed\n"]);
    const own = await open(port, "/events?topic=a", { Origin: `http://127.0.0.1:${port}` });
    await own.next();
    await own.close();
  });
  await withPush({ origins: ["https://app.example"] }, async (_push, port) => {
    const origin = { Origin: "https://app.example" };
    const { response, client } = await SseClient.fetch(url(port, "/events?topic=a"), {
      headers: origin,
    });
    assertEquals(response.headers.get("access-control-allow-origin"), "https://app.example");
    assertEquals(response.headers.get("access-control-allow-credentials"), "true");
    assertEquals(response.headers.get("vary"), "Origin");
    await client?.close();
    // A refusal is readable by the allowed page too.
    const bad = await refused(port, "/events", { headers: origin });
    assertEquals(bad.status, 400);
    assertEquals(bad.headers.get("access-control-allow-origin"), "https://app.example");

    const preflight = await refused(port, "/events?topic=a", {
      method: "OPTIONS",
      headers: {
        ...origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, last-event-id",
      },
    });
    assertEquals(preflight.status, 204);
    assertEquals(preflight.headers.get("access-control-allow-origin"), "https://app.example");
    assertEquals(preflight.headers.get("access-control-allow-methods"), "GET");
    assertEquals(
      preflight.headers.get("access-control-allow-headers"),
      "Authorization, Last-Event-ID",
    );
    const foreign = await refused(port, "/events?topic=a", {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example" },
    });
    assertEquals(foreign.status, 403);
    assertEquals(foreign.headers.get("access-control-allow-origin"), null);
  });
  await withPush({ origins: ["*"] }, async (_push, port) => {
    const { response, client } = await SseClient.fetch(url(port, "/events?topic=a"), {
      headers: { Origin: "https://anyone.example" },
    });
    assertEquals(response.headers.get("access-control-allow-origin"), "*");
    assertEquals(response.headers.get("access-control-allow-credentials"), null);
    await client?.close();
  });
});

Deno.test("a quiet stream gets comment heartbeats; presence events are named by type", async () => {
  await withPush({ eventStream: { heartbeat: 50 } }, async (_push, port) => {
    const client = await open(port, "/events?topic=room:lobby");
    // Its own join and who is there, in either order.
    const first = [
      (await client.next()).event,
      (await client.next()).event,
      (await client.next()).event,
    ];
    assertEquals(first.sort(), ["join", "presence", "subscribed"]);
    const before = client.comments;
    await client.waitUntil(() => client.comments >= before + 3, 3000, "three heartbeats");
    const ws = new TestClient(port, "/?topic=room:lobby");
    const join = await client.next();
    assertEquals(join.event, "join");
    assertEquals(join.hasId, false);
    await ws.close();
    assertEquals((await client.next()).event, "leave");
    await client.close();
  });
});

Deno.test("a stream whose client stops reading is closed as a slow consumer (1008)", async () => {
  await withPush({ maxBufferedBytes: 64 * 1024 }, async (push, port) => {
    const reader = await open(port, "/events?topic=big");
    await reader.next();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(
        new TextEncoder().encode(streamRequest(`127.0.0.1:${port}`, "/events?topic=big")),
      );
      await until(() => push.server.topics.count("big") === 2, 5000, "the subscription");
      const stalled = [...push.server.sockets].find((socket) =>
        socket.remoteAddr !== undefined &&
        (socket.remoteAddr as Deno.NetAddr).port === (conn.localAddr as Deno.NetAddr).port
      );
      assert(stalled !== undefined);
      const text = "x".repeat(16 * 1024);
      // One message a turn, so that only a client that does not read falls
      // behind: the kernel's buffers fill first (a few MiB), then the outbox.
      let sent = 0;
      while (sent < 4000 && stalled.state === "open") {
        await push.publish("big", { type: "text", text });
        sent++;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      const result = await stalled.closed;
      assertEquals([result.code, stalled.closeCause], [1008, "slow-consumer"]);
      assert(sent > 4, `closed after ${sent} messages: before the kernel's buffers filled`);
      const metrics = await (await fetch(url(port, "/metrics"))).text();
      assertMatch(metrics, /pushwire_slow_consumer_closes_total 1\n/);
      // The client that reads got every message.
      await reader.waitUntil(() => reader.events.length === 1 + sent, 10_000, "every message");
      assertEquals(push.server.sockets.size, 1);
    } finally {
      conn.close();
      await reader.close();
    }
  });
});

Deno.test("push.disconnect ends a user's stream with event: close 4403; shutdown with 1001", async () => {
  await withPush({ authorize: jwtAuthorizer({ secret: SECRET }) }, async (push, port) => {
    const token = await signToken({ sub: "alice", topics: ["news"] });
    const client = await open(port, `/events?topic=news&token=${token}`);
    await client.next();
    assertEquals(await push.disconnect("alice", "account closed"), 1);
    const rest = await client.end();
    assertEquals(rest.map((event) => event.event), ["close"]);
    assertEquals(JSON.parse(rest[0]!.data), { code: 4403, reason: "account closed" });
  });
  await withPush({}, async (push, port) => {
    const client = await open(port, "/events?topic=news");
    await client.next();
    const [socket] = [...push.server.sockets];
    await push.server.shutdown();
    const rest = await client.end();
    assertEquals(rest.map((event) => event.event), ["close"]);
    assertEquals(JSON.parse(rest[0]!.data), { code: 1001, reason: "server shutting down" });
    assertEquals(await socket?.closed, {
      code: 1001,
      reason: "server shutting down",
      wasClean: true,
    });
  });
});

Deno.test("connection limits answer a stream as they answer an upgrade: 503, 429", async () => {
  await withPush({ maxConnections: 1 }, async (_push, port) => {
    const client = await open(port, "/events?topic=a");
    await client.next();
    const second = await refused(port, "/events?topic=a");
    assertEquals([second.status, second.body], [503, "Too many connections\n"]);
    const ws = new TestClient(port, "/?topic=a");
    ws.opened.catch(() => {});
    const closed = await ws.closed;
    assertEquals(closed.wasClean, false); // the upgrade got 503
    await client.close();
  });
  await withPush({ maxConnectionsPerAddress: 1 }, async (_push, port) => {
    const client = await open(port, "/events?topic=a");
    await client.next();
    const second = await refused(port, "/events?topic=a");
    assertEquals(second.status, 429);
    await client.close();
  });
});

Deno.test("an event stream over TLS", async (t) => {
  const certificate = await makeCertificate();
  if (typeof certificate === "string") {
    t.step({ name: certificate, ignore: true, fn: () => {} });
    return;
  }
  const push = servePush({
    port: 0,
    hostname: "127.0.0.1",
    cert: certificate.cert,
    key: certificate.key,
  });
  try {
    const port = push.server.addr.port;
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [certificate.cert],
    });
    const { head, client } = await SseClient.raw(
      conn,
      streamRequest(`localhost:${port}`, "/events?topic=news"),
    );
    assertMatch(head, /^HTTP\/1\.1 200 OK\r\n/);
    assertEquals((await client.next()).event, "subscribed");
    await push.publish("news", { type: "text", text: "over TLS" });
    assertEquals(JSON.parse((await client.next()).data).data, "over TLS");
    await push.server.shutdown();
    const rest = await client.end();
    assertEquals(JSON.parse(rest.at(-1)!.data).code, 1001);
  } finally {
    await push.server.shutdown();
    await certificate.remove();
  }
});

Deno.test("serve(): eventStream off by default; text, bytes and close as events; bytes from the client end it", async () => {
  await withServer({}, undefined, async (_server, port) => {
    assertEquals((await refused(port, "/events?topic=a")).status, 404);
  });
  await withServer({ eventStream: "/stream" }, (socket) => {
    assertEquals(socket.wire, "event-stream");
    assertThrows(() => socket.sendFrame(new Uint8Array([0x81, 0])), TypeError);
    socket.send("two\nlines");
    socket.send(new Uint8Array([0, 1, 2, 255]));
    socket.send('{"type":"note","n":1}', { resume: { topic: "t", id: "e:1" } });
    socket.close(4000, "done");
  }, async (_server, port) => {
    const client = await open(port, "/stream");
    const events = await client.end();
    assertEquals(events.map(({ event, data }) => [event, data]), [
      ["message", "two\nlines"],
      ["binary", "AAEC/w=="],
      ["note", '{"type":"note","n":1}'],
      ["close", '{"code":4000,"reason":"done"}'],
    ]);
    // A stream that names no topic (or several) writes `topic:id` pairs.
    assertEquals(events[2]!.lastEventId, "t:e:1");
  });
  await withServer({ eventStream: "/stream" }, undefined, async (server, port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const { client } = await SseClient.raw(
      conn,
      streamRequest(`127.0.0.1:${port}`, "/stream") + "GET / HTTP/1.1\r\n\r\n",
    );
    const events = await client.end();
    assertEquals(events.map((event) => JSON.parse(event.data).code), [1002]);
    assertEquals(server.sockets.size, 0);
  });
});
