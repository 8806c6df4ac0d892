/**
 * Engines: where the push server's topics live. An engine assigns every
 * published message its id, keeps the history window, answers "what did I
 * miss after this id?", and delivers every message published anywhere (on
 * this node or, with a shared engine, on any node) to this node, once and in
 * order per topic.
 *
 * {@linkcode MemoryEngine} is one process on its own: the history of
 * `history.ts`, messages delivered as they are published. `RedisEngine` (in
 * `redis_engine.ts`) shares topics and history between nodes through Redis.
 *
 * @module
 */

import { type GapReason, History, type HistoryStats, type MessageId } from "./history.ts";
import { type AppendOptions, validateIdempotencyKey } from "./idempotency.ts";
import type { Metric } from "../server/metrics.ts";

export {
  EngineUnavailableError,
  type EngineUnavailableErrorOptions,
  WatchLimitError,
} from "./engine_errors.ts";
export { type AppendOptions, validateIdempotencyKey } from "./idempotency.ts";

/** One published message, as an engine stores and delivers it. */
export interface EngineMessage {
  /** The topic. */
  readonly topic: string;
  /** Its id: the epoch of the engine's dataset and its place in the topic. */
  readonly id: MessageId;
  /** When it was published, in milliseconds since the epoch (the engine's clock). */
  readonly time: number;
  /** What was published, opaque to the engine. */
  readonly payload: string;
}

/**
 * What an append resolves with: the message, marked `repeated` when an
 * earlier append with the same idempotency key made it (nothing was
 * appended or delivered this time; `id`, `time` and `payload` are the first
 * append's).
 */
export interface AppendedMessage extends EngineMessage {
  /**
   * `true` when this is the message an earlier append with the same
   * idempotency key made; absent (or `false`) for a new message.
   */
  readonly repeated?: boolean;
}

/**
 * What an engine delivers to its node: a message, in order per topic, or a
 * gap in a topic's live delivery (the messages after `since` were lost, for
 * example with a Redis that restarted empty; what the window still holds
 * follows as messages).
 */
export type EngineEvent =
  | {
    /** A message published to a watched topic. */
    type: "message";
    /** The message. */
    message: EngineMessage;
  }
  | {
    /** Live delivery lost messages of a topic after `since`. */
    type: "gap";
    /** The topic. */
    topic: string;
    /** The id of the last message delivered before the gap. */
    since: MessageId;
    /**
     * Why: `restart` (a new dataset), `expired` (they left the window
     * meanwhile) or `unknown` (the store lost its latest messages).
     */
    reason: GapReason;
  };

/**
 * Receives an engine's events, synchronously and in order per topic.
 *
 * @param event A message or a gap.
 */
export type EngineSink = (event: EngineEvent) => void;

/**
 * The answer to "what did I miss after this id?": exactly the messages after
 * it, or a gap, its reason, and what the window holds. `messages` may stop
 * short of `last` (at the engine's batch limit): ask again from the last
 * message.
 */
export type EngineRecovery =
  | {
    /** Nothing was lost: `messages` are the messages after the id, in order. */
    kind: "complete";
    /** The messages after the id (a first batch of them). */
    messages: EngineMessage[];
    /** The topic's last id when it was read. */
    last: MessageId;
  }
  | {
    /** Something was lost. */
    kind: "gap";
    /** Why. */
    reason: GapReason;
    /** What the window holds, in order (a first batch of it). */
    messages: EngineMessage[];
    /** The topic's last id when it was read. */
    last: MessageId;
  };

