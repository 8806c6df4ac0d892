/**
 * The Redis engine's metrics, written out from its counts: connection
 * state, watched topics, reconnects, holes, catch-up reads, command
 * timeouts and live gaps.
 *
 * @module
 */

import type { LabeledCounter, Metric } from "../../server/metrics.ts";

/** What the Redis engine counts, for {@linkcode redisMetrics}. */
export interface RedisCounts {
  /** Whether both connections are ready. */
  readonly up: boolean;
  /** Times a connection came back. */
  readonly reconnects: number;
  /** Topics subscribed, idle ones in their grace included. */
  readonly watched: number;
  /** Topics in their grace after `unwatch`. */
  readonly idle: number;
  /** Messages that arrived ahead of their turn. */
  readonly holes: number;
  /** Reads of a stream to fill a hole or catch up. */
  readonly catchUps: number;
  /** Calls that got no answer within `commandTimeout`. */
  readonly timeouts: number;
  /** Gaps in live delivery, by reason. */
  readonly gaps: LabeledCounter;
}

/**
 * The metrics of a Redis engine, for `GET /metrics`.
 *
 * @example
 * ```ts
 * import { redisMetrics } from "./metrics.ts";
 * import { LabeledCounter } from "../../server/metrics.ts";
 *
 * const metrics = redisMetrics({
 *   up: true,
 *   reconnects: 0,
 *   watched: 3,
 *   idle: 1,
 *   holes: 0,
 *   catchUps: 0,
 *   timeouts: 0,
 *   gaps: new LabeledCounter("reason"),
 * });
 * console.log(metrics[0]!.name, metrics[0]!.samples[0]!.value); // "pushwire_redis_up" 1
 * ```
 *
 * @param counts The engine's counts.
 * @returns The metrics.
 */
export function redisMetrics(counts: RedisCounts): Metric[] {
  const one = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    value: number,
  ): Metric => ({ name, help, type, samples: [{ value }] });
  return [
    one(
      "pushwire_redis_up",
      "gauge",
      "Whether both Redis connections (commands, Pub/Sub) are ready.",
      counts.up ? 1 : 0,
    ),
    one(
      "pushwire_redis_reconnects_total",
      "counter",
      "Times a Redis connection came back after it was lost.",
      counts.reconnects,
    ),
    one(
      "pushwire_redis_watched_topics",
      "gauge",
      "Topics this node receives from Redis (those its clients subscribe to, and those in their grace after the last left).",
      counts.watched,
    ),
    one(
      "pushwire_redis_idle_topics",
      "gauge",
      "Watched topics no local client needs, kept subscribed for a grace before release.",
      counts.idle,
    ),
    one(
      "pushwire_redis_holes_total",
      "counter",
      "Messages that arrived ahead of their turn (a hole to fill from the stream).",
      counts.holes,
    ),
    one(
      "pushwire_redis_catchups_total",
      "counter",
      "Reads of a topic's stream to fill a hole or catch up after a reconnect.",
      counts.catchUps,
    ),
    one(
      "pushwire_redis_command_timeouts_total",
      "counter",
      "Calls to Redis that got no answer within the command timeout.",
      counts.timeouts,
    ),
    {
      name: "pushwire_redis_gaps_total",
      help:
        "Gaps in live delivery, by reason: restart (Redis lost its data), expired or unknown (Redis lost its latest writes).",
      type: "counter",
      samples: counts.gaps.samples(),
    },
  ];
}
