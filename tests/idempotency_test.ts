/**
 * Idempotent appends: a second append with the same key to the same topic,
 * while the first message is held, returns the first message (`repeated`)
 * instead of appending again, for the memory engine (the key leaves with
 * its message) and the Redis engine (a key in Redis with the window's ttl,
 * set atomically by the publish script, so two nodes racing agree).
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  type AppendedMessage,
  type EngineEvent,
  MemoryEngine,
  validateIdempotencyKey,
} from "../src/push/engine.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { redisTest } from "./_redis.ts";
import { until } from "./_server.ts";

Deno.test("validateIdempotencyKey() takes 1 to 128 visible ASCII characters", async (t) => {
  for (const key of ["a", "order-42/attempt:1", "~!", "x".repeat(128)]) {
    await t.step(`${JSON.stringify(key.slice(0, 20))} is fine`, () => validateIdempotencyKey(key));
  }
  const bad: [string, string][] = [
    ["empty", ""],
    ["129 characters", "x".repeat(129)],
    ["a space", "a b"],
    ["a tab", "a\tb"],
    ["a newline", "a\nb"],
    ["non-ASCII", "café"],
    ["DEL", "a\x7f"],
  ];
  for (const [name, key] of bad) {
    await t.step(`${name} is refused`, () => {
      assertThrows(() => validateIdempotencyKey(key), TypeError, "Invalid idempotency key");
    });
  }
});

Deno.test("MemoryEngine: a repeated key returns the first message, not delivered again", async () => {
  const engine = new MemoryEngine({ epoch: "e1" });
  const events: EngineEvent[] = [];
  engine.listen((event) => events.push(event));
  const first = engine.appendNow("news", "a", { idempotencyKey: "k1" });
  const again = engine.appendNow("news", "a", { idempotencyKey: "k1" });
  assertEquals(first.repeated, undefined);
  assertEquals([again.repeated, again.id, again.payload, again.time], [
    true,
    first.id,
    "a",
    first.time,
  ]);
  assertEquals(events.length, 1, "delivered once");
  // The same key on another topic, and another key, are new messages.
  assertEquals(engine.appendNow("sport", "a", { idempotencyKey: "k1" }).repeated, undefined);
  assertEquals(engine.appendNow("news", "b", { idempotencyKey: "k2" }).id.seq, 2);
  assertEquals((await engine.append("news", "a", { idempotencyKey: "k1" })).repeated, true);
  assertEquals(engine.position("news").seq, 2);
  assertThrows(() => engine.appendNow("news", "c", { idempotencyKey: "no spaces" }), TypeError);
  await assertRejects(() => engine.append("news", "c", { idempotencyKey: "" }), TypeError);
  assertEquals(engine.position("news").seq, 2, "nothing appended for a bad key");
});

Deno.test("MemoryEngine: a key is forgotten when its message leaves the window", () => {
  let now = 0;
  const engine = new MemoryEngine({ epoch: "e1", size: 2, ttl: 1000, now: () => now });
  engine.appendNow("t", "a", { idempotencyKey: "k1" });
  engine.appendNow("t", "b");
  assertEquals(engine.appendNow("t", "a", { idempotencyKey: "k1" }).repeated, true);
  engine.appendNow("t", "c"); // "a" leaves the window (size)
  const after = engine.appendNow("t", "a", { idempotencyKey: "k1" });
  assertEquals([after.repeated, after.id.seq], [undefined, 4]);
  now += 1000; // and every message leaves with the ttl
  const aged = engine.appendNow("t", "a", { idempotencyKey: "k1" });
  assertEquals([aged.repeated, aged.id.seq], [undefined, 5]);
});

redisTest(
  "RedisEngine: a repeated key returns the first message, announced once",
  async (redis) => {
    const engine = new RedisEngine({ url: redis.url });
    const events: EngineEvent[] = [];
    engine.listen((event) => events.push(event));
    try {
      await engine.open();
      await engine.watch("news");
      const first = await engine.append("news", "a", { idempotencyKey: "k1" });
      const again = await engine.append("news", "changed", { idempotencyKey: "k1" });
      assertEquals(first.repeated, undefined);
      assertEquals([again.repeated, again.id, again.time, again.payload], [
        true,
        first.id,
        first.time,
        "a",
      ]);
      const other = await engine.append("news", "b", { idempotencyKey: "k2" });
      assertEquals(other.id.seq, first.id.seq + 1);
      await until(() => events.length >= 2, 2000, "two messages");
      await new Promise((resolve) => setTimeout(resolve, 100));
      assertEquals(events.length, 2, "the repeat was not announced");
      await assertRejects(
        () => engine.append("news", "c", { idempotencyKey: "x".repeat(129) }),
        TypeError,
      );
    } finally {
      await engine.close();
    }
  },
);

redisTest("RedisEngine: a key lives as long as the window's ttl", async (redis) => {
  const engine = new RedisEngine({ url: redis.url, ttl: 200 });
  try {
    await engine.open();
    const first = await engine.append("t", "a", { idempotencyKey: "k1" });
    assertEquals((await engine.append("t", "a", { idempotencyKey: "k1" })).repeated, true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const later = await engine.append("t", "a", { idempotencyKey: "k1" });
    assertEquals(later.repeated, undefined);
    assert(later.id.seq > first.id.seq);
  } finally {
    await engine.close();
  }
});

redisTest("RedisEngine: two nodes racing the same key append one message", async (redis) => {
  const nodes = [new RedisEngine({ url: redis.url }), new RedisEngine({ url: redis.url })];
  try {
    await Promise.all(nodes.map((node) => node.open()));
    for (let round = 0; round < 20; round++) {
      const key = `order-${round}`;
      const answers: AppendedMessage[] = await Promise.all(
        nodes.flatMap((node) =>
          [1, 2, 3].map(() => node.append("orders", "x", { idempotencyKey: key }))
        ),
      );
      const ids = new Set(answers.map((answer) => answer.id.seq));
      assertEquals(ids.size, 1, `round ${round}: one id for every answer`);
      assertEquals(answers.filter((answer) => answer.repeated !== true).length, 1);
    }
    const all = await nodes[0]!.recover("orders", { epoch: "other", seq: 0 });
    assertEquals(all.messages.length, 20);
  } finally {
    await Promise.all(nodes.map((node) => node.close()));
  }
});
