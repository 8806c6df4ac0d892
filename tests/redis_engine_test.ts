/**
 * The Redis engine against a real redis-server started by each test (see
 * tests/_redis.ts): ids, windows, delivery to several engines (as several
 * nodes would hold), and faults: Redis away at start, restarted empty, a
 * dropped Pub/Sub connection.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import type { EngineMessage } from "../src/push/engine.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { freePort, openNode, redisCommand, redisTest } from "./_redis.ts";
import { until } from "./_server.ts";

redisTest("publish() assigns <epoch>:<seq> by one per topic, from one epoch", async (redis) => {
  const { engine } = await openNode(redis.url);
  try {
    const a1 = await engine.append("a", "x");
    const a2 = await engine.append("a", "y");
    const b1 = await engine.append("b", "z");
    assertEquals(a1.id.seq, 1);
    assertEquals(a2.id.seq, 2);
    assertEquals(a1.id.epoch, a2.id.epoch);
    assertEquals(b1.id.epoch, a1.id.epoch);
    // A new topic starts above every seq used, so that expired topics never reuse an id.
    assertEquals(b1.id.seq, 3);
    assert(/^[0-9a-z]{12}$/.test(a1.id.epoch));
    assert(Math.abs(a1.time - Date.now()) < 5000);
  } finally {
    await engine.close();
  }
});

redisTest(
  "every node gets every message once, in publish order, whoever published",
  async (redis) => {
    const nodes = await Promise.all([
      openNode(redis.url),
      openNode(redis.url),
      openNode(redis.url),
    ]);
    try {
      for (const { engine } of nodes) await engine.watch("news");
      // Three publishers at once: Redis orders them; every node must see that order.
      await Promise.all(nodes.map(async ({ engine }, n) => {
        for (let i = 0; i < 100; i++) await engine.append("news", `n${n}-${i}`);
      }));
      for (const { log } of nodes) {
        await until(
          () => log("news").length >= 300,
          5000,
          "300 messages",
        );
      }
      const reference = nodes[0]!.log("news");
      assertEquals(reference.length, 300);
      assertEquals(reference.map((line) => Number(line.split(":")[0])), range(1, 300));
      for (const { log } of nodes) assertEquals(log("news"), reference);
      // Each publisher's own messages stay in its order.
      for (let n = 0; n < 3; n++) {
        const mine = reference.map((line) => line.split(":")[1]!).filter((p) =>
          p.startsWith(`n${n}-`)
        );
        assertEquals(mine, range(0, 99).map((i) => `n${n}-${i}`));
      }
    } finally {
      await Promise.all(nodes.map(({ engine }) => engine.close()));
    }
  },
);

redisTest(
  "many concurrent publishers: holes filled from the stream, no false gap, no duplicate",
  async (redis) => {
    const nodes = await Promise.all([
      openNode(redis.url),
      openNode(redis.url),
      openNode(redis.url),
    ]);
    try {
      for (const { engine } of nodes) await engine.watch("busy");
      // Ten publishers per node at once: own answers often overtake Pub/Sub,
      // and catch-up reads race with live delivery.
      await Promise.all(
        nodes.flatMap(({ engine }, n) =>
          Array.from({ length: 10 }, async (_, p) => {
            for (let i = 0; i < 40; i++) await engine.append("busy", `${n}.${p}.${i}`);
          })
        ),
      );
      for (const { log } of nodes) {
        await until(() => log("busy").length >= 1200, 10_000, "1200");
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const reference = nodes[0]!.log("busy");
      assertEquals(reference.map((line) => Number(line.split(":")[0])), range(1, 1200));
      for (const { log } of nodes) assertEquals(log("busy"), reference);
    } finally {
      await Promise.all(nodes.map(({ engine }) => engine.close()));
    }
  },
);

redisTest("a node gets only the topics it watches; position() follows delivery", async (redis) => {
  const a = await openNode(redis.url);
  const b = await openNode(redis.url);
  try {
    await a.engine.append("news", "before");
    await b.engine.watch("news");
    const start = b.engine.position("news");
    assertEquals(start.seq, 1);
    await a.engine.append("sport", "ignored");
    const m = await a.engine.append("news", "after");
    await until(() => b.log("news").length === 1, 2000, "one message");
    assertEquals(b.log("news"), [`${m.id.seq}:after`]);
    assertEquals(b.log("sport"), []);
    assertEquals(b.engine.position("news"), m.id);
    b.engine.unwatch("news");
    await a.engine.append("news", "unwatched");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assertEquals(b.log("news").length, 1);
  } finally {
    await a.engine.close();
    await b.engine.close();
  }
});

redisTest("recover(): an id seen on one node resumes on another", async (redis) => {
  const a = await openNode(redis.url, { size: 5 });
  const b = await openNode(redis.url, { size: 5 });
  try {
    const ids = [];
    for (let i = 1; i <= 8; i++) ids.push((await a.engine.append("t", `m${i}`)).id);
    const payloads = (r: { messages: { payload: string }[] }) => r.messages.map((m) => m.payload);

    const complete = await b.engine.recover("t", ids[4]!);
    assertEquals([complete.kind, payloads(complete)], ["complete", ["m6", "m7", "m8"]]);
    assertEquals(complete.last, ids[7]);

    const edge = await b.engine.recover("t", ids[2]!); // m4..m8 held: exactly enough
    assertEquals([edge.kind, payloads(edge)], ["complete", ["m4", "m5", "m6", "m7", "m8"]]);

    const expired = await b.engine.recover("t", ids[1]!); // m3 left the window
    assertEquals(expired.kind, "gap");
    assertEquals(expired.kind === "gap" && expired.reason, "expired");
    assertEquals(payloads(expired), ["m4", "m5", "m6", "m7", "m8"]);

    const upToDate = await b.engine.recover("t", ids[7]!);
    assertEquals([upToDate.kind, payloads(upToDate)], ["complete", []]);

    const ahead = await b.engine.recover("t", { epoch: ids[0]!.epoch, seq: 99 });
    assertEquals(ahead.kind === "gap" && ahead.reason, "unknown");

    const otherRun = await b.engine.recover("t", { epoch: "zzzzzzzzzzzz", seq: 3 });
    assertEquals(otherRun.kind === "gap" && otherRun.reason, "restart");
    assertEquals(payloads(otherRun), ["m4", "m5", "m6", "m7", "m8"]);

    // The same answers from a node's recent messages once it watches the topic.
    await b.engine.watch("t");
    const cached = await b.engine.recover("t", ids[5]!);
    assertEquals([cached.kind, payloads(cached)], ["complete", ["m7", "m8"]]);
  } finally {
    await a.engine.close();
    await b.engine.close();
  }
});

redisTest(
  "recover() reads in batches; the window's age is enforced with Redis's clock",
  async (redis) => {
    const { engine } = await openNode(redis.url, { size: 100, ttl: 300, batchSize: 4 });
    try {
      const first = await engine.append("t", "old");
      for (let i = 2; i <= 10; i++) await engine.append("t", `m${i}`);
      const batch = await engine.recover("t", first.id);
      assertEquals(batch.kind, "complete");
      assertEquals(batch.messages.map((m) => m.payload), ["m2", "m3", "m4", "m5"]);
      assertEquals(batch.last.seq, first.id.seq + 9);

      await new Promise((resolve) => setTimeout(resolve, 400));
      const fresh = await engine.append("t", "fresh");
      const aged = await engine.recover("t", first.id);
      assertEquals(aged.kind === "gap" && aged.reason, "expired");
      assertEquals(aged.messages.map((m) => m.payload), ["fresh"]);
      assertEquals(
        (await engine.recover("t", { ...fresh.id, seq: fresh.id.seq - 1 })).kind,
        "complete",
      );
    } finally {
      await engine.close();
    }
  },
);

redisTest("an idle topic's stream expires; its ids are never reused", async (redis) => {
  const { engine } = await openNode(redis.url, { ttl: 200 });
  try {
    await engine.append("busy", "b1");
    const old = await engine.append("idle", "i1");
    const last = await engine.append("idle", "i2");
    await new Promise((resolve) => setTimeout(resolve, 400));
    assertStringIncludes(await redisCommand(redis.port, "EXISTS pushwire:s:idle"), ":0");
    const again = await engine.append("idle", "i3");
    assertEquals(again.id.seq, last.id.seq + 1);
    // i2 expired with the stream: a client that saw only i1 is told.
    const recovery = await engine.recover("idle", old.id);
    assertEquals(recovery.kind === "gap" && recovery.reason, "expired");
    assertEquals(recovery.messages.map((m) => m.payload), ["i3"]);
    // One that saw i2 missed nothing.
    const complete = await engine.recover("idle", last.id);
    assertEquals([complete.kind, complete.messages.map((m) => m.payload)], ["complete", ["i3"]]);
  } finally {
    await engine.close();
  }
});

Deno.test("open() fails with a clear error when Redis is not reachable", async () => {
  const port = freePort();
  const engine = new RedisEngine({
    url: `redis://:secret@127.0.0.1:${port}/0`,
    connectTimeout: 600,
  });
  const started = Date.now();
  const error = await assertRejects(() => engine.open());
  const elapsed = Date.now() - started;
  assertStringIncludes(
    (error as Error).message,
    `Cannot connect to Redis at redis://:***@127.0.0.1:${port}/0`,
  );
  assertStringIncludes((error as Error).message, "within 600 ms");
  assert(!(error as Error).message.includes("secret"));
  assert(elapsed >= 500 && elapsed < 5000, `gave up after ${elapsed} ms`);
  await engine.close();
});

Deno.test("RedisEngine refuses a URL that is not redis:// or rediss://", () => {
  for (const url of ["http://127.0.0.1:6379", "not a url"]) {
    let message = "";
    try {
      new RedisEngine({ url });
    } catch (error) {
      message = (error as Error).message;
    }
    assertStringIncludes(message, "Invalid Redis URL");
  }
});

redisTest(
  "a dropped Pub/Sub connection: what was published meanwhile arrives, in order",
  async (redis) => {
    const a = await openNode(redis.url);
    const b = await openNode(redis.url);
    try {
      await b.engine.watch("t");
      for (let i = 1; i <= 3; i++) await a.engine.append("t", `m${i}`);
      await until(() => b.log("t").length === 3, 2000, "3 messages");
      // Redis drops every Pub/Sub client; b's comes back by itself.
      await redisCommand(redis.port, "CLIENT KILL TYPE pubsub");
      for (let i = 4; i <= 10; i++) await a.engine.append("t", `m${i}`);
      await until(() => b.log("t").length === 10, 5000, "10 messages");
      assertEquals(b.log("t"), range(1, 10).map((i) => `${i}:m${i}`));
    } finally {
      await a.engine.close();
      await b.engine.close();
    }
  },
);

redisTest(
  "Redis restarted empty: a gap (restart) for live topics, then the new messages",
  async (redis) => {
    const a = await openNode(redis.url);
    const b = await openNode(redis.url);
    try {
      await a.engine.watch("t");
      await b.engine.watch("t");
      const before = await a.engine.append("t", "before");
      await until(() => b.log("t").length === 1, 2000, "first message");

      await redis.stop();
      await assertRejects(() => a.engine.append("t", "while down"));
      // Once a sees Redis away, its position no longer answers for Redis.
      await until(() => a.engine.metrics()[0]!.samples[0]!.value === 0, 5000, "a sees Redis away");
      await assertRejects(() => a.engine.recover("t", before.id));
      await redis.restart();

      // Publish as soon as a's connection is back.
      let after: EngineMessage | undefined;
      const deadline = Date.now() + 10_000;
      while (after === undefined) {
        try {
          after = await a.engine.append("t", "after");
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert(after.id.epoch !== before.id.epoch, "a new epoch");
      // Before a has caught up with the new epoch, a resume from "before" is
      // already a gap, not an answer from a's stale position.
      const early = await a.engine.recover("t", before.id);
      assertEquals(early.kind === "gap" && early.reason, "restart");
      assertEquals(early.last, after.id);
      await until(() => b.log("t").includes(`${after.id.seq}:after`), 10_000, "the new message");
      assertEquals(b.log("t"), [`${before.id.seq}:before`, "gap:restart", `${after.id.seq}:after`]);
      const gap = b.events.find((event) => event.type === "gap");
      assertEquals(gap?.type === "gap" && gap.since, before.id);
      assertEquals(b.engine.position("t"), after.id);
      // A client that saw "before" is told the same.
      const recovery = await b.engine.recover("t", before.id);
      assertEquals(recovery.kind === "gap" && recovery.reason, "restart");
    } finally {
      await a.engine.close();
      await b.engine.close();
    }
  },
);

redisTest(
  "Redis restarted empty with nothing published since: live topics still get the gap",
  async (redis) => {
    const b = await openNode(redis.url);
    try {
      await b.engine.watch("t");
      await b.engine.append("t", "before");
      await until(() => b.log("t").length === 1, 2000, "first message");
      await redis.stop();
      await redis.restart();
      await until(() => b.log("t").includes("gap:restart"), 10_000, "the gap");
      assertEquals(b.log("t"), ["1:before", "gap:restart"]);
      assert(
        b.engine.position("t").epoch !==
          (b.events[0] as { message: { id: { epoch: string } } }).message.id.epoch,
      );
    } finally {
      await b.engine.close();
    }
  },
);

redisTest(
  "watch() and recover() fail while Redis is down, and work once it is back",
  async (redis) => {
    const { engine } = await openNode(redis.url);
    try {
      await redis.stop();
      await assertRejects(() => engine.watch("t"));
      await assertRejects(() => engine.recover("t", { epoch: "e", seq: 0 }));
      await redis.restart();
      await until(() => engine.metrics()[0]!.samples[0]!.value === 1, 10_000, "reconnected");
      await engine.watch("t");
      assertEquals(engine.position("t").seq, 0);
    } finally {
      await engine.close();
    }
  },
);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
