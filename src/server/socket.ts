/**
 * One WebSocket connection over a TCP connection: the read loop, control
 * frames, the closing handshake, and the outbox.
 *
 * @module
 */

import { CLOSE_CODE } from "../protocol/close_code.ts";
import { decodeClosePayload, encodeClosePayload } from "../protocol/close_frame.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { encodeFrame, encodeTextFrame, type Frame, OPCODE } from "../protocol/frame.ts";
import { FrameDecoder } from "../protocol/frame_decoder.ts";
import { type Message, MessageAssembler } from "../protocol/message.ts";
import { watch } from "./heartbeat.ts";
import { Outbox } from "./outbox.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import type { TopicIndex } from "./topics.ts";
import type { Deflater, Inflater, PreparedMessage } from "../protocol/deflate.ts";

/** How a socket closed. */
export interface CloseResult {
  /**
   * The close code both sides settled on: the peer's code when its close
   * frame arrived, else the code this side sent, else 1006 (no close frame).
   */
  code: number;
  /** The close reason that went with `code`. */
  reason: string;
  /** Whether close frames went both ways before the connection ended. */
  wasClean: boolean;
}

/** Traffic counts of a {@linkcode Socket}. */
export interface SocketCounters {
  /** Messages received and delivered to the iterator. */
  messagesIn: number;
  /** Payload bytes of the data frames received. */
  bytesIn: number;
  /** Data frames queued for the peer (sends and broadcasts). */
  framesOut: number;
  /** Bytes of those frames, headers included. */
  bytesOut: number;
}

/** The socket's lifecycle: open, then closing (close frame sent), then closed. */
export type SocketState = "open" | "closing" | "closed";

/** The byte stream a {@linkcode Socket} runs over (a `Deno.Conn` is one). */
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

/** Limits and timeouts of a {@linkcode Socket}. */
export interface SocketOptions {
  /**
   * The largest message accepted, in bytes; a larger one closes the socket
   * with 1009.
   *
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * The most bytes that may wait in the outbox. A peer that reads so slowly
   * that more pile up is closed with 1008. (One frame larger than this is
   * still sent when nothing else is waiting.)
   *
   * @default {4194304}
   */
  maxBufferedBytes?: number;
  /**
   * How long to wait, in milliseconds, for the peer's close frame (and for the
   * peer to close TCP) after this side sent its own.
   *
   * @default {3000}
   */
  closeTimeout?: number;
  /**
   * Milliseconds without a byte from the peer after which it is pinged; a
   * peer silent for twice this long is closed. `0` turns the heartbeat off.
   *
   * @default {0}
   */
  idleTimeout?: number;
}

/** Details of an accepted connection, for a {@linkcode Socket}. */
export interface SocketInit {
  /** The socket's identifier, unique within its server. */
  id: string;
  /** The peer's address. */
  remoteAddr: Deno.Addr;
  /** The upgrade request the socket was accepted for. */
  request: UpgradeRequest;
  /** The negotiated subprotocol, or `""`. */
  protocol?: string;
  /** Bytes that arrived after the handshake request (a pipelined frame). */
  head?: Uint8Array;
  /** The server's topic index, for {@linkcode Socket.subscribe}. */
  topics?: TopicIndex<Socket>;
  /**
   * permessage-deflate, when negotiated: the deflater for what this socket
   * sends (shared by every socket with the same parameters) and the
   * inflater for what it receives (its own).
   */
  compression?: { deflater: Deflater; inflater: Inflater; response: string };
}

