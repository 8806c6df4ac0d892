/**
 * The chat room of the push server, on one node or across nodes: with an
 * engine that is not shared, a chat message goes straight to this node's
 * room; with a shared engine it travels through the engine's internal
 * topic {@linkcode ROOM_TOPIC}, and every node's room gets it as it comes
 * back.
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "@std/encoding";
import type { Room } from "../chat/room.ts";
import type { Engine, EngineMessage } from "../push/engine.ts";

/**
 * The engine topic that carries the chat room between nodes: it is internal
 * (its name starts with `#`, which client topic names cannot), so no client
 * can subscribe to it.
 */
export const ROOM_TOPIC = "#room";

/**
 * Sends a chat message (text, or bytes relayed as they came) from a socket
 * id, or from `"server"`.
 *
 * @param from The sender.
 * @param message The message.
 * @returns Resolves once the message is on its way.
 */
export type ChatRelay = (from: string, message: string | Uint8Array) => Promise<void>;

/**
 * The relay for a room on this node only.
 *
 * @param room The room.
 * @returns A relay that says (text) or relays (bytes) in the room at once.
 */
export function localRelay(room: Room): ChatRelay {
  return (from, message) => {
    if (typeof message === "string") room.say(from, message);
    else room.sayBytes(from, message);
    return Promise.resolve();
  };
}

/**
 * The relay through a shared engine: every node's room gets the message
 * from {@linkcode receiveRoom}.
 *
 * @param engine The shared engine.
 * @returns A relay that publishes to {@linkcode ROOM_TOPIC}.
 */
export function engineRelay(engine: Engine): ChatRelay {
  return async (from, message) => {
    await engine.append(ROOM_TOPIC, roomPayload(from, message));
  };
}

/**
 * Hands a chat message that came through the engine to this node's room;
 * a malformed one is ignored.
 *
 * @example
 * ```ts
 * import { Room } from "../chat/room.ts";
 * import { receiveRoom, ROOM_TOPIC } from "./room_relay.ts";
 *
 * const room = new Room();
 * const payload = JSON.stringify({ from: "7", text: "hi" });
 * receiveRoom(room, { topic: ROOM_TOPIC, id: { epoch: "e", seq: 1 }, time: 0, payload });
 * ```
 *
 * @param room This node's room.
 * @param message A message of {@linkcode ROOM_TOPIC}.
 */
export function receiveRoom(room: Room, message: EngineMessage): void {
  let chat: { from?: unknown; text?: unknown; bytes?: unknown } | null;
  let bytes: Uint8Array | undefined;
  try {
    chat = JSON.parse(message.payload);
    if (typeof chat?.bytes === "string") bytes = decodeBase64(chat.bytes);
  } catch {
    return;
  }
  if (typeof chat !== "object" || chat === null || typeof chat.from !== "string") return;
  if (typeof chat.text === "string") room.say(chat.from, chat.text);
  else if (bytes !== undefined) room.sayBytes(chat.from, bytes);
}

/** A chat message as it travels through a shared engine. */
function roomPayload(from: string, message: string | Uint8Array): string {
  return JSON.stringify(
    typeof message === "string" ? { from, text: message } : { from, bytes: encodeBase64(message) },
  );
}
