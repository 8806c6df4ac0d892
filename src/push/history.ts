/**
 * Message ids and the history window, pure: every published message gets an
 * id `<epoch>:<seq>` (the server run's epoch, then the topic's sequence
 * number, strictly increasing by one), each topic keeps its last messages
 * for a while (within a byte budget over all topics), and a client that
 * names the last id it saw gets what it missed, or is told exactly why it
 * cannot.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { validateTopic } from "../server/topics.ts";
import { classifyGap, type GapReason } from "./gap.ts";
import { TopicWindow } from "./topic_window.ts";

export type { GapReason } from "./gap.ts";

/** Where a message sits: the server run that assigned it, and its place in its topic. */
export interface MessageId {
  /** The epoch of the server run, `[0-9a-z]{1,16}`. */
  readonly epoch: string;
  /** The sequence number within the topic: 1 for its first message, 0 before any. */
  readonly seq: number;
}

/** One stored message. */
export interface HistoryEntry<T> {
  /** Its sequence number in its topic. */
  readonly seq: number;
  /** When it was appended, in milliseconds since the epoch. */
  readonly time: number;
  /** The message as stored (for the push hub, its encoded frame). */
  readonly value: T;
  /** The idempotency key it was appended with, if any. */
  readonly key?: string;
}

/**
 * What a client that names the last id it saw gets: either exactly the
 * messages after it, or a gap and whatever the window still holds.
 */
export type Recovery<T> =
  | {
    /** Nothing was lost: `entries` are exactly the messages after the id. */
    kind: "complete";
    /** The messages after the id, in order (empty when none). */
    entries: HistoryEntry<T>[];
  }
  | {
    /** Something was lost; `entries` is what the window still holds. */
    kind: "gap";
    /** Why. */
    reason: GapReason;
    /** Every message still held for the topic, in order. */
    entries: HistoryEntry<T>[];
  };

/** Options for {@linkcode History}. */
export interface HistoryOptions<T> {
  /**
   * Messages kept per topic; older ones leave the window. `0` keeps none
   * (ids are still assigned, and a resume reports a gap when something was
   * missed).
   *
   * @default {100}
   */
  size?: number;
  /**
   * Milliseconds a message is kept; `0` for no time bound.
   *
   * @default {3600000}
   */
  ttl?: number;
  /**
   * Topics remembered. Past it, the topic published least recently is
   * forgotten, with its messages; new topics then start numbering after
   * every id a forgotten topic used, so an old id is never replayed wrongly.
   *
   * @default {10000}
   */
  maxTopics?: number;
  /**
   * The epoch of this run.
   *
   * @default {a new one from {@linkcode newEpoch}}
   */
  epoch?: string;
  /**
   * The clock, in milliseconds.
   *
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * Bytes held over every topic, as measured by `sizeOf` (or set by
   * {@linkcode History.resize}). Past it, the oldest messages of the topics
   * published least recently leave first (a resume from them then gets an
   * `expired` gap). `0` for no byte bound.
   *
   * @default {67108864}
   */
  maxBytes?: number;
  /**
   * The size of a stored value in bytes, for {@linkcode History.stats} and
   * `maxBytes`.
   *
   * @default {() => 0}
   */
  sizeOf?: (value: T) => number;
}

/** Options of {@linkcode History.append}. */
export interface HistoryAppendOptions {
  /**
   * The message's idempotency key: {@linkcode History.find} finds it by
   * this key for as long as it stays in the window.
   *
   * @default {undefined}
   */
  key?: string | undefined;
}

/** Sizes of a {@linkcode History}, for metrics. */
export interface HistoryStats {
  /** Topics remembered. */
  topics: number;
  /** Messages held, over all topics. */
  messages: number;
  /** Bytes of those messages, as measured by `sizeOf` or set by `resize`. */
  bytes: number;
}

const EPOCH = /^[0-9a-z]{1,16}$/;
const SEQ = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * A new epoch: the time in base 36 and four random base-36 digits, so runs
 * started in the same millisecond still differ.
 *
 * @example
 * ```ts
 * import { newEpoch } from "./history.ts";
 *
 * console.log(/^[0-9a-z]{12}$/.test(newEpoch(Date.UTC(2025, 0, 1)))); // true
 * ```
 *
 * @param now The time to encode.
 * @returns 12 characters of `[0-9a-z]`.
 */
export function newEpoch(now: number = Date.now()): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0]! % 36 ** 4;
  return now.toString(36).padStart(8, "0").slice(-8) + random.toString(36).padStart(4, "0");
}

/**
 * Writes an id as `<epoch>:<seq>`.
 *
 * @example
 * ```ts
 * import { formatId } from "./history.ts";
 *
 * console.log(formatId({ epoch: "m3k9x2ab", seq: 12 })); // "m3k9x2ab:12"
 * ```
 *
 * @param id The id.
 * @returns Its text form.
 */
export function formatId(id: MessageId): string {
  return `${id.epoch}:${id.seq}`;
}

