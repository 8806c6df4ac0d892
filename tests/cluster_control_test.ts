/**
 * ClusterControl: on one node (memory engine) and across two nodes on one
 * Redis (each with its own RedisEngine and presence heartbeat), with nodes
 * that do not answer, malformed messages and the bound on waiting requests.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { ClusterControl, CONTROL_TOPIC, type LocalControl } from "../src/app/cluster_control.ts";
import { MemoryEngine } from "../src/push/engine.ts";
import { EngineUnavailableError } from "../src/push/engine_errors.ts";
import { RedisPresence } from "../src/push/redis/presence.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { redisTest } from "./_redis.ts";

/** A node's fake sockets: users with their sockets' topics; what was asked of it. */
class FakeNode implements LocalControl {
  readonly calls: string[] = [];
  constructor(readonly sockets: { user: string; topics: string[] }[]) {}

  disconnect(user: string, reason: string): number {
    this.calls.push(`disconnect ${user} ${reason}`);
    return this.sockets.filter((socket) => socket.user === user).length;
  }

  unsubscribe(user: string, topic: string): number {
    this.calls.push(`unsubscribe ${user} ${topic}`);
    return this.sockets.filter((s) => s.user === user && s.topics.includes(topic)).length;
  }

  topics(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const socket of this.sockets) {
      for (const topic of socket.topics) counts.set(topic, (counts.get(topic) ?? 0) + 1);
    }
    return counts;
  }
}

/** One node on Redis: its engine (watching the control topic), heartbeat and control. */
async function openNode(
  url: string,
  local: LocalControl,
  options: { timeout?: number; maxPending?: number; nodes?: (live: string[]) => string[] } = {},
) {
  const engine = new RedisEngine({ url });
  const presence = new RedisPresence({ url, ttl: 3000 });
  const control: ClusterControl = new ClusterControl({
    engine,
    node: presence.node,
    nodes: async () => (options.nodes ?? ((live) => live))(await presence.nodes()),
    local,
    timeout: options.timeout ?? 2000,
    ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }),
  });
  engine.listen((event) => {
    if (event.type === "message") control.receive(event.message);
  });
  await Promise.all([engine.open(), presence.open()]);
  await engine.watch(CONTROL_TOPIC);
  return {
    engine,
    presence,
    control,
    close: () => Promise.all([engine.close(), presence.close()]),
  };
}

Deno.test("ClusterControl with a memory engine acts on this node at once", async (t) => {
  const local = new FakeNode([
    { user: "ada", topics: ["news", "chat"] },
    { user: "ada", topics: ["news"] },
    { user: "bob", topics: ["chat"] },
  ]);
  const nodes = () => Promise.reject(new Error("not asked"));
  const control = new ClusterControl({ engine: new MemoryEngine(), node: "n1", nodes, local });
  await t.step("disconnect and unsubscribe count this node's sockets", async () => {
    assertEquals(await control.disconnect("ada", "Bye"), 2);
    assertEquals(await control.unsubscribe("ada", "chat"), 1);
    assertEquals(local.calls, ["disconnect ada Bye", "unsubscribe ada chat"]);
  });
  await t.step("topics are sorted by name", async () => {
    assertEquals(await control.topics(), [
      { topic: "chat", subscribers: 2 },
      { topic: "news", subscribers: 2 },
    ]);
  });
  await t.step("invalid users, topics and reasons are refused", async () => {
    await assertRejects(() => control.disconnect("", "Bye"), TypeError);
    await assertRejects(() => control.disconnect("x".repeat(257), "Bye"), TypeError);
    await assertRejects(() => control.disconnect("ada", "é".repeat(62)), TypeError);
    await assertRejects(() => control.unsubscribe("ada", "#control"), TypeError);
    assertEquals(local.calls.length, 2);
  });
});

