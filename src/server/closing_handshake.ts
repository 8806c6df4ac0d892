/**
 * The closing handshake of a socket (RFC 6455 §7) as data: its phase, the
 * close frames sent and received, the one owed to the peer, and what began
 * it. No I/O and no timers: each step returns a {@linkcode CloseAction} that
 * the socket carries out.
 *
 * @module
 */

import { CLOSE_CODE } from "../protocol/close_code.ts";
import { type CloseInfo, encodeClosePayload } from "../protocol/close_frame.ts";

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

/** The socket's lifecycle: open, then closing (close frame sent), then closed. */
export type SocketState = "open" | "closing" | "closed";

/**
 * Why a socket closed, whatever its close code:
 *
 * - `"local"`: this side closed first (`Socket.close()`).
 * - `"peer"`: the peer sent its close frame first.
 * - `"protocol-error"`: the peer broke the protocol or a message limit; the
 *   close code says which (1002, 1007, 1009, …).
 * - `"slow-consumer"`: the outbox passed `maxBufferedBytes` (1008), data or
 *   control replies.
 * - `"inflate-budget"`: the peer's compressed messages inflated past
 *   `maxInflateBytesPerSecond` (1008).
 * - `"message-rate"`: the peer sent messages past `maxMessagesPerSecond`
 *   while `messageRateAction` is `"close"` (1008).
 * - `"idle-timeout"`: the peer stayed silent through the idle timeout (1001).
 * - `"connection-lost"`: the connection ended, or a write failed, before a
 *   close frame went either way (1006).
 */
export type CloseCause =
  | "local"
  | "peer"
  | "protocol-error"
  | "slow-consumer"
  | "inflate-budget"
  | "message-rate"
  | "idle-timeout"
  | "connection-lost";

/**
 * Where a closing handshake stands:
 *
 * - `"open"`: no close frame either way.
 * - `"owed"`: the peer's side ended (its close frame, or a protocol error);
 *   this side's close frame waits until the messages that came before are
 *   read, so that the replies to them go out first.
 * - `"closing"`: this side sent its close frame first and reads on for the
 *   peer's.
 * - `"draining"`: both sides are done; once this side's close frame is
 *   written the connection ends (after a protocol error: this side's half
 *   first, then the peer's end).
 * - `"closed"`: the connection ended.
 */
export type ClosePhase = "open" | "owed" | "closing" | "draining" | "closed";

/**
 * What the socket does after a step of a {@linkcode ClosingHandshake}:
 *
 * - `"none"`: nothing.
 * - `"owe"`: once the consumer has read every queued message (or after a
 *   short wait), call {@linkcode ClosingHandshake.pay}.
 * - `"send"`: queue a close frame carrying {@linkcode ClosingHandshake.payload}
 *   and end the connection if the close timeout passes.
 * - `"drain"`: once everything queued is written (now, if it is), call
 *   {@linkcode ClosingHandshake.drained}.
 * - `"end"`: end the connection.
 * - `"half-close"`: end this side's half (TCP FIN); the peer's end, or the
 *   close timeout, ends the rest.
 */
export type CloseAction = "none" | "owe" | "send" | "drain" | "end" | "half-close";

const STATE_OF_PHASE: Readonly<Record<ClosePhase, SocketState>> = {
  open: "open",
  owed: "open",
  closing: "closing",
  draining: "closing",
  closed: "closed",
};
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * The closing handshake of one socket. The socket reports what happens
 * (a close asked for, the peer's close frame, a protocol error, the outbox
 * drained, the connection ended) and does what each step returns.
 *
 * @example The peer closes first; the echo goes out, then TCP ends
 * ```ts
 * import { ClosingHandshake } from "./closing_handshake.ts";
 *
 * const handshake = new ClosingHandshake();
 * console.log(handshake.peerClosed(1000, "bye")); // "owe"
 * console.log(handshake.pay()); // "send"
 * console.log(handshake.payload); // Uint8Array(2) [ 3, 232 ]
 * console.log(handshake.drained()); // "end"
 * console.log(handshake.end()); // { code: 1000, reason: "bye", wasClean: true }
 * console.log(handshake.cause); // "peer"
 * ```
 */
export class ClosingHandshake {
  #phase: ClosePhase = "open";
  #sent: CloseInfo | undefined;
  #received: CloseInfo | undefined;
  #owed: CloseInfo | undefined;
  #payload: Uint8Array = EMPTY;
  #cause: CloseCause | undefined;

  /** The phase of the handshake. */
  get phase(): ClosePhase {
    return this.#phase;
  }

