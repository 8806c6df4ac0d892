/**
 * The options of the Redis engine, and their checks and defaults in one
 * place (from `DEFAULTS`).
 *
 * @module
 */

import { DEFAULTS } from "../../defaults.ts";
import { type Logger, SILENT } from "../../server/log.ts";
import { checkRedisUrl, DEFAULT_REDIS_URL } from "./client.ts";

/** Options for `RedisEngine`. */
export interface RedisEngineOptions {
  /**
   * Where Redis is: `redis://[[user]:password@]host[:port][/db]`, or
   * `rediss://` for TLS.
   *
   * @default {"redis://127.0.0.1:6379/0"}
   */
  url?: string;
  /**
   * The prefix of every key and channel, so that several deployments can
   * share one Redis.
   *
   * @default {"pushwire:"}
   */
  prefix?: string;
  /**
   * Messages kept per topic. Every node of a deployment must use the same
   * window.
   *
   * @default {100}
   */
  size?: number;
  /**
   * Milliseconds a message is kept; `0` for no time bound (then idle topics'
   * streams stay in Redis until deleted). Idempotency keys and the pins of
   * topics with no message live as long (an hour without a bound).
   *
   * @default {3600000}
   */
  ttl?: number;
  /**
   * Milliseconds to keep trying to reach Redis at `RedisEngine.open`
   * (with backoff) before giving up with an error.
   *
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Milliseconds a call to Redis may take (a script, a subscription) before
   * it fails with `EngineUnavailableError`; `0` for no deadline.
   *
   * @default {2000}
   */
  commandTimeout?: number;
  /**
   * Topics this node watches at most (a Pub/Sub subscription each, idle ones
   * in their grace included); past it `watch` rejects with
   * `WatchLimitError`, once no idle topic is left to release.
   *
   * @default {10000}
   */
  maxWatched?: number;
  /**
   * Milliseconds an unwatched topic stays subscribed before it is released,
   * so that a subscriber's quick return costs Redis nothing; `0` releases
   * at once.
   *
   * @default {5000}
   */
  watchGrace?: number;
  /**
   * Messages read from Redis at a time, for a replay or a catch-up.
   *
   * @default {1000}
   */
  batchSize?: number;
  /**
   * Where the engine logs: connections lost and back, command timeouts,
   * errors from Redis, failed catch-up reads and unsubscriptions.
   *
   * @default {SILENT}
   */
  logger?: Logger;
}

/** {@linkcode RedisEngineOptions} checked, with every default filled in. */
export type ResolvedRedisOptions = Required<RedisEngineOptions>;

/**
 * Checks a Redis engine's options and fills in the defaults.
 *
 * @example
 * ```ts
 * import { resolveRedisOptions } from "./options.ts";
 *
 * const options = resolveRedisOptions({ commandTimeout: 500 });
 * console.log(options.commandTimeout, options.maxWatched, options.prefix); // 500 10000 "pushwire:"
 * ```
 *
 * @param options The options given.
 * @returns Every option, checked.
 * @throws {TypeError} For a URL that is not `redis://` or `rediss://`.
 * @throws {RangeError} For a negative or fractional number.
 */
export function resolveRedisOptions(options: RedisEngineOptions): ResolvedRedisOptions {
  const url = options.url ?? DEFAULT_REDIS_URL;
  checkRedisUrl(url);
  return {
    url,
    prefix: options.prefix ?? "pushwire:",
    size: whole(options.size ?? DEFAULTS.historySize, "size"),
    ttl: whole(options.ttl ?? DEFAULTS.historyTtl, "ttl"),
    connectTimeout: whole(options.connectTimeout ?? DEFAULTS.redisConnectTimeout, "connectTimeout"),
    commandTimeout: whole(options.commandTimeout ?? DEFAULTS.redisCommandTimeout, "commandTimeout"),
    maxWatched: Math.max(1, whole(options.maxWatched ?? DEFAULTS.redisMaxWatched, "maxWatched")),
    watchGrace: whole(options.watchGrace ?? DEFAULTS.redisWatchGrace, "watchGrace"),
    batchSize: Math.max(1, whole(options.batchSize ?? 1000, "batchSize")),
    logger: options.logger ?? SILENT,
  };
}

function whole(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Invalid Redis engine ${name}: ${value} is not a whole number of 0 or more`,
    );
  }
  return value;
}
