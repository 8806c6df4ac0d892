/**
 * The push server's history byte budget, end to end: the metric counts what
 * is really kept for each message (its payload and the frames prepared from
 * it), and past `historyBytes` the oldest messages go, so a resume from them
 * gets an `expired` gap.
 */

import { assert, assertEquals } from "@std/assert";
import { servePush } from "../src/app/serve_push.ts";
import { TestClient, until } from "./_server.ts";

const historyBytes = (push: ReturnType<typeof servePush>) =>
  push.hub.metrics().find((metric) => metric.name === "pushwire_history_bytes")!.samples[0]!
    .value;

Deno.test("pushwire_history_bytes counts the payload and the prepared frames of each message", async () => {
  const push = servePush({ port: 0, hostname: "127.0.0.1" });
  try {
    // Without subscribers no frame is made: the stored payload (~1010 B) and
    // the event's JSON (~1080 B) are kept.
    for (let i = 0; i < 10; i++) await push.publish("a", { type: "text", text: "x".repeat(1000) });
    const unframed = historyBytes(push);
    assert(unframed >= 10 * 2000 && unframed <= 10 * 2200, `${unframed} bytes`);
    // Delivered to a subscriber, each also keeps its frame (~1084 B).
    const client = new TestClient(push.server.addr.port, "/?topic=b");
    await until(() => client.messages.length === 1, 5000, "subscribed");
    for (let i = 0; i < 10; i++) await push.publish("b", { type: "text", text: "x".repeat(1000) });
    const framed = historyBytes(push) - unframed;
    assert(framed >= 10 * 3000 && framed <= 10 * 3400, `${framed} bytes`);
    client.ws.close();
    await client.closed;
  } finally {
    await push.server.shutdown();
  }
});

Deno.test("past historyBytes the oldest messages go, and a resume from them gets an expired gap", async () => {
  const push = servePush({ port: 0, hostname: "127.0.0.1", historyBytes: 20_000 });
  try {
    const first = await push.publish("t", { type: "text", text: "x".repeat(1000) });
    for (let i = 0; i < 19; i++) await push.publish("t", { type: "text", text: "x".repeat(1000) });
    assert(historyBytes(push) <= 20_000, `${historyBytes(push)} bytes kept`);
    const client = new TestClient(push.server.addr.port, `/?topic=t&since=${first.id}`);
    await until(
      () => client.messages.some((m) => String(m).includes('"subscribed"')),
      5000,
      "subscribed",
    );
    const events = client.messages.map((m) => JSON.parse(String(m)));
    assertEquals(events[0].type, "gap");
    assertEquals(events[0].reason, "expired");
    const seqs = events.filter((e) => e.type === "publication").map((e) => e.id.split(":")[1]);
    assertEquals(seqs.at(-1), "20");
    assert(seqs.length < 19, `${seqs.length} messages still kept`);
    client.ws.close();
    await client.closed;
  } finally {
    await push.server.shutdown();
  }
});