/**
 * Reads an id written by {@linkcode formatId}.
 *
 * @example
 * ```ts
 * import { parseId } from "./history.ts";
 *
 * console.log(parseId("m3k9x2ab:12")); // { epoch: "m3k9x2ab", seq: 12 }
 * ```
 *
 * @param text `<epoch>:<seq>`.
 * @returns The id.
 * @throws {TypeError} When the text is not an id.
 */
export function parseId(text: string): MessageId {
  const colon = text.indexOf(":");
  const epoch = text.slice(0, colon);
  const seq = text.slice(colon + 1);
  if (
    colon === -1 || !EPOCH.test(epoch) || !SEQ.test(seq) || Number(seq) > Number.MAX_SAFE_INTEGER
  ) {
    throw new TypeError(`Invalid id "${clip(text)}": expected <epoch>:<seq>`);
  }
  return { epoch, seq: Number(seq) };
}

/**
 * Reads the `since` query parameters of a connection: one per topic, each
 * `<topic>:<epoch>:<seq>` (the topic, then the last id seen in it). When the
 * client names exactly one topic, `<epoch>:<seq>` alone is enough.
 *
 * @example
 * ```ts
 * import { parseSince } from "./history.ts";
 *
 * const query = new URLSearchParams("topic=news&topic=user:7&since=news:m3k9x2ab:12&since=user:7:m3k9x2ab:3");
 * console.log(parseSince(query.getAll("since"), query.getAll("topic")));
 * // Map { "news" => { epoch: "m3k9x2ab", seq: 12 }, "user:7" => { epoch: "m3k9x2ab", seq: 3 } }
 * ```
 *
 * @param values The `since` values.
 * @param topics The topics the client subscribes to.
 * @returns The last id seen, by topic.
 * @throws {TypeError} For a malformed value, a topic named twice, or a topic
 * the client does not subscribe to.
 */
export function parseSince(
  values: readonly string[],
  topics: readonly string[],
): Map<string, MessageId> {
  const since = new Map<string, MessageId>();
  for (const value of values) {
    const last = value.lastIndexOf(":");
    const middle = last <= 0 ? -1 : value.lastIndexOf(":", last - 1);
    let topic: string;
    let id: MessageId;
    if (middle === -1) {
      if (topics.length !== 1) {
        throw new TypeError(
          `Invalid since "${clip(value)}": with several topics, write <topic>:<epoch>:<seq>`,
        );
      }
      topic = topics[0]!;
      id = parseId(value);
    } else {
      topic = value.slice(0, middle);
      validateTopic(topic);
      id = parseId(value.slice(middle + 1));
    }
    if (!topics.includes(topic)) {
      throw new TypeError(`Invalid since: topic "${topic}" is not subscribed`);
    }
    if (since.has(topic)) throw new TypeError(`Invalid since: topic "${topic}" is named twice`);
    since.set(topic, id);
  }
  return since;
}

function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

/**
 * The history of every topic: assigns ids, keeps each topic's last `size`
 * messages for at most `ttl` milliseconds and within `maxBytes` over all
 * topics, finds a message by its idempotency key, and answers "what did I
 * miss after this id?". Pure apart from its clock; values are opaque.
 *
 * @example
 * ```ts
 * import { History } from "./history.ts";
 *
 * const history = new History<string>({ size: 2, epoch: "e1" });
 * history.append("news", () => "a");
 * history.append("news", () => "b");
 * history.append("news", (seq) => `c is e1:${seq}`); // "a" leaves the window
 * console.log(history.recover("news", { epoch: "e1", seq: 2 })); // complete: "c"
 * console.log(history.recover("news", { epoch: "e1", seq: 0 }).kind); // "gap" (expired)
 * console.log(history.recover("news", { epoch: "e0", seq: 2 }).kind); // "gap" (restart)
 * ```
 */
export class History<T> {
  /** The epoch of this run: part of every id. */
  readonly epoch: string;
  readonly #size: number;
  readonly #ttl: number;
  readonly #maxTopics: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #sizeOf: (value: T) => number;
  // Insertion order is publish order: the first topic is the least recent.
  readonly #topics = new Map<string, TopicWindow<T>>();
  // The same order, only the windows that hold messages: the byte budget
  // takes from the first.
  readonly #filled = new Map<string, TopicWindow<T>>();
  // Every sequence number a forgotten topic used is at most this.
  #floor = 0;
  #messages = 0;
  #bytes = 0;

  /**
   * Makes an empty history.
   *
   * @param options Window size, age, topic count, byte budget, epoch and clock.
   * @throws {RangeError} For a negative or fractional size, ttl, topic count or budget.
   */
  constructor(options: HistoryOptions<T> = {}) {
    this.#size = count(options.size ?? DEFAULTS.historySize, "size");
    this.#ttl = count(options.ttl ?? DEFAULTS.historyTtl, "ttl");
    this.#maxTopics = Math.max(1, count(options.maxTopics ?? DEFAULTS.historyTopics, "maxTopics"));
    this.#maxBytes = count(options.maxBytes ?? DEFAULTS.historyBytes, "maxBytes");
    this.epoch = options.epoch ?? newEpoch();
    if (!EPOCH.test(this.epoch)) throw new RangeError(`Invalid epoch "${this.epoch}"`);
    this.#now = options.now ?? Date.now;
    this.#sizeOf = options.sizeOf ?? (() => 0);
  }

