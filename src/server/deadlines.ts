/**
 * Deadlines for many items that share one timeout, kept by a single timer
 * instead of one timer per item.
 *
 * @module
 */

/**
 * Items that each must be done within the same timeout. One interval timer
 * runs while any item is held and expires the late ones, so an item expires
 * between `timeout` and `timeout + timeout / 8` (at most a second more)
 * after it was added.
 *
 * @example
 * ```ts
 * import { Deadlines } from "./deadlines.ts";
 *
 * const deadlines = new Deadlines<string>(50, (item) => console.log(`${item} is late`));
 * deadlines.add("a");
 * deadlines.delete("a"); // done in time: nothing is logged
 * ```
 */
export class Deadlines<T> {
  readonly #timeout: number;
  readonly #period: number;
  readonly #onExpire: (item: T) => void;
  // Insertion order is deadline order, since every item has the same timeout.
  readonly #due = new Map<T, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param timeout Milliseconds an item may be held.
   * @param onExpire Called once for an item still held after `timeout`; the
   * item is no longer held then.
   */
  constructor(timeout: number, onExpire: (item: T) => void) {
    this.#timeout = timeout;
    this.#period = Math.min(1000, Math.max(5, Math.ceil(timeout / 8)));
    this.#onExpire = onExpire;
  }

  /** How many items are held. */
  get size(): number {
    return this.#due.size;
  }

  /**
   * Starts an item's deadline.
   *
   * @param item The item; adding it again restarts its deadline.
   */
  add(item: T): void {
    this.#due.delete(item);
    this.#due.set(item, performance.now() + this.#timeout);
    this.#timer ??= setInterval(() => this.#sweep(), this.#period);
  }

  /**
   * Ends an item's deadline.
   *
   * @param item The item.
   * @returns Whether the item was held.
   */
  delete(item: T): boolean {
    const held = this.#due.delete(item);
    if (this.#due.size === 0) this.#stop();
    return held;
  }

  #sweep(): void {
    const now = performance.now();
    for (const [item, due] of this.#due) {
      if (due > now) break;
      this.#due.delete(item);
      try {
        this.#onExpire(item);
      } catch {
        // One item's handler must not keep the others from expiring.
      }
    }
    if (this.#due.size === 0) this.#stop();
  }

  #stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
