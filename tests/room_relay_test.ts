import { assertEquals } from "@std/assert";
import type { Room } from "../src/chat/room.ts";
import { engineRelay, localRelay, receiveRoom, ROOM_TOPIC } from "../src/app/room_relay.ts";
import { type EngineMessage, MemoryEngine } from "../src/push/engine.ts";

/** A room that records what it was asked to say and relay. */
function recordingRoom(): { room: Room; said: string[]; relayed: number[][] } {
  const said: string[] = [];
  const relayed: number[][] = [];
  const room = {
    say: (from: string, text: string) => said.push(`${from}: ${text}`),
    sayBytes: (_from: string, bytes: Uint8Array) => relayed.push([...bytes]),
  } as unknown as Room;
  return { room, said, relayed };
}

Deno.test("engineRelay() carries text and bytes through the engine's room topic to every room", async () => {
  const engine = new MemoryEngine({ epoch: "e" });
  const { room, said, relayed } = recordingRoom();
  const topics: string[] = [];
  engine.listen((event) => {
    if (event.type !== "message") return;
    topics.push(event.message.topic);
    receiveRoom(room, event.message);
  });
  const relay = engineRelay(engine);
  await relay("7", "hi");
  await relay("8", new Uint8Array([0, 1, 255]));
  assertEquals(topics, [ROOM_TOPIC, ROOM_TOPIC]);
  assertEquals(said, ["7: hi"]);
  assertEquals(relayed, [[0, 1, 255]]);
});

Deno.test("localRelay() says text and relays bytes in the room at once", async () => {
  const { room, said, relayed } = recordingRoom();
  const relay = localRelay(room);
  await relay("server", "up");
  await relay("3", new Uint8Array([9]));
  assertEquals(said, ["server: up"]);
  assertEquals(relayed, [[9]]);
});

Deno.test("receiveRoom() ignores a malformed room message", () => {
  const { room, said, relayed } = recordingRoom();
  const message = (payload: string): EngineMessage => ({
    topic: ROOM_TOPIC,
    id: { epoch: "e", seq: 1 },
    time: 0,
    payload,
  });
  for (
    const payload of [
      "{",
      "null",
      '{"text":"no sender"}',
      '{"from":1,"text":"x"}',
      '{"from":"1"}',
      '{"from":"1","bytes":"***"}',
    ]
  ) {
    receiveRoom(room, message(payload));
  }
  assertEquals(said, []);
  assertEquals(relayed, []);
});
