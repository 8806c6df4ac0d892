/**
 * The server API over real HTTP: every answer and status on one node, then
 * presence and a disconnect across two nodes on Redis, and 503 when Redis
 * is gone.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { apiRoutes } from "../src/app/api_routes.ts";
import { ClusterControl, CONTROL_TOPIC, type LocalControl } from "../src/app/cluster_control.ts";
import { MemoryEngine } from "../src/push/engine.ts";
import { MemoryPresence, type PresenceStore } from "../src/push/presence.ts";
import { RedisPresence } from "../src/push/redis/presence.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { serve, type Server } from "../src/server/server.ts";
import { redisTest } from "./_redis.ts";

const KEY = "s3cret-key";

/** Sockets by user, with their topics; the disconnects and unsubscribes asked. */
function fakeLocal(sockets: { user: string; topics: string[] }[], calls: string[]): LocalControl {
  return {
    disconnect: (user, reason) => {
      calls.push(`disconnect ${user} ${reason}`);
      return sockets.filter((s) => s.user === user).length;
    },
    unsubscribe: (user, topic) => {
      calls.push(`unsubscribe ${user} ${topic}`);
      return sockets.filter((s) => s.user === user && s.topics.includes(topic)).length;
    },
    topics: () => {
      const counts = new Map<string, number>();
      for (const s of sockets) for (const t of s.topics) counts.set(t, (counts.get(t) ?? 0) + 1);
      return counts;
    },
  };
}

