/**
 * Presence stores: the memory store, and the Redis store across nodes
 * (entries, nodes, a node killed whose entries expire and are swept once);
 * and the PresenceRelay that announces join and leave on one node and
 * across two nodes on Redis, once per node.
 *
 * Run with `--presence-node <url>` (by the test itself), this file is a
 * node that adds two entries, prints `ready <node id>` and waits to be
 * killed.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { MemoryPresence, type PresenceEntry } from "../src/push/presence.ts";
import { RedisPresence } from "../src/push/redis/presence.ts";
import { EngineUnavailableError } from "../src/push/engine_errors.ts";
import { denoRunArgs } from "./_deno_run.ts";
import { redisCommand, redisTest } from "./_redis.ts";
import { PRESENCE_TOPIC, PresenceRelay } from "../src/app/presence_relay.ts";
import { MemoryEngine } from "../src/push/engine.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";

const TTL = 600;
const REFRESH = 100;

const byClient = (entries: PresenceEntry[]) =>
  entries.toSorted((a, b) => a.client.localeCompare(b.client));

/** Waits until `check` holds, polling, or fails after `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("MemoryPresence adds, replaces, lists (bounded) and removes entries", async (t) => {
  const presence = new MemoryPresence({ node: "n1", maxList: 3 });
  await presence.open();
  await t.step("add and list", async () => {
    await presence.add("room:1", { client: "a", user: "ada", info: { name: "Ada" } });
    await presence.add("room:1", { client: "b" });
    assertEquals(await presence.list("room:1"), [
      { client: "a", user: "ada", info: { name: "Ada" } },
      { client: "b" },
    ]);
    assertEquals(await presence.list("room:2"), []);
  });
  await t.step("a client added again is replaced", async () => {
    await presence.add("room:1", { client: "a", user: "ada", info: { name: "Ada L." } });
    assertEquals((await presence.list("room:1"))[0]?.info, { name: "Ada L." });
  });
  await t.step("list answers at most maxList", async () => {
    for (const client of ["c", "d", "e"]) await presence.add("room:1", { client });
    assertEquals((await presence.list("room:1")).map((e) => e.client), ["a", "b", "c"]);
  });
  await t.step("remove, and remove of an unknown client", async () => {
    await presence.remove("room:1", "a");
    await presence.remove("room:1", "zz");
    assertEquals((await presence.list("room:1")).map((e) => e.client), ["b", "c", "d"]);
  });
  await t.step("nodes is this node; invalid entries and limits are refused", async () => {
    assertEquals(await presence.nodes(), ["n1"]);
    await assertRejects(() => presence.add("room:1", { client: "" }), TypeError);
    assertThrows(() => new MemoryPresence({ maxList: 0 }), RangeError);
  });
  await presence.close();
  assertEquals(await presence.list("room:1"), []);
});

Deno.test("RedisPresence checks its options", () => {
  assertThrows(() => new RedisPresence({ url: "http://x" }), TypeError);
  assertThrows(() => new RedisPresence({ ttl: 0 }), RangeError);
  assertThrows(() => new RedisPresence({ ttl: 1000, refresh: 1000 }), RangeError);
});

redisTest(
  "RedisPresence: two nodes see each other's entries; close removes a node's",
  async (redis) => {
    const a = new RedisPresence({ url: redis.url, ttl: TTL, refresh: REFRESH });
    const b = new RedisPresence({ url: redis.url, ttl: TTL, refresh: REFRESH });
    await Promise.all([a.open(), b.open()]);
    try {
      assert(a.node !== b.node);
      assertEquals((await a.nodes()).toSorted(), [a.node, b.node].toSorted());
      await a.add("room:1", { client: "a.1", user: "ada", info: { name: "Ada" } });
      await b.add("room:1", { client: "b.1", user: "bob" });
      await b.add("room:2", { client: "b.1", user: "bob" });
      const both = [{ client: "a.1", user: "ada", info: { name: "Ada" } }, {
        client: "b.1",
        user: "bob",
      }];
      assertEquals(byClient(await a.list("room:1")), both);
      assertEquals(byClient(await b.list("room:1")), both);
      // Replaced, not added twice; still there after refreshes.
      await a.add("room:1", { client: "a.1", user: "ada", info: { name: "Ada L." } });
      await new Promise((resolve) => setTimeout(resolve, TTL + 2 * REFRESH));
      assertEquals(
        byClient(await b.list("room:1")).map((entry) => entry.info),
        [{ name: "Ada L." }, undefined],
      );
      await b.remove("room:2", "b.1");
      assertEquals(await a.list("room:2"), []);
      await a.close();
      assertEquals(await b.list("room:1"), [{ client: "b.1", user: "bob" }]);
      assertEquals(await b.nodes(), [b.node]);
      await assertRejects(() => a.list("room:1"), EngineUnavailableError);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
);

redisTest("RedisPresence: entries removed while refreshes run stay removed", async (redis) => {
  const presence = new RedisPresence({ url: redis.url, ttl: 3000, refresh: 5, maxList: 2000 });
  await presence.open();
  try {
    const clients = Array.from({ length: 600 }, (_, i) => `c.${i}`); // three refresh batches
    await Promise.all(clients.map((client) => presence.add("room:1", { client })));
    assertEquals((await presence.list("room:1")).length, 600);
    // The last batch's members first, a few at a time, while refreshes come every 5 ms.
    for (let i = clients.length; i > 0; i -= 10) {
      await Promise.all(
        clients.slice(i - 10, i).map((client) => presence.remove("room:1", client)),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100)); // well below the ttl
    assertEquals(await presence.list("room:1"), []);
  } finally {
    await presence.close();
  }
});

/** A node in a child process with two entries in room:1 (users u1, u2), until killed. */
async function startPresenceNode(url: string): Promise<{ node: string; kill(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(new URL(import.meta.url), ["--presence-node", url], ["-A"]),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Killed already.
    }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  };
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) line += (await reader.read()).value ?? "";
    reader.releaseLock();
    return { node: line.trim().replace(/^ready /, ""), kill };
  } catch (error) {
    await kill();
    throw error;
  }
}

