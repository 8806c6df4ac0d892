/**
 * The chat room's names and members: a welcome lists who is in the room
 * (the newcomer first, at most 100), and join, leave and messages carry a
 * member's name. With sockets that record what they are sent, and through
 * `serveChat` and `servePush` with the nickname of the URL.
 */

import { assert, assertEquals } from "@std/assert";
import { servePush } from "../src/app/serve_push.ts";
import type { PreparedMessage } from "../src/protocol/deflate.ts";
import { type ChatWelcome, MAX_WELCOME_MEMBERS, Room } from "../src/chat/room.ts";
import { serveChat } from "../src/chat/serve_chat.ts";
import type { Server } from "../src/server/server.ts";
import type { Socket } from "../src/server/socket.ts";
import { rawHttp, upgradeRequest } from "./_raw_client.ts";
import { TestClient, until } from "./_server.ts";

/** A socket that keeps the events it is sent, without their time. */
function recordingSocket(id: string): { socket: Socket; events: Record<string, unknown>[] } {
  const events: Record<string, unknown>[] = [];
  const record = (text: string) => {
    const { time: _time, ...event } = JSON.parse(text);
    events.push(event);
    return true;
  };
  const decoder = new TextDecoder();
  const socket = {
    id,
    send: (text: string) => record(text),
    sendPrepared: (message: PreparedMessage) => record(decoder.decode(message.payload)),
  } as unknown as Socket;
  return { socket, events };
}

Deno.test("Room: members and their names in welcome, join, message and leave", () => {
  const room = new Room();
  const ada = recordingSocket("1");
  const guest = recordingSocket("2");
  room.join(ada.socket, "Ada");
  room.join(guest.socket);
  assertEquals(guest.events.slice(0, 2), [
    { type: "welcome", id: "2", peers: 2, members: [{ id: "2" }, { id: "1", name: "Ada" }] },
    { type: "join", id: "2", peers: 2 },
  ]);
  assertEquals(ada.events, [
    { type: "welcome", id: "1", peers: 1, members: [{ id: "1", name: "Ada" }] },
    { type: "join", id: "1", peers: 1, name: "Ada" },
    { type: "join", id: "2", peers: 2 },
  ]);
  room.say("1", "hi");
  room.say("2", "hello");
  room.say("server", "news");
  room.sayBytes("1", new Uint8Array([1]));
  room.leave(ada.socket);
  room.say("1", "gone"); // a sender no longer here (or on another node) has no name
  assertEquals(guest.events.slice(2), [
    { type: "message", from: "1", name: "Ada", text: "hi" },
    { type: "message", from: "2", text: "hello" },
    { type: "message", from: "server", text: "news" },
    { type: "message", from: "1", name: "Ada", data: "AQ==", encoding: "base64" },
    { type: "leave", id: "1", peers: 1, name: "Ada" },
    { type: "message", from: "1", text: "gone" },
  ]);
});

Deno.test(`Room: a welcome lists at most ${MAX_WELCOME_MEMBERS} members, the newcomer first`, () => {
  const room = new Room();
  for (let i = 0; i < 150; i++) room.join(recordingSocket(`m${i}`).socket, `name ${i}`);
  const newcomer = recordingSocket("new");
  room.join(newcomer.socket);
  const welcome = newcomer.events[0] as unknown as ChatWelcome;
  assertEquals(welcome.peers, 151);
  assertEquals(welcome.members.length, MAX_WELCOME_MEMBERS);
  assertEquals(welcome.members.slice(0, 3), [
    { id: "new" },
    { id: "m0", name: "name 0" },
    { id: "m1", name: "name 1" },
  ]);
});

Deno.test("Room: joining twice changes nothing", () => {
  const room = new Room();
  const one = recordingSocket("1");
  room.join(one.socket, "Ada");
  room.join(one.socket, "Ada");
  assertEquals(room.size, 1);
  assertEquals(one.events.map((event) => event.type), ["welcome", "join"]);
});

/** What a client got, parsed. */
const parse = (client: TestClient) =>
  client.messages.map((message) => JSON.parse(message as string) as Record<string, unknown>);

for (
  const [name, start] of [
    ["serveChat", () => serveChat({ port: 0, hostname: "127.0.0.1" }).server],
    ["servePush", () => servePush({ port: 0, hostname: "127.0.0.1" }).server],
  ] as const
) {
  Deno.test(`${name}: the nickname of the URL names a client in the room`, async () => {
    const server: Server = start();
    const port = server.addr.port;
    const ada = new TestClient(port, "/?name=%20Ada%20");
    await ada.opened;
    await ada.waitFor(2);
    const bob = new TestClient(port, "/?name=Bob");
    try {
      await bob.opened;
      await until(() => parse(ada).length >= 3, 5000, "Bob's join");
      const [welcome] = parse(bob);
      assertEquals(welcome?.type, "welcome");
      const members = welcome!.members as { id: string; name?: string }[];
      assertEquals(members.map((member) => member.name), ["Bob", "Ada"]);
      assertEquals(parse(ada)[2]?.name, "Bob");
      bob.ws.send("hi");
      await until(() => parse(ada).some((event) => event.text === "hi"), 5000, "the message");
      assertEquals(parse(ada).find((event) => event.text === "hi")?.name, "Bob");
    } finally {
      await Promise.all([ada.close(), bob.close()]);
      await server.shutdown();
    }
  });

  Deno.test(`${name}: a nickname too long or with control characters is refused with 400`, async () => {
    const server: Server = start();
    const port = server.addr.port;
    try {
      for (const nickname of ["x".repeat(33), "a%0Ab"]) {
        const path = `/?name=${nickname}`;
        const body = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`, { path }));
        assert(body.startsWith("HTTP/1.1 400 "), body);
        assert(body.includes("Invalid name"), body);
      }
    } finally {
      await server.shutdown();
    }
  });
}