/** A request to the API: status, headers and the JSON body. */
async function call(
  server: Server,
  method: string,
  path: string,
  key: string | null = KEY,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${server.addr.port}${path}`, {
    method,
    headers: key === null ? {} : { Authorization: `Bearer ${key}` },
  });
  const text = await response.text();
  const body = response.headers.get("content-type") === "application/json" ? JSON.parse(text) : {};
  return { status: response.status, headers: response.headers, body };
}

/** A server with the API of one node on the memory engine. */
function oneNode(apiKey: string | undefined, calls: string[], presence: PresenceStore): Server {
  const control = new ClusterControl({
    engine: new MemoryEngine(),
    node: presence.node,
    nodes: () => presence.nodes(),
    local: fakeLocal([
      { user: "ada", topics: ["news", "room:1"] },
      { user: "ada", topics: ["news"] },
      { user: "bob", topics: ["room:1"] },
    ], calls),
  });
  const routes = apiRoutes({
    ...(apiKey === undefined ? {} : { apiKey }),
    control,
    presence: (topic) => presence.list(topic),
  });
  return serve({ port: 0, hostname: "127.0.0.1", routes });
}

Deno.test("apiRoutes answers every endpoint with JSON, and each refusal", async (t) => {
  const calls: string[] = [];
  const presence = new MemoryPresence({ node: "n1" });
  await presence.add("room:1", { client: "n1.1", user: "ada", info: { name: "Ada" } });
  await presence.add("room:1", { client: "n1.3", user: "bob" });
  const server = oneNode(KEY, calls, presence);
  try {
    await t.step("POST /api/disconnect closes the user's connections", async () => {
      const answer = await call(server, "POST", "/api/disconnect?user=ada&reason=Account%20closed");
      assertEquals([answer.status, answer.body], [200, { disconnected: 2 }]);
      assertEquals(answer.headers.get("content-type"), "application/json");
      const bob = await call(server, "POST", "/api/disconnect?user=bob");
      assertEquals(bob.body, { disconnected: 1 });
      assertEquals(calls, [
        "disconnect ada Account closed",
        "disconnect bob Disconnected by the server",
      ]);
    });
    await t.step("POST /api/unsubscribe", async () => {
      const answer = await call(server, "POST", "/api/unsubscribe?user=ada&topic=news");
      assertEquals([answer.status, answer.body], [200, { unsubscribed: 2 }]);
    });
    await t.step("GET /api/presence and GET /api/topics", async () => {
      assertEquals((await call(server, "GET", "/api/presence?topic=room:1")).body, {
        topic: "room:1",
        clients: [{ client: "n1.1", user: "ada", info: { name: "Ada" } }, {
          client: "n1.3",
          user: "bob",
        }],
      });
      assertEquals((await call(server, "GET", "/api/presence?topic=empty")).body, {
        topic: "empty",
        clients: [],
      });
      assertEquals((await call(server, "GET", "/api/topics")).body, {
        topics: [{ topic: "news", subscribers: 2 }, { topic: "room:1", subscribers: 2 }],
      });
    });
    await t.step("401 without a key, 403 with a wrong one: nothing done", async () => {
      const before = calls.length;
      const none = await call(server, "POST", "/api/disconnect?user=ada", null);
      assertEquals(none.status, 401);
      assertMatch(none.headers.get("www-authenticate") ?? "", /^Bearer/);
      const wrong = await call(server, "POST", "/api/disconnect?user=ada", "guess");
      assertEquals([wrong.status, wrong.body], [403, { error: "Wrong API key" }]);
      assertEquals((await call(server, "GET", "/api/topics", "guess")).status, 403);
      assertEquals(calls.length, before);
    });
    await t.step("405 with Allow for another method", async () => {
      const get = await call(server, "GET", "/api/disconnect?user=ada");
      assertEquals([get.status, get.headers.get("allow")], [405, "POST"]);
      const post = await call(server, "POST", "/api/topics");
      assertEquals([post.status, post.headers.get("allow")], [405, "GET, HEAD"]);
    });
    await t.step("400 for a missing or invalid user, topic or reason", async () => {
      const bad = [
        ["POST", "/api/disconnect"],
        ["POST", "/api/disconnect?user="],
        ["POST", `/api/disconnect?user=${"x".repeat(257)}`],
        ["POST", "/api/disconnect?user=ada&user=bob"],
        ["POST", `/api/disconnect?user=ada&reason=${"x".repeat(124)}`],
        ["POST", "/api/unsubscribe?user=ada"],
        ["POST", "/api/unsubscribe?user=ada&topic=%23control"],
        ["GET", "/api/presence"],
        ["GET", "/api/presence?topic=no%20spaces"],
      ];
      for (const [method, path] of bad) {
        const answer = await call(server, method!, path!);
        assertEquals(answer.status, 400, path);
        assertEquals(typeof answer.body.error, "string", path);
      }
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("apiRoutes without an API key answers 404 to everything", async () => {
  const calls: string[] = [];
  const server = oneNode(undefined, calls, new MemoryPresence());
  try {
    for (const [method, path] of [["POST", "/api/disconnect?user=ada"], ["GET", "/api/topics"]]) {
      const answer = await call(server, method!, path!, "anything");
      assertEquals(answer.status, 404);
      assertMatch(String(answer.body.error), /--api-key/);
    }
    assertEquals(calls, []);
  } finally {
    await server.shutdown();
  }
});

/** A node on Redis: engine, presence, control and the API on its own server. */
async function redisNode(url: string, local: LocalControl) {
  const engine = new RedisEngine({ url, commandTimeout: 500 });
  const presence = new RedisPresence({ url, ttl: 3000, commandTimeout: 500 });
  const control = new ClusterControl({
    engine,
    node: presence.node,
    nodes: () => presence.nodes(),
    local,
    timeout: 500,
  });
  engine.listen((event) => {
    if (event.type === "message") control.receive(event.message);
  });
  await Promise.all([engine.open(), presence.open()]);
  await engine.watch(CONTROL_TOPIC);
  const routes = apiRoutes({ apiKey: KEY, control, presence: (topic) => presence.list(topic) });
  const server = serve({ port: 0, hostname: "127.0.0.1", routes });
  const close = () => Promise.all([server.shutdown(), engine.close(), presence.close()]);
  return { presence, server, close };
}

redisTest(
  "apiRoutes on two nodes: presence and disconnect reach both; 503 without Redis",
  async (redis) => {
    const callsA: string[] = [];
    const callsB: string[] = [];
    const a = await redisNode(redis.url, fakeLocal([{ user: "ada", topics: ["room:1"] }], callsA));
    const b = await redisNode(
      redis.url,
      fakeLocal([{ user: "ada", topics: ["room:1"] }, { user: "ada", topics: [] }], callsB),
    );
    try {
      await b.presence.add("room:1", { client: `${b.presence.node}.1`, user: "ada" });
      assertEquals((await call(a.server, "GET", "/api/presence?topic=room:1")).body, {
        topic: "room:1",
        clients: [{ client: `${b.presence.node}.1`, user: "ada" }],
      });
      const kick = await call(a.server, "POST", "/api/disconnect?user=ada&reason=Bye");
      assertEquals([kick.status, kick.body], [200, { disconnected: 3 }]);
      assertEquals([callsA, callsB], [["disconnect ada Bye"], ["disconnect ada Bye"]]);
      assertEquals((await call(b.server, "GET", "/api/topics")).body, {
        topics: [{ topic: "room:1", subscribers: 2 }],
      });
      await redis.stop();
      for (
        const [method, path] of [["POST", "/api/disconnect?user=ada"], ["GET", "/api/topics"], [
          "GET",
          "/api/presence?topic=room:1",
        ]]
      ) {
        const answer = await call(a.server, method!, path!);
        assertEquals([answer.status, answer.headers.get("retry-after")], [503, "1"], path);
        assertEquals(typeof answer.body.error, "string");
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
);
