/**
 * The client's reconnect delay: exponential backoff with full jitter (a
 * delay drawn uniformly between 0 and `min(max, initial × factor^attempt)`),
 * so that clients dropped together do not come back together. Pure apart
 * from its random source.
 *
 * @module
 */

/** How the reconnect delay grows. */
export interface BackoffOptions {
  /**
   * The ceiling of the first delay, in milliseconds.
   *
   * @default {500}
   */
  initial?: number;
  /**
   * The largest ceiling, in milliseconds.
   *
   * @default {30000}
   */
  max?: number;
  /**
   * What the ceiling is multiplied by after each failed attempt.
   *
   * @default {2}
   */
  factor?: number;
  /**
   * Milliseconds a connection must have stayed open for the delay to start
   * over from `initial` after it drops.
   *
   * @default {5000}
   */
  resetAfter?: number;
}

/** The delays of successive reconnect attempts. */
export class Backoff {
  /** The ceiling of the first delay, in milliseconds. */
  readonly initial: number;
  /** The largest ceiling, in milliseconds. */
  readonly max: number;
  /** The ceiling's growth per attempt. */
  readonly factor: number;
  /** How long a connection must stay open to start over, in milliseconds. */
  readonly resetAfter: number;
  readonly #random: () => number;
  #attempt = 0;

  /**
   * Makes the delays of a fresh start.
   *
   * @example
   * ```ts
   * import { Backoff } from "./backoff.ts";
   *
   * const backoff = new Backoff({ initial: 100, max: 1000 }, () => 0.5);
   * console.log([1, 2, 3, 4, 5].map(() => backoff.next())); // [50, 100, 200, 400, 500]
   * ```
   *
   * @param options The delays.
   * @param random A source of numbers in [0, 1).
   * @throws {RangeError} For a negative or non-finite delay, a `max` below
   * `initial`, or a `factor` below 1.
   */
  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.initial = options.initial ?? 500;
    this.max = options.max ?? 30_000;
    this.factor = options.factor ?? 2;
    this.resetAfter = options.resetAfter ?? 5000;
    for (const [name, value] of Object.entries(this)) {
      if (!(typeof value === "number" && Number.isFinite(value) && value >= 0)) {
        throw new RangeError(`Invalid backoff ${name}: ${value}`);
      }
    }
    if (this.max < this.initial) {
      throw new RangeError(`Invalid backoff: max ${this.max} is below initial ${this.initial}`);
    }
    if (this.factor < 1) throw new RangeError(`Invalid backoff factor: ${this.factor}`);
    this.#random = random;
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * The delay before the next attempt, in milliseconds; counts an attempt.
   *
   * @returns A whole number of milliseconds from 0 to the current ceiling.
   */
  next(): number {
    const ceiling = Math.min(this.max, this.initial * this.factor ** this.#attempt);
    this.#attempt++;
    return Math.floor(this.#random() * ceiling);
  }

  /** Starts over from `initial`. */
  reset(): void {
    this.#attempt = 0;
  }
}
