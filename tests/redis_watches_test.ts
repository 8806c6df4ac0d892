/**
 * Watched topics of the Redis engine: the `WatchSet` on its own (wanted,
 * idle for a grace, released; the cap), then the engine against a real
 * redis-server: `maxWatched` refuses a topic with `WatchLimitError`, an
 * unwatched topic stays subscribed for its grace and a quick return costs
 * Redis nothing, and churn over the same topics is bounded.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { type EngineEvent, WatchLimitError } from "../src/push/engine.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { type Watch, WatchSet } from "../src/push/redis/watches.ts";
import { redisCommand, redisTest } from "./_redis.ts";
import { until } from "./_server.ts";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A watch with nothing in it: the set only keeps it. */
const watch = () => ({}) as Watch;

Deno.test("WatchSet: an unwatched topic is idle for its grace, then released", async () => {
  const released: string[] = [];
  const set = new WatchSet({ maxWatched: 10, grace: 50, release: (topic) => released.push(topic) });
  try {
    set.add("a", watch());
    set.add("b", watch());
    set.unwatch("a");
    assertEquals([[...set.wanted()], set.size, set.idle], [["b"], 2, 1]);
    assertEquals([set.wants("a"), set.wants("b")], [false, true]);
    set.unwatch("b");
    assert(set.want("b") !== undefined, "wanted again within its grace");
    await pause(120);
    assertEquals(released, ["a"]);
    assertEquals([[...set.wanted()], set.size, set.idle], [["b"], 1, 0]);
    assertEquals(set.want("a"), undefined);
  } finally {
    set.clear();
  }
});

Deno.test("WatchSet: at the cap the longest idle topic makes room; none idle is refused", () => {
  const released: string[] = [];
  const set = new WatchSet({
    maxWatched: 2,
    grace: 60_000,
    release: (topic) => released.push(topic),
  });
  try {
    set.add("a", watch());
    set.add("b", watch());
    const error = assertThrows(() => set.add("c", watch()), WatchLimitError);
    assertEquals([error.topic, error.limit], ["c", 2]);
    set.unwatch("b");
    set.unwatch("a");
    set.add("c", watch());
    assertEquals(released, ["b"]);
    assertEquals([...set.wanted()], ["c"]);
  } finally {
    set.clear();
  }
});

Deno.test("WatchSet with no grace releases at once; forget() removes without releasing", () => {
  const released: string[] = [];
  const set = new WatchSet({ maxWatched: 5, grace: 0, release: (topic) => released.push(topic) });
  const a = watch();
  set.add("a", a);
  set.add("b", watch());
  set.unwatch("a");
  set.forget("b", watch()); // another watch of "b": kept
  assertEquals([released, set.size], [["a"], 1]);
  set.forget("b", set.get("b")!);
  assertEquals([released, set.size], [["a"], 0]);
});

/** How many channels of the prefix Redis has subscribers for. */
async function channels(port: number): Promise<number> {
  const list = await redisCommand(port, "PUBSUB CHANNELS pushwire:c:*");
  return Number(list.slice(1, list.indexOf("\r\n")));
}

/** Polls an async condition until it holds, or fails after `timeout` ms. */
async function eventually(condition: () => Promise<boolean>, timeout: number, what: string) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(20);
  }
}

/** How many scripts Redis ran (EVALSHA and EVAL). */
async function scripts(port: number): Promise<number> {
  const stats = await redisCommand(port, "INFO commandstats");
  let calls = 0;
  for (const match of stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)) {
    calls += Number(match[1]);
  }
  return calls;
}

redisTest(
  "RedisEngine: maxWatched refuses one topic too many, idle ones make room",
  async (redis) => {
    const engine = new RedisEngine({ url: redis.url, maxWatched: 3, watchGrace: 60_000 });
    try {
      await engine.open();
      for (const topic of ["a", "b", "c"]) await engine.watch(topic);
      const error = await assertRejects(() => engine.watch("d"), WatchLimitError);
      assertEquals(
        error.message,
        'Cannot watch topic "d": this node already watches 3 topics (maxWatched)',
      );
      await engine.watch("a"); // watching again is watching once
      engine.unwatch("b");
      await engine.watch("d");
      assertEquals([...engine.watched()].sort(), ["a", "c", "d"]);
      await eventually(async () => (await channels(redis.port)) === 3, 2000, "b unsubscribed");
    } finally {
      await engine.close();
    }
  },
);

redisTest(
  "RedisEngine: an unwatched topic stays for its grace, undelivered, then is released",
  async (redis) => {
    const engine = new RedisEngine({ url: redis.url, watchGrace: 300 });
    const other = new RedisEngine({ url: redis.url });
    const events: EngineEvent[] = [];
    engine.listen((event) => events.push(event));
    try {
      await Promise.all([engine.open(), other.open()]);
      await engine.watch("t");
      await other.append("t", "one");
      await until(() => events.length === 1, 2000, "one message");
      engine.unwatch("t");
      assertEquals([...engine.watched()], []);
      const during = await other.append("t", "two");
      await pause(50);
      assertEquals(events.length, 1, "not delivered in the grace");
      const before = await scripts(redis.port);
      await engine.watch("t"); // back within the grace: no new subscription, no script
      assertEquals(await scripts(redis.port), before);
      assertEquals(engine.position("t"), during.id, "kept in order meanwhile");
      engine.unwatch("t");
      await eventually(
        async () => (await channels(redis.port)) === 0,
        2000,
        "released after the grace",
      );
      assertEquals(
        engine.metrics().find((m) => m.name === "pushwire_redis_watched_topics")!
          .samples[0]!.value,
        0,
      );
    } finally {
      await engine.close();
      await other.close();
    }
  },
);

redisTest(
  "RedisEngine: subscribe-100/leave churn over the same topics costs Redis once",
  async (redis) => {
    const engine = new RedisEngine({ url: redis.url });
    try {
      await engine.open();
      const topics = Array.from({ length: 100 }, (_, i) => `t${i}`);
      await engine.recover("warm-up", { epoch: "e", seq: 0 }); // Redis learns the script
      const before = await scripts(redis.port);
      for (let round = 0; round < 5; round++) {
        await Promise.all(topics.map((topic) => engine.watch(topic)));
        for (const topic of topics) engine.unwatch(topic);
      }
      const ran = (await scripts(redis.port)) - before;
      assert(ran <= 100, `${ran} scripts for 5 rounds over 100 topics`);
      assertEquals([...engine.watched()], []);
      assertEquals(await channels(redis.port), 100, "still subscribed, in their grace");
    } finally {
      await engine.close();
    }
  },
);
