/**
 * Server-Sent Events (the `text/event-stream` format of the HTML standard),
 * pure: an event's bytes (`id:`, `event:`, `data:` lines and the blank line
 * that ends it), comments as heartbeats, the final `close` event, the `200`
 * response head that opens a stream, and the check of a request for one.
 *
 * A message prepared for many sockets is written as an event once: its text
 * goes out as it is, between a shared prefix and the blank line (see
 * {@linkcode prepareEvent}).
 *
 * @module
 */

import { encodeBase64 } from "@std/encoding";
import { HttpError } from "./errors.ts";
import { badRequest, ParsedHead, type RequestHead } from "./http_head.ts";
import type { UpgradeRequest } from "./handshake.ts";

/**
 * Where an event stands in its topic, for the `id:` line of an event
 * stream: the topic and the message's id there (`<epoch>:<seq>` for the
 * push server). A client that reconnects sends the last one it saw back.
 */
export interface ResumePoint {
  /** The topic; no `,`, CR or LF. */
  readonly topic: string;
  /** The id in that topic; no `,`, CR or LF. */
  readonly id: string;
}

/** The fields of one event. */
export interface EventFields {
  /** The event's name (`event:`); without one, clients see a `message`. */
  event?: string;
  /** The event's id (`id:`), which the client sends back as `Last-Event-ID`. */
  id?: string;
  /** The data; each of its lines becomes a `data:` line. */
  data: string;
}

