/**
 * The whole server's `/metrics` and `/healthz` from its workers' answers,
 * pure: samples of the same metric and labels are summed over the workers,
 * the history gauges are the coordinator's (the one window), and health
 * adds up sockets and handshakes.
 *
 * @module
 */

import type { Health } from "../../server/builtin_routes.ts";
import type { Metric, Sample } from "../../server/metrics.ts";
import type { Gathered } from "../../push/workers/messages.ts";

/** What `GET /healthz` reports for a server of several workers. */
export interface WorkersHealth extends Health {
  /** Workers that answered. */
  workers: number;
}

/**
 * Sums every worker's metrics, sample by sample (same name, same labels),
 * and adds the coordinator's history sizes and the number of workers.
 *
 * @example
 * ```ts
 * import { mergeMetrics } from "./gathered.ts";
 *
 * const open = (value: number) => [{
 *   name: "pushwire_sockets_open", help: "Open sockets.", type: "gauge" as const, samples: [{ value }],
 * }];
 * const merged = mergeMetrics({ answers: [open(2), open(3)], asked: 2, stats: { topics: 0, messages: 0, bytes: 0 } });
 * console.log(merged.find((m) => m.name === "pushwire_sockets_open")?.samples); // [ { value: 5 } ]
 * ```
 *
 * @param gathered The workers' `Metric[]` answers and the history's sizes.
 * @returns One set of metrics.
 */
export function mergeMetrics(gathered: Gathered): Metric[] {
  const merged = new Map<string, { metric: Metric; samples: Map<string, Sample> }>();
  const gauge = (name: string, help: string, value: number): Metric => ({
    name,
    help,
    type: "gauge",
    samples: [{ value }],
  });
  const own: Metric[] = [
    gauge("pushwire_workers", "Workers serving the port (that answered this scrape).", 0),
    gauge("pushwire_history_topics", "Topics with a history window.", gathered.stats.topics),
    gauge(
      "pushwire_history_messages",
      "Messages held in history windows.",
      gathered.stats.messages,
    ),
    gauge(
      "pushwire_history_bytes",
      "Bytes held for history: payloads and the frames prepared from them.",
      gathered.stats.bytes,
    ),
  ];
  const answers = gathered.answers.filter(Array.isArray) as Metric[][];
  own[0] = gauge(own[0]!.name, own[0]!.help, answers.length);
  for (const metric of [...own, ...answers.flat()]) {
    let entry = merged.get(metric.name);
    if (entry === undefined) merged.set(metric.name, entry = { metric, samples: new Map() });
    if (entry.metric.type !== metric.type) continue;
    for (const sample of metric.samples) {
      const key = JSON.stringify(Object.entries(sample.labels ?? {}).sort());
      const sum = entry.samples.get(key);
      entry.samples.set(key, { ...sample, value: (sum?.value ?? 0) + sample.value });
    }
  }
  return [...merged.values()].map(({ metric, samples }) => ({
    ...metric,
    samples: [...samples.values()],
  }));
}

/**
 * The server's health from its workers': `ok` while every worker answered
 * `ok`, sockets and handshakes summed, the longest uptime.
 *
 * @example
 * ```ts
 * import { mergeHealth } from "./gathered.ts";
 *
 * const ok = { status: "ok" as const, sockets: 2, handshakes: 0, uptimeSeconds: 9 };
 * console.log(mergeHealth({ answers: [ok, ok], asked: 2, stats: { topics: 0, messages: 0, bytes: 0 } }));
 * // { status: "ok", sockets: 4, handshakes: 0, uptimeSeconds: 9, workers: 2 }
 * ```
 *
 * @param gathered The workers' `Health` answers.
 * @returns The server's.
 */
export function mergeHealth(gathered: Gathered): WorkersHealth {
  const answers = gathered.answers as Health[];
  return {
    status: answers.every((health) => health.status === "ok") ? "ok" : "shutting down",
    sockets: answers.reduce((sum, health) => sum + health.sockets, 0),
    handshakes: answers.reduce((sum, health) => sum + health.handshakes, 0),
    uptimeSeconds: answers.reduce((most, health) => Math.max(most, health.uptimeSeconds), 0),
    workers: answers.length,
  };
}
