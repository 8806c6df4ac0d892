/**
 * A subscription's publications on their way to the application: a bounded
 * queue read as an async iterator by one consumer. When the consumer falls
 * `limit` publications behind, the subscription ends with a `RangeError`
 * after the queued ones (nothing is dropped silently): the application
 * subscribes again with `since` = the last id it handled, and the server
 * replays the rest.
 *
 * @module
 */

import type { Publication } from "./events.ts";

/**
 * One subscriber's view of a topic, from {@linkcode PushClient.subscribe}:
 * an async iterable of its publications, in id order, each once, across
 * reconnects.
 */
export interface Subscription extends AsyncIterable<Publication> {
  /** The topic. */
  readonly topic: string;
  /**
   * Stops the subscription: the iteration ends once the publications already
   * queued are read (the iterator's `return()`, as a `break` out of
   * `for await` calls it, does the same).
   */
  unsubscribe(): void;
}

/** The default bound of a subscription's queue, in publications. */
export const DEFAULT_QUEUE_LIMIT = 1000;

/** The queue behind a {@linkcode Subscription}; the client feeds it. */
export class SubscriptionQueue implements Subscription, AsyncIterator<Publication> {
  /** The topic. */
  readonly topic: string;
  readonly #limit: number;
  readonly #release: (queue: SubscriptionQueue) => void;
  #items: Publication[] = [];
  #head = 0;
  #ended = false;
  #error: Error | undefined;
  #waiting: ((result: IteratorResult<Publication>) => void) | undefined;
  #failWaiting: ((error: Error) => void) | undefined;

  /**
   * Makes an empty queue.
   *
   * @param topic The topic.
   * @param limit The most publications queued.
   * @param release Called once when the subscription ends.
   */
  constructor(topic: string, limit: number, release: (queue: SubscriptionQueue) => void) {
    this.topic = topic;
    this.#limit = limit;
    this.#release = release;
  }

  /** Whether it ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Queues a publication, or hands it to the waiting consumer.
   *
   * @param publication The publication.
   */
  push(publication: Publication): void {
    if (this.#ended) return;
    if (this.#waiting !== undefined) {
      const resolve = this.#waiting;
      this.#settle();
      resolve({ value: publication, done: false });
      return;
    }
    if (this.#items.length - this.#head >= this.#limit) {
      return this.end(
        new RangeError(
          `Subscription to "${this.topic}" ended: ${this.#limit} publications were not read; ` +
            "subscribe again with since = the last id handled",
        ),
      );
    }
    this.#items.push(publication);
  }

  /**
   * Ends the subscription: the queued publications are still read, then the
   * iteration ends, or throws `error`.
   *
   * @param error Why, when the end is not the application's doing.
   */
  end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.#waiting !== undefined) {
      const [resolve, reject] = [this.#waiting, this.#failWaiting!];
      this.#settle();
      if (error === undefined) resolve({ value: undefined, done: true });
      else reject(error);
    }
    this.#release(this);
  }

  /** Ends the subscription at the application's request. */
  unsubscribe(): void {
    this.end();
  }

  /**
   * The next publication, waiting for one.
   *
   * @returns The publication, or the end.
   */
  next(): Promise<IteratorResult<Publication>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head]!;
      this.#head++;
      if (this.#head > 64 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) {
      const error = this.#error;
      this.#error = undefined; // thrown once
      return error === undefined
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(error);
    }
    if (this.#waiting !== undefined) {
      return Promise.reject(new TypeError("Cannot read a subscription from two places at once"));
    }
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failWaiting = reject;
    });
  }

  /**
   * Unsubscribes (what `break` out of `for await` does).
   *
   * @returns The end.
   */
  return(): Promise<IteratorResult<Publication>> {
    this.#items = [];
    this.#head = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** The subscription's iterator: itself. */
  [Symbol.asyncIterator](): AsyncIterator<Publication> {
    return this;
  }

  #settle(): void {
    this.#waiting = undefined;
    this.#failWaiting = undefined;
  }
}
