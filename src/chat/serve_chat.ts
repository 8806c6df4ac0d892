/**
 * A server that runs one chat room, with the demo page at `/`: the room of
 * `room.ts` on {@linkcode serve}.
 *
 * @module
 */

import { clientRate, DEFAULTS } from "../defaults.ts";
import { serve, type Server } from "../server/server.ts";
import type { Authorization, AuthorizeInfo, ServeOptions } from "../server/options.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import type { Socket } from "../server/socket.ts";
import { nicknameOf } from "./nickname.ts";
import { CHAT_PAGE, CHAT_PAGE_ROUTES } from "./page.ts";
import { chatRefusal, Room } from "./room.ts";

/**
 * A running chat server, made by {@linkcode serveChat}.
 *
 * @example Push a line to everyone every second
 * ```ts ignore
 * import { serveChat } from "./serve_chat.ts";
 *
 * const room = serveChat({ port: 8080 });
 * setInterval(() => room.push(new Date().toISOString()), 1000);
 * ```
 */
/** Options for {@linkcode serveChat}: the server's, and the room's limit. */
export interface ServeChatOptions extends ServeOptions {
  /**
   * The most bytes of one chat message (text as UTF-8, or binary); a longer
   * one is refused with an error event to its sender.
   *
   * @default {16384}
   */
  maxChatBytes?: number;
}

/** A running chat room, made by {@linkcode serveChat}. */
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
 * sender included (text or binary, in an envelope that names the sender).
 * Every event is encoded once for all sockets. A client is shown by the
 * nickname in its URL (`ws://host/?name=Ada`, 1 to 32 characters, no control
 * characters; another is refused with 400).
 *
 * A newcomer's first frame is its welcome: the room greets each socket in the
 * server's handler, which runs as the socket joins, before another can.
 *
 * @example The chat server on port 8080
 * ```ts ignore
 * import { serveChat } from "./serve_chat.ts";
 *
 * const room = serveChat({ port: 8080 });
 * console.log(`http://localhost:${room.server.addr.port}/`);
 * room.push("the server is up");
 * ```
 *
 * @param options Where to listen, limits and timeouts, as for `serve()`, and
 * the longest chat message.
 * @returns The room: its server, and a way to push server messages.
 */
export function serveChat(options: ServeChatOptions = {}): ChatRoom {
  const room = new Room();
  const maxChatBytes = options.maxChatBytes ?? DEFAULTS.maxChatBytes;
  const server: Server = serve(
    {
      page: CHAT_PAGE,
      ...clientRate(options),
      ...options,
      routes: { ...CHAT_PAGE_ROUTES, ...options.routes },
      authorize: (request, info) => authorizeChat(request, info, options),
    },
    (socket) => attend(room, socket, maxChatBytes),
  );
  server.metrics.register(() => room.metrics());
  return { server, push: (text) => room.say("server", text) };
}

/** Refuses a malformed nickname with 400, then asks the application's hook. */
async function authorizeChat(
  request: UpgradeRequest,
  info: AuthorizeInfo,
  options: ServeOptions,
): Promise<Authorization> {
  try {
    nicknameOf(request.query);
  } catch (error) {
    return { accept: false, status: 400, message: (error as Error).message };
  }
  return options.authorize === undefined
    ? { accept: true }
    : await options.authorize(request, info);
}

/** One socket's stay in the room: welcome, join, its messages, leave. */
async function attend(room: Room, socket: Socket, maxChatBytes: number): Promise<void> {
  room.join(socket, nicknameOf(socket.request.query));
  for await (const message of socket) {
    const refusal = chatRefusal(message, maxChatBytes);
    if (refusal !== undefined) socket.send(JSON.stringify({ type: "error", message: refusal }));
    else if (typeof message === "string") room.say(socket.id, message);
    else room.sayBytes(socket.id, message);
  }
  await socket.closed;
  room.leave(socket);
}
