/**
 * One WebSocket connection over a TCP connection: the read loop, control
 * frames, and the timers and I/O of the closing handshake, whose phases live
 * in `closing_handshake.ts`; messages wait in an inbox and frames in an outbox.
 * On an event stream (Server-Sent Events) the same socket writes events
 * instead (`event_stream.ts`), reads nothing, and sends heartbeats.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { CLOSE_CODE } from "../protocol/close_code.ts";
import { decodeClosePayload } from "../protocol/close_frame.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { encodeFrame, type Frame, OPCODE } from "../protocol/frame.ts";
import type { Message, MessageAssembler } from "../protocol/message.ts";
import {
  type CloseAction,
  type CloseCause,
  type CloseResult,
  ClosingHandshake,
  type SocketState,
} from "./closing_handshake.ts";
import { messageFrame } from "./compression.ts";
import { Sweeps } from "./heartbeat.ts";
import { timerDelay } from "./timers.ts";
import { Inbox } from "./inbox.ts";
import { Outbox, type OutboxEvents } from "./outbox.ts";
import { type FrameReader, frameReader } from "./frame_reader.ts";
import { BudgetError, type MessageRate, messageRateOf } from "./peer_budget.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import type { TopicIndex } from "./topics.ts";
import type { Deflater, Inflater, PreparedMessage } from "../protocol/deflate.ts";
import type { EventStreamWire } from "./event_stream.ts";
import type {
  SendOptions,
  SocketCounters,
  SocketInit,
  SocketOptions,
  Transport,
  Wire,
} from "./socket_options.ts";

export type { CloseCause, CloseResult, SocketState } from "./closing_handshake.ts";
export type {
  SendOptions,
  SocketCounters,
  SocketInit,
  SocketOptions,
  Transport,
  Wire,
} from "./socket_options.ts";

// An idle socket holds READ_BUFFER_MIN bytes in its pending read.
const READ_BUFFER_MIN = 128;
const READ_BUFFER_MAX = 64 * 1024;
// How long a close owed to the peer may wait for unread messages to be read.
const OWED_CLOSE_MAX_MS = 1000;
const NO_TOPICS: ReadonlySet<string> = new Set();
const EMPTY = new Uint8Array(0);

/**
 * One WebSocket connection. Iterate it for its messages (text as strings,
 * binary as `Uint8Array`); the iteration ends when the socket closes, and
 * {@linkcode Socket.closed} tells how. Errors never escape: a protocol error,
 * a reset or a failed write closes this socket alone.
 *
 * Messages wait in a small inbox until iterated; when it is full the socket
 * stops reading (TCP back-pressure), so iterate every socket you keep.
 *
 * @example Echo every message
 * ```ts ignore
 * import { serve } from "jsr:@pushwire/pushwire";
 *
 * serve({ port: 8080 }, async (socket) => {
 *   for await (const message of socket) socket.send(message);
 * });
 * ```
 */
export class Socket implements AsyncIterable<Message> {
  // What every socket's timers, inbox and outbox call, with the socket: no
  // socket holds closures of its own for them.
  static readonly #idleChecks = new Sweeps<Socket>((socket) => socket.#checkIdle());
  static readonly #caughtUp = (socket: Socket) => socket.#step(socket.#handshake.pay());
  static readonly #outboxEvents: OutboxEvents<Socket> = {
    onError: (socket) => socket.#destroy(),
    onDrain: (socket) => {
      if (socket.#handshake.phase === "draining") socket.#step(socket.#handshake.drained());
    },
  };

  /** The socket's identifier, unique within its server. */
  readonly id: string;
  /** The peer's address. */
  readonly remoteAddr: Deno.Addr;
  /** The upgrade request: path, query and headers. */
  readonly request: UpgradeRequest;
  /** The negotiated subprotocol, or `""`. */
  readonly protocol: string;
  /** The negotiated extensions (`Sec-WebSocket-Extensions` answer), or `""`. */
  readonly extensions: string;
  /** What the socket speaks: WebSocket, or an event stream (one way, to the client). */
  readonly wire: Wire;

