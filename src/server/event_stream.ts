/**
 * Event streams (Server-Sent Events) on the server: the settings of
 * `ServeOptions.eventStream`, the checks of a request for one (how many
 * topics, whether its resume id will fit a reconnect's request head), CORS
 * for allowed origins, and {@linkcode EventStreamWire}: what a socket on an
 * event stream writes instead of WebSocket frames.
 *
 * A stream's resume id, sent as the `id:` of every event that carries a
 * resume point, names the last id of each of the stream's topics: with one
 * topic the id alone (`<epoch>:<seq>`), with several `topic:<epoch>:<seq>`
 * for each, joined with `,` (topic names have no comma), which is the list
 * of `since` values a reconnect resumes every topic from.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { decodeClosePayload } from "../protocol/close_frame.ts";
import type { PreparedMessage } from "../protocol/deflate.ts";
import { HttpError } from "../protocol/errors.ts";
import { closeEvent, HEARTBEAT, prepareEvent, type ResumePoint } from "../protocol/event_stream.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import { checkOrigin, type OriginPolicy } from "./access.ts";

/** Options of a server's event stream (`ServeOptions.eventStream`). */
export interface EventStreamOptions {
  /**
   * The path a `GET` opens a stream on.
   *
   * @default {"/events"}
   */
  path?: string;
  /**
   * Milliseconds between comments (`: `) on a stream that sent nothing
   * else meanwhile, so that proxies do not cut it; `0` sends none.
   *
   * @default {15000}
   */
  heartbeat?: number;
  /**
   * Milliseconds a client waits before it reconnects, sent as `retry:`.
   *
   * @default {2000}
   */
  retry?: number;
}

/** A server's event stream settings, resolved. */
export interface EventStreamSettings {
  /** The path. */
  readonly path: string;
  /** Milliseconds between heartbeats; `0` for none. */
  readonly heartbeat: number;
  /** The `retry:` in milliseconds. */
  readonly retry: number;
}

// The longest id `<epoch>:<seq>` of the push server: an epoch of at most 16
// characters and a seq of at most 16 digits (see push/history.ts).
const MAX_ID_LENGTH = 33;
const encoder = new TextEncoder();

/**
 * Reads `ServeOptions.eventStream`: a path, options, or off.
 *
 * @example
 * ```ts
 * import { eventStreamSettings } from "./event_stream.ts";
 *
 * console.log(eventStreamSettings("/events")); // { path: "/events", heartbeat: 15000, retry: 2000 }
 * console.log(eventStreamSettings(false)); // undefined
 * ```
 *
 * @param option The option.
 * @returns The settings, or `undefined` when there is no event stream.
 * @throws {TypeError} For a path that does not start with `/`.
 * @throws {RangeError} For a negative or non-integer heartbeat or retry.
 */
