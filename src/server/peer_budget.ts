/**
 * What a peer may make its socket do per second: how many messages it may
 * send, and how many bytes its compressed messages may inflate to. Each is
 * a token bucket; the caller passes the time, so everything here is pure.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { CLOSE_CODE } from "../protocol/close_code.ts";
import type { Inflater } from "../protocol/deflate.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { CloseCause } from "./closing_handshake.ts";
import type { SocketOptions } from "./socket_options.ts";

/**
 * A token bucket: it holds up to `capacity` tokens and gains `perSecond` of
 * them each second.
 *
 * @example Ten a second, twenty at once
 * ```ts
 * import { TokenBucket } from "./peer_budget.ts";
 *
 * const bucket = new TokenBucket(10, 20, 0);
 * let taken = 0;
 * while (bucket.take(1, 0)) taken++;
 * console.log(taken); // 20
 * console.log(bucket.take(1, 100)); // true: a tenth of a second gave one back
 * ```
 */
export class TokenBucket {
  readonly #perMs: number;
  readonly #capacity: number;
  #tokens: number;
  #time: number;

  /**
   * Makes a full bucket.
   *
   * @param perSecond Tokens gained per second.
   * @param capacity The most tokens held.
   * @param now The time, in milliseconds (`performance.now()`).
   */
  constructor(perSecond: number, capacity: number, now: number) {
    this.#perMs = perSecond / 1000;
    this.#capacity = capacity;
    this.#tokens = capacity;
    this.#time = now;
  }

  /**
   * Takes `amount` tokens if the bucket holds them.
   *
   * @param amount Tokens to take.
   * @param now The time, in milliseconds, never earlier than before.
   * @returns Whether they were taken.
   */
  take(amount: number, now: number): boolean {
    this.#refill(now);
    if (this.#tokens < amount) return false;
    this.#tokens -= amount;
    return true;
  }

  /**
   * Takes `amount` tokens for work already done, into debt if need be.
   *
   * @param amount Tokens to take.
   * @param now The time, in milliseconds, never earlier than before.
   * @returns Whether the bucket is still out of debt.
   */
  spend(amount: number, now: number): boolean {
    this.#refill(now);
    this.#tokens -= amount;
    return this.#tokens >= 0;
  }

  #refill(now: number): void {
    const elapsed = now - this.#time;
    this.#time = now;
    if (elapsed > 0) this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#perMs);
  }
}

/** A budget passed by the peer: the close code it answers with, and its cause. */
export class BudgetError extends ProtocolError {
  /** Why the socket closes, for its `closeCause`. */
  readonly closeCause: CloseCause;

  /**
   * Makes the error of a spent budget.
   *
   * @param message The close reason.
   * @param closeCause Which budget.
   */
  constructor(message: string, closeCause: CloseCause) {
    super(CLOSE_CODE.PolicyViolation, message);
    this.name = "BudgetError";
    this.closeCause = closeCause;
  }
}

/**
 * Wraps a socket's inflater so that what its messages inflate to is paid for
 * from a bucket: `perSecond` bytes a second, at most a second's worth or one
 * largest message at once. The message that takes the bucket into debt
 * fails with 1008; the work of a peer is thus bounded by the budget plus one
 * message.
 *
 * @example
 * ```ts
 * import { createInflater } from "../protocol/deflate.ts";
 * import { meterInflater } from "./peer_budget.ts";
 *
 * const inflater = meterInflater(
 *   createInflater({ clientNoContextTakeover: true, clientMaxWindowBits: 15 }, 1024),
 *   { perSecond: 4, maxMessageBytes: 5, now: () => 0 },
 * );
 * const hello = new Uint8Array([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
 * console.log(inflater.inflate([hello]).length); // 5
 * try {
 *   inflater.inflate([hello]);
 * } catch (error) {
 *   console.log((error as { code: number }).code); // 1008
 * }
 * ```
 *
 * @param inflater The socket's inflater.
 * @param budget Bytes per second, the largest message, and the clock.
 * @returns An inflater that throws a {@linkcode BudgetError} when the
 * budget is spent.
 */
