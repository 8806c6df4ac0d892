/**
 * The client (src/client/) in Deno against in-process push servers:
 * subscribe, publish and close; resume across a server restart on the same
 * port (with Redis: nothing lost, nothing doubled; in memory: a gap with
 * reason `restart`); token renewal on `expiring`; 4401 with a token that
 * cannot be renewed; 4403; refused subscribes; the bounded queue; backoff;
 * and `transport: "auto"` falling back to the server's `/events` when its
 * WebSocket upgrades are refused (with Redis, a restart over SSE loses and
 * doubles nothing either).
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { jwtAuthorizer } from "../src/auth/jwt.ts";
import { servePush } from "../src/app/serve_push.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { PublishError, PushClient, type PushClientEventMap } from "../src/client/mod.ts";
import type { ServePushOptions } from "../src/app/serve_push.ts";
import { SECRET, signToken } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { redisTest } from "./_redis.ts";
import { until } from "./_server.ts";

const FAST = { backoff: { initial: 20, max: 100 } };
const jwt = { authorize: jwtAuthorizer({ secret: SECRET }) };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A server that refuses WebSocket upgrades, as some proxies do, and serves event streams. */
const NO_UPGRADES: ServePushOptions = {
  authorize: (_request, info) =>
    info.wire === "websocket"
      ? { accept: false, status: 403, message: "No WebSocket here" }
      : { accept: true },
};

/** The next event of a type (that matches), within `timeout` ms. */
function nextEvent<K extends keyof PushClientEventMap>(
  client: PushClient,
  type: K,
  match: (event: PushClientEventMap[K]) => boolean = () => true,
  timeout = 5000,
): Promise<PushClientEventMap[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeEventListener(type, listener);
      reject(new Error(`timed out waiting for the "${type}" event`));
    }, timeout);
    const listener = (event: PushClientEventMap[K]) => {
      if (!match(event)) return;
      clearTimeout(timer);
      client.removeEventListener(type, listener);
      resolve(event);
    };
    client.addEventListener(type, listener);
  });
}

/** Reads a subscription into an array in the background; `done` settles with its end. */
function collect<T>(iterable: AsyncIterable<T>): { items: T[]; done: Promise<unknown> } {
  const items: T[] = [];
  const done = (async () => {
    for await (const item of iterable) items.push(item);
  })();
  done.catch(() => {});
  return { items, done };
}

/** Every `state` a client goes through, and every `gap`. */
function record(client: PushClient): { states: string[]; gaps: string[] } {
  const log = { states: [] as string[], gaps: [] as string[] };
  client.addEventListener("state", (event) => log.states.push(event.detail.state));
  client.addEventListener("gap", (event) => log.gaps.push(event.detail.reason));
  return log;
}

Deno.test("PushClient subscribes, gets publications, publishes with an id, and closes", async () => {
  await withPush({}, async (push, port) => {
    const client = new PushClient(`ws://127.0.0.1:${port}/`, { name: "Ada" });
    const log = record(client);
    const live = nextEvent(client, "subscribed");
    const room = collect(client.subscribe("room:1"));
    assertEquals((await live).detail.topic, "room:1");

    await push.publish("room:1", { type: "text", text: "from the server" });
    const { id } = await client.publish("room:1", { text: "hi" });
    await until(() => room.items.length === 2, 5000, "two publications");
    assertEquals(room.items.map((p) => p.data), ["from the server", { text: "hi" }]);
    assertEquals(room.items[1]!.id, id);
    assertEquals(room.items[1]!.from?.name, "Ada");
    assertEquals(room.items[0]!.from, undefined);

    const refused = await assertRejects(() => client.publish("news", 1), PublishError);
    assertEquals([refused.outcome, refused.message], [
      "refused",
      'Not allowed to publish to "news"',
    ]);

    const closed = nextEvent(client, "close");
    client.close();
    assertEquals((await closed).detail, { code: 1000, reason: "Closed by the client" });
    await room.done; // ends without an error
    assertEquals(log.states, ["open", "closed"]);
    assertEquals(client.state, "closed");
    await until(() => push.server.sockets.size === 0, 2000, "the socket to close");
  });
});

