/**
 * What a `Socket` is made with, configured with and reports: the details of
 * its connection, its limits and timeouts, the byte stream it runs over,
 * what it speaks, and its traffic counts.
 *
 * @module
 */

import type { Deflater, Inflater } from "../protocol/deflate.ts";
import type { ResumePoint } from "../protocol/event_stream.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import type { CloseResult } from "./closing_handshake.ts";
import type { EventStreamWire } from "./event_stream.ts";
import type { Socket } from "./socket.ts";
import type { TopicIndex } from "./topics.ts";

/**
 * What a socket speaks: `"websocket"`, or `"event-stream"` (Server-Sent
 * Events: one way, to the client; it sends nothing after its request).
 */
export type Wire = "websocket" | "event-stream";

/** Details of an accepted connection, for a `Socket`. */
export interface SocketInit {
  /** The socket's identifier, unique within its server. */
  id: string;
  /** The peer's address. */
  remoteAddr: Deno.Addr;
  /**
   * The request the socket was accepted for: an upgrade, or an event
   * stream's `GET` (with no key, subprotocols or extensions).
   */
  request: UpgradeRequest;
  /** The negotiated subprotocol, or `""`. */
  protocol?: string;
  /** Bytes that arrived after the handshake request (a pipelined frame). */
  head?: Uint8Array;
  /** The server's topic index, for `Socket.subscribe`. */
  topics?: TopicIndex<Socket>;
  /**
   * permessage-deflate, when negotiated: the deflater for what this socket
   * sends (shared by every socket with the same parameters) and the
   * inflater for what it receives (its own).
   */
  compression?: { deflater: Deflater; inflater: Inflater; response: string };
  /**
   * For a socket on an event stream: what it writes instead of frames (its
   * response head and first bytes already written).
   */
  eventStream?: EventStreamWire;
  /**
   * Called once when the socket has closed, before `Socket.closed`
   * resolves: how its server learns of it. One function may serve every
   * socket of a server, so that a socket holds no listener of its own.
   */
  onClose?: (socket: Socket, result: CloseResult) => void;
}

/** Options of `Socket.send`. */
export interface SendOptions {
  /**
   * Where the message stands in its topic. On an event stream it makes
   * the stream's resume id the event's `id:`; WebSocket ignores it.
   */
  resume?: ResumePoint;
}

/** Traffic counts of a `Socket`. */
export interface SocketCounters {
  /** Messages received and delivered to the iterator. */
  messagesIn: number;
  /**
   * Messages received and dropped for `maxMessagesPerSecond` (its `"drop"`
   * action); there only when the socket has a message rate.
   */
  messagesDropped?: number;
  /** Payload bytes of the data frames received. */
  bytesIn: number;
  /** Data frames queued for the peer (sends and broadcasts). */
  framesOut: number;
  /** Bytes of those frames, headers included. */
  bytesOut: number;
}

/** The byte stream a `Socket` runs over (a `Deno.Conn` is one). */
export interface Transport {
  /** Reads into `buffer`; `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`. */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes the stream. */
  close(): void;
  /** Closes the writing half (TCP FIN) while reading goes on, if supported. */
  closeWrite?(): Promise<void>;
}

/** Limits and timeouts of a `Socket`. */
export interface SocketOptions {
  /**
   * The largest message accepted, in bytes; a larger one closes the socket
   * with 1009.
   *
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * The most frames one message may arrive in; a message in more closes the
   * socket with 1009, as a message too big to assemble. By default a message
   * of `maxMessageBytes` may come in 64-byte fragments, and never fewer than
   * 16384.
   *
   * @default {16384}
   */
  maxFragments?: number;
  /**
   * The most bytes that may wait in the outbox, pongs and pings included. A
   * peer that reads so slowly that more pile up is closed with 1008. (One
   * frame larger than this is still sent when nothing else is waiting.)
   *
   * @default {4194304}
   */
  maxBufferedBytes?: number;
  /**
   * How many bytes a second the peer's compressed (permessage-deflate)
   * messages may inflate to. The budget holds a second's worth, and never
   * less than one message of `maxMessageBytes`; the message that overspends
   * it closes the socket with 1008. `0` turns the budget off.
   *
   * @default {4194304}
   */
  maxInflateBytesPerSecond?: number;
  /**
   * How many messages a second the peer may send, on average; past it,
   * `messageRateAction` says what becomes of a message. `0` turns the limit
   * off: a choice for the application (the push server's values are
   * `DEFAULTS.maxMessagesPerSecond` and `DEFAULTS.messageBurst`).
   *
   * @default {0}
   */
  maxMessagesPerSecond?: number;
  /**
   * How many messages the peer may send at once, above the average of
   * `maxMessagesPerSecond`.
   *
   * @default {maxMessagesPerSecond}
   */
  messageBurst?: number;
  /**
   * What becomes of a message past `maxMessagesPerSecond`: `"drop"` discards
   * it (see `counters.messagesDropped` and `messageRateNotice`), `"close"`
   * closes the socket with 1008.
   *
   * @default {"close"}
   */
  messageRateAction?: "drop" | "close";
  /**
   * A text message sent to the peer, at most once a second, while its
   * messages are dropped for `maxMessagesPerSecond`.
   *
   * @default {none}
   */
  messageRateNotice?: string;
  /**
   * How long to wait, in milliseconds, for the peer's close frame (and for the
   * peer to close TCP) after this side sent its own; longer than 2^31 − 1
   * ms counts as that.
   *
   * @default {3000}
   */
  closeTimeout?: number;
  /**
   * Milliseconds without a byte from the peer after which it is pinged; a
   * peer silent for twice this long is closed. `0` turns the heartbeat off;
   * longer than 2^31 − 1 ms (about 24.8 days, what a timer takes) counts as
   * that.
   *
   * @default {0}
   */
  idleTimeout?: number;
}
