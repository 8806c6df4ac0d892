/**
 * The chat room behind `pushwire` the CLI and its demo page: every client's
 * message goes to every client, with join and leave notices.
 *
 * The protocol is JSON text frames, one event per frame, told apart by
 * `type` (see {@linkcode ChatEvent}):
 *
 * ```text
 * → newcomer {"type":"welcome","id":"7","time":1700000000000,"peers":3,"members":[{"id":"7","name":"Ada"},{"id":"2"},…]}
 * → everyone {"type":"join","id":"7","time":1700000000000,"peers":3,"name":"Ada"}
 * → everyone {"type":"message","from":"7","name":"Ada","time":1700000000000,"text":"hi"}
 * → everyone {"type":"message","from":"server","time":1700000000000,"text":"hello"}
 * → everyone {"type":"leave","id":"7","time":1700000000000,"peers":2,"name":"Ada"}
 * → everyone {"type":"message","from":"7","name":"Ada","time":1700000000000,"data":"AAEC","encoding":"base64"}
 * → sender   {"type":"error","message":"Chat message too long: at most 16384 bytes"}
 * ```
 *
 * A newcomer's welcome is its first frame; its `members` lists the newcomer
 * first, then this node's other members in the order they joined, then
 * those of other nodes that share the room, at most
 * {@linkcode MAX_WELCOME_MEMBERS} of them (`peers` counts them all). `name`
 * is a member's name when it has one (a token's, or a nickname): on `join`,
 * `leave`, members, and messages whose sender is a member (on this node or
 * on another that shares the room). A binary message reaches everyone in
 * the same envelope as text, its bytes in base64, so that every message
 * names its sender. A message longer than the room's limit is refused with
 * an error event to its sender alone.
 *
 * @module
 */

import { encodeBase64 } from "@std/encoding";
import { DEFAULTS } from "../defaults.ts";
import { PreparedMessage } from "../protocol/deflate.ts";
import type { Metric } from "../server/metrics.ts";
import { fanoutMetrics } from "../server/server_metrics.ts";
import type { Socket } from "../server/socket.ts";

/** The most members a welcome lists; `peers` counts them all. */
export const MAX_WELCOME_MEMBERS = 100;

/** A member of the room as a welcome lists it. */
export interface ChatMember {
  /** Its socket id. */
  id: string;
  /** Its name, when it has one. */
  name?: string;
}

/**
 * The first event a socket gets: its own id, and who is in the room.
 *
 * @example Show who is here
 * ```ts
 * import type { ChatWelcome } from "./room.ts";
 *
 * const welcome: ChatWelcome = JSON.parse(
 *   '{"type":"welcome","id":"2","time":0,"peers":2,"members":[{"id":"2"},{"id":"1","name":"Ada"}]}',
 * );
 * console.log(welcome.members.map((m) => m.name ?? `guest ${m.id}`)); // [ "guest 2", "Ada" ]
 * ```
 */
export interface ChatWelcome {
  /** Always `"welcome"`. */
  type: "welcome";
  /** The newcomer's socket id. */
  id: string;
  /** When, in milliseconds since the epoch. */
  time: number;
  /** How many sockets are in the room now, the newcomer included. */
  peers: number;
  /**
   * The members: the newcomer first, then this node's others in the order
   * they joined, then those of other nodes; at most
   * {@linkcode MAX_WELCOME_MEMBERS}.
   */
  members: ChatMember[];
}

/**
 * A socket joined or left the room: everyone gets it (on `join`, the one
 * that joined too). `peers` counts the sockets in the room after the change.
 *
 * @example Tell presence from messages
 * ```ts
 * import type { ChatEvent } from "./room.ts";
 *
 * const event: ChatEvent = JSON.parse('{"type":"join","id":"2","time":0,"peers":2,"name":"Ada"}');
 * if (event.type === "join") console.log(`${event.name ?? event.id} joined; ${event.peers} here`);
 * ```
 */
export interface ChatPresence {
  /** What happened. */
  type: "join" | "leave";
  /** The id of the socket that joined or left. */
  id: string;
  /** When, in milliseconds since the epoch. */
  time: number;
  /** How many sockets are in the room now. */
  peers: number;
  /** Its name, when it has one. */
  name?: string;
}

/**
 * A text message: `from` is the sender's socket id, or `"server"` for a
 * message pushed by the server, for example with `serveChat`'s `push` (socket ids are never
 * `"server"`); `name` is the sender's name when it has one and the room
 * knows it (a member here, or on another node that shares the room).
 *
 * @example Print a message
 * ```ts
 * import type { ChatMessage } from "./room.ts";
 *
 * const message: ChatMessage = { type: "message", from: "server", time: 0, text: "hi" };
 * console.log(`${message.from}: ${message.text}`);
 * ```
 */