  /**
   * Assigns the next id of `topic` to a message and keeps it in the window.
   *
   * @param topic A topic name (not validated here).
   * @param make Makes the message as it should be replayed, from its
   * sequence number and time (so that it can carry its own id).
   * @param options The message's idempotency key (see {@linkcode History.find}).
   * @returns The stored entry.
   */
  append(
    topic: string,
    make: (seq: number, time: number) => T,
    options: HistoryAppendOptions = {},
  ): HistoryEntry<T> {
    let window = this.#topics.get(topic);
    if (window === undefined) {
      window = new TopicWindow<T>(topic, this.#floor);
    } else {
      this.#topics.delete(topic); // re-inserted last: the most recently published
    }
    this.#topics.set(topic, window);
    const seq = ++window.lastSeq;
    const time = this.#now();
    const value = make(seq, time);
    const entry: HistoryEntry<T> = options.key === undefined
      ? { seq, time, value }
      : { seq, time, value, key: options.key };
    if (this.#size > 0) {
      const size = this.#sizeOf(entry.value);
      window.push(entry, size);
      this.#messages++;
      this.#bytes += size;
      this.#filled.delete(topic);
      this.#filled.set(topic, window);
    }
    this.#prune(window);
    this.#enforceBytes();
    while (this.#topics.size > this.#maxTopics) this.#forgetOldestTopic();
    return entry;
  }

  /**
   * The message of `topic` appended with an idempotency key, while it is
   * still in the window.
   *
   * @param topic A topic name.
   * @param key The key given to {@linkcode History.append}.
   * @returns The stored entry, or `undefined`.
   */
  find(topic: string, key: string): HistoryEntry<T> | undefined {
    const window = this.#topics.get(topic);
    if (window === undefined) return undefined;
    this.#prune(window);
    return window.byKey(key);
  }

  /**
   * Sets the size of a held message (what its holder really keeps, once
   * known); the byte budget applies at once.
   *
   * @param topic Its topic.
   * @param seq Its seq.
   * @param size Its size in bytes.
   * @returns Whether the message is held.
   */
  resize(topic: string, seq: number, size: number): boolean {
    const delta = this.#topics.get(topic)?.resize(seq, size);
    if (delta === undefined) return false;
    this.#bytes += delta;
    this.#enforceBytes();
    return true;
  }

  /**
   * The id of the last message of `topic`: where a new subscriber stands.
   * Its `seq` is 0 (or higher, after topics were forgotten) when nothing was
   * published yet.
   *
   * @param topic A topic name.
   * @returns The id.
   */
  last(topic: string): MessageId {
    return { epoch: this.epoch, seq: this.#topics.get(topic)?.lastSeq ?? this.#floor };
  }

  /**
   * What a client that saw `since` last in `topic` missed.
   *
   * @param topic A topic name.
   * @param since The last id the client saw in that topic.
   * @returns The messages after `since` when the window holds them all;
   * otherwise a gap, its reason, and what the window holds.
   */
  recover(topic: string, since: MessageId): Recovery<T> {
    const window = this.#topics.get(topic);
    if (window !== undefined) this.#prune(window);
    const verdict = classifyGap(since, {
      epoch: this.epoch,
      last: window?.lastSeq ?? this.#floor,
      first: window?.firstSeq,
    });
    if (verdict.kind === "gap") return { ...verdict, entries: window?.after(0) ?? [] };
    return { kind: "complete", entries: window?.after(since.seq) ?? [] };
  }

  /** The sizes now, after dropping expired messages. */
  stats(): HistoryStats {
    for (const window of this.#topics.values()) this.#prune(window);
    return { topics: this.#topics.size, messages: this.#messages, bytes: this.#bytes };
  }

  #prune(window: TopicWindow<T>): void {
    const tooOld = this.#ttl > 0 ? this.#now() - this.#ttl : -Infinity;
    while (window.count > this.#size || (window.count > 0 && window.oldestTime() <= tooOld)) {
      this.#dropOldest(window);
    }
  }

  /** Past the byte budget: the oldest messages of the least recent topics go. */
  #enforceBytes(): void {
    if (this.#maxBytes === 0) return;
    while (this.#bytes > this.#maxBytes) {
      const window = this.#filled.values().next().value;
      if (window === undefined) return;
      this.#dropOldest(window);
    }
  }

  #dropOldest(window: TopicWindow<T>): void {
    this.#bytes -= window.shift();
    this.#messages--;
    if (window.count === 0) this.#filled.delete(window.topic);
  }

  #forgetOldestTopic(): void {
    const [topic, window] = this.#topics.entries().next().value!;
    this.#topics.delete(topic);
    this.#filled.delete(topic);
    this.#floor = Math.max(this.#floor, window.lastSeq);
    this.#messages -= window.count;
    this.#bytes -= window.bytes;
  }
}

function count(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Invalid history ${name}: ${value} is not a whole number of 0 or more`);
  }
  return value;
}
