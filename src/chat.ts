/**
 * The chat room behind `pushwire` the CLI and its demo page: every client's
 * message goes to every client, with join and leave notices.
 *
 * The protocol is JSON text frames, one event per frame, told apart by
 * `type` (see {@linkcode ChatEvent}):
 *
 * ```text
 * → newcomer {"type":"welcome","id":"7","time":1700000000000,"peers":3}
 * → everyone {"type":"join","id":"7","time":1700000000000,"peers":3}
 * → everyone {"type":"message","from":"7","time":1700000000000,"text":"hi"}
 * → everyone {"type":"message","from":"server","time":1700000000000,"text":"hello"}
 * → everyone {"type":"leave","id":"7","time":1700000000000,"peers":2}
 * ```
 *
 * A newcomer's welcome is its first frame. Binary messages are relayed to
 * everyone as they came, without an envelope.
 *
 * @module
 */

import type { Registry } from "./registry.ts";
import { serve, type ServeOptions, type Server } from "./server.ts";
import type { Socket } from "./socket.ts";

/**
 * A change in the room: `welcome` goes to the socket that joined (with its
 * own id), `join` and `leave` to everyone. `peers` counts the sockets in the
 * room after the change.
 *
 * @example Tell presence from messages
 * ```ts
 * import type { ChatEvent } from "./chat.ts";
 *
 * const event: ChatEvent = JSON.parse('{"type":"join","id":"2","time":0,"peers":2}');
 * if (event.type === "join") console.log(`${event.id} joined; ${event.peers} here`);
 * ```
 */
export interface ChatPresence {
  /** What happened. */
  type: "welcome" | "join" | "leave";
  /** The id of the socket that joined or left. */
  id: string;
  /** When, in milliseconds since the epoch. */
  time: number;
  /** How many sockets are in the room now. */
  peers: number;
}

/**
 * A text message: `from` is the sender's socket id, or `"server"` for a
 * message pushed with {@linkcode ChatRoom.push} (socket ids are never
 * `"server"`).
 *
 * @example Print a message
 * ```ts
 * import type { ChatMessage } from "./chat.ts";
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
  /** When the server received it, in milliseconds since the epoch. */
  time: number;
  /** The message. */
  text: string;
}

/**
 * Every event the room sends, as JSON in a text frame; `type` tells them
 * apart.
 *
 * @example Handle every kind of event
 * ```ts
 * import type { ChatEvent } from "./chat.ts";
 *
 * function describe(event: ChatEvent): string {
 *   return event.type === "message" ? `${event.from}: ${event.text}` : `${event.type} ${event.id}`;
 * }
 * console.log(describe({ type: "leave", id: "3", time: 0, peers: 1 }));
 * ```
 */
export type ChatEvent = ChatPresence | ChatMessage;

/**
 * A running chat server, made by {@linkcode serveChat}.
 *
 * @example Push a line to everyone every second
 * ```ts ignore
 * import { serveChat } from "./chat.ts";
 *
 * const room = serveChat({ port: 8080 });
 * setInterval(() => room.push(new Date().toISOString()), 1000);
 * ```
 */
export interface ChatRoom {
  /** The server the room runs on: its address, sockets and shutdown. */
  readonly server: Server;
  /**
   * Sends a server message (`from: "server"`) to everyone in the room.
   *
   * @param text The message.
   * @returns How many sockets it was queued for.
   */
  push(text: string): number;
}

/**
 * Starts a server that runs a chat room: it welcomes every socket that joins,
 * announces joins and leaves, and relays each message to every socket, the
 * sender included (text in a {@linkcode ChatMessage} envelope, binary as it
 * came). Every event is encoded once for all sockets.
 *
 * A newcomer's first frame is its welcome: the room greets each socket in the
 * server's handler, which runs as the socket joins, before another can.
 *
 * @example The chat server on port 8080
 * ```ts ignore
 * import { serveChat } from "./chat.ts";
 *
 * const room = serveChat({ port: 8080 });
 * console.log(`http://localhost:${room.server.addr.port}/`);
 * room.push("the server is up");
 * ```
 *
 * @param options Where to listen, limits and timeouts, as for `serve()`.
 * @returns The room: its server, and a way to push server messages.
 */
export function serveChat(options: ServeOptions = {}): ChatRoom {
  const server: Server = serve(options, (socket) => attend(server.sockets, socket));
  return {
    server,
    push: (text) =>
      announce(server.sockets, { type: "message", from: "server", time: Date.now(), text }),
  };
}

/** One socket's stay in the room: welcome, join, its messages, leave. */
async function attend(sockets: Registry, socket: Socket): Promise<void> {
  const peers = sockets.size;
  socket.send(JSON.stringify(presence("welcome", socket.id, peers)));
  announce(sockets, presence("join", socket.id, peers));
  for await (const message of socket) {
    if (typeof message === "string") {
      announce(sockets, { type: "message", from: socket.id, time: Date.now(), text: message });
    } else {
      sockets.broadcast(message);
    }
  }
  await socket.closed;
  const left = sockets.get(socket.id) === socket ? sockets.size - 1 : sockets.size;
  announce(sockets, presence("leave", socket.id, left));
}

function presence(type: ChatPresence["type"], id: string, peers: number): ChatPresence {
  return { type, id, time: Date.now(), peers };
}

function announce(sockets: Registry, event: ChatEvent): number {
  return sockets.broadcast(JSON.stringify(event));
}
