/**
 * The push server end to end on loopback: publishers with `fetch`,
 * subscribers with Deno's WebSocket (and a raw client where one must die
 * without a close frame).
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { decodeBase64 } from "@std/encoding";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import type { PreparedMessage } from "../src/protocol/deflate.ts";
import { renderMetrics } from "../src/server/metrics.ts";
import type { Engine, EngineMessage, EngineRecovery, EngineSink } from "../src/push/engine.ts";
import type { HistoryStats, MessageId } from "../src/push/history.ts";
import type { Metric } from "../src/server/metrics.ts";
import { PushHub } from "../src/push/hub.ts";
import { servePush } from "../src/app/serve_push.ts";
import type { Socket } from "../src/server/socket.ts";
import { RawClient, rawHttp, upgradeRequest } from "./_raw_client.ts";
import { withPush } from "./_push.ts";
import { TestClient, until } from "./_server.ts";

type Event = Record<string, unknown> & { type: string };

/** POSTs text to `/publish?topic=…` and returns the JSON answer. */
async function publish(
  port: number,
  topic: string,
  body: BodyInit,
  type = "text/plain",
): Promise<{ id: string; topic: string; delivered: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/publish?topic=${topic}`, {
    method: "POST",
    headers: { "Content-Type": type },
    body,
  });
  const answer = await response.json();
  assertEquals(response.status, 200, JSON.stringify(answer));
  return answer;
}

/** The events a client received, parsed. */
function events(client: TestClient): Event[] {
  return client.messages.map((message) => JSON.parse(message as string));
}

/** Waits until a client received an event matching `match`; returns all events so far. */
async function waitForEvent(
  client: TestClient,
  match: (event: Event) => boolean,
  timeout = 5000,
): Promise<Event[]> {
  await until(() => events(client).some(match), timeout, "an event");
  return events(client);
}

const subscribed = (topic: string) => (event: Event) =>
  event.type === "subscribed" && event.topic === topic;

/** The `data` of the publications in `list`. */
function data(list: Event[]): unknown[] {
  return list.filter((event) => event.type === "publication").map((event) => event.data);
}

Deno.test("a publish reaches exactly its topic's subscribers, encoded once", async () => {
  await withPush({}, async (push, port) => {
    const news = new TestClient(port, "/?topic=news");
    const both = new TestClient(port, "/?topic=news&topic=sport");
    const sport = new TestClient(port, "/?topic=sport");
    const chat = new TestClient(port, "/");
    for (const client of [news, both, sport]) {
      await waitForEvent(client, (e) => e.type === "subscribed");
    }
    await chat.waitFor(2); // welcome, join

    const answer = await publish(port, "news", "headline");
    assertEquals([answer.topic, answer.delivered], ["news", 2]);
    const [newsEvents, bothEvents] = await Promise.all([
      waitForEvent(news, (e) => e.type === "publication"),
      waitForEvent(both, (e) => e.type === "publication"),
    ]);
    const publication = newsEvents.at(-1)!;
    assertEquals(publication.topic, "news");
    assertEquals(publication.id, answer.id);
    assertEquals(publication.data, "headline");
    assert(Math.abs(Date.now() - (publication.time as number)) < 60_000);
    assertEquals(bothEvents.at(-1), publication);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(data(events(sport)), []);
    assertEquals(events(chat).map((e) => e.type), ["welcome", "join"], "the room hears no topic");
    assertEquals(push.server.topics.count("news"), 2);
    await Promise.all([news, both, sport, chat].map((client) => client.close()));
  });
});

Deno.test("a subscriber's first event tells where the topic stands", async () => {
  await withPush({}, async (_push, port) => {
    const before = await publish(port, "news", "old");
    const client = new TestClient(port, "/?topic=news");
    const [first] = await client.waitFor(1);
    assertEquals(JSON.parse(first as string), {
      type: "subscribed",
      topic: "news",
      last: before.id,
    });
    const fresh = new TestClient(port, "/?topic=empty");
    const [none] = await fresh.waitFor(1);
    assertEquals(JSON.parse(none as string).last, `${before.id.split(":")[0]}:0`);
    await client.close();
    await fresh.close();
  });
});

Deno.test("JSON bodies arrive as values, binary ones as base64", async () => {
  await withPush({}, async (_push, port) => {
    const client = new TestClient(port, "/?topic=t");
    await waitForEvent(client, subscribed("t"));
    await publish(port, "t", '{"price":42,"tags":["a"]}', "application/json");
    await publish(port, "t", new Uint8Array([0, 1, 254, 255]), "application/octet-stream");
    const received = await waitForEvent(client, (e) => e.encoding === "base64");
    const [json, binary] = received.filter((e) => e.type === "publication");
    assertEquals(json!.data, { price: 42, tags: ["a"] });
    assertEquals(json!.encoding, undefined);
    assertEquals(decodeBase64(binary!.data as string), new Uint8Array([0, 1, 254, 255]));
    await client.close();
  });
});

Deno.test("control messages subscribe and unsubscribe; other messages get an error event", async () => {
  await withPush({}, async (_push, port) => {
    const client = new TestClient(port, "/?topic=news");
    await waitForEvent(client, subscribed("news"));
    client.ws.send(JSON.stringify({ type: "subscribe", topic: "sport" }));
    await waitForEvent(client, subscribed("sport"));
    await publish(port, "sport", "goal");
    await waitForEvent(client, (e) => e.data === "goal");

    client.ws.send(JSON.stringify({ type: "unsubscribe", topic: "sport" }));
    await waitForEvent(client, (e) => e.type === "unsubscribed" && e.topic === "sport");
    await publish(port, "sport", "missed");
    await publish(port, "news", "after");
    await waitForEvent(client, (e) => e.data === "after");
    assertEquals(data(events(client)), ["goal", "after"]);

    client.ws.send('{"type":"subscribe","topic":"bad topic"}');
    client.ws.send("just chatting");
    client.ws.send(new Uint8Array([1, 2]));
    const received = await waitForEvent(
      client,
      (e) => e.type === "error" && String(e.message).startsWith("Binary"),
    );
    const errors = received.filter((e) => e.type === "error").map((e) => String(e.message));
    assertEquals(errors.length, 3);
    assertStringIncludes(errors[0]!, "Cannot use topic");
    assertStringIncludes(errors[1]!, "Only subscribe, unsubscribe, publish and token messages");
    await client.close();
  });
});

Deno.test("a chat client that subscribes stays in the room and gets publications too", async () => {
  await withPush({}, async (push, port) => {
    const chat = new TestClient(port, "/");
    await chat.waitFor(2);
    chat.ws.send('{"type":"subscribe","topic":"news"}');
    await waitForEvent(chat, subscribed("news"));
    await publish(port, "news", "headline");
    chat.ws.send("hello room");
    push.push("from the server");
    const received = await waitForEvent(chat, (e) => e.text === "from the server");
    assertEquals(
      received.map((e) => e.type),
      ["welcome", "join", "subscribed", "publication", "message", "message"],
    );
    await chat.close();
  });
});

Deno.test("resume: a client killed mid-stream gets exactly what it missed, in order, then live", async () => {
  await withPush({}, async (push, port) => {
    // A raw client, so that it can die without a close frame, as on a lost network.
    const first = await RawClient.connect(port, { path: "/?topic=feed" });
    const hello = JSON.parse(await first.nextText());
    assertEquals(hello.type, "subscribed");
    for (let i = 1; i <= 20; i++) push.publish("feed", { type: "text", text: `m${i}` });
    const seen: Event[] = [];
    for (let i = 0; i < 7; i++) seen.push(JSON.parse(await first.nextText()));
    first.close(); // gone mid-stream: m8..m20 were sent but never read
    const last = seen.at(-1)!.id as string;
    assertEquals(data(seen), ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);

    await until(() => push.server.sockets.size === 0);
    const missed: string[] = [];
    for (let i = 21; i <= 70; i++) {
      missed.push(`m${i}`);
      await publish(port, "feed", `m${i}`);
    }
    const again = new TestClient(port, `/?topic=feed&since=feed:${last}`);
    const replay = await waitForEvent(again, subscribed("feed"));
    const expected = [...Array.from({ length: 13 }, (_, i) => `m${i + 8}`), ...missed];
    assertEquals(data(replay), expected, "every message after the last id seen, once, in order");
    const ids = replay.filter((e) => e.type === "publication").map((e) => e.id as string);
    const epoch = last.split(":")[0];
    assertEquals(ids, expected.map((_, i) => `${epoch}:${i + 8}`));
    assertEquals(replay.at(-1), { type: "subscribed", topic: "feed", last: `${epoch}:70` });
    assertEquals(replay.filter((e) => e.type === "gap"), []);

    await publish(port, "feed", "live");
    const live = await waitForEvent(again, (e) => e.data === "live");
    assertEquals(data(live).length, 64);
    await again.close();
  });
});

Deno.test("resume: reconnect after 50 publishes gets exactly those 50 (short since form)", async () => {
  await withPush({}, async (_push, port) => {
    const client = new TestClient(port, "/?topic=news");
    await waitForEvent(client, subscribed("news"));
    const seen = await publish(port, "news", "seen");
    await waitForEvent(client, (e) => e.data === "seen");
    await client.close();
    for (let i = 0; i < 50; i++) await publish(port, "news", `n${i}`);
    const again = new TestClient(port, `/?topic=news&since=${seen.id}`);
    const received = await waitForEvent(again, subscribed("news"));
    assertEquals(data(received), Array.from({ length: 50 }, (_, i) => `n${i}`));
    await again.close();
  });
});

Deno.test("resume several topics at once, each from its own id", async () => {
  await withPush({}, async (push, port) => {
    const a1 = await push.publish("a", { type: "text", text: "a1" });
    push.publish("a", { type: "text", text: "a2" });
    const b1 = await push.publish("b", { type: "text", text: "b1" });
    push.publish("b", { type: "text", text: "b2" });
    push.publish("b", { type: "text", text: "b3" });
    const client = new TestClient(port, `/?topic=a&topic=b&since=a:${a1.id}&since=b:${b1.id}`);
    const received = await waitForEvent(client, subscribed("b"));
    assertEquals(
      received.map((e) => e.type === "publication" ? e.data : `${e.type} ${e.topic}`),
      ["a2", "subscribed a", "b2", "b3", "subscribed b"],
    );
    await client.close();
  });
});

Deno.test("resume past the window: a gap notice, then what the window holds", async () => {
  await withPush({ historySize: 10 }, async (push, port) => {
    const first = await push.publish("news", { type: "text", text: "p1" });
    for (let i = 2; i <= 30; i++) push.publish("news", { type: "text", text: `p${i}` });
    const client = new TestClient(port, `/?topic=news&since=news:${first.id}`);
    const received = await waitForEvent(client, subscribed("news"));
    assertEquals(received[0], { type: "gap", topic: "news", since: first.id, reason: "expired" });
    assertEquals(data(received), Array.from({ length: 10 }, (_, i) => `p${i + 21}`));
    await client.close();
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assertStringIncludes(metrics, 'pushwire_resumes_total{outcome="expired"} 1\n');
    assertStringIncludes(metrics, "pushwire_history_messages 10\n");
    assertStringIncludes(metrics, "pushwire_replayed_messages_total 10\n");
  });
});

Deno.test("resume past the time bound: messages older than historyTtl are a gap", async () => {
  await withPush({ historyTtl: 100 }, async (push, port) => {
    const first = await push.publish("news", { type: "text", text: "old" });
    push.publish("news", { type: "text", text: "old too" });
    await new Promise((resolve) => setTimeout(resolve, 150));
    push.publish("news", { type: "text", text: "fresh" });
    const client = new TestClient(port, `/?topic=news&since=${first.id}`);
    const received = await waitForEvent(client, subscribed("news"));
    assertEquals(received[0]?.type, "gap");
    assertEquals(received[0]?.reason, "expired");
    assertEquals(data(received), ["fresh"]);
    await client.close();
  });
});

Deno.test("an id from an earlier server run gets a restart gap, never a wrong replay", async () => {
  let oldId = "";
  await withPush({}, async (push) => {
    for (let i = 0; i < 5; i++) {
      oldId = (await push.publish("news", { type: "text", text: `${i}` })).id;
    }
  });
  await withPush({}, async (push, port) => {
    push.publish("news", { type: "text", text: "new run 1" }); // seq 1 again, in a new epoch
    const client = new TestClient(port, `/?topic=news&since=${oldId}`);
    const received = await waitForEvent(client, subscribed("news"));
    assertEquals(received[0], { type: "gap", topic: "news", since: oldId, reason: "restart" });
    assertEquals(data(received), ["new run 1"]);
    assert((received.at(-1)!.last as string).split(":")[0] !== oldId.split(":")[0]);
    await client.close();
  });
});

Deno.test("a long replay goes out in parts as the client reads, with live messages after it", async () => {
  await withPush({ historySize: 1000, replayChunkBytes: 4096 }, async (push, port) => {
    const payload = "x".repeat(500);
    for (let i = 1; i <= 300; i++) push.publish("big", { type: "text", text: `${i}:${payload}` });
    const client = new TestClient(
      port,
      `/?topic=big&since=${push.hub.engine.position("big").epoch}:0`,
    );
    // Publish while the replay is under way: none may be lost or doubled.
    for (let i = 301; i <= 400; i++) {
      push.publish("big", { type: "text", text: `${i}:${payload}` });
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await waitForEvent(client, (e) => String(e.data).startsWith("400:"), 15_000);
    const received = events(client);
    const numbers = data(received).map((d) => Number(String(d).split(":")[0]));
    assertEquals(numbers, Array.from({ length: 400 }, (_, i) => i + 1));
    assertEquals(received.filter((e) => e.type === "subscribed").length, 1);
    assertEquals(received.filter((e) => e.type === "gap").length, 0);
    await client.close();
  });
});

/** A stand-in socket whose outbox drains only when told to. */
function fakeSocket() {
  const socket = {
    state: "open" as "open" | "closed",
    topics: new Set<string>(),
    bufferedAmount: 0,
    closed: new Promise<void>(() => {}),
    frames: [] as string[],
    events: [] as Event[],
    subscribe(topic: string) {
      socket.topics.add(topic);
    },
    unsubscribe(topic: string) {
      return socket.topics.delete(topic);
    },
    send(text: string) {
      socket.events.push(JSON.parse(text));
      return true;
    },
    sendPrepared(message: PreparedMessage) {
      socket.bufferedAmount += message.payload.length;
      socket.frames.push(JSON.parse(new TextDecoder().decode(message.payload)).data);
      return true;
    },
  };
  return { socket, asSocket: socket as unknown as Socket };
}

Deno.test("PushHub replays in parts as the socket drains, then subscribes once", async () => {
  const hub = new PushHub({ replayChunkBytes: 100 });
  for (let i = 1; i <= 10; i++) hub.publish("t", { type: "text", text: `m${i}` });
  const { socket, asSocket } = fakeSocket();
  const done = hub.subscribe(asSocket, "t", { epoch: hub.engine.position("t").epoch, seq: 2 });
  const firstPart = socket.frames.length;
  assert(firstPart > 0 && firstPart < 8, `a first part of ${firstPart} frames`);
  // Asking again while catching up neither replays twice nor subscribes early.
  await hub.subscribe(asSocket, "t", { epoch: hub.engine.position("t").epoch, seq: 0 });
  assertEquals(socket.topics.size, 0);
  hub.publish("t", { type: "text", text: "m11" }); // published during the replay
  while (socket.topics.size === 0) {
    socket.bufferedAmount = 0; // the peer read everything
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await done;
  assertEquals(socket.frames, ["m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11"]);
  assertEquals(socket.events, [{
    type: "subscribed",
    topic: "t",
    last: `${hub.engine.position("t").epoch}:11`,
  }]);
});

/**
 * A stand-in shared engine whose store moved to a new epoch ("new", with one
 * message) while this node still stands at "old:1" until `catchUp()`.
 */
class LaggingEngine implements Engine {
  readonly kind = "redis" as const;
  readonly shared = true;
  #sink: EngineSink | undefined;
  #position: MessageId = { epoch: "old", seq: 1 };
  readonly after: EngineMessage = {
    topic: "t",
    id: { epoch: "new", seq: 1 },
    time: 0,
    payload: `"data":"after"`,
  };
  open(): Promise<void> {
    return Promise.resolve();
  }
  listen(sink: EngineSink): void {
    this.#sink = sink;
  }
  append(): Promise<EngineMessage> {
    return Promise.reject(new Error("not in this test"));
  }
  watch(): Promise<void> {
    return Promise.resolve();
  }
  unwatch(): void {}
  *watched(): IterableIterator<string> {}
  position(): MessageId {
    return this.#position;
  }
  recover(_topic: string, since: MessageId): Promise<EngineRecovery> {
    const last = this.after.id;
    return Promise.resolve(
      since.epoch === "new"
        ? { kind: "complete", messages: [], last }
        : { kind: "gap", reason: "restart", messages: [this.after], last },
    );
  }
  /** What the node's catch-up read does: the gap, then the new message. */
  catchUp(): void {
    this.#sink?.({ type: "gap", topic: "t", since: this.#position, reason: "restart" });
    this.#position = this.after.id;
    this.#sink?.({ type: "message", message: this.after });
  }
  stats(): HistoryStats {
    return { topics: 0, messages: 0, bytes: 0 };
  }
  metrics(): Metric[] {
    return [];
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("PushHub: a resume waits while this node catches up with a new epoch; one gap", async () => {
  const engine = new LaggingEngine();
  const hub = new PushHub({ engine });
  const { socket, asSocket } = fakeSocket();
  const done = hub.subscribe(asSocket, "t", { epoch: "old", seq: 1 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  // The store already answers with the new epoch, but this node is behind:
  // nothing yet, rather than `subscribed` at a position the gap will follow.
  assertEquals([socket.events, socket.frames, socket.topics.size], [[], [], 0]);
  engine.catchUp();
  await done;
  assertEquals(socket.events, [
    { type: "gap", topic: "t", since: "old:1", reason: "restart" },
    { type: "subscribed", topic: "t", last: "new:1" },
  ]);
  assertEquals(socket.frames, ["after"]);
  await hub.close();
});

Deno.test("PushHub.unsubscribe() during a replay stops it without subscribing", async () => {
  const hub = new PushHub({ replayChunkBytes: 100 });
  for (let i = 1; i <= 10; i++) hub.publish("t", { type: "text", text: `m${i}` });
  const { socket, asSocket } = fakeSocket();
  const done = hub.subscribe(asSocket, "t", { epoch: hub.engine.position("t").epoch, seq: 0 });
  const sent = socket.frames.length;
  assertEquals(hub.unsubscribe(asSocket, "t"), true);
  socket.bufferedAmount = 0;
  await done;
  assertEquals(socket.frames.length, sent);
  assertEquals(socket.topics.size, 0);
  assertEquals(socket.events, []);
  const metrics = renderMetrics(hub.metrics());
  assertStringIncludes(metrics, 'pushwire_resumes_total{outcome="complete"} 1\n');
});

Deno.test("the handshake refuses bad topics (400), bad since (400) and topics not allowed (403)", async (t) => {
  await withPush({
    maxSubscriptions: 2,
    authorize: (request) =>
      request.query.get("user") === null
        ? { accept: true }
        : { accept: true, data: { user: request.query.get("user") } },
    allowTopic: (topic, _request, data) =>
      !topic.startsWith("user:") || topic === `user:${(data as { user?: string })?.user}`,
  }, async (_push, port) => {
    const host = `127.0.0.1:${port}`;
    const cases: [string, string, number, string][] = [
      ["an invalid topic", "/?topic=a%20b", 400, "Cannot use topic"],
      ["too many topics", "/?topic=a&topic=b&topic=c", 400, "at most 2"],
      ["since for another topic", "/?topic=a&since=b:e:1", 400, "not subscribed"],
      ["a malformed since", "/?topic=a&since=yesterday", 400, "Invalid id"],
      ["another user's topic", "/?topic=user:7&user=8", 403, 'subscribe to "user:7"'],
      ["a user topic without a user", "/?topic=user:7", 403, "Not allowed"],
    ];
    for (const [name, path, status, message] of cases) {
      await t.step(`${name} → ${status}`, async () => {
        const response = await rawHttp(port, upgradeRequest(host, { path }));
        assert(response.startsWith(`HTTP/1.1 ${status} `), response);
        assertStringIncludes(response, message);
      });
    }
    await t.step("one's own user topic is fine; control messages obey the rule too", async () => {
      const client = new TestClient(port, "/?topic=user:7&user=7");
      await waitForEvent(client, subscribed("user:7"));
      client.ws.send('{"type":"subscribe","topic":"user:8"}');
      const received = await waitForEvent(client, (e) => e.type === "error");
      assertStringIncludes(String(received.at(-1)!.message), 'subscribe to "user:8"');
      client.ws.send('{"type":"subscribe","topic":"public"}');
      client.ws.send('{"type":"subscribe","topic":"one-too-many"}');
      const later = await waitForEvent(
        client,
        (e) => e.type === "error" && String(e.message).includes("at most 2"),
      );
      assert(later.some(subscribed("public")));
      await client.close();
    });
  });
});

Deno.test("shutdown under load: every subscriber gets 1001", async () => {
  const push = servePush({ port: 0, hostname: "127.0.0.1" });
  const port = push.server.addr.port;
  const clients = Array.from({ length: 20 }, (_, i) => new TestClient(port, `/?topic=t${i % 3}`));
  await Promise.all(clients.map((client) => client.opened));
  await until(() => push.server.topics.size === 3);
  let publishing = true;
  const publisher = (async () => {
    for (let i = 0; publishing; i++) {
      push.publish(`t${i % 3}`, { type: "text", text: `${i}:${"x".repeat(200)}` });
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 100));
  await push.server.shutdown();
  publishing = false;
  await publisher;
  const codes = await Promise.all(clients.map(async (client) => (await client.closed).code));
  assertEquals(codes, clients.map(() => CLOSE_CODE.GoingAway));
});
