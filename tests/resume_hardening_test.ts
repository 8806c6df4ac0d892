/**
 * Resume under pressure, on loopback with Deno's WebSocket, with the memory
 * engine and with Redis: several topics resumed at once share the socket's
 * replay budget, and a replay that a client abandons (unsubscribe, then
 * subscribe again) stops at once.
 */

import { assertEquals } from "@std/assert";
import type { PushServer, ServePushOptions } from "../src/app/serve_push.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { redisTest } from "./_redis.ts";
import { withPush } from "./_push.ts";
import { TestClient, until } from "./_server.ts";

type Event = Record<string, unknown> & { type: string };

function events(client: TestClient): Event[] {
  return client.messages.map((message) => JSON.parse(message as string));
}

/** The seqs of a topic's publications, in the order they arrived. */
function seqs(list: Event[], topic: string): number[] {
  return list.filter((event) => event.type === "publication" && event.topic === topic)
    .map((event) => Number(String(event.id).split(":")[1]));
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Publishes `count` messages to a topic; returns the epoch and the first and last seq. */
async function fill(push: PushServer, topic: string, count: number, text: (i: number) => string) {
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    ids.push((await push.publish(topic, { type: "text", text: text(i) })).id);
  }
  const [epoch, first] = ids[0]!.split(":");
  return { epoch: epoch!, first: Number(first), last: Number(ids.at(-1)!.split(":")[1]) };
}

async function fiveTopicsAtOnce(options: ServePushOptions): Promise<void> {
  await withPush(options, async (push, port) => {
    const topics = ["a", "b", "c", "d", "e"];
    const payload = "x".repeat(20_000);
    const filled = new Map<string, Awaited<ReturnType<typeof fill>>>();
    for (const topic of topics) filled.set(topic, await fill(push, topic, 100, () => payload));
    const query = topics.map((topic) => {
      const { epoch, first } = filled.get(topic)!;
      return `topic=${topic}&since=${topic}:${epoch}:${first - 1}`;
    }).join("&");
    const client = new TestClient(port, `/?${query}`);
    let closed = false;
    client.closed.then(() => closed = true);
    await until(
      () => closed || events(client).filter((event) => event.type === "subscribed").length === 5,
      20_000,
      "every topic subscribed",
    );
    assertEquals(closed, false, "the client was closed");
    for (const topic of topics) {
      const { first, last } = filled.get(topic)!;
      assertEquals(seqs(events(client), topic), range(first, last));
    }
    client.ws.close();
    await client.closed;
  });
}

async function abandonedReplay(options: ServePushOptions): Promise<void> {
  await withPush(
    { replayChunkBytes: 2048, historySize: 1000, ...options },
    async (push, port) => {
      const { epoch, first, last } = await fill(
        push,
        "t",
        1000,
        (i) => `message ${i}`.padEnd(100),
      );
      const client = new TestClient(port, "/?topic=other");
      await client.opened;
      const since = `${epoch}:${first - 1}`;
      client.ws.send(JSON.stringify({ type: "subscribe", topic: "t", since }));
      await until(() => seqs(events(client), "t").length >= 30, 10_000, "a first part");
      client.ws.send(JSON.stringify({ type: "unsubscribe", topic: "t" }));
      client.ws.send(JSON.stringify({ type: "subscribe", topic: "t", since }));
      await until(
        () => events(client).some((event) => event.type === "subscribed" && event.topic === "t"),
        20_000,
        "subscribed to t",
      );
      await new Promise((resolve) => setTimeout(resolve, 200)); // anything still coming
      const list = events(client);
      const cut = list.findIndex((event) => event.type === "unsubscribed");
      const before = seqs(list.slice(0, cut), "t");
      assertEquals(before, range(first, first + before.length - 1), "a prefix before");
      assertEquals(seqs(list.slice(cut), "t"), range(first, last), "then all, once, in order");
      client.ws.close();
      await client.closed;
    },
  );
}

Deno.test("five topics resumed at once with 100 × 20 KB each arrive whole, without a slow-consumer close", () =>
  fiveTopicsAtOnce({}));

Deno.test("unsubscribe and subscribe again with the same since during a long replay: the first replay stops", () =>
  abandonedReplay({}));

redisTest(
  "Redis: five topics resumed at once arrive whole, without a slow-consumer close",
  (redis) => fiveTopicsAtOnce({ engine: new RedisEngine({ url: redis.url }) }),
);

redisTest(
  "Redis: an abandoned replay stops when the topic is subscribed again",
  (redis) => abandonedReplay({ engine: new RedisEngine({ url: redis.url, size: 1000 }) }),
);
