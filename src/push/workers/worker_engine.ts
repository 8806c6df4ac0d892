/**
 * The engine of one worker among a server's workers: a shared engine, as
 * `RedisEngine` is between nodes, whose store is the coordinator in the
 * main thread (`coordinator.ts`). Ids, the window and idempotency keys live
 * there; this worker's sink gets the messages of the topics it watches, in
 * order, through its channel.
 *
 * @module
 */

import type {
  AppendedMessage,
  Engine,
  EngineMessage,
  EngineRecovery,
  EngineSink,
} from "../engine.ts";
import { EngineUnavailableError } from "../engine_errors.ts";
import type { HistoryStats, MessageId } from "../history.ts";
import { type AppendOptions, validateIdempotencyKey } from "../idempotency.ts";
import type { Metric } from "../../server/metrics.ts";
import type { WorkerLink } from "./link.ts";

/** A watched topic: waiting for its position, or delivering from it. */
interface Watch {
  ready: Promise<void>;
  position: MessageId | undefined;
}

/**
 * A worker's engine: every call goes to the coordinator over the worker's
 * link; messages of watched topics come back in id order, this worker's own
 * publications included (before its `append` resolves).
 *
 * @example
 * ```ts
 * import { Coordinator } from "./coordinator.ts";
 * import { WorkerLink } from "./link.ts";
 * import { WorkerEngine } from "./worker_engine.ts";
 *
 * const coordinator = new Coordinator({ epoch: "e1" });
 * const channel = new MessageChannel();
 * coordinator.attach(channel.port1, "a");
 * const engine = new WorkerEngine(new WorkerLink(channel.port2));
 * await engine.watch("news");
 * console.log(engine.position("news")); // { epoch: "e1", seq: 0 }
 * await engine.append("news", "hello");
 * console.log(engine.position("news")); // { epoch: "e1", seq: 1 }
 * await engine.close();
 * coordinator.close();
 * ```
 */
export class WorkerEngine implements Engine {
  /** Always `"workers"`. */
  readonly kind = "workers" as const;
  /** Shared by every worker of the server. */
  readonly shared = true;
  readonly #link: WorkerLink;
  readonly #watches = new Map<string, Watch>();
  #sink: EngineSink | undefined;
  #closed = false;

  /**
   * Makes an engine on a worker's link (which it takes the messages of).
   *
   * @param link The worker's channel to the coordinator.
   */
  constructor(link: WorkerLink) {
    this.#link = link;
    link.onMessage = (message) => this.#receive(message);
  }

  /** Nothing to connect: the channel is there. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Names the receiver of the watched topics' messages.
   *
   * @param sink The receiver.
   */
  listen(sink: EngineSink): void {
    this.#sink = sink;
  }

  /**
   * Publishes through the coordinator: it assigns the id and sends the
   * message to every watching worker, this one first if it watches.
   *
   * @param topic A valid topic name.
   * @param payload The message.
   * @param options Its idempotency key.
   * @returns The message with its id (`repeated` for a key already used).
   * @throws {TypeError} For an invalid idempotency key.
   * @throws {EngineUnavailableError} When the engine is closed.
   */
  append(topic: string, payload: string, options?: AppendOptions): Promise<AppendedMessage> {
    const key = options?.idempotencyKey;
    try {
      if (key !== undefined) validateIdempotencyKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#link.request("append", { topic, payload, ...(key === undefined ? {} : { key }) });
  }

  /**
   * Becomes a watcher of a topic; resolves with the position known.
   *
   * @param topic A topic name.
   * @throws {EngineUnavailableError} When closed, or unwatched meanwhile.
   */
  watch(topic: string): Promise<void> {
    const existing = this.#watches.get(topic);
    if (existing !== undefined) return existing.ready;
    const watch: Watch = { ready: Promise.resolve(), position: undefined };
    this.#watches.set(topic, watch);
    watch.ready = this.#link.request("watch", { topic }).then((position) => {
      if (this.#watches.get(topic) !== watch) {
        throw new EngineUnavailableError(`Cannot watch topic "${topic}": it was let go meanwhile`);
      }
      watch.position = position;
    }, (error) => {
      if (this.#watches.get(topic) === watch) this.#watches.delete(topic);
      throw error;
    });
    return watch.ready;
  }

  /**
   * Stops delivering a topic (at once: a message already on its way is dropped).
   *
   * @param topic A topic name.
   */
  unwatch(topic: string): void {
    if (!this.#watches.delete(topic)) return;
    this.#link.unwatch(topic);
  }

  /**
   * The topics watched.
   *
   * @returns Their names.
   */
  watched(): IterableIterator<string> {
    return this.#watches.keys();
  }

  /**
   * The id of the last message of a watched topic delivered to the sink, or
   * the topic's last id when it was watched.
   *
   * @param topic A watched topic, once `watch` resolved.
   * @returns The id.
   * @throws {TypeError} For a topic not watched (or not yet).
   */
  position(topic: string): MessageId {
    const position = this.#watches.get(topic)?.position;
    if (position === undefined) {
      throw new TypeError(`Cannot tell the position of "${topic}": it is not watched`);
    }
    return position;
  }

  /**
   * What a client that saw `since` missed, from the coordinator's window.
   *
   * @param topic A topic name.
   * @param since The last id the client saw.
   * @returns The messages after it, or a gap and the window.
   */
  recover(topic: string, since: MessageId): Promise<EngineRecovery> {
    return this.#link.request("recover", { topic, since });
  }

  /** What this worker holds: the topics it watches (the window is the coordinator's). */
  stats(): HistoryStats {
    return { topics: 0, messages: 0, bytes: 0 };
  }

  /** None of its own. */
  metrics(): Metric[] {
    return [];
  }

  /** Stops delivering; the link's pending calls fail. */
  close(): Promise<void> {
    this.#closed = true;
    this.#sink = undefined;
    this.#watches.clear();
    this.#link.close();
    return Promise.resolve();
  }

  #receive(message: EngineMessage): void {
    const watch = this.#watches.get(message.topic);
    if (this.#closed || watch?.position === undefined) return;
    watch.position = message.id;
    this.#sink?.({ type: "message", message });
  }
}
