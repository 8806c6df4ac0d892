/**
 * One socket's stay on the push server: it subscribes to the topics of its
 * URL (resuming with `since`) or joins the chat room when it names none;
 * then every message it sends is a control message (`subscribe`,
 * `unsubscribe`), chat from a socket in the room, or refused with an error
 * event.
 *
 * @module
 */

import { chatRefusal, type Room } from "../chat/room.ts";
import type { Server } from "../server/server.ts";
import type { Socket } from "../server/socket.ts";
import { sendEvent } from "../push/events.ts";
import type { PushHub } from "../push/hub.ts";
import { type ControlMessage, parseControl, parseSubscriptions } from "../push/subscriptions.ts";
import type { TopicAccess } from "./authorize.ts";
import type { ChatRelay } from "./room_relay.ts";

/** What every socket of one push server shares. */
export interface PushSession {
  /** The topics. */
  hub: PushHub;
  /** This node's chat room. */
  room: Room;
  /** Where a socket's chat goes. */
  chat: ChatRelay;
  /** Whether a socket may subscribe to a topic it asks for later. */
  allowTopic?: TopicAccess["allowTopic"];
  /** The most topics one socket may subscribe to. */
  maxSubscriptions: number;
  /** The most bytes of one chat message. */
  maxChatBytes: number;
}

/**
 * One socket's stay: its topics (or the room), its control messages, its
 * chat, its leave.
 *
 * @param socket A socket the server accepted.
 * @param server The server, for what `authorize` attached to the socket.
 * @param session The hub, the room and the rules.
 * @returns Resolves once the socket closed and left the room.
 */
export async function attend(socket: Socket, server: Server, session: PushSession): Promise<void> {
  const { hub, room, chat, allowTopic, maxSubscriptions } = session;
  // Checked at the handshake already; parsing again is cheap and pure.
  const { topics, since } = parseSubscriptions(socket.request.query, maxSubscriptions);
  if (topics.length === 0) room.join(socket);
  for (const topic of topics) hub.subscribe(socket, topic, since.get(topic));
  const fail = (message: string) => sendEvent(socket, { type: "error", message });
  const say = (message: string | Uint8Array) => {
    const refusal = chatRefusal(message, session.maxChatBytes);
    if (refusal !== undefined) return fail(refusal);
    chat(socket.id, message).catch((error) => fail(`Cannot send: ${(error as Error).message}`));
  };
  for await (const message of socket) {
    if (typeof message !== "string") {
      if (room.has(socket)) say(message);
      else fail("Binary messages are not accepted here: publish with POST /publish");
      continue;
    }
    let control: ControlMessage | undefined;
    try {
      control = parseControl(message);
    } catch (error) {
      fail((error as Error).message);
      continue;
    }
    if (control === undefined) {
      if (room.has(socket)) say(message);
      else fail("Only subscribe and unsubscribe messages are accepted: publish with POST /publish");
    } else if (control.type === "unsubscribe") {
      hub.unsubscribe(socket, control.topic);
      sendEvent(socket, { type: "unsubscribed", topic: control.topic });
    } else if (allowTopic?.(control.topic, socket.request, server.dataOf(socket)) === false) {
      fail(`Not allowed to subscribe to "${control.topic}"`);
    } else {
      try {
        hub.subscribe(socket, control.topic, control.since);
      } catch (error) {
        fail((error as Error).message);
      }
    }
  }
  await socket.closed;
  room.leave(socket);
}