  readonly #transport: Transport;
  readonly #events: EventStreamWire | undefined;
  // Made on the first bytes from the peer: many sockets only receive.
  #reader: FrameReader | undefined;
  readonly #options: SocketOptions;
  readonly #inflater: Inflater | undefined;
  readonly #deflater: Deflater | undefined;
  readonly #outbox: Outbox<Socket>;
  readonly #inbox: Inbox<Socket>;
  readonly #messageRate: MessageRate | undefined;
  readonly #topicIndex: TopicIndex<Socket> | undefined;
  // Made on the first subscribe: most sockets of a chat never subscribe.
  #topics: Set<string> | undefined;
  #messagesIn = 0;
  #messagesDropped = 0;
  #bytesIn = 0;
  #framesOut = 0;
  #bytesOut = 0;

  readonly #handshake = new ClosingHandshake();
  // The owed close's deadline in the "owed" phase, the close timeout after.
  #timer: ReturnType<typeof setTimeout> | undefined;
  // The idle check's interval, or 0 for none.
  readonly #idleInterval: number;
  // Idle checks since the peer was last heard: the second pings, the third
  // closes. On an event stream: bytesOut at the last check.
  #silentChecks = 0;

  readonly #onClose: SocketInit["onClose"];
  // How the socket ended, once it has; `closed` is made when first asked for.
  #result: CloseResult | undefined;
  #closed: Promise<CloseResult> | undefined;
  #resolveClosed: ((result: CloseResult) => void) | undefined;

