/**
 * What the push hub counts, and its metrics for `GET /metrics`: publishes
 * and their deliveries, the history the engine holds, resumes by outcome,
 * replayed messages and live gaps.
 *
 * @module
 */

import { LabeledCounter, type Metric } from "../server/metrics.ts";
import { fanoutMetrics } from "../server/server_metrics.ts";
import type { HistoryStats } from "./history.ts";

/**
 * The hub's counters; the hub adds to them as it goes.
 *
 * @example
 * ```ts
 * import { HubCounts } from "./hub_metrics.ts";
 *
 * const counts = new HubCounts();
 * counts.published++;
 * counts.resumes.add("complete");
 * console.log(counts.metrics({ topics: 0, messages: 0, bytes: 0 }).length); // 8
 * ```
 */
export class HubCounts {
  /** Messages published (delivered by the engine to this node). */
  published = 0;
  /** Sockets those messages were queued for, summed. */
  deliveries = 0;
  /** Messages replayed to resuming subscribers. */
  replayed = 0;
  /** Gap notices sent to live subscribers. */
  gaps = 0;
  /** Resumes, by outcome: `complete` or the gap reason. */
  readonly resumes: LabeledCounter = new LabeledCounter("outcome");

  /**
   * The metrics now.
   *
   * @param stats What the engine holds.
   * @returns The hub's metrics.
   */
  metrics(stats: HistoryStats): Metric[] {
    const gauge = (name: string, help: string, value: number): Metric => ({
      name,
      help,
      type: "gauge",
      samples: [{ value }],
    });
    return [
      ...fanoutMetrics("publish", this.published, this.deliveries),
      gauge("pushwire_history_topics", "Topics with a history window.", stats.topics),
      gauge("pushwire_history_messages", "Messages held in history windows.", stats.messages),
      gauge(
        "pushwire_history_bytes",
        "Bytes held for history: payloads and the frames prepared from them.",
        stats.bytes,
      ),
      {
        name: "pushwire_resumes_total",
        help: "Subscriptions that resumed from an id, by outcome (complete or the gap reason).",
        type: "counter",
        samples: this.resumes.samples(),
      },
      {
        name: "pushwire_replayed_messages_total",
        help: "Messages replayed to resuming subscribers.",
        type: "counter",
        samples: [{ value: this.replayed }],
      },
      {
        name: "pushwire_live_gaps_total",
        help:
          "Gap notices sent to live subscribers (the engine lost messages, e.g. Redis restarted empty).",
        type: "counter",
        samples: [{ value: this.gaps }],
      },
    ];
  }
}
