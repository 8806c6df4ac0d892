/**
 * Delays for timers: `setTimeout` and `setInterval` take at most 2^31 − 1
 * milliseconds and fire after 1 ms for anything longer, so a very long
 * timeout given as an option (or `Infinity`) must be cut to what a timer
 * takes rather than fire at once.
 *
 * @module
 */

/** The longest delay a timer takes: 2^31 − 1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay a timer honours.
 *
 * @example
 * ```ts
 * import { timerDelay } from "./timers.ts";
 *
 * console.log(timerDelay(1500)); // 1500
 * console.log(timerDelay(Infinity)); // 2147483647
 * console.log(timerDelay(-5)); // 0
 * ```
 *
 * @param ms Milliseconds.
 * @returns `ms` within 0 and {@linkcode MAX_TIMER_MS} (0 for anything not above 0).
 */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
}
