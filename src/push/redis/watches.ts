/**
 * The topics a node watches in Redis, with a cap and a grace: a topic is
 * *wanted* from `watch` to `unwatch`, then *idle* for a grace period (still
 * subscribed and kept in order, though no longer delivered, so a quick
 * return costs Redis nothing), then released. At the cap, the longest idle topic is released to make room; a
 * node whose every watched topic is wanted refuses one more.
 *
 * One timer serves every idle topic: their graces are equal, so the order
 * they became idle is the order they end.
 *
 * @module
 */

import { WatchLimitError } from "../engine_errors.ts";
import type { Sequencer } from "./sequencer.ts";

/** One watched topic on this node. */
export interface Watch {
  /** Resolves once the position is known. */
  ready: Promise<void>;
  /** Ordering, holes and catch-up reads. */
  readonly sequencer: Sequencer;
  /** The timer of a scheduled catch-up read. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The Pub/Sub listener, to unsubscribe it. */
  readonly listener: (message: string) => void;
}

/** Options for {@linkcode WatchSet}. */
export interface WatchSetOptions {
  /** Topics watched at most, wanted and idle together. */
  readonly maxWatched: number;
  /** Milliseconds an unwatched topic stays before it is released; `0` for none. */
  readonly grace: number;
  /** Lets a topic go (unsubscribes it); it has left the set already. */
  readonly release: (topic: string, watch: Watch) => void;
  /**
   * The clock, in milliseconds.
   *
   * @default {Date.now}
   */
  readonly now?: () => number;
}

/**
 * The watched topics: wanted ones, and idle ones in their grace.
 *
 * @example
 * ```ts
 * import { type Watch, WatchSet } from "./watches.ts";
 *
 * const released: string[] = [];
 * const watches = new WatchSet({
 *   maxWatched: 1,
 *   grace: 60_000,
 *   release: (topic) => released.push(topic),
 * });
 * const watch = {} as Watch; // the engine's, with its sequencer
 * watches.add("a", watch);
 * watches.unwatch("a"); // idle: still subscribed
 * console.log([...watches.wanted()], watches.get("a") === watch); // [] true
 * watches.add("b", watch); // at the cap: the idle "a" makes room
 * console.log(released); // ["a"]
 * watches.clear();
 * ```
 */
export class WatchSet {
  readonly #maxWatched: number;
  readonly #grace: number;
  readonly #release: (topic: string, watch: Watch) => void;
  readonly #now: () => number;
  readonly #watches = new Map<string, Watch>();
  // Idle topics and when their grace ends, in that order.
  readonly #idle = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Makes an empty set.
   *
   * @param options The cap, the grace, and how to release a topic.
   */
  constructor(options: WatchSetOptions) {
    this.#maxWatched = options.maxWatched;
    this.#grace = options.grace;
    this.#release = options.release;
    this.#now = options.now ?? Date.now;
  }

  /** Topics watched, wanted and idle. */
  get size(): number {
    return this.#watches.size;
  }

  /** Idle topics, in their grace. */
  get idle(): number {
    return this.#idle.size;
  }

  /**
   * A topic's watch, wanted or idle.
   *
   * @param topic A topic name.
   * @returns Its watch, or `undefined`.
   */
  get(topic: string): Watch | undefined {
    return this.#watches.get(topic);
  }

  /**
   * Whether a topic is watched and wanted (not in its grace).
   *
   * @param topic A topic name.
   * @returns `true` from `add` or `want` until `unwatch`.
   */
  wants(topic: string): boolean {
    return this.#watches.has(topic) && !this.#idle.has(topic);
  }

  /**
   * A topic is wanted again: a watch in its grace becomes wanted.
   *
   * @param topic A topic name.
   * @returns Its watch, or `undefined` when it is not watched.
   */
  want(topic: string): Watch | undefined {
    const watch = this.#watches.get(topic);
    if (watch !== undefined) this.#idle.delete(topic);
    return watch;
  }

  /**
   * Adds a wanted topic, releasing the longest idle one at the cap.
   *
   * @param topic A topic not watched yet.
   * @param watch Its watch.
   * @throws {WatchLimitError} At the cap with no idle topic to release.
   */
  add(topic: string, watch: Watch): void {
    if (this.#watches.size >= this.#maxWatched) {
      const oldest = this.#idle.keys().next();
      if (oldest.done === true) throw new WatchLimitError(topic, this.#maxWatched);
      this.#drop(oldest.value);
    }
    this.#watches.set(topic, watch);
  }

  /**
   * A topic is no longer wanted: it stays for the grace, then is released.
   *
   * @param topic A topic name.
   */
  unwatch(topic: string): void {
    if (!this.#watches.has(topic) || this.#idle.has(topic)) return;
    if (this.#grace === 0) {
      this.#drop(topic);
      return;
    }
    this.#idle.set(topic, this.#now() + this.#grace);
    if (this.#timer === undefined) this.#arm();
  }

  /**
   * Removes a topic at once, without releasing it (its watch failed).
   *
   * @param topic A topic name.
   * @param watch The watch to remove (a newer one of the same topic stays).
   */
  forget(topic: string, watch: Watch): void {
    if (this.#watches.get(topic) !== watch) return;
    this.#watches.delete(topic);
    this.#idle.delete(topic);
  }

  /** The wanted topics. */
  *wanted(): IterableIterator<string> {
    for (const topic of this.#watches.keys()) {
      if (!this.#idle.has(topic)) yield topic;
    }
  }

  /** Every watch, wanted and idle. */
  watches(): IterableIterator<Watch> {
    return this.#watches.values();
  }

  /** Forgets every topic without releasing it (the engine closes), and stops the timer. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watches.clear();
    this.#idle.clear();
  }

  #drop(topic: string): void {
    const watch = this.#watches.get(topic)!;
    this.#watches.delete(topic);
    this.#idle.delete(topic);
    this.#release(topic, watch);
  }

  /** Arms the one timer for the first grace to end. */
  #arm(): void {
    const first = this.#idle.values().next();
    if (first.done === true) {
      this.#timer = undefined;
      return;
    }
    this.#timer = setTimeout(() => {
      const now = this.#now();
      for (const [topic, end] of this.#idle) {
        if (end > now) break;
        this.#drop(topic);
      }
      this.#arm();
    }, Math.max(0, first.value - this.#now()));
  }
}
