/**
 * What a client asks the push hub for, pure: topics and resume points from
 * its connection URL (`?topic=news&since=news:<epoch>:<seq>`) and, for an
 * event stream, from its `Last-Event-ID`; and the small JSON control
 * messages a WebSocket client may send later.
 *
 * @module
 */

import type { RequestHead } from "../protocol/http_head.ts";
import type { Wire } from "../server/socket_options.ts";
import { type MessageId, parseId, parseSince } from "./history.ts";
import { validateTopic } from "../server/topics.ts";

/** The topics of a connection URL, and where to resume each. */
export interface Subscriptions {
  /** The topics, each once, in the order first named. */
  topics: string[];
  /** The last id the client saw, for the topics it names one for. */
  since: Map<string, MessageId>;
}

/**
 * A control message: `{"type":"subscribe","topic":"news"}` (with an
 * optional `"since":"<epoch>:<seq>"` to resume) or
 * `{"type":"unsubscribe","topic":"news"}`.
 */
export type ControlMessage =
  | {
    /** Subscribe to a topic. */
    type: "subscribe";
    /** The topic. */
    topic: string;
    /** The last id seen in that topic, to get what came after it first. */
    since?: MessageId;
  }
  | {
    /** Unsubscribe from a topic. */
    type: "unsubscribe";
    /** The topic. */
    topic: string;
  }
  | {
    /** Publish to a topic, as the socket's grant allows. */
    type: "publish";
    /** The topic. */
    topic: string;
    /** The message: any JSON value. */
    data: unknown;
    /** Anything short to match the answer to the message. */
    ref?: string | number;
  }
  | {
    /** Replace the socket's token with a fresh one. */
    type: "token";
    /** The token. */
    token: string;
  };

/** The longest `ref` of a publish message, in characters. */
export const MAX_REF_LENGTH = 64;

/** The longest text read as a possible control message, in characters. */
export const MAX_CONTROL_LENGTH = 1024;

/**
 * Reads the `topic` and `since` parameters of a connection URL.
 *
 * @example
 * ```ts
 * import { parseSubscriptions } from "./subscriptions.ts";
 *
 * const query = new URLSearchParams("topic=news&topic=chat&since=news:m3k9x2ab:12");
 * const { topics, since } = parseSubscriptions(query);
 * console.log(topics, since.get("news")); // ["news", "chat"] { epoch: "m3k9x2ab", seq: 12 }
 * ```
 *
 * @param query The query of the upgrade request.
 * @param maxTopics The most topics one connection may name.
 * @returns The topics and resume points.
 * @throws {TypeError} For an invalid topic name, too many topics, or an
 * invalid `since` (see `parseSince`).
 */
export function parseSubscriptions(query: URLSearchParams, maxTopics = 100): Subscriptions {
  const topics = [...new Set(query.getAll("topic"))];
  for (const topic of topics) validateTopic(topic);
  if (topics.length > maxTopics) {
    throw new TypeError(`Cannot subscribe: at most ${maxTopics} topics per connection`);
  }
  return { topics, since: parseSince(query.getAll("since"), topics) };
}

/**
 * Reads the topics of a socket request and where to resume each. A
 * WebSocket's come from its URL ({@linkcode parseSubscriptions}). An event
 * stream names at least one topic in its URL; its URL's `since` values are
 * then overridden, topic by topic, by the stream's resume id that a
 * reconnecting `EventSource` sends as `Last-Event-ID` (or a client that
 * cannot set headers as the `lastEventId` parameter): `<epoch>:<seq>` for a
 * stream of one topic, else `<topic>:<epoch>:<seq>` for each, joined with
 * `,` (see `server/event_stream.ts`, which writes it).
 *
 * @example
 * ```ts
 * import { requestSubscriptions } from "./subscriptions.ts";
 *
 * const request = {
 *   query: new URLSearchParams("topic=a&topic=b"),
 *   headers: new Map([["last-event-id", "a:m3k9x2ab:12,b:m3k9x2ab:3"]]),
 * };
 * console.log(requestSubscriptions(request, "event-stream").since.get("b")); // { epoch: "m3k9x2ab", seq: 3 }
 * ```
 *
 * @param request The request's query and headers.
 * @param wire What it opens.
 * @param maxTopics The most topics one connection may name.
 * @returns The topics and resume points.
 * @throws {TypeError} As {@linkcode parseSubscriptions}; for an event stream
 * without a topic, or a malformed `Last-Event-ID`.
 */
