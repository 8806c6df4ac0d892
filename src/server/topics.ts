/**
 * Topics: named groups of sockets, so that one broadcast reaches exactly the
 * sockets subscribed to it.
 *
 * @module
 */

import { PreparedMessage } from "../protocol/deflate.ts";

/** What the topic index needs of a socket. */
export interface Subscriber {
  /** Queues a prepared message (compressed if negotiated); `false` when not queued. */
  sendPrepared(message: PreparedMessage): boolean;
}

/** The longest topic name, in characters. */
export const MAX_TOPIC_LENGTH = 128;

const TOPIC_NAME = /^[A-Za-z0-9_.:@\/-]+$/;

/**
 * Checks a topic name: 1 to 128 characters from letters, digits and
 * `_ . : @ / -`.
 *
 * @example
 * ```ts
 * import { validateTopic } from "./topics.ts";
 *
 * validateTopic("news/sport"); // fine
 * try {
 *   validateTopic("no spaces");
 * } catch (error) {
 *   console.log((error as Error).message);
 * }
 * ```
 *
 * @param topic The name to check.
 * @throws {TypeError} When the name is empty, too long or has other characters.
 */
export function validateTopic(topic: string): void {
  if (typeof topic !== "string" || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new TypeError(
      `Cannot use topic: a topic name has 1 to ${MAX_TOPIC_LENGTH} characters`,
    );
  }
  if (!TOPIC_NAME.test(topic)) {
    throw new TypeError(
      `Cannot use topic "${topic}": only letters, digits and _ . : @ / - are allowed`,
    );
  }
}

/**
 * The subscribers of every topic. A broadcast encodes its frame once and
 * queues the same bytes on every subscriber.
 *
 * @example
 * ```ts
 * import { TopicIndex } from "./topics.ts";
 * import { PreparedMessage } from "../protocol/deflate.ts";
 *
 * const topics = new TopicIndex();
 * const frames: Uint8Array[] = [];
 * const subscriber = {
 *   sendPrepared: (message: PreparedMessage) => frames.push(message.frame(undefined)) > 0,
 * };
 * topics.add("news", subscriber);
 * console.log(topics.broadcast("news", "hello")); // 1
 * console.log(topics.broadcast("sport", "goal")); // 0
 * ```
 */
export class TopicIndex<S extends Subscriber = Subscriber> {
  readonly #subscribers = new Map<string, Set<S>>();

  /** How many topics have at least one subscriber. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** The topics that have subscribers. */
  names(): IterableIterator<string> {
    return this.#subscribers.keys();
  }

  /**
   * How many sockets subscribe to `topic`.
   *
   * @param topic A topic name.
   * @returns The number of subscribers.
   */
  count(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  /**
   * The subscribers of `topic`.
   *
   * @param topic A topic name.
   * @returns The subscribers (empty when none).
   */
  subscribers(topic: string): ReadonlySet<S> {
    return this.#subscribers.get(topic) ?? new Set();
  }

  /**
   * Subscribes `subscriber` to `topic`.
   *
   * @param topic A valid topic name.
   * @param subscriber The socket.
   * @throws {TypeError} For an invalid topic name.
   */
  add(topic: string, subscriber: S): void {
    validateTopic(topic);
    let set = this.#subscribers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(topic, set);
    }
    set.add(subscriber);
  }

  /**
   * Unsubscribes `subscriber` from `topic`.
   *
   * @param topic A topic name.
   * @param subscriber The socket.
   * @returns Whether it was subscribed.
   */
  delete(topic: string, subscriber: S): boolean {
    const set = this.#subscribers.get(topic);
    if (set === undefined || !set.delete(subscriber)) return false;
    if (set.size === 0) this.#subscribers.delete(topic);
    return true;
  }

  /**
   * Sends a message to every subscriber of `topic`, encoded once (and
   * compressed once per permessage-deflate parameter set).
   *
   * @param topic A topic name.
   * @param data A string (text frame) or bytes (binary frame).
   * @param except A subscriber to leave out.
   * @returns How many subscribers the frame was queued for.
   */
  broadcast(topic: string, data: string | Uint8Array, except?: S): number {
    const set = this.#subscribers.get(topic);
    if (set === undefined) return 0;
    const message = new PreparedMessage(data);
    let count = 0;
    for (const subscriber of set) {
      if (subscriber !== except && subscriber.sendPrepared(message)) count++;
    }
    return count;
  }
}
