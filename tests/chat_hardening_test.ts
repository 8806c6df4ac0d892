/**
 * The chat room against hostile input, on loopback: a line longer than the
 * room's limit is refused to its sender alone, so no peer ever gets an
 * envelope larger than the limit allows (JSON escaping included).
 */

import { assert, assertEquals } from "@std/assert";
import { servePush } from "../src/app/serve_push.ts";
import { serveChat } from "../src/chat/serve_chat.ts";
import type { Server } from "../src/server/server.ts";
import { TestClient, until } from "./_server.ts";

type Event = Record<string, unknown> & { type: string };

const parse = (client: TestClient): Event[] =>
  client.messages.map((message) => JSON.parse(message as string));

/** Two chat clients: the sender sends `text`; returns what each then got. */
async function chatOf(server: Server, send: string | Uint8Array) {
  const port = server.addr.port;
  const [a, b] = await TestClient.open(port, 2);
  await until(() => parse(b!).filter((e) => e.type === "join").length >= 1, 5000, "joins");
  const before = [a!.messages.length, b!.messages.length];
  a!.ws.send(send);
  a!.ws.send("after"); // a marker: whatever the first caused comes before it
  const marker = (client: TestClient) => parse(client).some((event) => event.text === "after");
  await until(() => marker(a!) && marker(b!), 5000, "the marker");
  const after = (client: TestClient, i: number) =>
    client.messages.slice(before[i]!).map((message) => message as string);
  const result = { sender: after(a!, 0), peer: after(b!, 1) };
  for (const client of [a!, b!]) client.ws.close();
  await Promise.all([a!.closed, b!.closed]);
  return result;
}

for (
  const [name, start] of [
    ["servePush", () => servePush({ port: 0, hostname: "127.0.0.1" }).server],
    ["serveChat", () => serveChat({ port: 0, hostname: "127.0.0.1" }).server],
  ] as const
) {
  Deno.test(`${name}: a 1 MiB chat line of control characters is refused to its sender alone`, async () => {
    const server = start();
    try {
      const { sender, peer } = await chatOf(server, "\u0001".repeat(1024 * 1024));
      assertEquals(JSON.parse(sender[0]!), {
        type: "error",
        message: "Chat message too long: at most 16384 bytes",
      });
      assertEquals(peer.length, 1, "the peer got only the marker");
      assertEquals(JSON.parse(peer[0]!).text, "after");
    } finally {
      await server.shutdown();
    }
  });

  Deno.test(`${name}: a chat line at the limit reaches peers in an envelope of bounded size`, async () => {
    const server = start();
    try {
      const { peer } = await chatOf(server, "\u0001".repeat(16 * 1024));
      const envelope = peer[0]!;
      assertEquals(JSON.parse(envelope).text.length, 16 * 1024);
      assert(envelope.length <= 6 * 16 * 1024 + 256, `an envelope of ${envelope.length} bytes`);
    } finally {
      await server.shutdown();
    }
  });

  Deno.test(`${name}: binary chat over the limit is refused, within it carries its sender`, async () => {
    const server = start();
    try {
      const big = await chatOf(server, new Uint8Array(16 * 1024 + 1));
      assertEquals(JSON.parse(big.sender[0]!).type, "error");
      assertEquals(big.peer.length, 1);
      const small = await chatOf(server, new Uint8Array([7, 8]));
      const event = JSON.parse(small.peer[0]!);
      assertEquals([event.type, event.data, event.encoding], ["message", "Bwg=", "base64"]);
      assertEquals(typeof event.from, "string");
    } finally {
      await server.shutdown();
    }
  });
}

Deno.test("a chat flood past the message rate: the burst goes through, the rest is dropped with one notice", async () => {
  const server = servePush({ port: 0, hostname: "127.0.0.1" }).server;
  try {
    const [a, b] = await TestClient.open(server.addr.port, 2);
    await until(() => parse(b!).filter((e) => e.type === "join").length >= 1, 5000, "joins");
    for (let i = 0; i < 300; i++) a!.ws.send(`line ${i}`);
    await until(() => parse(a!).some((e) => e.type === "error"), 5000, "the notice");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const lines = parse(b!).filter((e) => e.type === "message").map((e) => e.text);
    assert(lines.length >= 100 && lines.length <= 110, `${lines.length} lines relayed`);
    assertEquals(lines.slice(0, 100), Array.from({ length: 100 }, (_, i) => `line ${i}`));
    const notices = parse(a!).filter((e) => e.type === "error");
    assertEquals(notices.length, 1);
    assertEquals(
      notices[0]!.message,
      "Too many messages: some were dropped (at most 10 a second, 100 at once)",
    );
    const dropped = (text: string) =>
      Number(/^pushwire_messages_dropped_total (\d+)$/m.exec(text)?.[1]);
    assert(dropped(server.metrics.render()) >= 190, server.metrics.render());
    for (const client of [a!, b!]) client.ws.close();
    await Promise.all([a!.closed, b!.closed]);
    await until(
      () =>
        /pushwire_sockets_closed_by_cause_total\{cause="peer"\} 2/.test(server.metrics.render()),
      5000,
      "both closes counted by cause",
    );
  } finally {
    await server.shutdown();
  }
});
