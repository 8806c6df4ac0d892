/**
 * The topics a client follows, as data: each one's last id (where the next
 * connection resumes it), its subscribers' queues, and whether its
 * subscription is live on the current connection.
 *
 * @module
 */

import type { Publication } from "./events.ts";
import { isAfter } from "./resume.ts";
import type { SubscriptionQueue } from "./subscription.ts";

/** A topic the client follows: its last id and its subscribers. */
interface TopicEntry {
  last: string | undefined;
  queues: Set<SubscriptionQueue>;
  live: boolean;
}

/** Every topic a client follows, by name. */
export class FollowedTopics {
  readonly #entries = new Map<string, TopicEntry>();

  /** How many topics are followed. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Whether a topic is followed.
   *
   * @param topic The topic.
   * @returns `true` while it has a subscriber.
   */
  has(topic: string): boolean {
    return this.#entries.has(topic);
  }

  /** The topics followed, in the order they were first subscribed. */
  names(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /**
   * A topic's last id.
   *
   * @param topic The topic.
   * @returns The id of its last publication (or of `subscribed`), if any.
   */
  last(topic: string): string | undefined {
    return this.#entries.get(topic)?.last;
  }

  /**
   * Where a new connection resumes each topic; none of them is live on it
   * until the server says `subscribed`.
   *
   * @returns Each topic and its last id.
   */
  reconnect(): Map<string, string | undefined> {
    for (const entry of this.#entries.values()) entry.live = false;
    return new Map([...this.#entries].map(([topic, entry]) => [topic, entry.last]));
  }

  /**
   * Adds a subscriber.
   *
   * @param topic The topic.
   * @param queue The subscriber's queue.
   * @param since Where to start a topic not followed yet.
   * @returns Whether the topic is new.
   */
  add(topic: string, queue: SubscriptionQueue, since: string | undefined): boolean {
    const entry = this.#entries.get(topic);
    if (entry !== undefined) {
      entry.queues.add(queue);
      return false;
    }
    this.#entries.set(topic, { last: since, queues: new Set([queue]), live: false });
    return true;
  }

  /**
   * Hands a publication to its topic's subscribers, unless its id is not
   * after the topic's last one (a replay, or a duplicate).
   *
   * @param publication The publication.
   */
  deliver(publication: Publication): void {
    const entry = this.#entries.get(publication.topic);
    if (entry === undefined || !isAfter(publication.id, entry.last)) return;
    entry.last = publication.id;
    for (const queue of entry.queues) queue.push(publication);
  }

  /**
   * A topic's subscription is live, its latest id `last`.
   *
   * @param topic The topic.
   * @param last The server's latest id of the topic.
   * @returns Whether the topic is followed.
   */
  live(topic: string, last: string): boolean {
    const entry = this.#entries.get(topic);
    if (entry === undefined) return false;
    if (isAfter(last, entry.last)) entry.last = last;
    entry.live = true;
    return true;
  }

  /**
   * Whether a followed topic's subscription is not live yet (a refusal may
   * be its answer).
   *
   * @param topic The topic.
   * @returns `true` when followed and not live.
   */
  waiting(topic: string): boolean {
    return this.#entries.get(topic)?.live === false;
  }

  /**
   * Ends a topic's subscriptions and forgets it.
   *
   * @param topic The topic.
   * @param error Why, when it is not the application's doing.
   */
  drop(topic: string, error?: Error): void {
    const entry = this.#entries.get(topic);
    if (entry === undefined) return;
    this.#entries.delete(topic);
    for (const queue of entry.queues) queue.end(error);
  }

  /**
   * Ends every subscription and forgets every topic.
   *
   * @param error Why, when it is not the application's doing.
   */
  dropAll(error?: Error): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) for (const queue of entry.queues) queue.end(error);
  }

  /**
   * A subscription ended.
   *
   * @param topic Its topic.
   * @param queue Its queue.
   * @returns Whether the topic is left: it was its last subscriber.
   */
  release(topic: string, queue: SubscriptionQueue): boolean {
    const entry = this.#entries.get(topic);
    if (entry === undefined || !entry.queues.delete(queue) || entry.queues.size > 0) return false;
    this.#entries.delete(topic);
    return true;
  }
}
