/**
 * The messages of one socket on their way to its consumer: they wait here
 * until iterated, a consumer already waiting in `for await` is handed the
 * next one directly, and a full inbox tells the read loop to stop reading
 * (TCP back-pressure) until the consumer takes some.
 *
 * @module
 */

import type { Message } from "../protocol/message.ts";

// The read loop pauses once this many messages, or bytes, wait unread.
const INBOX_MAX_MESSAGES = 256;
const INBOX_MAX_BYTES = 1024 * 1024;
const DONE: IteratorResult<Message> = Object.freeze({ value: undefined, done: true });

/**
 * A socket's queue of received messages and its single consumer.
 * {@linkcode Inbox.push} queues a message or hands it to a waiting consumer;
 * {@linkcode Inbox.end} marks that no more will come, and the iteration ends
 * once the queued ones are read.
 *
 * @typeParam O The inbox's owner, which `onCaughtUp` is called with.
 *
 * @example
 * ```ts
 * import { Inbox } from "./inbox.ts";
 *
 * const inbox = new Inbox(() => {}, undefined);
 * inbox.push("hello");
 * inbox.end();
 * for await (const message of inbox.iterator()) console.log(message); // hello
 * ```
 */
export class Inbox<O = unknown> {
  readonly #onCaughtUp: (owner: O) => void;
  readonly #owner: O;
  #messages: Message[] = [];
  #head = 0;
  #bytes = 0;
  #ended = false;
  #wakeReader: (() => void) | undefined;
  #waiter: ((result: IteratorResult<Message>) => void) | undefined;
  #waiting: Promise<IteratorResult<Message>> | undefined;
  // Whether the consumer was handed a message and has not asked for the next
  // one: what it sends in reply comes before anything owed to "caught up".
  #holds = false;

  /**
   * Makes an empty inbox.
   *
   * @param onCaughtUp Called with `owner` when the consumer, with nothing
   * left queued, asks for the next message or stops iterating (one function
   * may serve many inboxes).
   * @param owner What `onCaughtUp` is called with.
   */
  constructor(onCaughtUp: (owner: O) => void, owner: O) {
    this.#onCaughtUp = onCaughtUp;
    this.#owner = owner;
  }

  /** Whether every message was read and the consumer holds none. */
  get caughtUp(): boolean {
    return this.#head === this.#messages.length && !this.#holds;
  }

  /** Whether the read loop should wait for {@linkcode Inbox.room}. */
  get full(): boolean {
    if (this.#ended) return false;
    return this.#messages.length - this.#head >= INBOX_MAX_MESSAGES ||
      this.#bytes >= INBOX_MAX_BYTES;
  }

  /**
   * Resolves once the consumer has taken a message or the inbox has ended.
   *
   * @returns A promise for the read loop to wait on.
   */
  room(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakeReader = resolve;
    return promise;
  }

  /**
   * Delivers a message: straight to a consumer waiting with nothing
   * queued, else into the queue.
   *
   * @param message A received message.
   */
  push(message: Message): void {
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#head === this.#messages.length) {
      this.#waiter = undefined;
      this.#waiting = undefined;
      this.#holds = true;
      waiter({ value: message, done: false });
      return;
    }
    this.#messages.push(message);
    this.#bytes += message.length;
    this.#wake();
  }

  /**
   * Marks that no more messages will come: the iteration ends once the
   * queued ones are read, and a waiting read loop goes on. Calling it again
   * changes nothing.
   */
  end(): void {
    this.#ended = true;
    this.#wake();
    const wakeReader = this.#wakeReader;
    this.#wakeReader = undefined;
    wakeReader?.();
  }

  /**
   * An iterator over the messages, in order, ending after
   * {@linkcode Inbox.end} once the queue is empty.
   *
   * @returns The iterator (also its own async iterable).
   */
  iterator(): AsyncIterableIterator<Message> {
    return new InboxIterator(this);
  }

  /** The consumer stopped iterating (for {@linkcode Inbox.iterator}'s iterators). */
  stop(): void {
    this.#holds = false;
    if (this.#head === this.#messages.length) this.#onCaughtUp(this.#owner);
  }

  /**
   * One step of iteration, for {@linkcode Inbox.iterator}'s iterators: a
   * message or the end at once when there is one, else a promise that a
   * push or the end settles. Written out rather than as an async generator:
   * this is the per-message path.
   *
   * @returns A promise for the next message or the end.
   */
  next(): Promise<IteratorResult<Message>> {
    // A second call before the first settled waits its turn.
    if (this.#waiting !== undefined) return this.#waiting.then(() => this.next());
    this.#holds = false;
    const result = this.#take();
    if (result !== undefined) return Promise.resolve(result);
    const { promise, resolve } = Promise.withResolvers<IteratorResult<Message>>();
    this.#waiting = promise;
    this.#waiter = resolve;
    return promise;
  }

  // The next message, the end of the messages, or undefined when the
  // consumer must wait.
  #take(): IteratorResult<Message> | undefined {
    if (this.#head < this.#messages.length) {
      const message = this.#messages[this.#head]!;
      this.#messages[this.#head++] = "";
      this.#bytes -= message.length;
      if (this.#head === this.#messages.length) {
        this.#messages.length = 0;
        this.#head = 0;
      }
      const wakeReader = this.#wakeReader;
      this.#wakeReader = undefined;
      wakeReader?.();
      this.#holds = true;
      return { value: message, done: false };
    }
    this.#onCaughtUp(this.#owner);
    return this.#ended ? DONE : undefined;
  }

  // Settles a waiting consumer once there is a message or the end.
  #wake(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    const result = this.#take();
    if (result === undefined) {
      this.#waiter = waiter;
      return;
    }
    this.#waiting = undefined;
    waiter(result);
  }
}

// An iterator of an inbox: one small object, its methods on the prototype.
class InboxIterator<O> implements AsyncIterableIterator<Message> {
  readonly #inbox: Inbox<O>;
  #finished = false;

  constructor(inbox: Inbox<O>) {
    this.#inbox = inbox;
  }

  next(): Promise<IteratorResult<Message>> {
    return this.#finished ? Promise.resolve(DONE) : this.#inbox.next();
  }

  return(): Promise<IteratorResult<Message>> {
    this.#finished = true;
    this.#inbox.stop();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this;
  }
}