Deno.test("PushClient resumes from since, shares a topic between subscriptions, and bounds each queue", async () => {
  await withPush({}, async (push, port) => {
    for (const text of ["a", "b", "c"]) await push.publish("news", { type: "text", text });
    const first = await push.publish("news", { type: "text", text: "d" });
    const client = new PushClient(`ws://127.0.0.1:${port}/`, { queueLimit: 3 });
    const since = first.id.replace(/:\d+$/, ":1");
    const news = client.subscribe("news", { since });
    await nextEvent(client, "subscribed");
    const second = collect(client.subscribe("news"));
    for (const text of ["e", "f"]) await push.publish("news", { type: "text", text });
    await until(() => second.items.length === 2, 5000, "the second subscription's two");

    // The first was not read: b, c, d replayed, then e overflowed its queue of 3.
    const read: unknown[] = [];
    const error = await assertRejects(async () => {
      for await (const publication of news) read.push(publication.data);
    }, RangeError);
    assertEquals(read, ["b", "c", "d"]);
    assert(error.message.includes("subscribe again with since"), error.message);
    assertEquals(second.items.map((p) => p.data), ["e", "f"]);
    client.close();
  });
});

Deno.test("PushClient after a memory server's restart on the same port: a gap, reason restart", async () => {
  let push = servePush({ port: 0, hostname: "127.0.0.1" });
  const port = push.server.addr.port;
  const client = new PushClient(`ws://127.0.0.1:${port}/`, FAST);
  try {
    const log = record(client);
    const news = collect(client.subscribe("news"));
    await nextEvent(client, "subscribed");
    await push.publish("news", { type: "text", text: "before" });
    await until(() => news.items.length === 1, 5000, "the first publication");
    await push.server.shutdown();
    const gapped = nextEvent(client, "gap");
    const resumed = nextEvent(client, "subscribed");
    push = servePush({ port, hostname: "127.0.0.1" });
    const gap = await gapped;
    assertEquals([gap.detail.topic, gap.detail.reason], ["news", "restart"]);
    await resumed;
    await push.publish("news", { type: "text", text: "after" });
    await until(() => news.items.length === 2, 5000, "the publication after the restart");
    assertEquals(news.items.map((p) => p.data), ["before", "after"]);
    assertEquals(log.states.filter((state) => state !== "reconnecting"), ["open", "open"]);
  } finally {
    client.close();
    await push.server.shutdown();
  }
});