// An idle socket holds READ_BUFFER_MIN bytes in its pending read.
const READ_BUFFER_MIN = 128;
const READ_BUFFER_MAX = 64 * 1024;
const INBOX_MAX_MESSAGES = 256;
const INBOX_MAX_BYTES = 1024 * 1024;
// How long a close owed to the peer may wait for unread messages to be read.
const OWED_CLOSE_MAX_MS = 1000;
const encoder = new TextEncoder();
const NO_TOPICS: ReadonlySet<string> = new Set();
const DONE: IteratorResult<Message> = Object.freeze({ value: undefined, done: true });

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

  readonly #transport: Transport;
  readonly #decoder: FrameDecoder;
  readonly #assembler: MessageAssembler;
  readonly #deflater: Deflater | undefined;
  readonly #outbox: Outbox;
  readonly #maxBufferedBytes: number;
  readonly #topicIndex: TopicIndex<Socket> | undefined;
  // Made on the first subscribe: most sockets of a chat never subscribe.
  #topics: Set<string> | undefined;
  #messagesIn = 0;
  #bytesIn = 0;
  #framesOut = 0;
  #bytesOut = 0;
  readonly #closeTimeout: number;

  #state: SocketState = "open";
  #closeSent: { code: number; reason: string } | undefined;
  #closeReceived: { code: number; reason: string } | undefined;
  #failed = false;
  #closeWhenDrained = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  // A close frame this side owes the peer (the echo of its close, or the
  // answer to a protocol error), held back until the messages that arrived
  // before it have been iterated, so that their replies go out first.
  #owedClose: { code: number; reason: string; payload: Uint8Array } | undefined;
  #owedCloseTimer: ReturnType<typeof setTimeout> | undefined;
  #unwatchIdle: (() => void) | undefined;
  #heardSinceCheck = true;
  #pingOutstanding = false;

  #inbox: Message[] = [];
  #inboxHead = 0;
  #inboxBytes = 0;
  #wakeReader: (() => void) | undefined;
  #waiter: ((result: IteratorResult<Message>) => void) | undefined;
  #waiting: Promise<IteratorResult<Message>> | undefined;
  // Whether the consumer was handed a message and has not asked for the next
  // one: what it sends in reply must go out before an owed close.
  #consumerHolds = false;

  readonly #closed = Promise.withResolvers<CloseResult>();

  /**
   * Wraps an accepted, upgraded connection and starts reading. Servers make
   * sockets; applications receive them.
   *
   * @param transport The connection, after the 101 response was written.
   * @param init The socket's identity and any bytes already read.
   * @param options Limits and timeouts.
   */
  constructor(transport: Transport, init: SocketInit, options: SocketOptions = {}) {
    this.id = init.id;
    this.remoteAddr = init.remoteAddr;
    this.request = init.request;
    this.protocol = init.protocol ?? "";
    this.#transport = transport;
    this.#topicIndex = init.topics;
    this.#decoder = new FrameDecoder({
      maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
      allowRsv1: init.compression !== undefined,
    });
    this.#deflater = init.compression?.deflater;
    this.#assembler = new MessageAssembler(
      init.compression === undefined ? {} : { inflater: init.compression.inflater },
    );
    this.extensions = init.compression?.response ?? "";
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#closeTimeout = options.closeTimeout ?? 3000;
    this.#outbox = new Outbox(transport, {
      onError: () => this.#destroy(),
      onDrain: () => {
        if (this.#closeWhenDrained) this.#afterCloseFlushed();
      },
    });
    const idleTimeout = options.idleTimeout ?? 0;
    if (idleTimeout > 0) {
      this.#unwatchIdle = watch(idleTimeout, () => this.#checkIdle());
    }
    this.#readLoop(init.head ?? new Uint8Array(0));
  }

  /** Where the socket is in its lifecycle. */
  get state(): SocketState {
    return this.#state;
  }

  /** Counts of the traffic through this socket so far. */
  get counters(): SocketCounters {
    return {
      messagesIn: this.#messagesIn,
      bytesIn: this.#bytesIn,
      framesOut: this.#framesOut,
      bytesOut: this.#bytesOut,
    };
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
    if (this.#state === "closed") return;
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
    return this.#closed.promise;
  }

  /**
   * Sends a message: a string as a text frame, bytes as a binary frame.
   *
   * @param data The message.
   * @returns `false` when the socket is no longer open (nothing is sent).
   */
  send(data: string | Uint8Array): boolean {
    if (this.#state !== "open") return false;
    if (
      typeof data === "string" &&
      (this.#deflater === undefined || data.length * 3 < this.#deflater.threshold)
    ) {
      return this.sendFrame(encodeTextFrame(data));
    }
    const opcode = typeof data === "string" ? OPCODE.Text : OPCODE.Binary;
    const payload = typeof data === "string" ? encoder.encode(data) : data;
    const frame = this.#deflater !== undefined && payload.length >= this.#deflater.threshold
      ? this.#deflater.encodeFrame(opcode, payload)
      : encodeFrame(opcode, payload);
    return this.sendFrame(frame);
  }

  /**
   * Sends a message prepared once for many sockets: compressed (once per
   * parameter set) when this socket negotiated permessage-deflate, plain
   * otherwise.
   *
   * @param message The prepared message.
   * @returns As {@linkcode Socket.sendFrame}.
   */
  sendPrepared(message: PreparedMessage): boolean {
    if (this.#state !== "open") return false;
    return this.sendFrame(message.frame(this.#deflater));
  }

  /**
   * Queues pre-encoded frame bytes, for example one broadcast frame shared
   * by many sockets. The bytes must not be changed afterwards.
   *
   * @param frame One or more complete, unmasked frames.
   * @returns `false` when the socket is no longer open, or when the frame
   * took the outbox past its cap (the socket is then closed with 1008).
   */
  sendFrame(frame: Uint8Array): boolean {
    if (this.#state !== "open") return false;
    // A frame larger than the cap still goes out alone; the cap bounds what piles up.
    if (
      this.#outbox.queuedBytes > 0 &&
      this.#outbox.queuedBytes + frame.length > this.#maxBufferedBytes
    ) {
      this.#abort(CLOSE_CODE.PolicyViolation, "slow consumer: outbox full");
      return false;
    }
    this.#outbox.push(frame);
    this.#framesOut++;
    this.#bytesOut += frame.length;
    return true;
  }

  /**
   * Sends a ping; the peer answers with a pong carrying the same bytes.
   *
   * @param data Up to 125 bytes of payload.
   */
  ping(data: Uint8Array = new Uint8Array(0)): void {
    if (data.length > 125) throw new RangeError("Cannot ping: at most 125 bytes of payload");
    if (this.#state === "open") this.#outbox.push(encodeFrame(OPCODE.Ping, data));
  }

  /**
   * Starts the closing handshake: sends a close frame, waits up to the close
   * timeout for the peer's, then ends the connection. Closing a socket that
   * is already closing does nothing.
   *
   * @param code A close code that may be sent (1000–1003, 1007–1014,
   * 3000–4999).
   * @param reason At most 123 bytes of UTF-8.
   * @throws {RangeError} For a code that may not be sent or a long reason.
   */
  close(code: number = CLOSE_CODE.NormalClosure, reason = ""): void {
    const payload = encodeClosePayload(code, reason);
    if (this.#state !== "open") return;
    this.#sendClose(code, reason, payload);
  }

  /**
   * The socket's messages, in order; ends when the socket closes. Text
   * arrives as a string, binary as a `Uint8Array`.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    let finished = false;
    const iterator: AsyncIterableIterator<Message> = {
      next: () => finished ? Promise.resolve(DONE) : this.#next(),
      return: () => {
        finished = true;
        this.#consumerHolds = false;
        if (this.#owedClose !== undefined && this.#inboxHead === this.#inbox.length) {
          this.#payOwedClose();
        }
        return Promise.resolve(DONE);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  // One step of iteration: a message or the end at once when there is one,
  // else a promise that #wakeConsumer settles. Written out rather than as an
  // async generator: this is the per-message path.
  #next(): Promise<IteratorResult<Message>> {
    // A second call before the first settled waits its turn.
    if (this.#waiting !== undefined) return this.#waiting.then(() => this.#next());
    this.#consumerHolds = false;
    const result = this.#take();
    if (result !== undefined) return Promise.resolve(result);
    const { promise, resolve } = Promise.withResolvers<IteratorResult<Message>>();
    this.#waiting = promise;
    this.#waiter = resolve;
    return promise;
  }

  // The next message from the inbox, the end of the messages, or undefined
  // when the consumer must wait.
  #take(): IteratorResult<Message> | undefined {
    if (this.#inboxHead < this.#inbox.length) {
      const message = this.#inbox[this.#inboxHead]!;
      this.#inbox[this.#inboxHead++] = "";
      this.#inboxBytes -= message.length;
      if (this.#inboxHead === this.#inbox.length) {
        this.#inbox.length = 0;
        this.#inboxHead = 0;
      }
      this.#wakeReader?.();
      this.#consumerHolds = true;
      return { value: message, done: false };
    }
    if (this.#owedClose !== undefined) this.#payOwedClose();
    if (this.#state === "closed" || this.#closeReceived !== undefined || this.#failed) return DONE;
    return undefined;
  }

  // Settles a waiting consumer once there is a message or the end.
  #wakeConsumer(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    const result = this.#take();
    if (result === undefined) {
      this.#waiter = waiter;
      return;
    }
    this.#waiting = undefined;
    waiter(result);
  }

  async #readLoop(head: Uint8Array): Promise<void> {
    let buffer = new Uint8Array(READ_BUFFER_MIN);
    try {
      if (head.length > 0) this.#receive(head);
      while (this.#state !== "closed") {
        if (this.#inboxFull()) {
          const { promise, resolve } = Promise.withResolvers<void>();
          this.#wakeReader = resolve;
          await promise;
          this.#wakeReader = undefined;
          continue;
        }
        const n = await this.#transport.read(buffer);
        if (n === null) break;
        this.#heardSinceCheck = true;
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

  #inboxFull(): boolean {
    if (this.#failed || this.#closeReceived !== undefined) return false;
    return this.#inbox.length - this.#inboxHead >= INBOX_MAX_MESSAGES ||
      this.#inboxBytes >= INBOX_MAX_BYTES;
  }

  #receive(chunk: Uint8Array): void {
    if (this.#failed || this.#closeReceived !== undefined) return;
    try {
      const frames = this.#decoder.push(chunk);
      for (const frame of frames) {
        this.#onFrame(frame);
        if (this.#failed || this.#closeReceived !== undefined) return;
      }
      const error = this.#decoder.pendingError;
      if (error !== undefined) throw error;
      const partial = this.#decoder.partial;
      if (partial !== undefined && this.#state === "open") this.#assembler.check(partial);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#fail(error);
    }
  }

  #onFrame(frame: Frame): void {
    switch (frame.opcode) {
      case OPCODE.Ping:
        if (this.#state === "open") this.#outbox.push(encodeFrame(OPCODE.Pong, frame.payload));
        return;
      case OPCODE.Pong:
        return;
      case OPCODE.Close:
        return this.#onClose(frame.payload);
      default: {
        if (this.#state !== "open") return;
        this.#bytesIn += frame.payload.length;
        const message = this.#assembler.add(frame);
        if (message !== undefined) this.#deliver(message);
      }
    }
  }

  #deliver(message: Message): void {
    this.#messagesIn++;
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#inboxHead === this.#inbox.length) {
      // The consumer is waiting and nothing is queued: hand it over directly.
      this.#waiter = undefined;
      this.#waiting = undefined;
      this.#consumerHolds = true;
      waiter({ value: message, done: false });
      return;
    }
    this.#inbox.push(message);
    this.#inboxBytes += message.length;
    this.#wakeConsumer();
  }

  #onClose(payload: Uint8Array): void {
    const { code, reason } = decodeClosePayload(payload);
    this.#closeReceived = { code, reason };
    this.#wakeConsumer();
    if (this.#closeSent === undefined) {
      // Echo the peer's code, then end the connection once it is written.
      const echo = code === CLOSE_CODE.NoStatusReceived
        ? new Uint8Array(0)
        : encodeClosePayload(code);
      this.#oweClose(code, reason, echo);
    } else if (this.#outbox.idle) {
      this.#destroy();
    }
  }

  #sendClose(code: number, reason: string, payload: Uint8Array): void {
    this.#closeSent = { code, reason };
    this.#state = "closing";
    this.#wakeConsumer();
    this.#outbox.push(encodeFrame(OPCODE.Close, payload));
    this.#closeWhenDrained = true;
    this.#closeTimer = setTimeout(() => this.#destroy(), this.#closeTimeout);
  }

  // Sends the close now, or once the messages still in the inbox are read.
  #oweClose(code: number, reason: string, payload: Uint8Array): void {
    if (this.#inboxHead === this.#inbox.length && !this.#consumerHolds) {
      this.#sendClose(code, reason, payload);
      return;
    }
    this.#owedClose = { code, reason, payload };
    this.#owedCloseTimer = setTimeout(
      () => this.#payOwedClose(),
      Math.min(OWED_CLOSE_MAX_MS, this.#closeTimeout),
    );
  }

  #payOwedClose(): void {
    const owed = this.#owedClose;
    if (owed === undefined) return;
    this.#owedClose = undefined;
    clearTimeout(this.#owedCloseTimer);
    if (this.#state === "open") this.#sendClose(owed.code, owed.reason, owed.payload);
  }

  #afterCloseFlushed(): void {
    // The server closes TCP first once both close frames are through
    // (RFC 6455 §7.1.1). After a protocol error it reads nothing more, so it
    // ends its side at once and waits only for the peer's end (or the close
    // timeout). Otherwise it keeps reading for the peer's close frame.
    if (this.#closeReceived !== undefined) {
      this.#destroy();
    } else if (this.#failed) {
      this.#transport.closeWrite?.().catch(() => this.#destroy());
    }
  }

  #fail(error: ProtocolError): void {
    this.#failed = true;
    if (this.#closeSent === undefined) {
      const reason = truncateReason(error.message);
      this.#oweClose(error.code, reason, encodeClosePayload(error.code, reason));
    }
  }

  #abort(code: number, reason: string): void {
    this.#closeSent = { code, reason };
    this.#destroy();
  }

  #checkIdle(): void {
    if (this.#heardSinceCheck) {
      this.#heardSinceCheck = false;
      this.#pingOutstanding = false;
      return;
    }
    if (this.#pingOutstanding) {
      this.#abort(CLOSE_CODE.GoingAway, "idle timeout");
      return;
    }
    this.#pingOutstanding = true;
    this.ping();
  }

  #destroy(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#owedCloseTimer);
    this.#unwatchIdle?.();
    this.#outbox.stop();
    for (const topic of this.#topics ?? NO_TOPICS) this.#topicIndex?.delete(topic, this);
    try {
      this.#transport.close();
    } catch {
      // Already closed by the peer or by a failed write.
    }
    const settled = this.#closeReceived ?? this.#closeSent;
    this.#closed.resolve({
      code: settled?.code ?? CLOSE_CODE.AbnormalClosure,
      reason: settled?.reason ?? "",
      wasClean: this.#closeReceived !== undefined && this.#closeSent !== undefined,
    });
    this.#wakeConsumer();
    this.#wakeReader?.();
  }
}

function truncateReason(message: string): string {
  const bytes = encoder.encode(message);
  if (bytes.length <= 123) return message;
  return new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, "") + "...";
}
