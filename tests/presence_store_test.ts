/**
 * Presence stores: the memory store, and the Redis store across nodes
 * (entries, nodes, a node killed whose entries expire and are swept once).
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

redisTest(
  "RedisPresence: a killed node's entries vanish within the ttl, swept once",
  async (redis) => {
    const live = new RedisPresence({ url: redis.url, ttl: TTL, refresh: REFRESH });
    const swept: [string, PresenceEntry[]][] = [];
    live.listen((topic, entries) => swept.push([topic, entries]));
    await live.open();
    const child = new Deno.Command(Deno.execPath(), {
      args: denoRunArgs(new URL(import.meta.url), ["--presence-node", redis.url], ["-A"]),
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      await live.add("room:1", { client: "live.1" });
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let line = "";
      while (!line.includes("\n")) line += (await reader.read()).value ?? "";
      const dead = line.trim().replace(/^ready /, "");
      reader.releaseLock();
      assertEquals((await live.list("room:1")).length, 3);
      assertEquals((await live.nodes()).length, 2);
      child.kill("SIGKILL");
      const killed = Date.now();
      await eventually(async () => (await live.list("room:1")).length === 1, 2 * TTL, "expiry");
      assert(Date.now() - killed <= TTL + 2 * REFRESH + 200, `${Date.now() - killed} ms`);
      assertEquals(await live.nodes(), [live.node]);
      await eventually(() => Promise.resolve(swept.length > 0), TTL, "the sweep");
      assertEquals(swept.map(([topic, entries]) => [topic, byClient(entries)]), [
        ["room:1", [{ client: `${dead}.1`, user: "u1" }, { client: `${dead}.2`, user: "u2" }]],
      ]);
      await new Promise((resolve) => setTimeout(resolve, 3 * REFRESH));
      assertEquals(swept.length, 1); // once
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Killed already.
      }
      await child.status;
      await child.stdout.cancel().catch(() => {});
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
