/**
 * One socket's stay on the push server: it subscribes to the topics of its
 * URL (resuming with `since`, or an event stream's `Last-Event-ID`) or joins
 * the chat room when it names none; then every message it sends is a
 * control message (`subscribe`, `unsubscribe`, `publish`, `token`), chat
 * from a socket in the room, or refused with an error event (an event
 * stream sends none). Its identity's grants decide what it may
 * subscribe and publish to, and its token's expiry when it is closed.
 *
 * @module
 */

import type { Identity } from "../auth/identity.ts";
import type { TopicGrant } from "../auth/grants.ts";
import { chatRefusal, type Room } from "../chat/room.ts";
import type { Server } from "../server/server.ts";
import type { Socket } from "../server/socket.ts";
import { sendEvent } from "../push/events.ts";
import type { MessageId } from "../push/history.ts";
import type { PushHub } from "../push/hub.ts";
import { type ControlMessage, parseControl, requestSubscriptions } from "../push/subscriptions.ts";
import type { TopicAccess } from "./authorize.ts";
import { publishFrom, renewToken } from "./client_actions.ts";
import { identityOf } from "./identity_of.ts";
import { type ChatRelay, ROOM_TOPIC } from "./room_relay.ts";
import { TokenClock } from "./token_clock.ts";
import type { UserIndex } from "./users.ts";

/** What the push server does as sockets enter and leave presence topics. */
export interface PresenceHooks {
  /**
   * A socket's subscription to a topic is live.
   *
   * @param socket The socket.
   * @param topic The topic.
   * @param identity Its identity.
   */
  enter(socket: Socket, topic: string, identity: Identity): void;
  /**
   * A socket left a topic.
   *
   * @param socket The socket.
   * @param topic The topic.
   */
  exit(socket: Socket, topic: string): void;
  /**
   * A socket closed: it leaves every topic it entered.
   *
   * @param socket The socket.
   */
  exitAll(socket: Socket): void;
}

/** What every socket of one push server shares. */
export interface PushSession {
  /** The topics. */
  hub: PushHub;
  /** This node's chat room. */
  room: Room;
  /** Where a socket's chat goes. */
  chat: ChatRelay;
  /** The application's rule for topics, on top of the identity's grant. */
  allowTopic?: TopicAccess["allowTopic"];
  /** The most topics one socket may subscribe to. */
  maxSubscriptions: number;
  /** The most bytes of one chat message. */
  maxChatBytes: number;
  /** The most bytes of a client publish's `data`, as JSON. */
  maxPublishBytes: number;
  /** What a socket without an identity may publish to. */
  anonymousPublish: TopicGrant;
  /** Verifies a fresh token a socket sends; absent without tokens. */
  verify?: (token: string) => Promise<Identity>;
  /** Every socket's identity, by user. */
  users: UserIndex;
  /** Presence, for the topics that have it. */
  presence?: PresenceHooks;
  /** A socket's id as other clients see it (in `from` and presence). */
  clientId: (socket: Socket) => string;
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
  const { room, users } = session;
  const identity = identityOf(socket, server.dataOf(socket), session.anonymousPublish);
  users.set(socket, identity);
  const clock = new TokenClock(socket, identity.expiresAt);
  // Checked at the handshake already; parsing again is cheap and pure.
  const { topics, since } = requestSubscriptions(
    socket.request,
    socket.wire,
    session.maxSubscriptions,
  );
  if (topics.length === 0) {
    room.join(socket, identity.name);
    session.presence?.enter(socket, ROOM_TOPIC, identity);
  }
  for (const topic of topics) subscribe(socket, session, topic, since.get(topic));
  for await (const message of socket) {
    if (typeof message === "string") receiveText(socket, server, session, message, clock);
    else if (room.has(socket)) say(socket, session, message);
    else fail(socket, "Binary messages are not accepted here: publish JSON or use POST /publish");
  }
  await socket.closed;
  clock.stop();
  session.presence?.exitAll(socket);
  users.delete(socket);
  room.leave(socket);
}

/** Handles a text message: a control message, chat, or an error. */
function receiveText(
  socket: Socket,
  server: Server,
  session: PushSession,
  message: string,
  clock: TokenClock,
): void {
  // JSON may escape each byte of a publish's data as two characters or more.
  const maxLength = 2 * session.maxPublishBytes + 1024;
  let control: ControlMessage | undefined;
  try {
    control = parseControl(message, maxLength);
  } catch (error) {
    return fail(socket, (error as Error).message);
  }
  if (control === undefined) {
    if (session.room.has(socket)) return say(socket, session, message);
    if (message.length > maxLength) {
      return fail(socket, `Cannot handle a text message of more than ${maxLength} characters`);
    }
    return fail(socket, "Only subscribe, unsubscribe, publish and token messages are accepted");
  }
  switch (control.type) {
    case "token":
      return renewToken(socket, session, control.token, clock);
    case "publish":
      return publishFrom(socket, session, control);
    case "unsubscribe":
      session.presence?.exit(socket, control.topic);
      session.hub.unsubscribe(socket, control.topic);
      sendEvent(socket, { type: "unsubscribed", topic: control.topic });
      return;
    case "subscribe":
      if (!maySubscribe(socket, server, session, control.topic)) {
        return fail(socket, `Not allowed to subscribe to "${control.topic}"`);
      }
      return subscribe(socket, session, control.topic, control.since);
  }
}

/**
 * Whether a socket may subscribe to a topic: its identity's grant allows
 * it, and so does the application's `allowTopic`.
 *
 * @param socket The socket.
 * @param server Its server, for what `authorize` attached.
 * @param session The rules.
 * @param topic The topic.
 * @returns Whether it may.
 */
export function maySubscribe(
  socket: Socket,
  server: Server,
  session: PushSession,
  topic: string,
): boolean {
  if (session.users.get(socket)?.subscribe.allows(topic) !== true) return false;
  return session.allowTopic?.(topic, socket.request, server.dataOf(socket)) !== false;
}

/** Subscribes, then enters presence once the subscription is live. */
function subscribe(socket: Socket, session: PushSession, topic: string, since?: MessageId): void {
  // Only a new subscription enters presence: subscribing again is answered
  // `subscribed` and announces nothing.
  const again = session.hub.topicsOf(socket).includes(topic);
  let live: Promise<void>;
  try {
    live = session.hub.subscribe(socket, topic, since);
  } catch (error) {
    fail(socket, (error as Error).message);
    return;
  }
  const { presence } = session;
  if (presence === undefined || again) return;
  live.then(() => {
    const identity = session.users.get(socket);
    if (identity !== undefined && socket.topics.has(topic)) presence.enter(socket, topic, identity);
  }, () => {});
}

/** Says a chat message in the room, or tells the sender why not. */
function say(socket: Socket, session: PushSession, message: string | Uint8Array): void {
  const refusal = chatRefusal(message, session.maxChatBytes);
  if (refusal !== undefined) return fail(socket, refusal);
  session.chat(session.clientId(socket), message).catch((error) =>
    fail(socket, `Cannot send: ${(error as Error).message}`)
  );
}

/**
 * Tells a socket its message was refused.
 *
 * @param socket The socket.
 * @param message Why.
 * @param ref The `ref` of the message refused, if any.
 */
export function fail(socket: Socket, message: string, ref?: string | number): void {
  sendEvent(
    socket,
    ref === undefined ? { type: "error", message } : { type: "error", message, ref },
  );
}