redisTest(
  "PushClient across a restart with Redis: every message once, in order, no gap",
  async (redis) => {
    const node = (port = 0) =>
      servePush({ port, hostname: "127.0.0.1", engine: new RedisEngine({ url: redis.url }) });
    let a = node();
    const b = node(); // another node on the same Redis publishes while a is down
    await Promise.all([a.ready, b.ready]);
    const port = a.server.addr.port;
    const client = new PushClient(`ws://127.0.0.1:${port}/`, FAST);
    try {
      const log = record(client);
      const news = collect(client.subscribe("news"));
      await nextEvent(client, "subscribed");
      for (const n of [1, 2, 3]) await a.publish("news", { type: "text", text: `m${n}` });
      await until(() => news.items.length === 3, 5000, "m1..m3");

      const down = nextEvent(client, "state", (event) => event.detail.state === "reconnecting");
      await a.server.shutdown();
      await down;
      for (const n of [4, 5, 6]) await b.publish("news", { type: "text", text: `m${n}` });
      const resumed = nextEvent(client, "subscribed");
      a = node(port);
      await a.ready;
      await resumed;
      for (const n of [7, 8]) await a.publish("news", { type: "text", text: `m${n}` });
      await until(() => news.items.length >= 8, 5000, "m4..m8");
      await pause(100); // nothing more comes

      assertEquals(news.items.map((p) => p.data), ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
      const [epoch] = news.items[0]!.id.split(":");
      assertEquals(news.items.map((p) => p.id), news.items.map((_, i) => `${epoch}:${i + 1}`));
      assertEquals(log.gaps, []);
    } finally {
      client.close();
      await a.server.shutdown();
      await b.server.shutdown();
    }
  },
);

Deno.test("PushClient renews its token on expiring and keeps its socket", async () => {
  await withPush(jwt, async (push, port) => {
    let calls = 0;
    const token = () => signToken({ topics: ["news"], expiresIn: ++calls === 1 ? 2 : 120 });
    const client = new PushClient(`ws://127.0.0.1:${port}/`, { ...FAST, token });
    const log = record(client);
    const news = collect(client.subscribe("news"));
    await nextEvent(client, "subscribed");
    await until(() => calls === 2, 5000, "the renewal");
    await pause(2500); // past the first token's expiry
    await push.publish("news", { type: "text", text: "still here" });
    await until(() => news.items.length === 1, 5000, "the publication");
    assertEquals(log.states, ["open"]);
    client.close();
  });
});

Deno.test("PushClient renews over SSE by reopening the stream; too short tokens are not renewed in a loop", async (t) => {
  await withPush(jwt, async (push, port) => {
    await t.step("SSE: a fresh token, the stream reopened, nothing lost", async () => {
      let calls = 0;
      const token = () => signToken({ topics: ["news"], expiresIn: ++calls === 1 ? 2 : 120 });
      const client = new PushClient(`ws://127.0.0.1:${port}/`, {
        ...FAST,
        token,
        transport: "sse",
      });
      const news = collect(client.subscribe("news"));
      await nextEvent(client, "subscribed");
      await push.publish("news", { type: "text", text: "before" });
      await until(() => calls === 2 && client.state === "open", 5000, "the renewal");
      await pause(2500); // past the first token's expiry: no 4401
      await push.publish("news", { type: "text", text: "after" });
      await until(() => news.items.length === 2, 5000, "both publications");
      assertEquals(news.items.map((p) => p.data), ["before", "after"]);
      assertEquals([client.state, calls], ["open", 2]);
      client.close();
    });
    await t.step("WebSocket: tokens that expire within the warning renew once", async () => {
      let calls = 0;
      const token = () => (calls++, signToken({ topics: ["news"], expiresIn: 20 }));
      const client = new PushClient(`ws://127.0.0.1:${port}/`, { ...FAST, token });
      const errors: string[] = [];
      client.addEventListener("error", (event) => errors.push(event.detail.message));
      client.subscribe("news");
      await nextEvent(client, "subscribed");
      await until(() => errors.length > 0, 5000, "the refusal to renew again");
      await pause(200);
      assertEquals(calls, 2, "the connection's token and one renewal");
      assertEquals(errors, ["Cannot renew the token: the fresh one expires within 30 s too"]);
      client.close();
    });
  });
});

Deno.test("PushClient with a plain token closes on 4401; on 4403 it stays closed", async (t) => {
  await withPush(jwt, async (push, port) => {
    await t.step("4401: the token expired and cannot be renewed", async () => {
      const token = await signToken({ topics: ["news"], expiresIn: 1 });
      const client = new PushClient(`ws://127.0.0.1:${port}/`, { ...FAST, token });
      const news = collect(client.subscribe("news"));
      const closed = await nextEvent(client, "close");
      assertEquals(closed.detail, { code: 4401, reason: "Token expired" });
      assertEquals(client.state, "closed");
      await assertRejects(() => news.done, Error, "4401");
    });
    await t.step("4403: disconnected by the server", async () => {
      const token = () => signToken({ topics: ["news"], sub: "bob" });
      const client = new PushClient(`ws://127.0.0.1:${port}/`, { ...FAST, token });
      const log = record(client);
      client.subscribe("news");
      await nextEvent(client, "subscribed");
      const closed = nextEvent(client, "close");
      assertEquals(await push.disconnect("bob", "Account closed"), 1);
      assertEquals((await closed).detail, { code: 4403, reason: "Account closed" });
      await pause(300);
      assertEquals(push.server.sockets.size, 0);
      assertEquals(log.states, ["open", "closed"]);
      await assertRejects(() => client.publish("news", 1), PublishError, "closed");
    });
  });
});

Deno.test("PushClient ends a subscription the server refuses, and reports it", async () => {
  await withPush(jwt, async (_push, port) => {
    const token = () => signToken({ topics: ["news"] });
    const client = new PushClient(`ws://127.0.0.1:${port}/`, { token });
    client.subscribe("news");
    await nextEvent(client, "subscribed");
    const error = nextEvent(client, "error");
    const secret = collect(client.subscribe("secret"));
    assertEquals((await error).detail.message, 'Not allowed to subscribe to "secret"');
    await assertRejects(() => secret.done, Error, 'Not allowed to subscribe to "secret"');
    assertEquals(client.state, "open");
    client.close();
  });
});

Deno.test("PushClient backs off within its bounds until the server comes up", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = probe.addr;
  probe.close();
  const client = new PushClient(`ws://127.0.0.1:${port}/`, {
    backoff: { initial: 10, max: 40, factor: 2 },
  });
  const delays: number[] = [];
  client.addEventListener("state", (event) => {
    if (event.detail.delay !== undefined) delays.push(event.detail.delay);
  });
  client.subscribe("news");
  try {
    await until(() => delays.length >= 6, 5000, "six attempts");
    assertEquals(client.state, "connecting");
    const ceilings = [10, 20, 40, 40, 40, 40];
    delays.slice(0, 6).forEach((delay, i) => assert(delay <= ceilings[i]!, `delay ${i}: ${delay}`));
    const live = nextEvent(client, "subscribed");
    await withPush({ port }, async () => {
      await live;
      assertEquals(client.state, "open");
    });
  } finally {
    client.close();
  }
});

