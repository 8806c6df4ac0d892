/**
 * The client in the chat room (src/client/room_events.ts, `say`, `room`
 * events): the room's envelopes read as the server sends them and checked
 * (a table); two clients that name no topic get a welcome with the members,
 * joins and leaves by name, each other's messages and the server's; `say`
 * refuses text the server would read as a control message, and rejects
 * when closed or over SSE; a message too long comes back as an `error`
 * event; across a server restart the client reconnects with backoff, gets a
 * new welcome, and a message said while it was away is sent once it is
 * back; `expiring` is an event.
 */

import { assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import { jwtAuthorizer } from "../src/auth/jwt.ts";
import { servePush } from "../src/app/serve_push.ts";
import {
  PublishError,
  PushClient,
  type PushClientEventMap,
  type RoomEvent,
} from "../src/client/mod.ts";
import { parseServerEvent } from "../src/client/events.ts";
import { roomEventOf, sayRefusal } from "../src/client/room_events.ts";
import { SECRET, signToken } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { until } from "./_server.ts";

const FAST = { backoff: { initial: 20, max: 100 } };

/** Every `room` event of a client, in order. */
function roomLog(client: PushClient): RoomEvent[] {
  const events: RoomEvent[] = [];
  client.addEventListener("room", (event) => events.push(event.detail));
  return events;
}

/** The next event of a type, within 5 s. */
function nextEvent<K extends keyof PushClientEventMap>(
  client: PushClient,
  type: K,
): Promise<PushClientEventMap[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${type}"`)), 5000);
    client.addEventListener(type, (event) => {
      clearTimeout(timer);
      resolve(event);
    }, { once: true });
  });
}

/** An event without its time, to compare. */
const noTime = (event: RoomEvent | undefined): Record<string, unknown> => {
  const { time: _, ...rest } = event ?? { time: 0 };
  return rest;
};

/** The texts of the messages in a log, with who sent them (its name, or its id). */
const texts = (events: RoomEvent[]) =>
  events.flatMap((event) =>
    event.type === "message" && "text" in event ? [[event.name ?? event.from, event.text]] : []
  );

Deno.test("roomEventOf() reads the room's envelopes and refuses other shapes", async (t) => {
  const cases: [string, Record<string, unknown>, RoomEvent | undefined][] = [
    [
      "a welcome, members checked one by one",
      {
        type: "welcome",
        id: "3",
        time: 1,
        peers: 3,
        members: [{ id: "3", name: "Ada" }, { id: "1", name: 7 }, { name: "no id" }, null],
      },
      {
        type: "welcome",
        id: "3",
        time: 1,
        peers: 3,
        members: [{ id: "3", name: "Ada" }, { id: "1" }],
      },
    ],
    [
      "a welcome without members (examples/chat.ts)",
      { type: "welcome", id: "3", time: 1, peers: 1 },
      { type: "welcome", id: "3", time: 1, peers: 1, members: [] },
    ],
    [
      "a join with a name, unknown fields dropped",
      { type: "join", id: "3", time: 1, peers: 2, name: "Ada", extra: true },
      { type: "join", id: "3", time: 1, peers: 2, name: "Ada" },
    ],
    ["a leave without a name", { type: "leave", id: "3", time: 1, peers: 1 }, {
      type: "leave",
      id: "3",
      time: 1,
      peers: 1,
    }],
    [
      "a text message",
      { type: "message", from: "3", name: "Ada", time: 1, text: "hi" },
      { type: "message", from: "3", name: "Ada", time: 1, text: "hi" },
    ],
    [
      "the server's message",
      { type: "message", from: "server", time: 1, text: "hello" },
      { type: "message", from: "server", time: 1, text: "hello" },
    ],
    [
      "a binary message",
      { type: "message", from: "3", time: 1, data: "AAEC", encoding: "base64" },
      { type: "message", from: "3", time: 1, data: "AAEC", encoding: "base64" },
    ],
    ["presence's join names a topic", {
      type: "join",
      topic: "room:1",
      client: "7",
      id: "7",
      time: 1,
      peers: 1,
    }, undefined],
    ["a join without peers", { type: "join", id: "3", time: 1 }, undefined],
    ["an id that is a number", { type: "leave", id: 3, time: 1, peers: 1 }, undefined],
    ["no time", { type: "message", from: "3", text: "hi" }, undefined],
    ["a message without text or data", { type: "message", from: "3", time: 1 }, undefined],
    ["data that is not base64", { type: "message", from: "3", time: 1, data: "x" }, undefined],
    ["a sender that is not a string", { type: "message", from: 3, time: 1, text: "hi" }, undefined],
    ["another type", { type: "published", id: "3", time: 1, peers: 1 }, undefined],
  ];
  for (const [name, fields, expected] of cases) {
    await t.step(name, () => assertEquals(roomEventOf(fields), expected));
  }
  await t.step("parseServerEvent() wraps them, and keeps presence events apart", () => {
    assertEquals(parseServerEvent('{"type":"leave","id":"3","time":1,"peers":1}'), {
      type: "room",
      event: { type: "leave", id: "3", time: 1, peers: 1 },
    });
    assertEquals(parseServerEvent('{"type":"leave","topic":"room:1","client":"3"}'), {
      type: "leave",
      topic: "room:1",
      client: "3",
    });
  });
});

