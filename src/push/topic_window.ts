/**
 * One topic's window of the memory history (see `history.ts`): its held
 * messages as a queue with a moving start, their sizes, and the
 * idempotency keys they were appended with, which leave with them.
 *
 * @module
 */

import type { HistoryEntry } from "./history.ts";

/**
 * One topic's held messages, oldest first, with consecutive seqs.
 *
 * @example
 * ```ts
 * import { TopicWindow } from "./topic_window.ts";
 *
 * const window = new TopicWindow<string>("news", 0);
 * window.push({ seq: 1, time: 0, value: "a", key: "k1" }, 10);
 * window.push({ seq: 2, time: 0, value: "b" }, 20);
 * console.log(window.byKey("k1")?.value, window.bytes); // "a" 30
 * window.shift();
 * console.log(window.byKey("k1"), window.firstSeq); // undefined 2
 * ```
 */
export class TopicWindow<T> {
  /** The topic. */
  readonly topic: string;
  /** The seq of the topic's last message (or the floor it starts after). */
  lastSeq: number;
  /** The sizes of the held messages, summed. */
  bytes = 0;
  #entries: (HistoryEntry<T> | undefined)[] = [];
  #sizes: number[] = [];
  #start = 0;
  readonly #keys = new Map<string, HistoryEntry<T>>();

  /**
   * Makes an empty window.
   *
   * @param topic The topic.
   * @param lastSeq The seq its first message comes after.
   */
  constructor(topic: string, lastSeq: number) {
    this.topic = topic;
    this.lastSeq = lastSeq;
  }

  /** Messages held. */
  get count(): number {
    return this.#entries.length - this.#start;
  }

  /** The seq of the oldest message held (`lastSeq + 1` when none is). */
  get firstSeq(): number {
    return this.count === 0 ? this.lastSeq + 1 : this.#entries[this.#start]!.seq;
  }

  /**
   * Holds a message at the end, under its idempotency key if it has one.
   *
   * @param entry The message, the next seq.
   * @param size Its size.
   */
  push(entry: HistoryEntry<T>, size: number): void {
    this.#entries.push(entry);
    this.#sizes.push(size);
    this.bytes += size;
    if (entry.key !== undefined) this.#keys.set(entry.key, entry);
  }

  /**
   * Drops the oldest message (there must be one), and its key.
   *
   * @returns Its size.
   */
  shift(): number {
    const entry = this.#entries[this.#start]!;
    const size = this.#sizes[this.#start]!;
    if (entry.key !== undefined && this.#keys.get(entry.key) === entry) {
      this.#keys.delete(entry.key);
    }
    this.#entries[this.#start] = undefined;
    this.#start++;
    this.bytes -= size;
    if (this.#start > 32 && this.#start * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#start);
      this.#sizes = this.#sizes.slice(this.#start);
      this.#start = 0;
    }
    return size;
  }

  /** When the oldest message held was appended (there must be one). */
  oldestTime(): number {
    return this.#entries[this.#start]!.time;
  }

  /**
   * The messages held after a seq.
   *
   * @param seq A seq; `0` for all of them.
   * @returns Them, oldest first.
   */
  after(seq: number): HistoryEntry<T>[] {
    const from = this.#start + Math.max(0, seq + 1 - this.firstSeq);
    return this.#entries.slice(from) as HistoryEntry<T>[];
  }

  /**
   * The message held that was appended with an idempotency key.
   *
   * @param key The key.
   * @returns The message, or `undefined` when none held has it.
   */
  byKey(key: string): HistoryEntry<T> | undefined {
    return this.#keys.get(key);
  }

  /**
   * Sets the size of a held message.
   *
   * @param seq Its seq.
   * @param size Its new size.
   * @returns How much the window's bytes changed, or `undefined` when the
   * message is not held.
   */
  resize(seq: number, size: number): number | undefined {
    const index = this.#start + seq - this.firstSeq;
    if (this.count === 0 || index < this.#start || index >= this.#entries.length) return undefined;
    const delta = size - this.#sizes[index]!;
    this.#sizes[index] = size;
    this.bytes += delta;
    return delta;
  }
}
