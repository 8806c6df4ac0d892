import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { Registry } from "../src/server/registry.ts";
import type { PreparedMessage } from "../src/protocol/deflate.ts";
import type { Socket } from "../src/server/socket.ts";
import { TestClient, until, withServer } from "./_server.ts";

// A stand-in with the parts of a Socket the registry uses.
function fakeSocket(id: string) {
  const closed = Promise.withResolvers<{ code: number; reason: string; wasClean: boolean }>();
  const frames: Uint8Array[] = [];
  const socket = {
    id,
    closed: closed.promise,
    sendFrame(frame: Uint8Array) {
      frames.push(frame);
      return true;
    },
    sendPrepared(message: PreparedMessage) {
      frames.push(message.frame(undefined));
      return true;
    },
  } as unknown as Socket;
  return {
    socket,
    frames,
    close: () => closed.resolve({ code: 1000, reason: "", wasClean: true }),
  };
}

Deno.test("Registry keeps add/delete/size/get/has and leaves on close", async () => {
  const registry = new Registry();
  const a = fakeSocket("a");
  const b = fakeSocket("b");
  registry.add(a.socket);
  registry.add(b.socket);
  assertEquals(registry.size, 2);
  assertStrictEquals(registry.get("a"), a.socket);
  assertEquals(registry.has("b"), true);
  assertEquals([...registry].map((s) => s.id), ["a", "b"]);
  a.close();
  await a.socket.closed;
  await Promise.resolve();
  assertEquals(registry.size, 1);
  assertEquals(registry.delete(b.socket), true);
  assertEquals(registry.delete(b.socket), false);
  assertEquals(registry.size, 0);
});

Deno.test("Registry iterators see later joins only, run independently, and end", async () => {
  const registry = new Registry();
  registry.add(fakeSocket("before").socket);
  const collect = async () => {
    const ids: string[] = [];
    for await (const socket of registry) ids.push(socket.id);
    return ids;
  };
  const first = collect();
  registry.add(fakeSocket("one").socket);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const late = collect();
  registry.add(fakeSocket("two").socket);
  registry.add(fakeSocket("three").socket);
  registry.end();
  assertEquals(await first, ["one", "two", "three"]);
  assertEquals(await late, ["two", "three"]);
  assertThrows(() => registry.add(fakeSocket("after").socket), Error, "ended");
});

Deno.test("Registry.broadcast() encodes once and shares the bytes, except one", () => {
  const registry = new Registry();
  const sockets = ["a", "b", "c"].map(fakeSocket);
  for (const { socket } of sockets) registry.add(socket);
  const count = registry.broadcast("hi", { except: sockets[1]!.socket });
  assertEquals(count, 2);
  assertEquals(sockets[0]!.frames, [new Uint8Array([0x81, 0x02, 0x68, 0x69])]);
  assertEquals(sockets[1]!.frames.length, 0);
  assertStrictEquals(sockets[0]!.frames[0], sockets[2]!.frames[0]);
  assertEquals(registry.broadcast(new Uint8Array([1])), 3);
  assertEquals(sockets[1]!.frames[0], new Uint8Array([0x82, 0x01, 0x01]));
});

Deno.test("server.sockets yields real sockets as clients join", async () => {
  await withServer({}, undefined, async (server, port) => {
    const joined = (async () => {
      const ids: string[] = [];
      for await (const socket of server.sockets) {
        ids.push(socket.id);
        if (ids.length === 2) break;
      }
      return ids;
    })();
    const clients = await TestClient.open(port, 2);
    assertEquals((await joined).length, 2);
    await until(() => server.sockets.size === 2);
    await Promise.all(clients.map((client) => client.close()));
    await until(() => server.sockets.size === 0);
  });
});

Deno.test("Registry.add() with leaveOnClose false keeps a closed socket until deleted", async () => {
  const registry = new Registry();
  const a = fakeSocket("a");
  registry.add(a.socket, { leaveOnClose: false });
  a.close();
  await a.socket.closed;
  await Promise.resolve();
  assertEquals(registry.size, 1, "its owner deletes it");
  assertEquals(registry.delete(a.socket), true);
});