/**
 * Where topics live: ids, the history window, and delivery. The push hub
 * uses one engine: it calls {@linkcode Engine.listen} once, and every other
 * method but {@linkcode Engine.open} and {@linkcode Engine.close} only once
 * the engine is open.
 *
 * Delivery, per topic: the sink gets every message published to a topic
 * the node watches, from any node, once and in id order; when that cannot
 * be honoured (the engine's store lost data) it gets a gap event first.
 * `position(topic)` is the id of the last message it got, so a subscriber
 * that joins the live stream right after replaying up to `position(topic)`
 * misses nothing and gets nothing twice.
 *
 * @example An engine's round trip
 * ```ts
 * import { type Engine, type EngineEvent, MemoryEngine } from "./engine.ts";
 *
 * const engine: Engine = new MemoryEngine({ epoch: "e1" });
 * const events: EngineEvent[] = [];
 * engine.listen((event) => events.push(event));
 * await engine.open();
 * await engine.watch("news");
 * const first = await engine.append("news", "hello");
 * await engine.append("news", "again");
 * console.log(first.id, events.length); // { epoch: "e1", seq: 1 } 2
 * console.log((await engine.recover("news", first.id)).messages[0]?.payload); // "again"
 * await engine.close();
 * ```
 */
export interface Engine {
  /** Which engine: `"memory"`, `"redis"` or `"workers"` (one of a server's workers). */
  readonly kind: "memory" | "redis" | "workers";
  /**
   * Whether several nodes share the engine's topics. A shared engine
   * delivers only the topics a node watches, so the hub watches a topic
   * before a socket joins it and stops watching it when no socket needs it;
   * the chat room then travels through the engine too. An engine that is not
   * shared delivers every topic, and its position is known at once.
   */
  readonly shared: boolean;
  /**
   * Connects, where there is something to connect to. Opening again returns
   * the same promise.
   *
   * @returns Resolves once the engine can publish.
   * @throws {Error} When the engine's store cannot be reached.
   */
  open(): Promise<void>;
  /**
   * Names the one receiver of the engine's events (a later call replaces
   * it).
   *
   * @param sink Receives every message of the watched topics, and gaps.
   */
  listen(sink: EngineSink): void;
  /**
   * Appends a published message to its topic: assigns its id, keeps it in the window, and
   * delivers it to every node watching the topic (this one included). With an idempotency
   * key already used for this topic while its message is held, appends nothing and resolves
   * with that message, marked `repeated`.
   *
   * @param topic A valid topic name.
   * @param payload The message.
   * @param options Its idempotency key.
   * @returns The message with its id and time (`repeated` for a repeat).
   * @throws {TypeError} For an invalid idempotency key.
   * @throws {EngineUnavailableError} When the store cannot be reached or did not answer in
   * time (`outcomeUnknown` says whether the message may have been appended).
   */
  append(topic: string, payload: string, options?: AppendOptions): Promise<AppendedMessage>;
  /**
   * Starts delivering a topic's messages to the sink (a no-op for an engine
   * that delivers every topic). Watching twice is watching once.
   *
   * @param topic A topic name.
   * @returns Resolves once every later message will be delivered; from then
   * on, `position(topic)` is meaningful, and at the moment it resolves it is
   * where live delivery to the sink stands: a socket subscribed in that same
   * synchronous step misses nothing and gets nothing twice.
   * @throws {WatchLimitError} When the node watches as many topics as it may.
   * @throws {EngineUnavailableError} When the store cannot be reached.
   */
  watch(topic: string): Promise<void>;
  /**
   * Stops delivering a topic's messages; cheap, and safe to call as soon as
   * the last local subscriber leaves. A shared engine may keep the topic
   * for a short grace (a quick return then costs nothing), but it is no
   * longer listed by {@linkcode Engine.watched}.
   *
   * @param topic A topic name.
   */
  unwatch(topic: string): void;
  /**
   * The topics being watched (none for an engine that delivers every
   * topic).
   *
   * @returns The topic names.
   */
  watched(): IterableIterator<string>;
  /**
   * The id of the last message of `topic` delivered to the sink, or, when
   * none was yet, the id a subscriber starts after.
   *
   * @param topic A watched topic.
   * @returns The id.
   */
  position(topic: string): MessageId;
  /**
   * What a client that saw `since` last in `topic` missed.
   *
   * @param topic A topic name.
   * @param since The last id the client saw.
   * @returns The messages after it, or a gap and what the window holds.
   * @throws {EngineUnavailableError} When the store cannot be reached or did not answer in time.
   */
  recover(topic: string, since: MessageId): Promise<EngineRecovery>;
  /**
   * {@linkcode Engine.append} answered at once, for an engine that keeps
   * its topics in this process (absent otherwise): the message is delivered
   * to the sink when this returns.
   *
   * @param topic A valid topic name.
   * @param payload The message.
   * @param options Its idempotency key.
   * @returns The message with its id and time (`repeated` for a repeat).
   * @throws {TypeError} For an invalid idempotency key.
   */
  appendNow?(topic: string, payload: string, options?: AppendOptions): AppendedMessage;
  /**
   * {@linkcode Engine.recover} answered at once, for an engine that keeps
   * its topics in this process (absent otherwise).
   *
   * @param topic A topic name.
   * @param since The last id the client saw.
   * @returns The messages after it, or a gap and what the window holds.
   */
  recoverNow?(topic: string, since: MessageId): EngineRecovery;
  /**
   * Tells the engine how many bytes this node really keeps for a message it
   * delivered (its payload, and the frames the hub prepared for it), so
   * that {@linkcode Engine.stats} and the memory engine's byte budget count
   * that instead of the payload's length. Call it again when the size
   * grows; a message no longer held is ignored.
   *
   * @param message A message the sink got (the same object).
   * @param bytes What is kept for it.
   */
  account?(message: EngineMessage, bytes: number): void;
  /** Sizes of the history this node holds, for metrics. */
  stats(): HistoryStats;
  /** The engine's own metrics, for `GET /metrics`. */
  metrics(): Metric[];
  /**
   * Stops delivering and disconnects.
   *
   * @returns Resolves once every connection is closed.
   */
  close(): Promise<void>;
}