/** An event prepared once for many streams: its bytes in order, and those it owns. */
export interface PreparedEvent {
  /**
   * The bytes of the event without its `id:` line, in order: shared
   * prefixes, the message's own payload, the blank line. Never changed.
   */
  readonly chunks: readonly Uint8Array[];
  /** How many of those bytes were made for this event alone (not shared). */
  readonly ownBytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LINE_BREAK = /\r\n|\r|\n/;
// The name of an event: the `type` a push event's JSON starts with.
const TYPE_PREFIX = /^\{"type":"([A-Za-z0-9_.:-]{1,64})"/;
const END = encoder.encode("\n\n");
const PLAIN_PREFIX = encoder.encode("data: ");
// Prefixes `event: <name>\ndata: ` by name, made once; bounded.
const prefixes = new Map<string, Uint8Array>();
const MAX_PREFIXES = 64;

/**
 * A comment line and the blank line: clients ignore it, and proxies see the
 * stream is alive.
 *
 * @example
 * ```ts
 * import { HEARTBEAT } from "./event_stream.ts";
 *
 * console.log(new TextDecoder().decode(HEARTBEAT)); // ": \n\n"
 * ```
 */
export const HEARTBEAT: Uint8Array = encoder.encode(": \n\n");

/**
 * The bytes of one event: `event:` and `id:` when given, one `data:` line
 * per line of the data, then the blank line that dispatches it.
 *
 * @example
 * ```ts
 * import { encodeEvent } from "./event_stream.ts";
 *
 * const bytes = encodeEvent({ event: "note", id: "e1:7", data: "two\nlines" });
 * console.log(new TextDecoder().decode(bytes)); // "id: e1:7\nevent: note\ndata: two\ndata: lines\n\n"
 * ```
 *
 * @param fields The event's name, id and data.
 * @returns The event's bytes.
 * @throws {TypeError} For a name or id holding a line break.
 */
export function encodeEvent(fields: EventFields): Uint8Array {
  let text = "";
  if (fields.id !== undefined) text += `id: ${singleLine(fields.id, "id")}\n`;
  if (fields.event !== undefined) text += `event: ${singleLine(fields.event, "name")}\n`;
  for (const line of fields.data.split(LINE_BREAK)) text += `data: ${line}\n`;
  return encoder.encode(text + "\n");
}

/**
 * The name a text message's event gets: the `type` of a JSON object that
 * starts with it (every push event does), else none.
 *
 * @example
 * ```ts
 * import { eventTypeOf } from "./event_stream.ts";
 *
 * console.log(eventTypeOf('{"type":"publication","topic":"news"}')); // "publication"
 * console.log(eventTypeOf("hello")); // undefined
 * ```
 *
 * @param text A text message.
 * @returns The name, or `undefined`.
 */
export function eventTypeOf(text: string): string | undefined {
  return TYPE_PREFIX.exec(text)?.[1];
}

/**
 * A message as an event for many streams: text without line breaks is
 * written as it is between a shared `event: <type>\ndata: ` prefix and the
 * blank line (no copy of it is made); other text is split into `data:`
 * lines; bytes become an event named `binary` whose data is their base64.
 *
 * @example
 * ```ts
 * import { prepareEvent } from "./event_stream.ts";
 *
 * const json = new TextEncoder().encode('{"type":"publication","data":"hi"}');
 * const event = prepareEvent(json, true);
 * console.log(event.chunks[1] === json, event.ownBytes); // true 0
 * ```
 *
 * @param payload The message's bytes (UTF-8 for text). Not changed.
 * @param text Whether it is a text message.
 * @returns The event.
 */
export function prepareEvent(payload: Uint8Array, text: boolean): PreparedEvent {
  if (!text) {
    const bytes = encodeEvent({ event: "binary", data: encodeBase64(payload) });
    return { chunks: [bytes], ownBytes: bytes.length };
  }
  if (payload.includes(0x0a) || payload.includes(0x0d)) {
    const data = decoder.decode(payload);
    const event = eventTypeOf(data);
    const bytes = encodeEvent(event === undefined ? { data } : { event, data });
    return { chunks: [bytes], ownBytes: bytes.length };
  }
  const event = eventTypeOf(decoder.decode(payload.subarray(0, 80)));
  if (event === undefined) return { chunks: [PLAIN_PREFIX, payload, END], ownBytes: 0 };
  let prefix = prefixes.get(event);
  let ownBytes = 0;
  if (prefix === undefined) {
    prefix = encoder.encode(`event: ${event}\ndata: `);
    if (prefixes.size < MAX_PREFIXES) prefixes.set(event, prefix);
    else ownBytes = prefix.length;
  }
  return { chunks: [prefix, payload, END], ownBytes };
}

/**
 * The last event of a stream: `event: close` with the close code and reason
 * as JSON, the way a WebSocket client would learn them from a close frame.
 *
 * @example
 * ```ts
 * import { closeEvent } from "./event_stream.ts";
 *
 * console.log(new TextDecoder().decode(closeEvent(4403, "bye")));
 * // "event: close\ndata: {\"code\":4403,\"reason\":\"bye\"}\n\n"
 * ```
 *
 * @param code The close code.
 * @param reason The close reason.
 * @returns The event's bytes.
 */
export function closeEvent(code: number, reason: string): Uint8Array {
  return encodeEvent({ event: "close", data: JSON.stringify({ code, reason }) });
}

/** Options for {@linkcode eventStreamResponse}. */
export interface EventStreamResponseOptions {
  /** Milliseconds a client waits before it reconnects (`retry:`). */
  retry: number;
  /** Extra headers, for example CORS ones. */
  headers?: Readonly<Record<string, string>>;
}

/**
 * The response that opens a stream, with its first bytes: `200`,
 * `text/event-stream`, never cached or buffered by a proxy, no
 * `Content-Length` (the body ends when the connection does); then a
 * comment and `retry:`.
 *
 * @example
 * ```ts
 * import { eventStreamResponse } from "./event_stream.ts";
 *
 * const text = new TextDecoder().decode(eventStreamResponse({ retry: 2000 }));
 * console.log(text.split("\r\n")[0], text.endsWith("retry: 2000\n\n")); // "HTTP/1.1 200 OK" true
 * ```
 *
 * @param options The retry delay and extra headers.
 * @returns The response head and the stream's first bytes.
 */
export function eventStreamResponse(options: EventStreamResponseOptions): Uint8Array {
  let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n" +
    "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n";
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    head += `${name}: ${value}\r\n`;
  }
  return encoder.encode(`${head}\r\n: pushwire\nretry: ${Math.round(options.retry)}\n\n`);
}

/**
 * Checks a request for an event stream: a `GET` without a body. It becomes
 * a request like an upgrade's (with no key, subprotocols or extensions), so
 * that the same access checks and `authorize` hook read it.
 *
 * @example
 * ```ts
 * import { RequestHeadParser } from "./http_head.ts";
 * import { eventStreamRequest } from "./event_stream.ts";
 *
 * const head = new RequestHeadParser().push(new TextEncoder().encode(
 *   "GET /events?topic=news HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\n\r\n",
 * ))!;
 * console.log(eventStreamRequest(head).origin); // "https://app.example"
 * ```
 *
 * @param head A parsed request head.
 * @returns The request.
 * @throws {HttpError} 405 for another method (with `Allow`), 400 for a body.
 */
export function eventStreamRequest(head: RequestHead): UpgradeRequest {
  if (head.method !== "GET") {
    throw new HttpError(405, "An event stream is opened with GET", { Allow: "GET, OPTIONS" });
  }
  const length = head.headers.get("content-length");
  if (head.headers.has("transfer-encoding") || (length !== undefined && length !== "0")) {
    throw badRequest("An event stream request has no body");
  }
  return new EventStreamHead(head, head.headers.get("origin"));
}

// An event stream request: the parsed head's fields, as an upgrade request
// without a key, subprotocols or extensions.
class EventStreamHead extends ParsedHead implements UpgradeRequest {
  readonly key = "";
  readonly protocols: string[] = [];
  readonly extensions = "";

  constructor(head: RequestHead, readonly origin: string | undefined) {
    const rawQuery = head instanceof ParsedHead ? head.rawQuery : head.query.toString();
    super(head.method, head.target, head.path, rawQuery, head.version, head.headers);
  }
}

function singleLine(value: string, what: string): string {
  if (LINE_BREAK.test(value)) {
    throw new TypeError(`Cannot write an event: its ${what} has a line break`);
  }
  return value;
}