Deno.test("sayRefusal() refuses what the server would read as a control message", () => {
  for (const text of ["hi", "", "{not json", '{"type":"message"}', "[1]", '"publish"']) {
    assertEquals(sayRefusal(text), undefined, text);
  }
  for (const type of ["subscribe", "unsubscribe", "publish", "token"]) {
    const refusal = sayRefusal(` {"type":"${type}","topic":"news"}`);
    assertInstanceOf(refusal, TypeError);
    assertEquals(
      refusal.message,
      `Cannot say: the server would read it as a ${type} message, not chat`,
    );
  }
  assertInstanceOf(sayRefusal(42), TypeError);
});

Deno.test("two clients in the room: welcome, joins and leaves by name, messages both ways", async () => {
  await withPush({ maxChatBytes: 64 }, async (push, port) => {
    const ada = new PushClient(`ws://127.0.0.1:${port}/`, { name: "Ada" });
    const adaLog = roomLog(ada);
    await until(() => adaLog.length === 2, 5000, "Ada's welcome and join");
    const [welcome, joined] = adaLog as [RoomEvent & { type: "welcome" }, RoomEvent];
    assertEquals([welcome.type, welcome.peers, welcome.members], ["welcome", 1, [{
      id: welcome.id,
      name: "Ada",
    }]]);
    assertEquals(noTime(joined), { type: "join", id: welcome.id, peers: 1, name: "Ada" });

    const bob = new PushClient(`ws://127.0.0.1:${port}/`, { name: "Bob" });
    const bobLog = roomLog(bob);
    await until(() => bobLog.length === 2 && adaLog.length === 3, 5000, "Bob's join");
    const bobWelcome = bobLog[0] as RoomEvent & { type: "welcome" };
    assertEquals(bobWelcome.members.map((member) => member.name), ["Bob", "Ada"]);
    assertEquals(noTime(adaLog[2]), { type: "join", id: bobWelcome.id, peers: 2, name: "Bob" });

    await ada.say("hello Bob");
    await bob.say("hi Ada ✓");
    await until(() => texts(adaLog).length === 2, 5000, "Ada's and Bob's messages");
    assertEquals(push.push("from the server"), 2);
    const expected = [["Ada", "hello Bob"], ["Bob", "hi Ada ✓"], ["server", "from the server"]];
    await until(() => texts(adaLog).length === 3 && texts(bobLog).length === 3, 5000, "messages");
    assertEquals([texts(adaLog), texts(bobLog)], [expected, expected]);

    await assertRejects(() => ada.say('{"type":"publish","topic":"room:1","data":1}'), TypeError);
    const refused = nextEvent(ada, "error");
    await ada.say("x".repeat(65));
    assertEquals((await refused).detail.message, "Chat message too long: at most 64 bytes");

    bob.close();
    await until(() => adaLog.at(-1)?.type === "leave", 5000, "Bob's leave");
    assertEquals(noTime(adaLog.at(-1)), {
      type: "leave",
      id: bobWelcome.id,
      peers: 1,
      name: "Bob",
    });
    await assertRejects(() => bob.say("gone"), PublishError, "Cannot say: the client is closed");
    ada.close();
  });
});

Deno.test("in the room across a restart: backoff, a new welcome, what was said meanwhile sent once back", async () => {
  let push = servePush({ port: 0, hostname: "127.0.0.1" });
  const port = push.server.addr.port;
  const client = new PushClient(`ws://127.0.0.1:${port}/`, { ...FAST, name: "Ada" });
  const log = roomLog(client);
  const states: string[] = [];
  client.addEventListener("state", (event) => states.push(event.detail.state));
  try {
    await until(() => log.length === 2, 5000, "the welcome");
    await push.server.shutdown();
    await until(() => client.state === "reconnecting", 5000, "the drop");
    const said = client.say("said while away");
    const first = log.length;
    push = servePush({ port, hostname: "127.0.0.1" });
    await said; // sent once the client is back
    await until(() => texts(log).length === 1, 5000, "the message");
    const again = log.slice(first).map((event) => event.type);
    assertEquals(again, ["welcome", "join", "message"]);
    assertEquals(texts(log), [["Ada", "said while away"]]);
    assertEquals(states[0], "open");
    assertEquals(states.at(-1), "open");
    assertEquals(states.filter((state) => state === "open").length, 2);
  } finally {
    client.close();
    await push.server.shutdown();
  }
});

Deno.test("say() rejects over SSE; expiring is an event", async (t) => {
  await t.step("SSE: refused, nothing sent", async () => {
    const client = new PushClient("ws://push.test/", {
      transport: "sse",
      fetch: () => new Promise(() => {}),
    });
    const error = await assertRejects(() => client.say("hi"), PublishError);
    assertEquals([error.outcome, error.message], [
      "refused",
      "Cannot say over SSE: it only carries the server's events",
    ]);
    client.close();
  });
  await t.step("expiring: the token's expiry, before the renewal", async () => {
    await withPush({ authorize: jwtAuthorizer({ secret: SECRET }) }, async (_push, port) => {
      const token = () => signToken({ topics: ["news"], expiresIn: 20 });
      const client = new PushClient(`ws://127.0.0.1:${port}/`, { ...FAST, token });
      client.subscribe("news");
      const expiring = await nextEvent(client, "expiring");
      const left = expiring.detail.expires - Date.now();
      assertEquals(left > 10_000 && left <= 20_000, true, `${left} ms`);
      client.close();
    });
  });
});