export interface ChatMessage {
  /** Always `"message"`. */
  type: "message";
  /** The sender's socket id, or `"server"`. */
  from: string;
  /** The sender's name, when known. */
  name?: string;
  /** When the server received it, in milliseconds since the epoch. */
  time: number;
  /** The message. */
  text: string;
}

/**
 * A binary message: its bytes in base64, with its sender as for text.
 *
 * @example Decode the bytes
 * ```ts
 * import type { ChatBinaryMessage } from "./room.ts";
 *
 * const event: ChatBinaryMessage = {
 *   type: "message",
 *   from: "7",
 *   time: 0,
 *   data: "AAEC",
 *   encoding: "base64",
 * };
 * console.log(Uint8Array.from(atob(event.data), (c) => c.charCodeAt(0))); // Uint8Array(3) [ 0, 1, 2 ]
 * ```
 */
export interface ChatBinaryMessage {
  /** Always `"message"`. */
  type: "message";
  /** The sender's socket id. */
  from: string;
  /** The sender's name, when known. */
  name?: string;
  /** When the server received it, in milliseconds since the epoch. */
  time: number;
  /** The bytes, in base64. */
  data: string;
  /** Always `"base64"`: tells a binary message from a text one. */
  encoding: "base64";
}

/** A message of the sender's was refused (only the sender gets it). */
export interface ChatError {
  /** Always `"error"`. */
  type: "error";
  /** Why. */
  message: string;
}

/**
 * Every event the room sends, as JSON in a text frame; `type` tells them
 * apart.
 *
 * @example Handle every kind of event
 * ```ts
 * import type { ChatEvent } from "./room.ts";
 *
 * function describe(event: ChatEvent): string {
 *   if (event.type === "error") return `refused: ${event.message}`;
 *   if (event.type === "welcome") return `welcome ${event.id}: ${event.peers} here`;
 *   if (event.type !== "message") return `${event.type} ${event.name ?? event.id}`;
 *   const from = event.name ?? event.from;
 *   return "text" in event ? `${from}: ${event.text}` : `${from}: binary`;
 * }
 * console.log(describe({ type: "leave", id: "3", time: 0, peers: 1, name: "Ada" })); // "leave Ada"
 * ```
 */
export type ChatEvent = ChatWelcome | ChatPresence | ChatMessage | ChatBinaryMessage | ChatError;

/**
 * The chat room: its members, and the events among them. Every event is
 * encoded once (and compressed once per permessage-deflate parameter set)
 * and the same frame queued on every member.
 *
 * @example A room on a server of your own
 * ```ts ignore
 * import { serve } from "jsr:@pushwire/pushwire";
 * import { Room } from "jsr:@pushwire/pushwire";
 *
 * const room = new Room();
 * serve({ port: 8080 }, async (socket) => {
 *   room.join(socket, socket.request.query.get("name") ?? undefined);
 *   for await (const message of socket) {
 *     if (typeof message === "string") room.say(socket.id, message);
 *   }
 *   await socket.closed;
 *   room.leave(socket);
 * });
 * ```
 */
export class Room {
  /** Every member, in the order they joined, with its name (if any). */
  readonly #members = new Map<Socket, string | undefined>();
  /** The names of members that have one, by id (on other nodes too). */
  readonly #names = new Map<string, string>();
  /** The ids of this node's members. */
  readonly #local = new Set<string>();
  /** Members on other nodes, by id, with their names (if any). */
  readonly #remote = new Map<string, string | undefined>();
  readonly #idOf: (socket: Socket) => string;
  #events = 0;
  #deliveries = 0;

  /**
   * Makes an empty room.
   *
   * @param options `idOf`: a member's id in events, unique across the
   * nodes that share the room (default: the socket's id).
   */
  constructor(options: { idOf?: (socket: Socket) => string } = {}) {
    this.#idOf = options.idOf ?? ((socket) => socket.id);
  }

  /** How many members the room has, on every node that shares it. */
  get size(): number {
    return this.#members.size + this.#remote.size;
  }

  /**
   * Whether a socket is in the room.
   *
   * @param socket A socket.
   * @returns `true` once it joined, until it left.
   */
  has(socket: Socket): boolean {
    return this.#members.has(socket);
  }

