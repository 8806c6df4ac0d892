/**
 * What the push hub and a client say to each other, and its encoding: a
 * publication's JSON is written once per message, and its frames serve
 * every subscriber.
 *
 * A client subscribes in its URL, `ws://host/?topic=news&topic=chat`, or
 * later with a control message; every frame the hub sends is JSON text,
 * told apart by `type` (see {@linkcode PushEvent}):
 *
 * ```text
 * ← {"type":"subscribe","topic":"news","since":"m3k9x2ab0f1c:12"}   since is optional
 * ← {"type":"unsubscribe","topic":"news"}
 * ← {"type":"publish","topic":"room:1","data":{"text":"hi"},"ref":1}   as the grant allows
 * ← {"type":"token","token":"<a fresh JWT>"}
 * → {"type":"gap","topic":"news","since":"m3k9x2ab0f1c:12","reason":"expired"}
 * → {"type":"publication","topic":"news","id":"m3k9x2ab0f1c:13","time":1763776800000,"data":"hello"}
 * → {"type":"publication","topic":"news","id":"…:14","time":…,"data":"AAEC","encoding":"base64"}
 * → {"type":"subscribed","topic":"news","last":"m3k9x2ab0f1c:14"}
 * → {"type":"unsubscribed","topic":"news"}
 * → {"type":"published","topic":"room:1","id":"m3k9x2ab0f1c:15","ref":1}
 * → {"type":"publication","topic":"room:1","id":"…:15","time":…,"data":{"text":"hi"},"from":{"client":"7","user":"alice"}}
 * → {"type":"expiring","expires":1763776860000}
 * → {"type":"token","expires":1763780400000}
 * → {"type":"error","message":"…"}
 * ```
 *
 * To resume, a client reconnects with the last id it saw in each topic:
 * `?topic=news&since=news:m3k9x2ab0f1c:12` (or `since=m3k9x2ab0f1c:12` when
 * it names one topic). It first gets every message after that id, in order,
 * then `subscribed`, then live messages. When the window no longer holds all
 * of them (or the id is from an earlier server run), a `gap` comes first,
 * then what the window holds.
 *
 * @module
 */

import { encodeBase64 } from "@std/encoding";
import type { Socket } from "../server/socket.ts";
import type { EngineMessage } from "./engine.ts";
import { formatId, type GapReason } from "./history.ts";
import type { Publication } from "./publish.ts";

/** A published message as a client receives it. */
export interface PublicationEvent {
  /** Always `"publication"`. */
  type: "publication";
  /** The topic. */
  topic: string;
  /** The message's id, `<epoch>:<seq>`: the `since` to resume after it. */
  id: string;
  /** When it was published, in milliseconds since the epoch. */
  time: number;
  /** Text as a string, JSON as its value, bytes as base64. */
  data: unknown;
  /** `"base64"` when `data` holds bytes. */
  encoding?: "base64";
  /** Who published it from a socket; absent for a server publish. */
  from?: Sender;
}

/**
 * The socket a client publish came from: its id, and its user and name when
 * it has an identity. The server sets it; a client cannot.
 */
export interface Sender {
  /** The publishing socket's client id. */
  client: string;
  /** The user (a token's `sub`). */
  user?: string;
  /** The name to show (a token's `info.name`, or an anonymous nickname). */
  name?: string;
}

/**
 * Messages were missed and cannot all be replayed; the application should
 * reload its state. What the window still holds follows.
 */
export interface GapEvent {
  /** Always `"gap"`. */
  type: "gap";
  /** The topic. */
  topic: string;
  /** The id the client resumed from. */
  since: string;
  /**
   * `restart` (the id is from an earlier server run), `expired` (messages
   * after it left the window) or `unknown` (an id never assigned).
   */
  reason: GapReason;
}

/** The subscription is live: everything after `last` arrives as published. */
export interface SubscribedEvent {
  /** Always `"subscribed"`. */
  type: "subscribed";
  /** The topic. */
  topic: string;
  /**
   * The id of the topic's last message (its `seq` is 0 before the first):
   * the `since` to resume from when nothing else arrived.
   */
  last: string;
}

/** The socket left a topic. */
export interface UnsubscribedEvent {
  /** Always `"unsubscribed"`. */
  type: "unsubscribed";
  /** The topic. */
  topic: string;
  /**
   * Why, when the client did not ask: `"server"` (the application's API
   * unsubscribed the user) or `"grant"` (a fresh token no longer grants it).
   */
  reason?: "server" | "grant";
}