Deno.test("PushClient falls back to SSE when upgrades are refused: receives, resumes, adds topics", async () => {
  await withPush(NO_UPGRADES, async (push, port) => {
    const client = new PushClient(`http://127.0.0.1:${port}/`, { ...FAST, transport: "auto" });
    const log = record(client);
    const news = collect(client.subscribe("news"));
    await nextEvent(client, "subscribed");
    assertEquals(client.transport, "sse");
    for (const text of ["a", "b"]) await push.publish("news", { type: "text", text });
    await until(() => news.items.length === 2, 5000, "a and b");
    const refused = await assertRejects(() => client.publish("news", 1), PublishError);
    assertEquals(refused.outcome, "refused");

    // A new topic reopens the stream with both, news resumed from b.
    const sport = collect(client.subscribe("sport"));
    await nextEvent(client, "subscribed", (event) => event.detail.topic === "sport");
    await push.publish("sport", { type: "text", text: "goal" });
    await push.publish("news", { type: "text", text: "c" });
    await until(() => sport.items.length === 1 && news.items.length === 3, 5000, "goal and c");
    await pause(50);
    assertEquals(news.items.map((p) => p.data), ["a", "b", "c"]);
    assertEquals(sport.items.map((p) => p.data), ["goal"]);
    assertEquals(log.gaps, []);
    client.close();
  });
});

redisTest(
  "PushClient over SSE across a restart with Redis: every message once, in order, no gap",
  async (redis) => {
    const node = (port = 0) =>
      servePush({
        port,
        hostname: "127.0.0.1",
        engine: new RedisEngine({ url: redis.url }),
        ...NO_UPGRADES,
      });
    let a = node();
    const b = node();
    await Promise.all([a.ready, b.ready]);
    const port = a.server.addr.port;
    const client = new PushClient(`ws://127.0.0.1:${port}/`, { ...FAST, transport: "sse" });
    try {
      const log = record(client);
      const news = collect(client.subscribe("news"));
      await nextEvent(client, "subscribed");
      for (const n of [1, 2]) await a.publish("news", { type: "text", text: `m${n}` });
      await until(() => news.items.length === 2, 5000, "m1, m2");

      const down = nextEvent(client, "state", (event) => event.detail.state === "reconnecting");
      await a.server.shutdown();
      assertEquals((await down).detail.code, 1001);
      for (const n of [3, 4]) await b.publish("news", { type: "text", text: `m${n}` });
      const resumed = nextEvent(client, "subscribed");
      a = node(port);
      await a.ready;
      await resumed;
      await a.publish("news", { type: "text", text: "m5" });
      await until(() => news.items.length >= 5, 5000, "m3..m5");
      await pause(100);

      assertEquals(news.items.map((p) => p.data), ["m1", "m2", "m3", "m4", "m5"]);
      const [epoch] = news.items[0]!.id.split(":");
      assertEquals(news.items.map((p) => p.id), news.items.map((_, i) => `${epoch}:${i + 1}`));
      assertEquals(log.gaps, []);
    } finally {
      client.close();
      await a.server.shutdown();
      await b.server.shutdown();
    }
  },
);
