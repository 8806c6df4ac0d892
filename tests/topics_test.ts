import { assertEquals, assertThrows } from "@std/assert";
import { TopicIndex, validateTopic } from "../src/server/topics.ts";
import type { PreparedMessage } from "../src/protocol/deflate.ts";
import type { Socket } from "../src/server/socket.ts";
import { TestClient, until, withServer } from "./_server.ts";

Deno.test("validateTopic() accepts names of 1 to 128 allowed characters", async (t) => {
  for (const name of ["a", "news", "news/sport", "user:42", "a.b-c_d@e", "x".repeat(128)]) {
    await t.step(`"${name.slice(0, 20)}" is valid`, () => validateTopic(name));
  }
  for (const name of ["", "x".repeat(129), "with space", "é", "a\nb", "a?b"]) {
    await t.step(`"${name.slice(0, 20)}" is refused`, () => {
      assertThrows(() => validateTopic(name), TypeError, "Cannot use topic");
    });
  }
});

Deno.test("TopicIndex broadcasts one frame to exactly a topic's subscribers", () => {
  const topics = new TopicIndex();
  const received = new Map<string, Uint8Array[]>();
  const subscriber = (name: string) => {
    received.set(name, []);
    const push = (frame: Uint8Array) => received.get(name)!.push(frame) > 0;
    return {
      sendFrame: push,
      sendPrepared: (message: PreparedMessage) => push(message.frame(undefined)),
    };
  };
  const a = subscriber("a"), b = subscriber("b"), c = subscriber("c");
  topics.add("news", a);
  topics.add("news", b);
  topics.add("sport", c);
  assertEquals(topics.broadcast("news", "hi"), 2);
  assertEquals(topics.broadcast("news", "again", a), 1);
  assertEquals(topics.broadcast("weather", "sun"), 0);
  assertEquals(received.get("a"), [new Uint8Array([0x81, 0x02, 0x68, 0x69])]);
  assertEquals(received.get("b")!.length, 2);
  assertEquals(received.get("c")!.length, 0);
  assertEquals(topics.count("news"), 2);
  assertEquals(topics.delete("news", a), true);
  assertEquals(topics.delete("news", a), false);
  topics.delete("news", b);
  assertEquals([...topics.names()], ["sport"]);
});

Deno.test("server.broadcast() reaches subscribed sockets only; closing leaves topics", async () => {
  const sockets: Socket[] = [];
  await withServer({}, (socket) => {
    sockets.push(socket);
    const topic = socket.request.query.get("topic");
    if (topic !== null) socket.subscribe(topic);
  }, async (server, port) => {
    const [news] = await TestClient.open(port, 1, "/?topic=news");
    const [sport] = await TestClient.open(port, 1, "/?topic=sport");
    await until(() => server.topics.count("news") === 1 && server.topics.count("sport") === 1);
    assertEquals(server.broadcast("news", "headline"), 1);
    assertEquals(await news!.waitFor(1), ["headline"]);
    assertEquals(sport!.messages, []);
    assertEquals([...sockets[0]!.topics], ["news"]);
    assertThrows(() => sockets[0]!.subscribe("bad topic"), TypeError);
    await news!.close();
    await until(() => server.topics.count("news") === 0);
    assertEquals(server.broadcast("news", "nobody"), 0);
    await sport!.close();
  });
});
