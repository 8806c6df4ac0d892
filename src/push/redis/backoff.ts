/**
 * The Redis engine's retry delay, shared by its reconnects and its catch-up
 * reads: exponential from 50 ms to 2 s, with jitter so that nodes cut off
 * together do not come back together.
 *
 * @module
 */

/** The longest delay, in milliseconds. */
export const MAX_BACKOFF_MS = 2000;

/**
 * The delay before retry number `attempt`: half of `min(2000, 50 * 2^attempt)`
 * plus a random part of the other half.
 *
 * @example
 * ```ts
 * import { backoff } from "./backoff.ts";
 *
 * console.log(backoff(1, () => 0)); // 50
 * console.log(backoff(10, () => 1)); // 2000
 * ```
 *
 * @param attempt Retries so far (the exponent stops growing at 6).
 * @param random A source of numbers in [0, 1).
 * @returns Milliseconds to wait.
 */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(attempt, 6));
  return Math.round(base / 2 + random() * base / 2);
}
