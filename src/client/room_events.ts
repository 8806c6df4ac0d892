/**
 * The chat room as the client reads it: a WebSocket connection that names
 * no topic is in the server's chat room (docs/chat.md), where every text
 * message it sends is chat and it gets `welcome`, `join`, `leave` and
 * `message` envelopes. {@linkcode roomEventOf} checks an envelope's shape
 * and keeps only its known fields, so that the application gets the types
 * it was promised.
 *
 * @module
 */

/** A member of the room, as a welcome lists it. */
export interface RoomMember {
  /** Its id in the room. */
  id: string;
  /** Its name (a token's, or a nickname), when it has one. */
  name?: string;
}

/** The first envelope of a connection in the room: its own id, and who is there. */
export interface RoomWelcome {
  /** Always `"welcome"`. */
  type: "welcome";
  /** This connection's id in the room (a new one after each reconnect). */
  id: string;
  /** When, in milliseconds since the epoch. */
  time: number;
  /** How many are in the room, this connection included. */
  peers: number;
  /** The members, this connection first; at most 100 (`peers` counts them all). */
  members: RoomMember[];
}

/** Someone joined (this connection too, after its welcome) or left the room. */
export interface RoomPresence {
  /** What happened. */
  type: "join" | "leave";
  /** The id of who joined or left. */
  id: string;
  /** When, in milliseconds since the epoch. */
  time: number;
  /** How many are in the room after it. */
  peers: number;
  /** Its name, when it has one. */
  name?: string;
}

/** A text message, this connection's own included. */
export interface RoomMessage {
  /** Always `"message"`. */
  type: "message";
  /** The sender's id, or `"server"` for a message of the server's. */
  from: string;
  /** The sender's name, when it has one. */
  name?: string;
  /** When the server got it, in milliseconds since the epoch. */
  time: number;
  /** The message. */
  text: string;
}

/** A binary message: its bytes in base64, its sender as for text. */
export interface RoomBinaryMessage {
  /** Always `"message"`. */
  type: "message";
  /** The sender's id. */
  from: string;
  /** The sender's name, when it has one. */
  name?: string;
  /** When the server got it, in milliseconds since the epoch. */
  time: number;
  /** The bytes, in base64. */
  data: string;
  /** Always `"base64"`: tells a binary message from a text one. */
  encoding: "base64";
}

/**
 * The detail of a `room` event: one of the chat room's envelopes, told apart
 * by `type` (a refused chat message comes as an `error` event instead).
 */
export type RoomEvent = RoomWelcome | RoomPresence | RoomMessage | RoomBinaryMessage;

type Fields = Record<string, unknown>;

/** The `type`s of the server's control messages. */
const CONTROL_TYPES = ["subscribe", "unsubscribe", "publish", "token"];

/**
 * Reads one of the room's envelopes: `welcome`, `join` or `leave` with a
 * string `id` and numbers `time` and `peers`, or `message` with a string
 * `from`, a number `time` and a string `text` (or base64 `data`). A
 * presence `join` or `leave` names a topic: it is not the room's.
 *
 * @example
 * ```ts
 * import { roomEventOf } from "./room_events.ts";
 *
 * console.log(roomEventOf({ type: "join", id: "7", time: 0, peers: 2, name: "Ada", extra: 1 }));
 * // { type: "join", id: "7", time: 0, peers: 2, name: "Ada" }
 * console.log(roomEventOf({ type: "join", topic: "room:1", client: "7" })); // undefined
 * ```
 *
 * @param fields A JSON object the server sent.
 * @returns The envelope, or `undefined` when it is not one.
 */
export function roomEventOf(fields: Fields): RoomEvent | undefined {
  if (typeof fields.time !== "number" || "topic" in fields) return undefined;
  const { type, time } = fields;
  if (type === "message") return roomMessageOf(fields, time);
  if (typeof fields.id !== "string" || typeof fields.peers !== "number") return undefined;
  const { id, peers } = fields;
  if (type === "welcome") {
    const members = Array.isArray(fields.members) ? fields.members.flatMap(roomMemberOf) : [];
    return { type, id, time, peers, members };
  }
  if (type !== "join" && type !== "leave") return undefined;
  return { type, id, time, peers, ...roomNameOf(fields) };
}

function roomMessageOf(fields: Fields, time: number): RoomMessage | RoomBinaryMessage | undefined {
  const { from, text, data } = fields;
  if (typeof from !== "string") return undefined;
  const sender = { type: "message" as const, from, ...roomNameOf(fields), time };
  if (typeof text === "string") return { ...sender, text };
  if (typeof data !== "string" || fields.encoding !== "base64") return undefined;
  return { ...sender, data, encoding: "base64" };
}

function roomMemberOf(value: unknown): RoomMember[] {
  if (typeof value !== "object" || value === null) return [];
  const fields = value as Fields;
  return typeof fields.id === "string" ? [{ id: fields.id, ...roomNameOf(fields) }] : [];
}

function roomNameOf(fields: Fields): { name?: string } {
  return typeof fields.name === "string" ? { name: fields.name } : {};
}

/**
 * Why a text cannot be said in the room, or `undefined`: the server reads
 * a text message as a control message first, so a JSON object whose `type`
 * is `subscribe`, `unsubscribe`, `publish` or `token` would not be chat.
 *
 * @example
 * ```ts
 * import { sayRefusal } from "./room_events.ts";
 *
 * console.log(sayRefusal("hi")); // undefined
 * console.log(sayRefusal('{"type":"publish","topic":"news","data":1}') !== undefined); // true
 * ```
 *
 * @param text What the application wants to say.
 * @returns The error to reject with, or `undefined`.
 */
export function sayRefusal(text: unknown): TypeError | undefined {
  if (typeof text !== "string") return new TypeError("Cannot say: the message must be a string");
  if (!text.trimStart().startsWith("{")) return undefined;
  let type: unknown;
  try {
    type = (JSON.parse(text) as Fields | null)?.type;
  } catch {
    return undefined;
  }
  return CONTROL_TYPES.includes(type as string)
    ? new TypeError(`Cannot say: the server would read it as a ${type} message, not chat`)
    : undefined;
}
