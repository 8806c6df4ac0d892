/**
 * Resume under pressure, on loopback with Deno's WebSocket: several topics
 * resumed at once share the socket's replay budget, and a replay that a
 * client abandons (unsubscribe, then subscribe again) stops at once.
 */

import { assertEquals } from "@std/assert";
import { type PushServer, servePush, type ServePushOptions } from "../src/app/serve_push.ts";
import { TestClient, until } from "./_server.ts";

type Event = Record<string, unknown> & { type: string };

async function withPush(
  options: ServePushOptions,
  fn: (push: PushServer, port: number) => Promise<void>,
): Promise<void> {
  const push = servePush({ port: 0, hostname: "127.0.0.1", ...options });
  try {
    await fn(push, push.server.addr.port);
  } finally {
    await push.server.shutdown();
  }
}

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

Deno.test("five topics resumed at once with 100 × 20 KB each arrive whole, without a slow-consumer close", async () => {
  await withPush({}, async (push, port) => {
    const topics = ["a", "b", "c", "d", "e"];
    const payload = "x".repeat(20_000);
    let epoch = "";
    for (const topic of topics) {
      for (let i = 0; i < 100; i++) {
        epoch = (await push.publish(topic, { type: "text", text: payload })).id.split(":")[0]!;
      }
    }
    const query = topics.map((topic) => `topic=${topic}&since=${topic}:${epoch}:0`).join("&");
    const client = new TestClient(port, `/?${query}`);
    let closed = false;
    client.closed.then(() => closed = true);
    await until(
      () => closed || events(client).filter((event) => event.type === "subscribed").length === 5,
      20_000,
      "every topic subscribed",
    );
    assertEquals(closed, false, "the client was closed");
    for (const topic of topics) assertEquals(seqs(events(client), topic), range(1, 100));
    client.ws.close();
    await client.closed;
  });
});

Deno.test("unsubscribe and subscribe again with the same since during a long replay: the first replay stops", async () => {
  await withPush({ replayChunkBytes: 2048, historySize: 1000 }, async (push, port) => {
    let epoch = "";
    for (let i = 1; i <= 1000; i++) {
      epoch = (await push.publish("t", { type: "text", text: `message ${i}`.padEnd(100) }))
        .id.split(":")[0]!;
    }
    const client = new TestClient(port, "/?topic=other");
    await client.opened;
    const since = `${epoch}:0`;
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
    assertEquals(before, range(1, before.length), "a prefix before the unsubscribe");
    assertEquals(seqs(list.slice(cut), "t"), range(1, 1000), "then all of it, once, in order");
    client.ws.close();
    await client.closed;
  });
});