  /**
   * Wraps an accepted, upgraded connection and starts reading. Servers make
   * sockets; applications receive them.
   *
   * @param transport The connection, after the 101 response (or an event
   * stream's first bytes) was written.
   * @param init The socket's identity and any bytes already read.
   * @param options Limits and timeouts.
   */
  constructor(transport: Transport, init: SocketInit, options: SocketOptions = {}) {
    this.id = init.id;
    this.remoteAddr = init.remoteAddr;
    this.request = init.request;
    this.protocol = init.protocol ?? "";
    this.#transport = transport;
    this.#events = init.eventStream;
    this.wire = init.eventStream === undefined ? "websocket" : "event-stream";
    this.#topicIndex = init.topics;
    this.#onClose = init.onClose;
    this.#options = options;
    this.#deflater = init.compression?.deflater;
    this.#inflater = init.compression?.inflater;
    this.extensions = init.compression?.response ?? "";
    this.#messageRate = messageRateOf(options);
    this.#inbox = new Inbox<Socket>(Socket.#caughtUp, this);
    const maxBytes = options.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes;
    this.#outbox = new Outbox<Socket>(transport, maxBytes, Socket.#outboxEvents, this);
    this.#idleInterval = Math.max(0, this.#events?.heartbeat ?? options.idleTimeout ?? 0);
    if (this.#idleInterval > 0) Socket.#idleChecks.add(this.#idleInterval, this);
    this.#readLoop(init.head ?? EMPTY);
  }

  /** Where the socket is in its lifecycle. */
  get state(): SocketState {
    return this.#handshake.state;
  }

  /**
   * Why the socket closed or is closing (`undefined` while no close began):
   * what began the closing handshake, an abort, or the connection's loss.
   */
  get closeCause(): CloseCause | undefined {
    return this.#handshake.cause;
  }

  /** Counts of the traffic through this socket so far. */
  get counters(): SocketCounters {
    const counters: SocketCounters = {
      messagesIn: this.#messagesIn,
      bytesIn: this.#bytesIn,
      framesOut: this.#framesOut,
      bytesOut: this.#bytesOut,
    };
    if (this.#messageRate !== undefined) counters.messagesDropped = this.#messagesDropped;
    return counters;
  }

  /** The topics this socket is subscribed to. */
  get topics(): ReadonlySet<string> {
    return this.#topics ?? NO_TOPICS;
  }

  /**
   * Subscribes this socket to a topic: it receives what is published there.
   * A closed socket leaves all its topics.
   *
   * @param topic 1 to 128 characters from letters, digits and `_ . : @ / -`.
   * @throws {TypeError} For an invalid topic name, or a socket without a
   * server's topic index.
   */
  subscribe(topic: string): void {
    if (this.#topicIndex === undefined) {
      throw new TypeError("Cannot subscribe: this socket has no topic index");
    }
    if (this.#handshake.phase === "closed") return;
    this.#topicIndex.add(topic, this);
    (this.#topics ??= new Set()).add(topic);
  }

  /**
   * Unsubscribes this socket from a topic.
   *
   * @param topic A topic name.
   * @returns Whether the socket was subscribed.
   */
  unsubscribe(topic: string): boolean {
    this.#topicIndex?.delete(topic, this);
    return this.#topics?.delete(topic) ?? false;
  }

  /** Bytes queued for the peer and not yet written. */
  get bufferedAmount(): number {
    return this.#outbox.queuedBytes;
  }

  /** Resolves once the connection has ended, with how it ended. Never rejects. */
  get closed(): Promise<CloseResult> {
    this.#closed ??= this.#result === undefined
      ? new Promise((resolve) => this.#resolveClosed = resolve)
      : Promise.resolve(this.#result);
    return this.#closed;
  }

  /**
   * Sends a message: a string as a text frame, bytes as a binary frame. On
   * an event stream, a string as an event (named after the `type` its JSON
   * starts with, if any; its resume point makes the stream's resume id its
   * `id:`), bytes as an event named `binary` with their base64 as its data.
   *
   * @param data The message.
   * @param options Where it stands in its topic, for an event stream.
   * @returns `false` when the socket is no longer open (nothing is sent).
   */
  send(data: string | Uint8Array, options: SendOptions = {}): boolean {
    if (!this.#handshake.sending) return false;
    if (this.#events !== undefined) return this.#queue(this.#events.message(data, options.resume));
    return this.sendFrame(messageFrame(data, this.#deflater));
  }

  /**
   * Sends a message prepared once for many sockets: compressed (once per
   * parameter set) when this socket negotiated permessage-deflate, plain
   * otherwise; on an event stream, as the message's event.
   *
   * @param message The prepared message.
   * @returns As {@linkcode Socket.sendFrame}.
   */
  sendPrepared(message: PreparedMessage): boolean {
    if (!this.#handshake.sending) return false;
    if (this.#events !== undefined) return this.#queue(this.#events.prepared(message));
    return this.sendFrame(message.frame(this.#deflater));
  }

  /**
   * Queues pre-encoded frame bytes, for example one broadcast frame shared
   * by many sockets. The bytes must not be changed afterwards.
   *
   * @param frame One or more complete, unmasked frames.
   * @returns `false` when the socket is no longer open, or when the frame
   * took the outbox past its cap (the socket is then closed with 1008).
   * @throws {TypeError} On an event stream.
   */
  sendFrame(frame: Uint8Array): boolean {
    if (this.#events !== undefined) {
      throw new TypeError("Cannot send a WebSocket frame on an event stream");
    }
    if (!this.#handshake.sending) return false;
    // A frame larger than the cap still goes out alone; the cap bounds what piles up.
    if (!this.#outbox.push(frame)) return this.#slowConsumer();
    this.#framesOut++;
    this.#bytesOut += frame.length;
    return true;
  }

  /**
   * Sends a ping; the peer answers with a pong carrying the same bytes. The
   * ping counts against `maxBufferedBytes` as data does. On an event stream,
   * a comment (`: `), which nobody answers.
   *
   * @param data Up to 125 bytes of payload.
   */
  ping(data: Uint8Array = EMPTY): void {
    if (data.length > 125) throw new RangeError("Cannot ping: at most 125 bytes of payload");
    const ping = this.#events?.heartbeatBytes ?? encodeFrame(OPCODE.Ping, data);
    if (this.#handshake.sending && !this.#outbox.push(ping)) this.#slowConsumer();
  }

  /**
   * Starts the closing handshake: sends a close frame, waits up to the close
   * timeout for the peer's, then ends the connection. Closing a socket that
   * is already closing does nothing. On an event stream: sends the `close`
   * event (`{"code":…,"reason":…}`) and ends the stream once it is written.
   *
   * @param code A close code that may be sent (1000–1003, 1007–1014,
   * 3000–4999).
   * @param reason At most 123 bytes of UTF-8.
   * @throws {RangeError} For a code that may not be sent or a long reason.
   */
  close(code: number = CLOSE_CODE.NormalClosure, reason = ""): void {
    this.#step(this.#handshake.close(code, reason));
  }

  /**
   * The socket's messages, in order; ends when the socket closes. Text
   * arrives as a string, binary as a `Uint8Array`.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this.#inbox.iterator();
  }

  async #readLoop(head: Uint8Array): Promise<void> {
    let buffer = new Uint8Array(READ_BUFFER_MIN);
    try {
      if (head.length > 0) this.#receive(head);
      while (this.#handshake.phase !== "closed") {
        if (this.#inbox.full) {
          await this.#inbox.room();
          continue;
        }
        const n = await this.#transport.read(buffer);
        if (n === null) break;
        this.#silentChecks = 0;
        this.#receive(buffer.subarray(0, n));
        // Grow the buffer for a fast sender, and shrink it back once reads
        // are small again, so that idle sockets keep a small one.
        if (n === buffer.length && buffer.length < READ_BUFFER_MAX) {
          buffer = new Uint8Array(Math.min(READ_BUFFER_MAX, buffer.length * 8));
        } else if (n < buffer.length >>> 4 && buffer.length > READ_BUFFER_MIN) {
          buffer = new Uint8Array(Math.max(READ_BUFFER_MIN, buffer.length >>> 3));
        }
      }
    } catch {
      // A reset or a read on a closed connection: the connection is over.
    }
    this.#destroy();
  }

  #receive(chunk: Uint8Array): void {
    if (!this.#handshake.reading) return;
    if (this.#events !== undefined) {
      // An event stream's client sends nothing after its request: bytes
      // from it (a pipelined request, a body) end the stream.
      this.#inbox.end();
      return this.#step(this.#handshake.failed(CLOSE_CODE.ProtocolError, "unexpected bytes"));
    }
    try {
      const reader = this.#reader ??= frameReader(this.#options, this.#inflater);
      for (const frame of reader.decoder.push(chunk)) {
        this.#onFrame(frame, reader.assembler);
        if (!this.#handshake.reading) return;
      }
      const error = reader.decoder.pendingError;
      if (error !== undefined) throw error;
      const partial = reader.decoder.partial;
      if (partial !== undefined && this.#handshake.phase === "open") {
        reader.assembler.check(partial);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      const cause = error instanceof BudgetError ? error.closeCause : "protocol-error";
      this.#inbox.end();
      this.#step(this.#handshake.failed(error.code, error.message, cause));
    }
  }

  #onFrame(frame: Frame, assembler: MessageAssembler): void {
    switch (frame.opcode) {
      case OPCODE.Ping:
        // Few pongs wait: past them, a newer one takes the newest one's place.
        if (
          this.#handshake.phase === "open" &&
          !this.#outbox.pong(encodeFrame(OPCODE.Pong, frame.payload))
        ) {
          this.#slowConsumer();
        }
        return;
      case OPCODE.Pong:
        return;
      case OPCODE.Close: {
        const { code, reason } = decodeClosePayload(frame.payload);
        this.#inbox.end();
        return this.#step(this.#handshake.peerClosed(code, reason));
      }
      default: {
        if (this.#handshake.phase !== "open") return;
        this.#bytesIn += frame.payload.length;
        const message = assembler.add(frame);
        if (message === undefined) return;
        if (this.#messageRate !== undefined && this.#overRate(this.#messageRate)) return;
        this.#messagesIn++;
        this.#inbox.push(message);
      }
    }
  }

  // Whether a message is over the rate: dropped (maybe with the notice), or
  // the socket closes (thrown, as a protocol error is).
  #overRate(rate: MessageRate): boolean {
    const verdict = rate.admit(performance.now());
    if (verdict === "accept") return false;
    if (verdict === "close") throw new BudgetError("message rate exceeded", "message-rate");
    this.#messagesDropped++;
    if (verdict === "notify") this.send(this.#options.messageRateNotice ?? "");
    return true;
  }

  // Queues the parts of one message (a frame, or an event's parts) together.
  #queue(parts: readonly Uint8Array[]): boolean {
    if (!this.#outbox.pushAll(parts)) return this.#slowConsumer();
    this.#framesOut++;
    for (const part of parts) this.#bytesOut += part.length;
    return true;
  }

  #slowConsumer(): false {
    const reason = "slow consumer: outbox full";
    this.#step(this.#handshake.abort(CLOSE_CODE.PolicyViolation, reason, "slow-consumer"));
    return false;
  }

  // Carries out a step of the closing handshake ("none", the common case, first).
  #step(action: CloseAction): void {
    switch (action) {
      case "none":
        return;
      case "owe": {
        if (this.#inbox.caughtUp) return this.#step(this.#handshake.pay());
        const closeTimeout = this.#options.closeTimeout ?? DEFAULTS.closeTimeout;
        const wait = Math.min(OWED_CLOSE_MAX_MS, closeTimeout);
        this.#timer = setTimeout(() => this.#step(this.#handshake.pay()), wait);
        return;
      }
      case "send": {
        const close = this.#handshake.payload;
        this.#outbox.pushPastCap(this.#events?.close(close) ?? encodeFrame(OPCODE.Close, close));
        clearTimeout(this.#timer);
        this.#timer = setTimeout(
          () => this.#destroy(),
          timerDelay(this.#options.closeTimeout ?? DEFAULTS.closeTimeout),
        );
        // An event stream's client never answers: the close ends it once written.
        if (this.#events !== undefined) this.#step(this.#handshake.sentOneWay());
        return;
      }
      case "drain":
        if (this.#outbox.idle) this.#step(this.#handshake.drained());
        return;
      case "end":
        return this.#destroy();
      case "half-close":
        // The server closes TCP first once both close frames are through
        // (RFC 6455 §7.1.1); after a protocol error it reads nothing more, so
        // it ends its side at once and waits only for the peer's end.
        this.#transport.closeWrite?.().catch(() => this.#destroy());
        return;
    }
  }

  #checkIdle(): void {
    if (this.#events !== undefined) {
      // A quiet event stream gets a comment, so that proxies keep it open.
      if (this.#bytesOut === this.#silentChecks) this.ping();
      this.#silentChecks = this.#bytesOut;
      return;
    }
    const checks = ++this.#silentChecks;
    if (checks === 2) {
      this.ping();
    } else if (checks > 2) {
      this.#step(this.#handshake.abort(CLOSE_CODE.GoingAway, "idle timeout", "idle-timeout"));
    }
  }

  #destroy(): void {
    if (this.#handshake.phase === "closed") return;
    const result = this.#handshake.end();
    clearTimeout(this.#timer);
    if (this.#idleInterval > 0) Socket.#idleChecks.delete(this.#idleInterval, this);
    this.#outbox.stop();
    for (const topic of this.#topics ?? NO_TOPICS) this.#topicIndex?.delete(topic, this);
    try {
      this.#transport.close();
    } catch {
      // Already closed by the peer or by a failed write.
    }
    this.#result = result;
    try {
      this.#onClose?.(this, result);
    } catch (error) {
      // Not the business of whoever closed the socket (a send, a broadcast):
      // thrown on its own, as a failed promise reaction would be.
      queueMicrotask(() => {
        throw error;
      });
    }
    this.#resolveClosed?.(result);
    this.#inbox.end();
  }
}