/** A message the socket published was accepted: its id in the topic. */
export interface PublishedEvent {
  /** Always `"published"`. */
  type: "published";
  /** The topic. */
  topic: string;
  /** The message's id, `<epoch>:<seq>`. */
  id: string;
  /** The `ref` of the client's publish message, when it had one. */
  ref?: string | number;
}

/** A control message was refused, or a message could not be handled. */
export interface ErrorEvent {
  /** Always `"error"`. */
  type: "error";
  /** What went wrong. */
  message: string;
  /** The `ref` of the client's message it answers, when it had one. */
  ref?: string | number;
}

/**
 * The socket's token expires soon: send a fresh one
 * (`{"type":"token","token":"…"}`) before `expires`, or the socket is closed
 * with 4401.
 */
export interface ExpiringEvent {
  /** Always `"expiring"`. */
  type: "expiring";
  /** When the token expires, in milliseconds since the epoch. */
  expires: number;
}

/** A fresh token was accepted: the socket's grants are the new token's. */
export interface TokenAcceptedEvent {
  /** Always `"token"`. */
  type: "token";
  /** When the new token expires (ms since the epoch), or `null` for never. */
  expires: number | null;
}

/**
 * Every event the hub sends, as JSON in a text frame; `type` tells them
 * apart.
 *
 * @example Keep the last id of each topic, to resume with
 * ```ts
 * import type { PushEvent } from "./events.ts";
 *
 * const last = new Map<string, string>();
 * function receive(event: PushEvent): void {
 *   if (event.type === "publication") last.set(event.topic, event.id);
 *   else if (event.type === "subscribed") last.set(event.topic, event.last);
 *   else if (event.type === "gap") console.log(`missed messages in ${event.topic}: reload`);
 * }
 * receive({ type: "subscribed", topic: "news", last: "e1:0" });
 * receive({ type: "publication", topic: "news", id: "e1:1", time: 0, data: "hi" });
 * console.log(`?topic=news&since=news:${last.get("news")}`); // "?topic=news&since=news:e1:1"
 * ```
 */
export type PushEvent =
  | PublicationEvent
  | GapEvent
  | SubscribedEvent
  | UnsubscribedEvent
  | PublishedEvent
  | ErrorEvent
  | ExpiringEvent
  | TokenAcceptedEvent;

/**
 * The part of a publication event after its time, as the engine stores it:
 * `"data":…` (and `,"encoding":"base64"` for bytes).
 *
 * @example
 * ```ts
 * import { publicationPayload } from "./events.ts";
 *
 * console.log(publicationPayload({ type: "text", text: "hi" })); // "data":"hi"
 * ```
 *
 * @param publication The message.
 * @param from The socket that published it, for a client publish.
 * @returns The payload the engine keeps.
 */
export function publicationPayload(publication: Publication, from?: Sender): string {
  const sender = from === undefined ? "" : `,"from":${JSON.stringify(from)}`;
  if (publication.type === "binary") {
    return `"data":"${encodeBase64(publication.bytes)}","encoding":"base64"${sender}`;
  }
  if (publication.type === "text") return `"data":${JSON.stringify(publication.text)}${sender}`;
  return `"data":${JSON.stringify(publication.value) ?? "null"}${sender}`;
}

/**
 * A publication event's JSON: the same text as `JSON.stringify` of its
 * {@linkcode PublicationEvent}, written without parsing the payload again.
 *
 * @example
 * ```ts
 * import { publicationJson } from "./events.ts";
 *
 * const json = publicationJson({
 *   topic: "news",
 *   id: { epoch: "e1", seq: 1 },
 *   time: 0,
 *   payload: `"data":"hi"`,
 * });
 * console.log(json); // {"type":"publication","topic":"news","id":"e1:1","time":0,"data":"hi"}
 * ```
 *
 * @param message A message as the engine delivers it.
 * @returns The event's JSON.
 */
export function publicationJson(message: EngineMessage): string {
  return `{"type":"publication","topic":${JSON.stringify(message.topic)},"id":"${
    formatId(message.id)
  }","time":${message.time},${message.payload}}`;
}

/**
 * Sends an event to a socket as a JSON text frame (on an event stream, as
 * an event; `subscribed` with the topic's last id as its resume point, so
 * that the stream's resume id covers the topic from then on).
 *
 * @param socket An open socket.
 * @param event The event.
 * @returns Whether it was queued (`false` once the socket is closing).
 */
export function sendEvent(socket: Socket, event: PushEvent): boolean {
  const json = JSON.stringify(event);
  if (event.type !== "subscribed") return socket.send(json);
  return socket.send(json, { resume: { topic: event.topic, id: event.last } });
}
