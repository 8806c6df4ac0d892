/**
 * Structured log lines: one JSON object per line (`time`, `level`, `event`,
 * then the event's fields), rate-limited per event so that a flood of one
 * kind (a hostile client closed again and again) cannot flood the log. A
 * line that follows suppressed ones of its event says how many were
 * dropped.
 *
 * Library code never writes to the console: it logs through a
 * {@linkcode Logger} given in its options, silent by default. The CLI gives
 * one that writes to stderr.
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 *
 * const lines: string[] = [];
 * const log = new Logger({ level: "info", write: (line) => lines.push(line), now: () => 0 });
 * log.info("listening", { address: "127.0.0.1:8080" });
 * log.debug("not written at info");
 * console.log(lines[0]);
 * // {"time":"1970-01-01T00:00:00.000Z","level":"info","event":"listening","address":"127.0.0.1:8080"}
 * ```
 *
 * @module
 */

/** How severe a line is; a logger writes its level and the levels above. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The levels a logger may be set to: a {@linkcode LogLevel}, or `"silent"`. */
export type LogThreshold = LogLevel | "silent";

const RANK: Readonly<Record<LogThreshold, number>> = {
  debug: 0,
  info: 1,
  warn: 2,
  error: 3,
  silent: 4,
};

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /**
   * The least severe level written.
   *
   * @default {"info"}
   */
  level?: LogThreshold;
  /**
   * Where each line goes (without its newline).
   *
   * @default {nowhere}
   */
  write?: (line: string) => void;
  /**
   * Lines of one event written in a burst before the rate applies.
   *
   * @default {20}
   */
  burst?: number;
  /**
   * Lines of one event written per second once the burst is spent.
   *
   * @default {5}
   */
  perSecond?: number;
  /**
   * The clock, in milliseconds.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** One event's token bucket. */
interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
}

const EVENTS_MAX = 1000;

/**
 * Writes structured, rate-limited log lines.
 */
export class Logger {
  readonly #rank: number;
  readonly #write: ((line: string) => void) | undefined;
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  /**
   * Makes a logger.
   *
   * @param options Its level, where lines go, and the rate per event.
   */
  constructor(options: LoggerOptions = {}) {
    this.#rank = RANK[options.level ?? "info"];
    this.#write = options.write;
    this.#burst = Math.max(1, options.burst ?? 20);
    this.#perSecond = Math.max(0, options.perSecond ?? 5);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Whether lines of a level are written at all (to skip building costly
   * fields).
   *
   * @param level A level.
   * @returns `true` when such lines are written.
   */
  enabled(level: LogLevel): boolean {
    return this.#write !== undefined && RANK[level] >= this.#rank;
  }

  /**
   * Writes a debug line.
   *
   * @param event What happened, as a short kebab-case name.
   * @param fields Its details.
   */
  debug(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.log("debug", event, fields);
  }

  /**
   * Writes an info line.
   *
   * @param event What happened, as a short kebab-case name.
   * @param fields Its details.
   */
  info(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.log("info", event, fields);
  }

  /**
   * Writes a warning.
   *
   * @param event What happened, as a short kebab-case name.
   * @param fields Its details.
   */
  warn(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.log("warn", event, fields);
  }

  /**
   * Writes an error line.
   *
   * @param event What happened, as a short kebab-case name.
   * @param fields Its details; an `Error` in `error` is written as its message.
   */
  error(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.log("error", event, fields);
  }

  /**
   * Writes a line of any level, unless its event is over its rate.
   *
   * @param level How severe.
   * @param event What happened.
   * @param fields Its details.
   */
  log(level: LogLevel, event: string, fields: Readonly<Record<string, unknown>> = {}): void {
    if (!this.enabled(level)) return;
    const bucket = this.#take(event);
    if (bucket === undefined) return;
    const time = new Date(this.#now()).toISOString();
    const line: Record<string, unknown> = { time, level, event };
    for (const [key, value] of Object.entries(fields)) {
      line[key] = value instanceof Error ? value.message : value;
    }
    if (bucket.suppressed > 0) {
      line.suppressed = bucket.suppressed;
      bucket.suppressed = 0;
    }
    let text: string;
    try {
      text = JSON.stringify(line);
    } catch {
      text = JSON.stringify({ time, level, event, fields: "unserializable" });
    }
    this.#write!(text);
  }

  /** The event's bucket with a token taken, or `undefined` when it is empty. */
  #take(event: string): Bucket | undefined {
    const now = this.#now();
    let bucket = this.#buckets.get(event);
    if (bucket === undefined) {
      if (this.#buckets.size >= EVENTS_MAX) this.#buckets.clear();
      bucket = { tokens: this.#burst, at: now, suppressed: 0 };
      this.#buckets.set(event, bucket);
    }
    const refill = ((now - bucket.at) / 1000) * this.#perSecond;
    bucket.tokens = Math.min(this.#burst, bucket.tokens + refill);
    bucket.at = now;
    if (bucket.tokens < 1) {
      bucket.suppressed++;
      return undefined;
    }
    bucket.tokens--;
    return bucket;
  }
}

/** A logger that writes nothing: the default of the library. */
export const SILENT: Logger = new Logger({ level: "silent" });

/**
 * The fields that describe an unexpected error in a log line: `error` (its
 * message), and for an `Error` its `name` and `stack`.
 *
 * @example
 * ```ts
 * import { errorFields } from "./log.ts";
 *
 * console.log(errorFields("no").error, errorFields(new RangeError("too far")).name); // "no" "RangeError"
 * ```
 *
 * @param error What was thrown.
 * @returns The fields.
 */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: String(error) };
  return { error: error.message, name: error.name, stack: error.stack };
}