redisTest(
  "RedisPresence: a killed node's entries vanish within the ttl, swept once",
  async (redis) => {
    const live = new RedisPresence({ url: redis.url, ttl: TTL, refresh: REFRESH });
    const swept: [string, PresenceEntry[]][] = [];
    live.listen((topic, entries) => swept.push([topic, entries]));
    await live.open();
    const dead = await startPresenceNode(redis.url);
    try {
      await live.add("room:1", { client: "live.1" });
      assertEquals((await live.list("room:1")).length, 3);
      assertEquals((await live.nodes()).length, 2);
      await dead.kill();
      const killed = Date.now();
      await eventually(async () => (await live.list("room:1")).length === 1, 2 * TTL, "expiry");
      assert(Date.now() - killed <= TTL + 2 * REFRESH + 200, `${Date.now() - killed} ms`);
      assertEquals(await live.nodes(), [live.node]);
      await eventually(() => Promise.resolve(swept.length > 0), TTL, "the sweep");
      assertEquals(swept.map(([topic, entries]) => [topic, byClient(entries)]), [
        ["room:1", [{ client: `${dead.node}.1`, user: "u1" }, {
          client: `${dead.node}.2`,
          user: "u2",
        }]],
      ]);
      await new Promise((resolve) => setTimeout(resolve, 3 * REFRESH));
      assertEquals(swept.length, 1); // once
    } finally {
      await dead.kill();
      await live.close();
    }
  },
);

redisTest("RedisPresence: with Redis paused, calls fail within commandTimeout", async (redis) => {
  const presence = new RedisPresence({
    url: redis.url,
    ttl: TTL,
    refresh: REFRESH,
    commandTimeout: 300,
  });
  await presence.open();
  try {
    assertEquals(await redisCommand(redis.port, "CLIENT PAUSE 1500 ALL"), "+OK\r\n");
    for (const call of [() => presence.list("room:1"), () => presence.nodes()]) {
      const started = Date.now();
      const error = await assertRejects(call, EngineUnavailableError);
      assert(Date.now() - started < 1000, `${Date.now() - started} ms`);
      assert(error.message.includes("did not answer within 300 ms"), error.message);
    }
    // Kept, and written by a refresh once Redis answers again.
    await assertRejects(() => presence.add("room:1", { client: "c.1" }), EngineUnavailableError);
    await eventually(
      async () => {
        const entries = await presence.list("room:1").catch(() => []);
        return entries.length === 1;
      },
      3000,
      "the refresh",
    );
  } finally {
    await presence.close();
  }
});

Deno.test("RedisPresence: open fails within connectTimeout when Redis accepts and never answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) conns.push(conn);
  })();
  const url = `redis://127.0.0.1:${listener.addr.port}/0`;
  const presence = new RedisPresence({ url, connectTimeout: 400 });
  const started = Date.now();
  try {
    const error = await assertRejects(() => presence.open(), Error);
    assert(error.message.startsWith(`Cannot connect to Redis at ${url}`), error.message);
    assert(Date.now() - started < 1500, `${Date.now() - started} ms`);
  } finally {
    await presence.close();
    listener.close();
    await accepting.catch(() => {});
    for (const conn of conns) conn.close();
  }
});

