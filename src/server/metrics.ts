/**
 * Metrics in the Prometheus text format (version 0.0.4): the shape of a
 * metric, a pure renderer, a counter with one label, and the set of
 * collectors a server scrapes.
 *
 * @module
 */

/** A metric and its current samples. */
export interface Metric {
  /** The name, for example `pushwire_sockets_open`. */
  readonly name: string;
  /** One line saying what it counts. */
  readonly help: string;
  /** A counter only goes up; a gauge goes up and down. */
  readonly type: "counter" | "gauge";
  /**
   * The values, each with its labels (for example `{ code: "1000" }`); a
   * metric without labels has one.
   */
  readonly samples: readonly {
    readonly labels?: Readonly<Record<string, string>>;
    readonly value: number;
  }[];
}

/** One value of a metric, with its labels. */
export type Sample = Metric["samples"][number];

/** Something that reports metrics when scraped. */
export type MetricsCollector = () => Iterable<Metric>;

/** The `Content-Type` of {@linkcode renderMetrics}' output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Renders metrics in the Prometheus text format: `# HELP` and `# TYPE` lines,
 * then one line per sample. Metrics of the same name (from several
 * collectors) are merged under one header, in the order they first appear.
 *
 * @example
 * ```ts
 * import { renderMetrics } from "./metrics.ts";
 *
 * console.log(renderMetrics([
 *   { name: "pushwire_sockets_open", help: "Open sockets.", type: "gauge", samples: [{ value: 2 }] },
 * ]));
 * // # HELP pushwire_sockets_open Open sockets.
 * // # TYPE pushwire_sockets_open gauge
 * // pushwire_sockets_open 2
 * ```
 *
 * @param metrics The metrics.
 * @returns The exposition text, ending with a newline.
 * @throws {TypeError} For an invalid metric or label name, or one name
 * reported with two types.
 */
export function renderMetrics(metrics: Iterable<Metric>): string {
  const merged = new Map<string, { help: string; type: Metric["type"]; samples: Sample[] }>();
  for (const metric of metrics) {
    if (!METRIC_NAME.test(metric.name)) {
      throw new TypeError(`Cannot render metric: invalid name "${metric.name}"`);
    }
    const entry = merged.get(metric.name);
    if (entry === undefined) {
      merged.set(metric.name, {
        help: metric.help,
        type: metric.type,
        samples: [...metric.samples],
      });
    } else if (entry.type !== metric.type) {
      throw new TypeError(`Cannot render metric "${metric.name}": reported as two types`);
    } else {
      entry.samples.push(...metric.samples);
    }
  }
  let text = "";
  for (const [name, { help, type, samples }] of merged) {
    text += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    for (const sample of samples) {
      text += `${name}${labelText(sample.labels)} ${number(sample.value)}\n`;
    }
  }
  return text;
}

function labelText(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return "";
  const pairs = Object.entries(labels).map(([name, value]) => {
    if (!LABEL_NAME.test(name)) throw new TypeError(`Cannot render label: invalid name "${name}"`);
    return `${name}="${value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`;
  });
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * A counter split by the values of one label, for example closes by close
 * code.
 *
 * @example
 * ```ts
 * import { LabeledCounter } from "./metrics.ts";
 *
 * const closed = new LabeledCounter("code");
 * closed.add("1000");
 * closed.add("1001", 2);
 * console.log(closed.samples()); // [{ labels: { code: "1000" }, value: 1 }, { labels: { code: "1001" }, value: 2 }]
 * ```
 */
export class LabeledCounter {
  readonly #label: string;
  readonly #counts = new Map<string, number>();

  /**
   * Makes a counter with one label.
   *
   * @param label The label's name.
   */
  constructor(label: string) {
    this.#label = label;
  }

  /**
   * Adds to the count of one label value.
   *
   * @param value The label's value.
   * @param amount How much to add.
   */
  add(value: string, amount = 1): void {
    this.#counts.set(value, (this.#counts.get(value) ?? 0) + amount);
  }

  /**
   * The count of one label value.
   *
   * @param value The label's value.
   * @returns The count, 0 when never added to.
   */
  get(value: string): number {
    return this.#counts.get(value) ?? 0;
  }

  /** The samples, sorted by label value (numbers in numeric order). */
  samples(): Sample[] {
    return [...this.#counts]
      .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
      .map(([value, count]) => ({ labels: { [this.#label]: value }, value: count }));
  }
}

/**
 * The collectors a server scrapes for `GET /metrics`. Layers on top of the
 * server (the push hub, the chat room) register their own.
 *
 * @example
 * ```ts
 * import { Metrics } from "./metrics.ts";
 *
 * const metrics = new Metrics();
 * let published = 0;
 * metrics.register(() => [
 *   { name: "app_published_total", help: "Published.", type: "counter", samples: [{ value: published }] },
 * ]);
 * published++;
 * console.log(metrics.render().split("\n")[2]); // "app_published_total 1"
 * ```
 */
export class Metrics {
  readonly #collectors: MetricsCollector[] = [];

  /**
   * Adds a collector; it is called on every scrape.
   *
   * @param collector Returns the metrics to report.
   */
  register(collector: MetricsCollector): void {
    this.#collectors.push(collector);
  }

  /** Every collector's metrics, in registration order. */
  collect(): Metric[] {
    return this.#collectors.flatMap((collector) => [...collector()]);
  }

  /** The Prometheus text of {@linkcode Metrics.collect}. */
  render(): string {
    return renderMetrics(this.collect());
  }
}
