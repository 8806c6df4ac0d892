/**
 * What a {@linkcode PushClient} is given, and what it tells: its options,
 * its states, and the events it dispatches.
 *
 * @module
 */

import type { BackoffOptions } from "./backoff.ts";
import type {
  GapDetail,
  JoinDetail,
  LeaveDetail,
  PresenceDetail,
  SubscribedDetail,
  UnsubscribedDetail,
} from "./events.ts";
import type { RoomEvent } from "./room_events.ts";
import type { FetchFunction, TransportKind, WebSocketConstructor } from "./transport.ts";

/**
 * A token, or a function that returns a fresh one (it may be async). The
 * function is called before every connection and when the server says the
 * token expires soon; a plain string cannot be renewed.
 */
export type TokenSource = string | (() => string | Promise<string>);

/** Options for {@linkcode PushClient}. */
export interface PushClientOptions {
  /**
   * The token (a JWT, docs/auth.md), sent as `?token=` on a WebSocket and as
   * `Authorization: Bearer` over SSE.
   *
   * @default {none}
   */
  token?: TokenSource;
  /**
   * A nickname shown to others (`?name=`) when the connection has no token.
   *
   * @default {none}
   */
  name?: string;
  /**
   * `"websocket"`, `"sse"` (`GET /events`: receive only), or `"auto"`: a
   * WebSocket, and SSE for good once `fallbackAfter` WebSocket attempts in a
   * row could not connect.
   *
   * @default {"websocket"}
   */
  transport?: "websocket" | "sse" | "auto";
  /**
   * With `transport: "auto"`, how many WebSocket attempts in a row must fail
   * to connect before the client falls back to SSE.
   *
   * @default {2}
   */
  fallbackAfter?: number;
  /**
   * The SSE endpoint.
   *
   * @default {"events" next to the URL's path: https://host/events for wss://host/}
   */
  eventsUrl?: string | URL;
  /** The reconnect delays. */
  backoff?: BackoffOptions;
  /**
   * The most publications a subscription queues for a consumer that does not
   * read them; past it, the subscription ends with a `RangeError` after the
   * queued ones.
   *
   * @default {1000}
   */
  queueLimit?: number;
  /**
   * Milliseconds a sent publish waits for the server's answer before it is
   * rejected with outcome `"unknown"`.
   *
   * @default {10000}
   */
  publishTimeout?: number;
  /**
   * The `WebSocket` constructor.
   *
   * @default {globalThis.WebSocket}
   */
  WebSocket?: WebSocketConstructor;
  /**
   * The `fetch` function, for SSE.
   *
   * @default {globalThis.fetch}
   */
  fetch?: FetchFunction;
}

/**
 * Where the client stands: `"connecting"` (the first connection),
 * `"open"`, `"reconnecting"` (after a drop, waiting or trying again), or
 * `"closed"` (for good: `close()`, 4403, or a token that cannot be renewed).
 */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

/** The detail of a `state` event. */
export interface StateDetail {
  /** The new state. */
  state: ClientState;
  /** The transport in use, or to be tried next. */
  transport: TransportKind;
  /** When the state follows a drop: the close code. */
  code?: number;
  /** When the state follows a drop: the close reason, or what failed. */
  reason?: string;
  /** When a reconnect is scheduled: milliseconds until it. */
  delay?: number;
}

/** The detail of the `close` event: why the client closed for good. */
export interface CloseDetail {
  /** The close code: 1000 for `close()`, the server's otherwise. */
  code: number;
  /** The close reason. */
  reason: string;
  /** The HTTP status of a refused SSE request, when that was the end. */
  status?: number;
}

/** The detail of an `expiring` event. */
export interface ExpiringDetail {
  /** When the token expires, in milliseconds since the epoch. */
  expires: number;
}

/** The detail of an `error` event. */
export interface ErrorDetail {
  /** What went wrong: the server's error message, or the client's. */
  message: string;
}

/** The events a {@linkcode PushClient} dispatches, by type. */
export interface PushClientEventMap {
  /** The state changed, or a reconnect was scheduled. */
  state: CustomEvent<StateDetail>;
  /** A subscription is live. */
  subscribed: CustomEvent<SubscribedDetail>;
  /** Messages of a topic were missed (the application should reload its state). */
  gap: CustomEvent<GapDetail>;
  /** The server left a topic for the client; its subscriptions ended. */
  unsubscribed: CustomEvent<UnsubscribedDetail>;
  /** Who is in a topic with presence. */
  presence: CustomEvent<PresenceDetail>;
  /** A client joined a topic with presence. */
  join: CustomEvent<JoinDetail>;
  /** A client left a topic with presence. */
  leave: CustomEvent<LeaveDetail>;
  /**
   * The chat room's envelopes (`welcome`, `join`, `leave`, `message`), for a
   * WebSocket connection that named no topic (docs/chat.md).
   */
  room: CustomEvent<RoomEvent>;
  /**
   * The server says the token expires within 30 s; a token function is asked
   * for a fresh one, a plain token ends with a close 4401.
   */
  expiring: CustomEvent<ExpiringDetail>;
  /** The server refused something, or the client could not do something. */
  error: CustomEvent<ErrorDetail>;
  /** The client closed for good. */
  close: CustomEvent<CloseDetail>;
}
