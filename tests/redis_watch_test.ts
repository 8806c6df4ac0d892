/**
 * A node watches a Redis topic only while one of its sockets needs it: the
 * watch is released as soon as the last local subscriber unsubscribes or
 * leaves, so connect/subscribe/disconnect loops leave no watches behind.
 */

import { assertEquals } from "@std/assert";
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
        assertEquals(watched(engine).length, 21); // the topics and the chat room's
        client.ws.send(JSON.stringify({ type: "unsubscribe", topic: "t0" }));
        await until(() => !watched(engine).includes("t0"), 5000, "t0 released");
        client.ws.close();
        await client.closed;
        await until(() => watched(engine).length === 1, 5000, "every topic released");
      }
      assertEquals(watched(engine), ["#room"]);
    } finally {
      await push.server.shutdown();
    }
  },
);
