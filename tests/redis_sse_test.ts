/**
 * Event streams on two push nodes sharing one Redis: a stream opened on
 * node A gets what either node publishes; after it drops, messages are
 * published on both nodes, and the stream resumes on node B with its
 * `Last-Event-ID`: exactly the missed messages of each topic, in order, once,
 * and no gap (the epoch lives in Redis).
 */

import { assertEquals } from "@std/assert";
import { servePush } from "../src/app/serve_push.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { redisTest } from "./_redis.ts";
import { until } from "./_server.ts";
import { openStream as open, publicationTexts as texts, readUntil } from "./_sse.ts";

redisTest("an event stream resumes on another node with its Last-Event-ID", async (redis) => {
  const node = () =>
    servePush({ port: 0, hostname: "127.0.0.1", engine: new RedisEngine({ url: redis.url }) });
  const a = node();
  const b = node();
  const text = (text: string) => ({ type: "text" as const, text });
  try {
    await Promise.all([a.ready, b.ready]);
    const first = await open(a.server.addr.port, "/events?topic=x&topic=y");
    await readUntil(first, "subscribed", 2);
    await a.publish("x", text("x1"));
    await b.publish("y", text("y1"));
    const live = await readUntil(first, "publication", 2);
    assertEquals([texts(live, "x"), texts(live, "y")], [["x1"], ["y1"]]);
    const last = first.lastEventId;
    await first.close();
    await until(() => a.server.sockets.size === 0, 5000, "the stream's end on A");

    await b.publish("x", text("x2"));
    await a.publish("y", text("y2"));
    await b.publish("x", text("x3"));
    const second = await open(b.server.addr.port, "/events?topic=x&topic=y", {
      "Last-Event-ID": last,
    });
    const resumed = await readUntil(second, "subscribed", 2);
    await a.publish("y", text("y3"));
    resumed.push(...await readUntil(second, "publication"));
    assertEquals(resumed.filter((event) => event.type === "gap"), []);
    assertEquals(texts(resumed, "x"), ["x2", "x3"]);
    assertEquals(texts(resumed, "y"), ["y2", "y3"]);
    await second.close();
  } finally {
    await a.server.shutdown();
    await b.server.shutdown();
  }
});
