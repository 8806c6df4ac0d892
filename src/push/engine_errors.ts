/**
 * The errors an engine throws that its callers answer in their own way
 * (re-exported by `engine.ts`): the engine's store did not answer
 * ({@linkcode EngineUnavailableError}, a 503 for a publisher, close code
 * 1013 for a subscriber), and a node at its limit of watched topics
 * ({@linkcode WatchLimitError}, an error event for the subscriber).
 *
 * @module
 */

/** Options for {@linkcode EngineUnavailableError}. */
export interface EngineUnavailableErrorOptions {
  /**
   * Whether the operation may have taken effect all the same: `true` when
   * the command was sent and no answer came (a timeout, a connection lost
   * meanwhile), `false` when it was refused before it could run.
   *
   * @default {false}
   */
  outcomeUnknown?: boolean;
  /**
   * What went wrong underneath.
   *
   * @default {undefined}
   */
  cause?: unknown;
}

/**
 * The engine's store cannot be reached or did not answer in time: nothing
 * was read, and an append either did not happen (`outcomeUnknown` is
 * `false`) or may have happened (`true`: a timed-out append may have been
 * applied, so a publisher should retry with the same idempotency key).
 *
 * @example Telling a publisher what to do
 * ```ts
 * import { EngineUnavailableError } from "./engine_errors.ts";
 *
 * const error = new EngineUnavailableError("Redis did not answer within 2000 ms", {
 *   outcomeUnknown: true,
 * });
 * console.log(error instanceof EngineUnavailableError, error.outcomeUnknown); // true true
 * ```
 */
export class EngineUnavailableError extends Error {
  /** Whether the operation may have taken effect (an append sent but not answered). */
  readonly outcomeUnknown: boolean;

  /**
   * Makes the error.
   *
   * @param message What could not be done, and why.
   * @param options Whether the outcome is unknown, and the cause.
   */
  constructor(message: string, options: EngineUnavailableErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EngineUnavailableError";
    this.outcomeUnknown = options.outcomeUnknown ?? false;
  }
}

/**
 * A node watches as many topics as it may (`maxWatched` of the Redis
 * engine) and none of them can be let go: the subscription to one more is
 * refused (and nothing else changes).
 *
 * @example
 * ```ts
 * import { WatchLimitError } from "./engine_errors.ts";
 *
 * const error = new WatchLimitError("news", 10_000);
 * console.log(error.message);
 * // Cannot watch topic "news": this node already watches 10000 topics (maxWatched)
 * console.log(error instanceof RangeError, error.limit); // true 10000
 * ```
 */
export class WatchLimitError extends RangeError {
  /** The topic refused. */
  readonly topic: string;
  /** The node's limit of watched topics. */
  readonly limit: number;

  /**
   * Makes the error.
   *
   * @param topic The topic refused.
   * @param limit The node's limit of watched topics.
   */
  constructor(topic: string, limit: number) {
    super(`Cannot watch topic "${topic}": this node already watches ${limit} topics (maxWatched)`);
    this.name = "WatchLimitError";
    this.topic = topic;
    this.limit = limit;
  }
}