/** Options for {@linkcode MemoryEngine}: the history window, as for `History`. */
export interface MemoryEngineOptions {
  /**
   * Messages kept per topic.
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
   * Topics remembered; past it the least recently published is forgotten.
   *
   * @default {10000}
   */
  maxTopics?: number;
  /**
   * Bytes held over every topic's window: each message's payload length,
   * or what {@linkcode MemoryEngine.account} set. Past it, the oldest
   * messages of the least recently published topics leave first (a resume
   * from them gets an `expired` gap). `0` for no byte bound.
   *
   * @default {67108864}
   */
  maxBytes?: number;
  /**
   * The epoch of this run.
   *
   * @default {a new one from `newEpoch`}
   */
  epoch?: string;
  /**
   * The clock, in milliseconds.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * The engine of a single node: ids and the window in this process's memory
 * (a new epoch at every start), every message delivered to the sink during
 * `append`, before it resolves. Every topic is delivered; `watch` is a
 * no-op. Idempotency keys are remembered with their message, and leave the
 * window with it.
 *
 * @example
 * ```ts
 * import { MemoryEngine } from "./engine.ts";
 *
 * const engine = new MemoryEngine({ size: 2, epoch: "e1" });
 * await engine.open();
 * for (const text of ["a", "b", "c"]) await engine.append("news", text);
 * console.log((await engine.recover("news", { epoch: "e1", seq: 0 })).kind); // "gap"
 * console.log(engine.position("news")); // { epoch: "e1", seq: 3 }
 * ```
 *
 * @example An idempotent append
 * ```ts
 * import { MemoryEngine } from "./engine.ts";
 *
 * const engine = new MemoryEngine({ epoch: "e1" });
 * const first = engine.appendNow("news", "hello", { idempotencyKey: "k1" });
 * const again = engine.appendNow("news", "hello", { idempotencyKey: "k1" });
 * console.log(first.id.seq, again.id.seq, again.repeated); // 1 1 true
 * ```
 */
export class MemoryEngine implements Engine {
  /** Always `"memory"`. */
  readonly kind = "memory" as const;
  /** Not shared: one process on its own. */
  readonly shared = false;
  /** The ids and windows. */
  readonly #history: History<EngineMessage>;
  #sink: EngineSink | undefined;