export function requestSubscriptions(
  request: Pick<RequestHead, "query" | "headers">,
  wire: Wire,
  maxTopics = 100,
): Subscriptions {
  const subscriptions = parseSubscriptions(request.query, maxTopics);
  if (wire === "websocket") return subscriptions;
  if (subscriptions.topics.length === 0) {
    throw new TypeError("Cannot open an event stream without a topic: add ?topic=<name>");
  }
  const last = request.headers.get("last-event-id") ?? request.query.get("lastEventId") ?? "";
  if (last === "") return subscriptions;
  let resumed: Map<string, MessageId>;
  try {
    resumed = parseSince(last.split(","), subscriptions.topics);
  } catch (error) {
    throw new TypeError(`Invalid Last-Event-ID: ${(error as Error).message}`);
  }
  for (const [topic, id] of resumed) subscriptions.since.set(topic, id);
  return subscriptions;
}

/**
 * Reads a text message as a control message. Text that is not a JSON object
 * whose `type` is `subscribe`, `unsubscribe`, `publish` or `token` is not
 * one (it is chat, or an error, for the caller to decide).
 *
 * @example
 * ```ts
 * import { parseControl } from "./subscriptions.ts";
 *
 * console.log(parseControl('{"type":"subscribe","topic":"news","since":"m3k9x2ab:12"}'));
 * // { type: "subscribe", topic: "news", since: { epoch: "m3k9x2ab", seq: 12 } }
 * console.log(parseControl('{"type":"publish","topic":"room:1","data":{"text":"hi"},"ref":1}', 4096));
 * // { type: "publish", topic: "room:1", data: { text: "hi" }, ref: 1 }
 * console.log(parseControl("hello")); // undefined
 * ```
 *
 * @param text A text message from a client.
 * @param maxLength The longest text read as one, in characters (a publish
 * carries its message).
 * @returns The control message, or `undefined` when the text is not one.
 * @throws {TypeError} For a control message with an invalid topic, `since`,
 * `ref` or token.
 */
export function parseControl(
  text: string,
  maxLength = MAX_CONTROL_LENGTH,
): ControlMessage | undefined {
  if (text.length > maxLength || !text.trimStart().startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const fields = value as Record<string, unknown>;
  const { type, topic } = fields;
  if (type === "token") {
    if (typeof fields.token !== "string") {
      throw new TypeError('Cannot renew: "token" must be a string');
    }
    return { type, token: fields.token };
  }
  if (type !== "subscribe" && type !== "unsubscribe" && type !== "publish") return undefined;
  if (typeof topic !== "string") throw new TypeError(`Cannot ${type}: "topic" must be a string`);
  validateTopic(topic);
  if (type === "unsubscribe") return { type, topic };
  if (type === "publish") return publishControl(topic, fields);
  const { since } = fields;
  if (since === undefined || since === null) return { type, topic };
  if (typeof since !== "string") throw new TypeError('Cannot subscribe: "since" must be a string');
  return { type, topic, since: parseId(since) };
}

/** A publish control message's fields, checked. */
function publishControl(topic: string, fields: Record<string, unknown>): ControlMessage {
  if (!("data" in fields)) throw new TypeError('Cannot publish: "data" is missing');
  const { data, ref } = fields;
  if (ref === undefined || ref === null) return { type: "publish", topic, data };
  const valid = (typeof ref === "string" && ref.length <= MAX_REF_LENGTH) ||
    (typeof ref === "number" && Number.isFinite(ref));
  if (!valid) {
    throw new TypeError(
      `Cannot publish: "ref" must be a number or a string of at most ${MAX_REF_LENGTH} characters`,
    );
  }
  return { type: "publish", topic, data, ref: ref as string | number };
}
