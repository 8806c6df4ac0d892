/**
 * Every default limit and timeout of pushwire, in one place: the codec, the
 * server, the push hub and the CLI read their defaults from here, and the
 * `@default` tags of their options name the same numbers.
 *
 * A leaf module: it imports nothing, so every layer may import it.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "./defaults.ts";
 *
 * console.log(DEFAULTS.maxMessageBytes); // 1048576
 * ```
 *
 * @module
 */

/** The defaults of every limit and timeout (bytes, counts, milliseconds). */
export const DEFAULTS = {
  /** The port `serve()` listens on. */
  port: 8080,
  /** The address `serve()` listens on. */
  hostname: "0.0.0.0",
  /** Open sockets and handshakes under way, together, per server. */
  maxConnections: 10_000,
  /**
   * Connections accepted and not yet a socket or answered (reading their
   * request head, upgrading, or being answered as plain HTTP); past it a new
   * connection is closed at once.
   */
  maxPendingHandshakes: 2048,
  /**
   * Open sockets and pending handshakes from one remote address; past it a
   * new connection gets 429 at once. `0` turns the limit off (behind a
   * reverse proxy every client shares the proxy's address).
   */
  maxConnectionsPerAddress: 1024,
  /** Milliseconds a rendering of `GET /metrics` is served again before the next. */
  metricsCacheTtl: 1000,
  /** Milliseconds a client has to complete its opening handshake. */
  handshakeTimeout: 10_000,
  /** Bytes of an HTTP request head (request line and headers). */
  maxHeadBytes: 8192,
  /** Header lines of an HTTP request head. */
  maxHeaders: 100,
  /** Bytes of one WebSocket message, after reassembly and decompression. */
  maxMessageBytes: 1024 * 1024,
  /**
   * Frames one WebSocket message may arrive in: a message of the default
   * maxMessageBytes in 64-byte fragments (a larger maxMessageBytes raises it
   * to one fragment per 64 bytes).
   */
  maxFragments: 16_384,
  /** Bytes a second a socket's compressed messages may inflate to (0: no budget). */
  maxInflateBytesPerSecond: 4 * 1024 * 1024,
  /**
   * Messages a second a socket of the push server may send, on average
   * (`servePush`; `serve()` sets no rate by default).
   */
  maxMessagesPerSecond: 10,
  /**
   * Messages a socket of the push server may send at once (`servePush`): as
   * many as it may subscribe to topics, so it can subscribe to all at once.
   */
  messageBurst: 100,
  /** Bytes queued for a socket before it is closed as a slow consumer. */
  maxBufferedBytes: 4 * 1024 * 1024,
  /** Milliseconds to wait for the peer's close frame. */
  closeTimeout: 3000,
  /** Milliseconds of silence before the server pings a socket (`serve()`). */
  idleTimeout: 30_000,
  /** The path of the event stream (Server-Sent Events) of `servePush`. */
  eventStreamPath: "/events",
  /**
   * Milliseconds between comments on an idle event stream, so that proxies
   * keep it open (one goes out only when nothing else did since the last).
   */
  eventStreamHeartbeat: 15_000,
  /** Milliseconds an event stream's client waits before it reconnects (`retry:`). */
  eventStreamRetry: 2000,
  /**
   * Topics one event stream may name: its resume id (a last id per topic)
   * must fit a reconnect's request head.
   */
  maxEventStreamTopics: 16,
  /** Bytes of a plain HTTP request body (`POST /publish`). */
  maxBodyBytes: 64 * 1024,
  /** Bytes of one chat message (text as UTF-8, or binary), well below maxMessageBytes. */
  maxChatBytes: 16 * 1024,
  /** Topic patterns a socket without an identity may publish to (`servePush`). */
  anonymousPublish: ["room:*"] as readonly string[],
  /** Topic patterns with presence (`servePush`). */
  presence: ["room:*"] as readonly string[],
  /** Topics one socket may subscribe to. */
  maxSubscriptions: 100,
  /** Bytes of replay queued on a socket at a time. */
  replayChunkBytes: 1024 * 1024,
  /** Messages kept per topic for resume. */
  historySize: 100,
  /** Milliseconds a message is kept for resume. */
  historyTtl: 3_600_000,
  /** Topics whose history is kept. */
  historyTopics: 10_000,
  /** Milliseconds to keep trying to reach Redis when the engine opens. */
  redisConnectTimeout: 10_000,
  /**
   * Bytes of history held in memory over every topic (the memory engine);
   * past it the oldest messages of the least recently published topics go
   * first. `0` for no byte bound.
   */
  historyBytes: 64 * 1024 * 1024,
  /** Milliseconds a Redis command may take before it fails (the engine answers 503). */
  redisCommandTimeout: 2000,
  /** Topics one node watches in Redis at most (a Pub/Sub subscription each). */
  redisMaxWatched: 10_000,
  /**
   * Milliseconds a Redis topic stays subscribed after its last local
   * subscriber left, so that a quick return costs Redis nothing.
   */
  redisWatchGrace: 5000,
} as const;

/**
 * The message rate of `servePush` and `serveChat` per socket, unless their
 * options say otherwise: past it a client's messages (chat, control) are
 * dropped, and it is told so at most once a second with an `error` event
 * naming the rate and burst. Plain `serve()` has no rate limit unless given
 * one.
 *
 * @param options A rate and burst, if given.
 * @returns The socket options of the rate.
 */
export function clientRate(
  options: { maxMessagesPerSecond?: number; messageBurst?: number },
): {
  maxMessagesPerSecond: number;
  messageBurst: number;
  messageRateAction: "drop";
  messageRateNotice: string;
} {
  const perSecond = options.maxMessagesPerSecond ?? DEFAULTS.maxMessagesPerSecond;
  const burst = options.messageBurst ?? DEFAULTS.messageBurst;
  return {
    maxMessagesPerSecond: perSecond,
    messageBurst: burst,
    messageRateAction: "drop",
    messageRateNotice: JSON.stringify({
      type: "error",
      message: `Too many messages: some were dropped (at most ${perSecond} a second, ` +
        `${burst} at once)`,
    }),
  };
}