export function eventStreamSettings(
  option: string | false | EventStreamOptions | undefined,
): EventStreamSettings | undefined {
  if (option === undefined || option === false) return undefined;
  const options = typeof option === "string" ? { path: option } : option;
  const settings = {
    path: options.path ?? DEFAULTS.eventStreamPath,
    heartbeat: options.heartbeat ?? DEFAULTS.eventStreamHeartbeat,
    retry: options.retry ?? DEFAULTS.eventStreamRetry,
  };
  if (!settings.path.startsWith("/") || /[?#\s]/.test(settings.path)) {
    throw new TypeError(`Invalid event stream path "${settings.path}": expected /a/path`);
  }
  for (const name of ["heartbeat", "retry"] as const) {
    if (!Number.isSafeInteger(settings[name]) || settings[name] < 0) {
      throw new RangeError(`Invalid event stream ${name}: expected milliseconds, 0 or more`);
    }
  }
  return settings;
}

/**
 * Checks what a stream's resume id needs: at most 16 topics, and room for
 * the longest resume id they can have in a reconnect's request head (the
 * same request with a `Last-Event-ID`).
 *
 * @example
 * ```ts
 * import { checkEventStreamTopics } from "./event_stream.ts";
 *
 * const request = { method: "GET", target: "/events?topic=a&topic=b", version: "HTTP/1.1",
 *   headers: new Map([["host", "x"]]), query: new URLSearchParams("topic=a&topic=b") };
 * console.log(checkEventStreamTopics(request, 8192)); // 2
 * ```
 *
 * @param request The request.
 * @param maxHeadBytes The server's request head limit.
 * @returns How many topics the stream names.
 * @throws {HttpError} 400 for more than 16 topics; 431 when a reconnect's
 * head would pass `maxHeadBytes`.
 */
export function checkEventStreamTopics(
  request: Pick<UpgradeRequest, "method" | "target" | "version" | "headers" | "query">,
  maxHeadBytes: number,
): number {
  const topics = [...new Set(request.query.getAll("topic"))];
  if (topics.length > DEFAULTS.maxEventStreamTopics) {
    throw new HttpError(
      400,
      `Cannot open an event stream: at most ${DEFAULTS.maxEventStreamTopics} topics`,
    );
  }
  let bytes = request.method.length + request.target.length + request.version.length + 6;
  for (const [name, value] of request.headers) {
    if (name !== "last-event-id") bytes += name.length + value.length + 4;
  }
  const longestId = topics.length <= 1
    ? MAX_ID_LENGTH
    : topics.reduce((sum, topic) => sum + topic.length + 2 + MAX_ID_LENGTH, -1);
  if (bytes + "last-event-id: \r\n".length + longestId > maxHeadBytes) {
    throw new HttpError(
      431,
      `Cannot open an event stream: a reconnect's Last-Event-ID would not fit the ` +
        `${maxHeadBytes}-byte request head; name fewer or shorter topics`,
    );
  }
  return topics.length;
}

/**
 * The CORS headers of an answer to a request from an allowed browser
 * origin (see `checkOrigin`): the origin itself with credentials for a
 * listed (or this server's own) origin, `*` without credentials when every
 * origin is allowed; none without an `Origin`, or for one not allowed.
 *
 * @example
 * ```ts
 * import { corsHeaders } from "./event_stream.ts";
 * import { originPolicy } from "./access.ts";
 *
 * const request = { origin: "https://app.example", headers: new Map([["host", "push.example"]]) };
 * console.log(corsHeaders(request, originPolicy(["https://app.example"])));
 * // { "Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": "true", Vary: "Origin" }
 * console.log(corsHeaders(request, originPolicy([]))); // {}
 * ```
 *
 * @param request The request's `Origin` and headers.
 * @param policy The server's origin policy.
 * @returns The headers.
 */
export function corsHeaders(
  request: Pick<UpgradeRequest, "origin" | "headers">,
  policy: OriginPolicy,
): Record<string, string> {
  const { origin } = request;
  if (origin === undefined) return {};
  if (policy.kind === "any") return { "Access-Control-Allow-Origin": "*" };
  try {
    checkOrigin(request, policy.origins);
  } catch {
    return {};
  }
  return {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Allow-Credentials": "true",
    "Vary": "Origin",
  };
}

/**
 * The headers of the answer (204) to a CORS preflight of an event stream
 * request: for an allowed origin, the methods and request headers a stream
 * may use (`Authorization` for a token, `Last-Event-ID` to resume).
 *
 * @param headers The preflight's header fields.
 * @param policy The server's origin policy.
 * @returns The headers.
 * @throws {HttpError} 403 for an origin that is not allowed.
 */
export function preflightHeaders(
  headers: ReadonlyMap<string, string>,
  policy: OriginPolicy,
): Record<string, string> {
  const origin = headers.get("origin");
  if (origin === undefined) return { Allow: "GET, OPTIONS" };
  const cors = corsHeaders({ origin, headers }, policy);
  if (cors["Access-Control-Allow-Origin"] === undefined) {
    throw new HttpError(403, "Origin not allowed");
  }
  return {
    ...cors,
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Allow-Headers": "Authorization, Last-Event-ID",
    "Access-Control-Max-Age": "600",
  };
}

/**
 * What one socket on an event stream writes: each message as an event (a
 * prepared one shared with every stream), with the stream's resume id on
 * those with a resume point; the final `close` event; heartbeats.
 *
 * @example
 * ```ts
 * import { EventStreamWire } from "./event_stream.ts";
 *
 * const wire = new EventStreamWire({ topics: 2, heartbeat: 15000 });
 * wire.message('{"type":"subscribed","topic":"a","last":"e1:4"}', { topic: "a", id: "e1:4" });
 * const chunks = wire.message('{"type":"subscribed","topic":"b","last":"e1:0"}', { topic: "b", id: "e1:0" });
 * console.log(new TextDecoder().decode(chunks[0])); // "id: a:e1:4,b:e1:0\n"
 * ```
 */
export class EventStreamWire {
  /** Milliseconds between heartbeats; `0` for none. */
  readonly heartbeat: number;
  readonly #plain: boolean;
  // The last id sent in each topic, in the order the topics first had one.
  readonly #last = new Map<string, string>();

  /**
   * Makes the wire of one stream.
   *
   * @param options How many topics the stream names (with one, its resume
   * id is that topic's id alone) and its heartbeat.
   */
  constructor(options: { topics: number; heartbeat: number }) {
    this.#plain = options.topics === 1;
    this.heartbeat = options.heartbeat;
  }

  /** A comment that keeps the stream alive. */
  get heartbeatBytes(): Uint8Array {
    return HEARTBEAT;
  }

  /**
   * A message as an event: text as it is (named after the `type` its JSON
   * starts with), bytes as an event named `binary` with their base64 as its
   * data; after this stream's resume id when it has a resume point.
   *
   * @param data The message.
   * @param resume Where it stands in its topic, if anywhere.
   * @returns The event's bytes, in order.
   * @throws {TypeError} For a resume point with a `,` or a line break.
   */
  message(data: string | Uint8Array, resume?: ResumePoint): readonly Uint8Array[] {
    const text = typeof data === "string";
    const { chunks } = prepareEvent(text ? encoder.encode(data) : data, text);
    if (resume === undefined) return chunks;
    if (/[,\r\n]/.test(resume.topic + resume.id)) {
      throw new TypeError("Cannot send: a resume point has a comma or line break");
    }
    return [this.#idLine(resume, undefined), ...chunks];
  }

  /**
   * A prepared message as an event: its shared bytes, after this stream's
   * resume id when it has a resume point.
   *
   * @param message The message.
   * @returns The event's bytes, in order.
   */
  prepared(message: PreparedMessage): readonly Uint8Array[] {
    const { chunks } = message.event();
    if (message.resume === undefined) return chunks;
    return [this.#idLine(message.resume, message.idLine()), ...chunks];
  }

  /**
   * The last event: `close`, with the code and reason a close frame would
   * carry.
   *
   * @param payload The close frame's payload (see `encodeClosePayload`).
   * @returns The event's bytes.
   */
  close(payload: Uint8Array): Uint8Array {
    const { code, reason } = decodeClosePayload(payload);
    return closeEvent(code, reason);
  }

  // The resume id after this event: the id alone for a stream of one topic
  // (the message's shared line, when it has one), else every topic's.
  #idLine(resume: ResumePoint, shared: Uint8Array | undefined): Uint8Array {
    this.#last.set(resume.topic, resume.id);
    if (this.#plain && this.#last.size === 1) {
      return shared ?? encoder.encode(`id: ${resume.id}\n`);
    }
    let line = "id: ";
    for (const [topic, id] of this.#last) line += `${topic}:${id},`;
    return encoder.encode(`${line.slice(0, -1)}\n`);
  }
}