  /**
   * Makes an engine with an empty history.
   *
   * @param options The window, the byte budget and the epoch.
   * @throws {RangeError} For a negative or fractional size, ttl, topic count or budget.
   */
  constructor(options: MemoryEngineOptions = {}) {
    this.#history = new History<EngineMessage>({
      ...options,
      sizeOf: (message) => message.payload.length,
    });
  }

  /** Nothing to connect to. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Names the receiver of every published message.
   *
   * @param sink The receiver.
   */
  listen(sink: EngineSink): void {
    this.#sink = sink;
  }

  /**
   * Assigns the next id, keeps the message, and delivers it to the sink
   * before resolving; or, for an idempotency key already used while its
   * message is in the window, resolves with that message (`repeated`).
   *
   * @param topic A topic name.
   * @param payload The message.
   * @param options Its idempotency key.
   * @returns The message with its id.
   * @throws {TypeError} For an invalid idempotency key (as a rejection).
   */
  append(topic: string, payload: string, options?: AppendOptions): Promise<AppendedMessage> {
    // The executor runs at once: delivered before this returns, a throw rejects.
    return new Promise((resolve) => resolve(this.appendNow(topic, payload, options)));
  }

  /**
   * {@linkcode MemoryEngine.append} without the promise: the message is
   * delivered to the sink when this returns.
   *
   * @param topic A topic name.
   * @param payload The message.
   * @param options Its idempotency key.
   * @returns The message with its id (`repeated` for a repeat: not delivered again).
   * @throws {TypeError} For an invalid idempotency key.
   */
  appendNow(topic: string, payload: string, options: AppendOptions = {}): AppendedMessage {
    const key = options.idempotencyKey;
    if (key !== undefined) {
      validateIdempotencyKey(key);
      const first = this.#history.find(topic, key);
      if (first !== undefined) return { ...first.value, repeated: true };
    }
    const epoch = this.#history.epoch;
    const { value } = this.#history.append(
      topic,
      (seq, time) => ({ topic, id: { epoch, seq }, time, payload }),
      { key },
    );
    this.#sink?.({ type: "message", message: value });
    return value;
  }

  /**
   * Counts `bytes` for a held message instead of its payload's length (in
   * `stats()` and the byte budget, which applies at once).
   *
   * @param message A message this engine delivered.
   * @param bytes What this node keeps for it.
   */
  account(message: EngineMessage, bytes: number): void {
    if (message.id.epoch !== this.#history.epoch || !(bytes >= 0)) return;
    this.#history.resize(message.topic, message.id.seq, bytes);
  }

  /** Every topic is delivered: nothing to do. */
  watch(_topic: string): Promise<void> {
    return Promise.resolve();
  }

  /** Every topic is delivered: nothing to do. */
  unwatch(_topic: string): void {}

  /** None: every topic is delivered. */
  watched(): IterableIterator<string> {
    return new Set<string>().values();
  }

  /**
   * The topic's last id.
   *
   * @param topic A topic name.
   * @returns The id (`seq` 0 before any message).
   */
  position(topic: string): MessageId {
    return this.#history.last(topic);
  }

  /**
   * What a client missed, from the window.
   *
   * @param topic A topic name.
   * @param since The last id the client saw.
   * @returns All of it, or a gap and the window.
   */
  recover(topic: string, since: MessageId): Promise<EngineRecovery> {
    return Promise.resolve(this.recoverNow(topic, since));
  }

  /**
   * {@linkcode MemoryEngine.recover} without the promise.
   *
   * @param topic A topic name.
   * @param since The last id the client saw.
   * @returns All of it, or a gap and the window.
   */
  recoverNow(topic: string, since: MessageId): EngineRecovery {
    const recovery = this.#history.recover(topic, since);
    const messages = recovery.entries.map((entry) => entry.value);
    const last = this.#history.last(topic);
    return recovery.kind === "complete"
      ? { kind: "complete", messages, last }
      : { kind: "gap", reason: recovery.reason, messages, last };
  }

  /** The window's sizes. */
  stats(): HistoryStats {
    return this.#history.stats();
  }

  /** No metrics of its own. */
  metrics(): Metric[] {
    return [];
  }

  /** Stops delivering. */
  close(): Promise<void> {
    this.#sink = undefined;
    return Promise.resolve();
  }
}