export function meterInflater(
  inflater: Inflater,
  budget: { perSecond: number; maxMessageBytes: number; now: () => number },
): Inflater {
  const { perSecond, now } = budget;
  const bucket = new TokenBucket(perSecond, Math.max(perSecond, budget.maxMessageBytes), now());
  return {
    get retainedBytes() {
      return inflater.retainedBytes;
    },
    inflate(fragments) {
      const bytes = inflater.inflate(fragments);
      if (!bucket.spend(bytes.length, now())) {
        throw new BudgetError("inflate budget exceeded", "inflate-budget");
      }
      return bytes;
    },
  };
}

/**
 * What becomes of a received message under a {@linkcode MessageRate}:
 * delivered, dropped, dropped with the notice sent, or the socket closed.
 */
export type RateVerdict = "accept" | "drop" | "notify" | "close";

// At most one notice of dropped messages per this many milliseconds.
const NOTICE_INTERVAL_MS = 1000;

/**
 * A socket's message rate limit: a bucket of messages, and what happens to
 * a message it cannot pay for.
 *
 * @example Drop with a notice, at most once a second
 * ```ts
 * import { MessageRate } from "./peer_budget.ts";
 *
 * const rate = new MessageRate({ perSecond: 1, burst: 2, action: "drop", notice: true }, 0);
 * console.log([rate.admit(0), rate.admit(0), rate.admit(0), rate.admit(0)]);
 * // [ "accept", "accept", "notify", "drop" ]
 * ```
 */
export class MessageRate {
  readonly #bucket: TokenBucket;
  readonly #close: boolean;
  readonly #notice: boolean;
  #lastNotice = -Infinity;

  /**
   * Makes a full bucket.
   *
   * @param options Messages per second, how many at once, what happens past
   * them, and whether a notice is sent on drops.
   * @param now The time, in milliseconds.
   */
  constructor(
    options: { perSecond: number; burst: number; action: "drop" | "close"; notice: boolean },
    now: number,
  ) {
    this.#bucket = new TokenBucket(options.perSecond, options.burst, now);
    this.#close = options.action === "close";
    this.#notice = options.notice;
  }

  /**
   * Decides the fate of a message that just arrived.
   *
   * @param now The time, in milliseconds.
   * @returns The verdict.
   */
  admit(now: number): RateVerdict {
    if (this.#bucket.take(1, now)) return "accept";
    if (this.#close) return "close";
    if (!this.#notice || now - this.#lastNotice < NOTICE_INTERVAL_MS) return "drop";
    this.#lastNotice = now;
    return "notify";
  }
}

/**
 * A socket's inflater, metered by `maxInflateBytesPerSecond` unless it is 0.
 *
 * @param inflater The inflater of the socket's permessage-deflate.
 * @param options The socket's options.
 * @returns The inflater to assemble messages with.
 */
export function budgetedInflater(inflater: Inflater, options: SocketOptions): Inflater {
  const perSecond = options.maxInflateBytesPerSecond ?? DEFAULTS.maxInflateBytesPerSecond;
  if (perSecond <= 0) return inflater;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULTS.maxMessageBytes;
  return meterInflater(inflater, { perSecond, maxMessageBytes, now: () => performance.now() });
}

/**
 * A socket's message rate limit, unless `maxMessagesPerSecond` is 0.
 *
 * @param options The socket's options.
 * @returns The limit, or `undefined` for none.
 */
export function messageRateOf(options: SocketOptions): MessageRate | undefined {
  const perSecond = options.maxMessagesPerSecond ?? 0;
  if (perSecond <= 0) return undefined;
  return new MessageRate({
    perSecond,
    burst: Math.max(1, options.messageBurst ?? perSecond),
    action: options.messageRateAction ?? "close",
    notice: options.messageRateNotice !== undefined,
  }, performance.now());
}