Deno.test("PresenceRelay on one node: join, snapshot, leave, delivered at once", async () => {
  const delivered: [string, string][] = [];
  const relay = new PresenceRelay({
    store: new MemoryPresence(),
    engine: new MemoryEngine(),
    deliver: (topic, json) => delivered.push([topic, json]),
    topics: (topic) => topic.startsWith("room:"),
  });
  assert(relay.tracks("room:1") && !relay.tracks("news"));
  await relay.enter("room:1", { client: "n.1", user: "ada", info: { name: "Ada" } });
  await relay.enter("room:2", { client: "n.1", user: "ada" });
  await relay.enter("news", { client: "n.1", user: "ada" });
  await relay.enter("room:1", { client: "n.2" });
  assertEquals(
    JSON.parse(await relay.snapshot("room:1")),
    {
      type: "presence",
      topic: "room:1",
      clients: [{ client: "n.1", user: "ada", info: { name: "Ada" } }, { client: "n.2" }],
    },
  );
  await relay.exit("room:1", "n.2");
  await relay.exit("room:1", "n.2"); // not there: nothing
  await relay.exitAll("n.1");
  assertEquals(delivered.map(([topic, json]) => [topic, JSON.parse(json)]), [
    ["room:1", {
      type: "join",
      topic: "room:1",
      client: "n.1",
      user: "ada",
      info: { name: "Ada" },
    }],
    ["room:2", { type: "join", topic: "room:2", client: "n.1", user: "ada" }],
    ["room:1", { type: "join", topic: "room:1", client: "n.2" }],
    ["room:1", { type: "leave", topic: "room:1", client: "n.2" }],
    ["room:1", { type: "leave", topic: "room:1", client: "n.1", user: "ada" }],
    ["room:2", { type: "leave", topic: "room:2", client: "n.1", user: "ada" }],
  ]);
  assertEquals(JSON.parse(await relay.snapshot("room:1")).clients, []);
});

/** A node on Redis: engine watching the presence topic, store, relay, what it delivered. */
async function relayNode(url: string) {
  const engine = new RedisEngine({ url });
  const store = new RedisPresence({ url, ttl: TTL, refresh: REFRESH });
  const delivered: string[] = [];
  const relay = new PresenceRelay({
    store,
    engine,
    deliver: (topic, json) => {
      const event = JSON.parse(json);
      delivered.push(`${topic} ${event.type} ${event.client} ${event.user ?? "-"}`);
    },
  });
  engine.listen((event) => {
    if (event.type === "message") relay.receive(event.message);
  });
  await Promise.all([engine.open(), store.open()]);
  await engine.watch(PRESENCE_TOPIC);
  return {
    engine,
    store,
    relay,
    delivered,
    close: () => Promise.all([engine.close(), store.close()]),
  };
}

redisTest(
  "PresenceRelay across two nodes on Redis: each node delivers each event once",
  async (redis) => {
    const a = await relayNode(redis.url);
    const b = await relayNode(redis.url);
    try {
      await a.relay.enter("room:1", { client: `${a.store.node}.1`, user: "ada" });
      await b.relay.enter("room:1", { client: `${b.store.node}.1`, user: "bob", info: { n: 1 } });
      await b.relay.exit("room:1", `${b.store.node}.1`);
      const expected = [
        `room:1 join ${a.store.node}.1 ada`,
        `room:1 join ${b.store.node}.1 bob`,
        `room:1 leave ${b.store.node}.1 bob`,
      ];
      await eventually(() => Promise.resolve(b.delivered.length >= 3), 2000, "the events");
      await eventually(() => Promise.resolve(a.delivered.length >= 3), 2000, "the events");
      assertEquals(a.delivered, expected);
      assertEquals(b.delivered, expected);
      assertEquals(await b.relay.snapshot("room:1"), await a.relay.snapshot("room:1"));
      assertEquals(JSON.parse(await b.relay.snapshot("room:1")).clients, [
        { client: `${a.store.node}.1`, user: "ada" },
      ]);
      // A malformed announcement is ignored.
      await a.engine.append(PRESENCE_TOPIC, '{"type":"join","topic":"room:1"}');
      await a.engine.append(PRESENCE_TOPIC, '{"type":"join","topic":"no spaces","client":"c"}');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assertEquals(b.delivered.length, 3);
      // A node killed without leaving: its clients' leave reaches each live node once.
      const dead = await startPresenceNode(redis.url);
      await dead.kill();
      await eventually(() => Promise.resolve(b.delivered.length >= 5), 3 * TTL, "the leaves");
      await new Promise((resolve) => setTimeout(resolve, 3 * REFRESH));
      for (const node of [a, b]) {
        assertEquals(node.delivered.slice(3).toSorted(), [
          `room:1 leave ${dead.node}.1 u1`,
          `room:1 leave ${dead.node}.2 u2`,
        ]);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
);

/** The node run by the sweep test: two entries, then wait to be killed. */
async function presenceNode(url: string): Promise<void> {
  const node = new RedisPresence({ url, ttl: TTL, refresh: REFRESH });
  await node.open();
  await node.add("room:1", { client: `${node.node}.1`, user: "u1" });
  await node.add("room:1", { client: `${node.node}.2`, user: "u2" });
  console.log(`ready ${node.node}`);
  await new Promise(() => {});
}

if (import.meta.main && Deno.args[0] === "--presence-node") await presenceNode(Deno.args[1]!);
