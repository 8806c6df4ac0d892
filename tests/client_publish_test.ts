/**
 * Publishing from a socket, from the wire: the grant decides (anonymous
 * sockets: `room:*` by default; tokens: their `publish` claim), the sender
 * gets its id back with its `ref`, subscribers get the message with a
 * `from` the server sets, and it has the same ids, history and resume as an
 * HTTP publish, within the socket's message rate.
 */

import { assert, assertEquals } from "@std/assert";
import { jwtAuthorizer } from "../src/auth/jwt.ts";
import { SECRET, signToken } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { eventsOf, type JsonEvent, TestClient, waitForEvent } from "./_server.ts";

const publish = (client: TestClient, topic: string, data: unknown, ref?: unknown) =>
  client.ws.send(JSON.stringify({ type: "publish", topic, data, ref }));

Deno.test("an anonymous socket publishes to room:*, and gets its id back", async () => {
  await withPush({}, async (_push, port) => {
    const reader = new TestClient(port, "/?topic=room:1");
    const writer = new TestClient(port, "/?topic=room:2&name=Ada");
    await waitForEvent(reader, (e) => e.type === "subscribed");
    await waitForEvent(writer, (e) => e.type === "subscribed");
    publish(writer, "room:1", { text: "hello" }, "a1");
    const published = await waitForEvent(writer, (e) => e.type === "published");
    assertEquals(published.topic, "room:1");
    assertEquals(published.ref, "a1");
    const publication = await waitForEvent(reader, (e) => e.type === "publication");
    assertEquals(publication.id, published.id);
    assertEquals(publication.data, { text: "hello" });
    assertEquals((publication.from as JsonEvent).name, "Ada");
    assertEquals((publication.from as JsonEvent).user, undefined);
    assert(typeof (publication.from as JsonEvent).client === "string");

    publish(writer, "news", "not a room", 2);
    const refused = await waitForEvent(writer, (e) => e.type === "error" && e.ref === 2);
    assertEquals(refused.message, 'Not allowed to publish to "news"');
    publish(writer, "room:1", "x".repeat(70_000), 3);
    const large = await waitForEvent(writer, (e) => e.type === "error" && e.ref === 3);
    assertEquals(large.message, "Cannot publish: data larger than 65536 bytes");
    writer.ws.send('{"type":"publish","topic":"room:1"}');
    await waitForEvent(writer, (e) => e.message === 'Cannot publish: "data" is missing');
    writer.ws.send(`{"type":"publish","topic":"room:1","data":1,"ref":{"a":1}}`);
    await waitForEvent(writer, (e) => String(e.message).startsWith('Cannot publish: "ref"'));
    await reader.close();
    await writer.close();
  });
});

Deno.test("a client publish is kept for resume like an HTTP publish", async () => {
  await withPush({}, async (push, port) => {
    const writer = new TestClient(port, "/?topic=room:9");
    await waitForEvent(writer, (e) => e.type === "subscribed");
    const first = await push.publish("room:9", { type: "text", text: "from the server" });
    publish(writer, "room:9", { text: "from a client" }, 1);
    const published = await waitForEvent(writer, (e) => e.type === "published");
    await writer.close();
    const resumed = new TestClient(port, `/?topic=room:9&since=${first.id}`);
    const replayed = await waitForEvent(resumed, (e) => e.type === "publication");
    assertEquals(replayed.id, published.id);
    assertEquals(replayed.data, { text: "from a client" });
    assert((replayed.from as JsonEvent).client !== undefined);
    await resumed.close();
  });
});

Deno.test("a token's publish claim decides; from carries its user and info.name", async () => {
  await withPush({ authorize: jwtAuthorizer({ secret: SECRET }) }, async (_push, port) => {
    const token = await signToken({
      topics: ["room:*"],
      publish: ["room:lobby"],
      info: { name: "Alice A." },
    });
    const client = new TestClient(port, `/?topic=room:lobby&token=${token}`);
    await waitForEvent(client, (e) => e.type === "subscribed");
    publish(client, "room:other", "no", 1);
    const refused = await waitForEvent(client, (e) => e.ref === 1);
    assertEquals(refused.message, 'Not allowed to publish to "room:other"');
    publish(client, "room:lobby", "yes", 2);
    const publication = await waitForEvent(client, (e) => e.type === "publication");
    assertEquals(publication.data, "yes");
    const from = publication.from as JsonEvent;
    assertEquals([from.user, from.name], ["alice", "Alice A."]);
    await client.close();
  });
});

Deno.test("client publishes stay within the socket's message rate", async () => {
  await withPush({ maxMessagesPerSecond: 5, messageBurst: 10 }, async (push, port) => {
    const client = new TestClient(port, "/?topic=room:r");
    await waitForEvent(client, (e) => e.type === "subscribed");
    for (let i = 0; i < 50; i++) publish(client, "room:r", i, i);
    await waitForEvent(
      client,
      (e) => e.type === "error" && String(e.message).startsWith("Too many messages"),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const published = eventsOf(client).filter((e) => e.type === "published").length;
    assert(published >= 10 && published <= 13, `${published} published`);
    const last = await push.publish("room:r", { type: "text", text: "end" });
    assertEquals(Number(last.id.split(":")[1]), published + 1);
    await client.close();
  });
});
