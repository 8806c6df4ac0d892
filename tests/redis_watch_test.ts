/**
 * A node watches a Redis topic only while one of its sockets needs it: the
 * watch is released as soon as the last local subscriber unsubscribes or
 * leaves, so connect/subscribe/disconnect loops leave no watches behind;
 * and a subscriber without `since` joins where the node's delivery stands,
 * before any publication reaches it.
 */

import { assert, assertEquals } from "@std/assert";
import { servePush } from "../src/app/serve_push.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { redisTest } from "./_redis.ts";
import { TestClient, until } from "./_server.ts";

const watched = (engine: RedisEngine) => [...engine.watched()].sort();

redisTest(
  "Redis watches follow the local subscribers: released on unsubscribe and on leave",
  async (redis) => {
    const engine = new RedisEngine({ url: `redis://127.0.0.1:${redis.port}/0` });
    const push = servePush({ port: 0, hostname: "127.0.0.1", engine });
    try {
      await push.ready;
      const port = push.server.addr.port;
      const topics = Array.from({ length: 20 }, (_, i) => `t${i}`);
      for (let round = 0; round < 3; round++) {
        const client = new TestClient(port, `/?${topics.map((t) => `topic=${t}`).join("&")}`);
        await until(
          () => client.messages.filter((m) => String(m).includes('"subscribed"')).length === 20,
          10_000,
          "20 subscriptions",
        );
        // The topics and the internal ones: the chat room, presence, the server API.
        assertEquals(watched(engine).length, 23);
        client.ws.send(JSON.stringify({ type: "unsubscribe", topic: "t0" }));
        await until(() => !watched(engine).includes("t0"), 5000, "t0 released");
        client.ws.close();
        await client.closed;
        await until(() => watched(engine).length === 3, 5000, "every topic released");
      }
      assertEquals(watched(engine), ["#control", "#presence", "#room"]);
    } finally {
      await push.server.shutdown();
    }
  },
);

redisTest(
  "subscribers without since get `subscribed` before any publication, while messages flow",
  async (redis) => {
    const push = servePush({
      port: 0,
      hostname: "127.0.0.1",
      engine: new RedisEngine({ url: redis.url }),
    });
    const other = { engine: new RedisEngine({ url: redis.url }) };
    await other.engine.open();
    let publishing = true;
    const publishers: Promise<void>[] = [];
    try {
      await push.ready;
      // Two nodes publish at once: this node's own answers overtake Pub/Sub,
      // so its delivery often waits on a read of the stream.
      for (const engine of [other.engine, push.hub.engine]) {
        for (let p = 0; p < 3; p++) {
          publishers.push((async () => {
            while (publishing) await engine.append("hot", `"data":"x"`).catch(() => {});
          })());
        }
      }
      for (let round = 0; round < 10; round++) {
        const clients = Array.from(
          { length: 10 },
          () => new TestClient(push.server.addr.port, "/?topic=hot"),
        );
        await Promise.all(
          clients.map((client) => until(() => client.messages.length >= 3, 5000, "a few events")),
        );
        for (const client of clients) {
          const events = client.messages.map((m) =>
            JSON.parse(String(m)) as Record<string, string>
          );
          await client.close();
          assertEquals(events[0]!.type, "subscribed", `round ${round}: ${events[0]!.type} first`);
          const last = Number(events[0]!.last!.split(":")[1]);
          for (const event of events.slice(1)) {
            if (event.type === "publication") assert(Number(event.id!.split(":")[1]) > last);
          }
        }
      }
    } finally {
      publishing = false;
      await Promise.all(publishers);
      await other.engine.close();
      await push.server.shutdown();
    }
  },
);
