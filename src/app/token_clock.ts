/**
 * A socket's token expiry: the socket is told before its token expires
 * (`{"type":"expiring","expires":…}`) so that its client can send a fresh
 * one, and is closed with 4401 when it did not.
 *
 * @module
 */

import type { Socket } from "../server/socket.ts";
import { sendEvent } from "../push/events.ts";

/** The close codes the push server uses, in the range for applications. */
export const PUSH_CLOSE_CODE = {
  /** The socket's token expired and no fresh one came in time. */
  TokenExpired: 4401,
  /** The application disconnected the user (the server API's disconnect). */
  Disconnected: 4403,
} as const;

/**
 * Milliseconds before expiry a socket is told: 30 seconds, or at once for
 * a token with less left.
 */
export const EXPIRY_WARNING_MS = 30_000;

/** The longest delay a timer takes (2³¹ − 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timers of one socket's token expiry. */
export class TokenClock {
  readonly #socket: Socket;
  readonly #warning: number;
  #warn: ReturnType<typeof setTimeout> | undefined;
  #expire: ReturnType<typeof setTimeout> | undefined;

  /**
   * Starts the clock for a socket.
   *
   * @param socket The socket.
   * @param expiresAt When its token expires (ms since the epoch), or
   * `undefined` for never.
   * @param warning Milliseconds before expiry it is told.
   * @throws {RangeError} For a warning that is negative or longer than half
   * the longest timer (about 12 days).
   */
  constructor(socket: Socket, expiresAt: number | undefined, warning = EXPIRY_WARNING_MS) {
    if (!(warning >= 0 && warning <= MAX_TIMER_MS / 2)) {
      throw new RangeError(`Invalid token expiry warning: ${warning} ms`);
    }
    this.#socket = socket;
    this.#warning = warning;
    this.renew(expiresAt);
    socket.closed.then(() => this.stop());
  }

  /**
   * Starts over with a fresh token's expiry.
   *
   * @param expiresAt When it expires, or `undefined` for never.
   */
  renew(expiresAt: number | undefined): void {
    this.stop();
    if (expiresAt === undefined || this.#socket.state !== "open") return;
    const left = expiresAt - Date.now();
    if (left > MAX_TIMER_MS) {
      // Timers take at most ~24.8 days (a longer one fires at once): look
      // again before then, while the warning is still ahead.
      this.#warn = setTimeout(() => this.renew(expiresAt), MAX_TIMER_MS - this.#warning);
      return;
    }
    this.#warn = setTimeout(() => {
      sendEvent(this.#socket, { type: "expiring", expires: expiresAt });
    }, Math.max(0, left - this.#warning));
    this.#expire = setTimeout(() => {
      this.#socket.close(PUSH_CLOSE_CODE.TokenExpired, "Token expired");
    }, Math.max(0, left));
  }

  /** Stops the timers. */
  stop(): void {
    clearTimeout(this.#warn);
    clearTimeout(this.#expire);
  }
}