  /**
   * Adds a socket: it gets its welcome (with the members, itself first),
   * then everyone (itself included) a join notice.
   *
   * @param socket An open socket.
   * @param name The name to show for it (a token's, or a nickname), if any.
   */
  join(socket: Socket, name?: string): void {
    if (this.#members.has(socket)) return;
    const id = this.#idOf(socket);
    this.#members.set(socket, name);
    this.#local.add(id);
    if (name !== undefined) this.#names.set(id, name);
    const peers = this.size;
    const welcome: ChatWelcome = {
      type: "welcome",
      id,
      time: Date.now(),
      peers,
      members: this.#list(socket),
    };
    socket.send(JSON.stringify(welcome));
    this.#announce(presence("join", id, peers, name));
  }

  /**
   * Removes a socket and tells the others.
   *
   * @param socket A member.
   */
  leave(socket: Socket): void {
    const name = this.#members.get(socket);
    if (!this.#members.delete(socket)) return;
    const id = this.#idOf(socket);
    this.#local.delete(id);
    this.#names.delete(id);
    this.#announce(presence("leave", id, this.size, name));
  }

  /**
   * A member joined on another node that shares the room: the members here
   * get a join notice. Nothing for a member already known (or of this node).
   *
   * @param id Its id.
   * @param name Its name, if any.
   */
  joinRemote(id: string, name?: string): void {
    if (this.#local.has(id) || this.#remote.has(id)) return;
    this.#remote.set(id, name);
    if (name !== undefined) this.#names.set(id, name);
    this.#announce(presence("join", id, this.size, name));
  }

  /**
   * A member on another node left (or its node is gone): the members here
   * get a leave notice. Nothing for one not known.
   *
   * @param id Its id.
   */
  leaveRemote(id: string): void {
    if (!this.#remote.has(id)) return;
    const name = this.#remote.get(id);
    this.#remote.delete(id);
    this.#names.delete(id);
    this.#announce(presence("leave", id, this.size, name));
  }

  /**
   * Sends a text message to everyone, the sender included.
   *
   * @param from The sender's socket id, or `"server"`.
   * @param text The message.
   * @returns How many sockets it was queued for.
   */
  say(from: string, text: string): number {
    return this.#announce({ type: "message", from, ...this.#nameOf(from), time: Date.now(), text });
  }

  /**
   * Sends a binary message to everyone, the sender included, in the same
   * envelope as text (the bytes in base64).
   *
   * @param from The sender's socket id.
   * @param bytes The message.
   * @returns How many sockets it was queued for.
   */
  sayBytes(from: string, bytes: Uint8Array): number {
    return this.#announce({
      type: "message",
      from,
      ...this.#nameOf(from),
      time: Date.now(),
      data: encodeBase64(bytes),
      encoding: "base64",
    });
  }

  /** The room's fan-out, for `GET /metrics`. */
  metrics(): Metric[] {
    return [
      ...fanoutMetrics("room", this.#events, this.#deliveries),
      {
        name: "pushwire_room_members",
        help: "Sockets in the chat room on this node (those that named no topic).",
        type: "gauge",
        samples: [{ value: this.#members.size }],
      },
    ];
  }

  /** The members for a welcome: the newcomer first, at most MAX_WELCOME_MEMBERS. */
  #list(newcomer: Socket): ChatMember[] {
    const members = [member(this.#idOf(newcomer), this.#members.get(newcomer))];
    for (const [socket, name] of this.#members) {
      if (members.length >= MAX_WELCOME_MEMBERS) return members;
      if (socket !== newcomer) members.push(member(this.#idOf(socket), name));
    }
    for (const [id, name] of this.#remote) {
      if (members.length >= MAX_WELCOME_MEMBERS) break;
      members.push(member(id, name));
    }
    return members;
  }

  /** `{ name }` of a member that has one, else `{}`. */
  #nameOf(id: string): { name?: string } {
    const name = this.#names.get(id);
    return name === undefined ? {} : { name };
  }

  #announce(event: ChatEvent): number {
    return this.#send(new PreparedMessage(JSON.stringify(event)));
  }

  #send(message: PreparedMessage): number {
    let count = 0;
    for (const member of this.#members.keys()) if (member.sendPrepared(message)) count++;
    this.#events++;
    this.#deliveries += count;
    return count;
  }
}

function presence(
  type: ChatPresence["type"],
  id: string,
  peers: number,
  name: string | undefined,
): ChatPresence {
  const event: ChatPresence = { type, id, time: Date.now(), peers };
  if (name !== undefined) event.name = name;
  return event;
}

function member(id: string, name: string | undefined): ChatMember {
  return name === undefined ? { id } : { id, name };
}

/**
 * Why a chat message is refused, or `undefined` when the room takes it: a
 * message longer than `maxBytes` (text counted as UTF-8).
 *
 * @example
 * ```ts
 * import { chatRefusal } from "./room.ts";
 *
 * console.log(chatRefusal("hi", 4)); // undefined
 * console.log(chatRefusal("héllo", 4)); // "Chat message too long: at most 4 bytes"
 * ```
 *
 * @param message Text or bytes.
 * @param maxBytes The most bytes a message may have.
 * @returns The reason for the sender, or `undefined`.
 */
export function chatRefusal(
  message: string | Uint8Array,
  maxBytes: number = DEFAULTS.maxChatBytes,
): string | undefined {
  const size = typeof message !== "string"
    ? message.length
    : message.length * 3 <= maxBytes
    ? 0
    : encoder.encode(message).length;
  return size > maxBytes ? `Chat message too long: at most ${maxBytes} bytes` : undefined;
}

const encoder = new TextEncoder();