  /** The phase as the socket's public lifecycle. */
  get state(): SocketState {
    return STATE_OF_PHASE[this.#phase];
  }

  /** Whether this side may still send: its close frame has not gone out. */
  get sending(): boolean {
    return this.#phase === "open" || this.#phase === "owed";
  }

  /** Whether frames from the peer are still read: its side has not ended. */
  get reading(): boolean {
    return this.#phase === "open" || this.#phase === "closing";
  }

  /** What began the close, or `undefined` while nothing did. */
  get cause(): CloseCause | undefined {
    return this.#cause;
  }

  /** The payload of the close frame to queue on a `"send"` step. */
  get payload(): Uint8Array {
    return this.#payload;
  }

  /**
   * This side closes: unless its close frame went out already, send one.
   *
   * @param code A close code that may be sent.
   * @param reason At most 123 bytes of UTF-8.
   * @returns `"send"`, or `"none"` when this side's close frame went out.
   * @throws {RangeError} For a code that may not be sent or a long reason.
   */
  close(code: number, reason: string): CloseAction {
    const payload = encodeClosePayload(code, reason);
    if (!this.sending) return "none";
    this.#cause ??= "local";
    return this.#send(code, reason, payload);
  }

  /**
   * The peer's close frame arrived: echo its code (nothing for 1005).
   *
   * @param code The peer's code (1005 for none).
   * @param reason The peer's reason.
   * @returns `"owe"` when it closed first, `"drain"` when it answered.
   */
  peerClosed(code: number, reason: string): CloseAction {
    this.#received = { code, reason };
    this.#cause ??= "peer";
    const echo = code === CLOSE_CODE.NoStatusReceived ? EMPTY : encodeClosePayload(code);
    return this.#endInput({ code, reason }, echo);
  }

  /**
   * The peer broke the protocol or passed a budget: nothing more is read,
   * and the close frame sent names the error (its message cut to fit).
   *
   * @param code The error's close code.
   * @param message The error's message.
   * @param cause Why, when it is not a protocol error (a budget).
   * @returns As {@linkcode ClosingHandshake.peerClosed}.
   */
  failed(code: number, message: string, cause: CloseCause = "protocol-error"): CloseAction {
    this.#cause ??= cause;
    const reason = truncateReason(message);
    return this.#endInput({ code, reason }, encodeClosePayload(code, reason));
  }

  /**
   * Sends the owed close frame: the consumer caught up, or the wait is over.
   *
   * @returns `"send"`, or `"none"` when no close frame is owed.
   */
  pay(): CloseAction {
    const owed = this.#owed;
    if (this.#phase !== "owed" || owed === undefined) return "none";
    return this.#send(owed.code, owed.reason, this.#payload);
  }

  /**
   * This side's close went out on a one-way connection (an event stream),
   * whose peer never answers: the close is complete once it is written, as
   * if the peer had echoed it.
   *
   * @returns `"drain"`, or `"none"` unless this side's close went out.
   */
  sentOneWay(): CloseAction {
    if (this.#sent === undefined || (this.#phase !== "closing" && this.#phase !== "draining")) {
      return "none";
    }
    this.#received ??= this.#sent;
    this.#phase = "draining";
    return "drain";
  }

  /**
   * Everything queued was written. While draining: end the connection once
   * close frames went both ways, else half-close after a protocol error.
   *
   * @returns `"end"`, `"half-close"` or `"none"`.
   */
  drained(): CloseAction {
    if (this.#phase !== "draining") return "none";
    return this.#received !== undefined ? "end" : "half-close";
  }

  /**
   * The socket ends at once, without a close frame, for `cause`; the
   * result carries `code` and `reason` (unless the peer's close arrived).
   *
   * @param code The close code of the result.
   * @param reason Its reason.
   * @param cause Why.
   * @returns `"end"`.
   */
  abort(code: number, reason: string, cause: CloseCause): CloseAction {
    this.#sent = { code, reason };
    this.#cause = cause;
    return "end";
  }

  /**
   * The connection ended.
   *
   * @returns How the socket closed.
   */
  end(): CloseResult {
    this.#phase = "closed";
    this.#cause ??= "connection-lost";
    const settled = this.#received ?? this.#sent;
    return {
      code: settled?.code ?? CLOSE_CODE.AbnormalClosure,
      reason: settled?.reason ?? "",
      wasClean: this.#received !== undefined && this.#sent !== undefined,
    };
  }

  // The peer's side ended: answer it with `payload` once the consumer has
  // read what came before, unless this side's close frame went out first.
  #endInput(owed: CloseInfo, payload: Uint8Array): CloseAction {
    if (this.#phase === "closing") {
      this.#phase = "draining";
      return "drain";
    }
    if (this.#phase !== "open") return "none";
    this.#phase = "owed";
    this.#owed = owed;
    this.#payload = payload;
    return "owe";
  }

  #send(code: number, reason: string, payload: Uint8Array): CloseAction {
    this.#sent = { code, reason };
    this.#owed = undefined;
    this.#payload = payload;
    this.#phase = this.#phase === "open" ? "closing" : "draining";
    return "send";
  }
}

function truncateReason(message: string): string {
  const bytes = encoder.encode(message);
  if (bytes.length <= 123) return message;
  return new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, "") + "...";
}
