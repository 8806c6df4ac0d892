/**
 * One timer for many sockets: everything watched with the same interval is
 * checked by a single `setInterval`, which stops when nothing is watched.
 * A watched item costs one set entry: no timer and no closure of its own.
 *
 * @module
 */

import { timerDelay } from "./timers.ts";

/**
 * Items checked periodically, one timer per interval (at most 2^31 − 1 ms:
 * a longer one is cut to that).
 *
 * @example
 * ```ts
 * import { Sweeps } from "./heartbeat.ts";
 *
 * const sweeps = new Sweeps<string>((name) => console.log("checking", name));
 * sweeps.add(1000, "a");
 * sweeps.delete(1000, "a"); // nothing watched: the timer stops
 * ```
 *
 * @typeParam T What is watched.
 */
export class Sweeps<T> {
  readonly #check: (item: T) => void;
  readonly #sweeps = new Map<
    number,
    { items: Set<T>; timer: ReturnType<typeof setInterval> }
  >();

  /**
   * Makes an empty set of sweeps.
   *
   * @param check Called with each watched item at each of its intervals.
   */
  constructor(check: (item: T) => void) {
    this.#check = check;
  }

  /**
   * Checks `item` every `interval` milliseconds until it is deleted.
   *
   * @param interval Milliseconds between checks.
   * @param item What to check.
   */
  add(interval: number, item: T): void {
    interval = timerDelay(interval);
    const sweep = this.#sweeps.get(interval);
    if (sweep !== undefined) {
      sweep.items.add(item);
      return;
    }
    const items = new Set<T>([item]);
    const timer = setInterval(() => {
      for (const each of items) this.#check(each);
    }, interval);
    this.#sweeps.set(interval, { items, timer });
  }

  /**
   * Stops checking `item`; the interval's timer stops once it checks nothing.
   *
   * @param interval The interval it was added with.
   * @param item What to stop checking.
   */
  delete(interval: number, item: T): void {
    interval = timerDelay(interval);
    const sweep = this.#sweeps.get(interval);
    if (sweep === undefined || !sweep.items.delete(item) || sweep.items.size > 0) return;
    clearInterval(sweep.timer);
    this.#sweeps.delete(interval);
  }
}