redisTest(
  "ClusterControl: two nodes on Redis disconnect, unsubscribe and count together",
  async (redis) => {
    const localA = new FakeNode([{ user: "ada", topics: ["news", "chat"] }]);
    const localB = new FakeNode([
      { user: "ada", topics: ["news"] },
      { user: "ada", topics: ["sport"] },
      { user: "bob", topics: ["news"] },
    ]);
    const a = await openNode(redis.url, localA);
    const b = await openNode(redis.url, localB);
    try {
      assertEquals(await a.control.disconnect("ada", "Account closed"), 3);
      assertEquals(localB.calls, ["disconnect ada Account closed"]);
      assertEquals(localA.calls, ["disconnect ada Account closed"]); // once, through the engine
      assertEquals(await b.control.unsubscribe("ada", "news"), 2);
      assertEquals(await b.control.topics(), [
        { topic: "chat", subscribers: 1 },
        { topic: "news", subscribers: 3 },
        { topic: "sport", subscribers: 1 },
      ]);
      assertEquals(await a.control.disconnect("carol", "Bye"), 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
);

redisTest(
  "ClusterControl: a node that does not answer costs the timeout, not a hang",
  async (redis) => {
    const localA = new FakeNode([{ user: "ada", topics: ["news"] }]);
    const localB = new FakeNode([{ user: "ada", topics: ["news"] }]);
    // A third node listed as live that never answers (it died a moment ago).
    const nodes = (live: string[]) => [...live, "ghost"];
    const a = await openNode(redis.url, localA, { timeout: 300, nodes });
    const b = await openNode(redis.url, localB);
    try {
      const started = Date.now();
      assertEquals(await a.control.disconnect("ada", "Bye"), 2); // what answered
      const took = Date.now() - started;
      assert(took >= 290 && took < 1000, `${took} ms`);
      await b.close(); // gone, but still listed for a while
      const again = Date.now();
      assertEquals(await a.control.topics(), [{ topic: "news", subscribers: 1 }]);
      assert(Date.now() - again < 1000, `${Date.now() - again} ms`);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
);

redisTest("ClusterControl: waiting requests are bounded; a Redis gone rejects", async (redis) => {
  const local = new FakeNode([{ user: "ada", topics: ["news"] }]);
  const nodes = (live: string[]) => [...live, "ghost"];
  const a = await openNode(redis.url, local, { timeout: 300, maxPending: 1, nodes });
  try {
    const first = a.control.disconnect("ada", "Bye");
    await assertRejects(() => a.control.topics(), EngineUnavailableError, "1 requests are waiting");
    assertEquals(await first, 1);
    await redis.stop();
    await assertRejects(() => a.control.disconnect("ada", "Bye"), EngineUnavailableError);
  } finally {
    await a.close();
  }
});

redisTest("ClusterControl ignores malformed and foreign control messages", async (redis) => {
  const local = new FakeNode([{ user: "ada", topics: ["news"] }]);
  const a = await openNode(redis.url, local);
  try {
    const payloads = [
      "{not json",
      "null",
      '{"kind":"request","id":"x:1","from":"x","op":"disconnect","user":"","reason":"r"}',
      '{"kind":"request","id":"x:1","from":"x","op":"explode","user":"ada"}',
      '{"kind":"request","id":"x:1","from":"x","op":"unsubscribe","user":"ada","topic":"#room"}',
      '{"kind":"reply","id":"x:1","to":"nobody","from":"x","count":5}',
      '{"kind":"reply","id":"x:1","to":"x","from":"x","count":-1}',
    ];
    for (const payload of payloads) {
      a.control.receive({ topic: CONTROL_TOPIC, id: { epoch: "e", seq: 1 }, time: 0, payload });
    }
    a.control.receive({
      topic: "#room",
      id: { epoch: "e", seq: 1 },
      time: 0,
      payload:
        '{"kind":"request","id":"x:1","from":"x","op":"disconnect","user":"ada","reason":""}',
    });
    assertEquals(local.calls, []);
    assertEquals(await a.control.disconnect("ada", "Bye"), 1); // still works
  } finally {
    await a.close();
  }
});
