/**
 * Resume and live delivery of the Redis engine around topics that have no
 * message yet, against a real redis-server (see tests/_redis.ts), with two
 * `RedisEngine`s as two nodes: where a quiet topic stands, its first
 * message, a resume on a node that watched it earlier, and, for a
 * subscriber without `since`, where `watch()` leaves `position()`.
 */

import { assert, assertEquals } from "@std/assert";
import { planReplay } from "../src/push/replay.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { servePush } from "../src/app/serve_push.ts";
import { openNode, redisTest } from "./_redis.ts";
import { TestClient, until } from "./_server.ts";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const budget = { bytes: 1 << 20, sizeOf: () => 1 };

redisTest(
  "a quiet topic's position is one before its first message, though other topics moved the floor",
  async (redis) => {
    const a = await openNode(redis.url);
    try {
      await a.engine.watch("quiet");
      const before = a.engine.position("quiet");
      for (let i = 0; i < 3; i++) await a.engine.append("other", `o${i}`);
      const first = await a.engine.append("quiet", "first");
      assertEquals(first.id.seq, before.seq + 1);
      await until(() => a.seqs("quiet").length > 0, 2000, "the first message");
      await pause(100);
      assertEquals(a.seqs("quiet"), [String(first.id.seq)]);
      // A client told `before` that resumes later missed nothing.
      const recovery = await a.engine.recover("quiet", before);
      assertEquals(recovery.kind, "complete");
      assertEquals(recovery.messages.map((m) => m.payload), ["first"]);
    } finally {
      await a.engine.close();
    }
  },
);

redisTest(
  "a watched topic quiet for longer than the ttl gets its first message without a gap",
  async (redis) => {
    const a = await openNode(redis.url, { ttl: 200 });
    const b = await openNode(redis.url, { ttl: 200 });
    try {
      await a.engine.watch("quiet");
      const before = a.engine.position("quiet");
      await pause(400); // what held the topic's place has expired
      for (let i = 0; i < 3; i++) await b.engine.append("other", `o${i}`);
      const first = await b.engine.append("quiet", "first");
      assert(first.id.seq > before.seq);
      await until(() => a.seqs("quiet").length > 0, 2000, "the first message");
      await pause(100);
      assertEquals(a.seqs("quiet"), [String(first.id.seq)]);
      assertEquals(a.engine.position("quiet"), first.id);
    } finally {
      await a.engine.close();
      await b.engine.close();
    }
  },
);

redisTest(
  "a never-published topic resumed on a node that watched it earlier: no gap, joins at once",
  async (redis) => {
    const a = await openNode(redis.url);
    const b = await openNode(redis.url);
    try {
      await b.engine.watch("t");
      for (let i = 0; i < 3; i++) await a.engine.append("other", `o${i}`);
      await a.engine.watch("t");
      const since = a.engine.position("t"); // what a client of `a` was told
      const recovery = await b.engine.recover("t", since);
      assertEquals(recovery.kind, "complete");
      const step = planReplay(recovery, since, b.engine.position("t"), budget);
      assertEquals(step.next, "join");
    } finally {
      await a.engine.close();
      await b.engine.close();
    }
  },
);

redisTest(
  "a node whose quiet topic's place expired catches up with a later resume point at once",
  async (redis) => {
    const a = await openNode(redis.url, { ttl: 200 });
    const b = await openNode(redis.url, { ttl: 200 });
    try {
      await b.engine.watch("t");
      await pause(400);
      for (let i = 0; i < 3; i++) await a.engine.append("other", `o${i}`);
      await a.engine.watch("t");
      const since = a.engine.position("t");
      assert(since.seq > b.engine.position("t").seq, "the nodes disagree before the resume");
      const recovery = await b.engine.recover("t", since);
      assertEquals(recovery.kind, "complete");
      assertEquals(b.engine.position("t"), since);
      assertEquals(planReplay(recovery, since, b.engine.position("t"), budget).next, "join");
      const first = await a.engine.append("t", "first");
      await until(() => b.seqs("t").length > 0, 2000, "the first message");
      await pause(100);
      assertEquals(b.seqs("t"), [String(first.id.seq)]);
    } finally {
      await a.engine.close();
      await b.engine.close();
    }
  },
);

redisTest(
  "a resume on another node of a never-published topic: subscribed at once, no gap",
  async (redis) => {
    const pushA = servePush({
      port: 0,
      hostname: "127.0.0.1",
      engine: new RedisEngine({ url: redis.url }),
    });
    const pushB = servePush({
      port: 0,
      hostname: "127.0.0.1",
      engine: new RedisEngine({ url: redis.url }),
    });
    const other = await openNode(redis.url);
    const clients: TestClient[] = [];
    try {
      await Promise.all([pushA.ready, pushB.ready]);
      const events = (client: TestClient) =>
        client.messages.map((m) => JSON.parse(String(m)) as Record<string, string>);
      const subscribed = (client: TestClient) =>
        events(client).find((e) => e.type === "subscribed");
      // B watches the topic first; then other topics move the floor.
      const onB = new TestClient(pushB.server.addr.port, "/?topic=t");
      clients.push(onB);
      await until(() => subscribed(onB) !== undefined, 5000, "subscribed on B");
      for (let i = 0; i < 3; i++) await other.engine.append("other", `o${i}`);
      const onA = new TestClient(pushA.server.addr.port, "/?topic=t");
      clients.push(onA);
      await until(() => subscribed(onA) !== undefined, 5000, "subscribed on A");
      const last = subscribed(onA)!.last!;
      const resumed = new TestClient(pushB.server.addr.port, `/?topic=t&since=${last}`);
      clients.push(resumed);
      await until(() => subscribed(resumed) !== undefined, 2000, "subscribed after the resume");
      assertEquals(events(resumed).map((e) => e.type), ["subscribed"]);
      assertEquals(subscribed(resumed)!.last, last);
    } finally {
      for (const client of clients) await client.close();
      await other.engine.close();
      await pushA.server.shutdown();
      await pushB.server.shutdown();
    }
  },
);

redisTest(
  "watch() resolves with position() at the last message the sink got, while messages flow",
  async (redis) => {
    const a = await openNode(redis.url);
    const b = await openNode(redis.url);
    let publishing = true;
    const publishers = [a.engine, b.engine, b.engine].map(async (engine) => {
      while (publishing) await engine.append("hot", "x");
    });
    try {
      let checked = 0;
      for (let i = 0; i < 200; i++) {
        await a.engine.watch("hot"); // the first starts the watch, the others find it
        const delivered = a.seqs("hot").filter((line) => !line.startsWith("gap"));
        const position = a.engine.position("hot");
        if (delivered.length > 0) {
          assertEquals(position.seq, Number(delivered.at(-1)), `watch ${i}`);
          checked++;
        }
        await pause(1);
      }
      assert(checked > 100, `${checked} checks`);
      assertEquals(a.seqs("hot").filter((line) => line.startsWith("gap")), []);
    } finally {
      publishing = false;
      await Promise.all(publishers);
      await a.engine.close();
      await b.engine.close();
    }
  },
);
