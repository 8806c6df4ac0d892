/**
 * The push hub: topics with ids and history kept by an engine, publishing
 * (each message prepared once for every subscriber), subscriptions with
 * resume (a replay planned by `replay.ts`, then the live stream), and the
 * hub's metrics. What it sends is described in `events.ts`.
 *
 * @module
 */

import { CLOSE_CODE } from "../protocol/close_code.ts";
import { PreparedMessage } from "../protocol/deflate.ts";
import { DEFAULTS } from "../defaults.ts";
import type { Metric } from "../server/metrics.ts";
import type { Socket } from "../server/socket.ts";
import { validateTopic } from "../server/topics.ts";
import {
  type AppendedMessage,
  type Engine,
  type EngineEvent,
  type EngineMessage,
  MemoryEngine,
  WatchLimitError,
} from "./engine.ts";
import { type GapEvent, publicationJson, publicationPayload, sendEvent } from "./events.ts";
import { formatId, type MessageId } from "./history.ts";
import type { Publication, PublishOptions, PublishResult } from "./publish.ts";
import { HubCounts } from "./hub_metrics.ts";
import { planReplay } from "./replay.ts";

/** Options for {@linkcode PushHub}. */
export interface PushHubOptions {
  /**
   * Where topics live: ids, history, and delivery between nodes. Give a
   * `RedisEngine` to share topics between several nodes; the history
   * options below then do not apply (the engine has its own).
   *
   * @default {a MemoryEngine with the history options below}
   */
  engine?: Engine;
  /**
   * Messages kept per topic for resume.
   *
   * @default {100}
   */
  historySize?: number;
  /**
   * Milliseconds a message is kept for resume; `0` for no time bound.
   *
   * @default {3600000}
   */
  historyTtl?: number;
  /**
   * Topics whose history is kept; past it, the least recently published is
   * forgotten.
   *
   * @default {10000}
   */
  historyTopics?: number;
  /**
   * Bytes of history kept over every topic (the payloads and the frames
   * prepared from them); past it the oldest messages of the least recently
   * published topics go first. `0` for no bound.
   *
   * @default {67108864}
   */
  historyBytes?: number;
  /**
   * The most topics one socket may subscribe to.
   *
   * @default {100}
   */
  maxSubscriptions?: number;
  /**
   * Bytes of replay queued on a socket at a time; a longer replay waits for
   * the socket to drain between parts, so that it never trips the
   * slow-consumer limit. Keep it under the sockets' `maxBufferedBytes`.
   *
   * @default {1048576}
   */
  replayChunkBytes?: number;
  /**
   * The live subscribers of a topic on this node (a server's
   * `topics.subscribers`), to which the hub delivers what the engine brings.
   *
   * @default {none}
   */
  subscribers?: (topic: string) => Iterable<Socket>;
  /**
   * Receives the messages of internal topics (see {@linkcode isInternalTopic}),
   * which the engine carries for the application (the chat room between
   * nodes, for one) and no client can subscribe to.
   *
   * @default {none}
   */
  internal?: (message: EngineMessage) => void;
}

const DRAIN_POLL_MS = 5;
/** How often a join asks again while this node catches up with a new epoch. */
const EPOCH_POLL_MS = 50;

/**
 * Whether a topic is internal: its name starts with `#`, which client topic
 * names cannot, so it carries the application's own messages between nodes.
 * The hub hands its messages to the `internal` option, announces no gap in
 * it, and keeps it watched.
 *
 * @example
 * ```ts
 * import { isInternalTopic } from "./hub.ts";
 *
 * console.log(isInternalTopic("#room"), isInternalTopic("news")); // true false
 * ```
 *
 * @param topic A topic name.
 * @returns Whether it is internal.
 */
export function isInternalTopic(topic: string): boolean {
  return topic.startsWith("#");
}

/**
 * Topics with ids and history, kept by an engine: a publish is prepared once
 * (one frame, and one compressed frame per permessage-deflate parameter set)
 * and the same frames serve every subscriber and every replay; a subscriber
 * that resumes gets the messages it missed, then the live ones, with no
 * duplicate and no hole between them.
 *
 * With the default {@linkcode MemoryEngine} everything is synchronous: a
 * publish is queued on every subscriber before `publish` returns, and a
 * replay that fits in one part is queued before `subscribe` returns. With a
 * shared engine, messages reach subscribers as the engine delivers them,
 * from whichever node published.
 *
 * @example
 * ```ts ignore
 * import { PushHub, serve } from "jsr:@pushwire/pushwire";
 *
 * const hub = new PushHub({ subscribers: (topic) => server.topics.subscribers(topic) });
 * const server = serve({ port: 8080 }, (socket) => hub.subscribe(socket, "news"));
 * setInterval(() => hub.publish("news", { type: "text", text: new Date().toISOString() }), 1000);
 * ```
 */
export class PushHub {
  /** Where the topics live. */
  readonly engine: Engine;
  readonly #maxSubscriptions: number;
  readonly #replayChunkBytes: number;
  readonly #subscribers: (topic: string) => Iterable<Socket>;
  readonly #internal: ((message: EngineMessage) => void) | undefined;
  // Topics a socket is catching up on (subscribed once caught up).
  // Each join has a token of its own, so that a join abandoned by an
  // unsubscribe stops even when the topic is joined again meanwhile.
  readonly #resuming = new WeakMap<Socket, Map<string, symbol>>();
  // Sockets joining each topic (watched but not yet subscribed).
  readonly #joining = new Map<string, number>();
  // The frames of each message, made once.
  readonly #prepared = new WeakMap<EngineMessage, PreparedMessage>();
  // How many sockets each message was queued for as it was delivered.
  readonly #delivered = new WeakMap<EngineMessage, number>();
  readonly #counts = new HubCounts();
  // Sockets whose close releases their topics (shared engines only).
  readonly #tracked = new WeakSet<Socket>();

  /**
   * Makes a hub on an engine (a new {@linkcode MemoryEngine} by default) and
   * becomes the engine's receiver.
   *
   * @param options The engine, history size and age, limits, and where
   * subscribers are.
   */
  constructor(options: PushHubOptions = {}) {
    this.engine = options.engine ?? new MemoryEngine({
      size: options.historySize ?? DEFAULTS.historySize,
      ttl: options.historyTtl ?? DEFAULTS.historyTtl,
      maxTopics: options.historyTopics ?? DEFAULTS.historyTopics,
      maxBytes: options.historyBytes ?? DEFAULTS.historyBytes,
    });
    this.#maxSubscriptions = options.maxSubscriptions ?? DEFAULTS.maxSubscriptions;
    this.#replayChunkBytes = Math.max(1, options.replayChunkBytes ?? DEFAULTS.replayChunkBytes);
    this.#subscribers = options.subscribers ?? (() => []);
    this.#internal = options.internal;
    this.engine.listen((event) => this.#receive(event));
  }

  /**
   * Publishes a message to a topic: the engine assigns its id and keeps it
   * in the window, and every subscriber (on every node, with a shared
   * engine) gets it.
   *
   * @param topic A topic name.
   * @param publication The message.
   * @param options An idempotency key (a publish with a key already used
   * for the topic, while its message is still held, answers that message's
   * id with `repeated: true` and publishes nothing), and the sending socket
   * of a client publish.
   * @returns Its id, topic, and how many sockets of this node it was queued
   * for by the time the engine answered (with a shared engine, it may reach
   * them a moment later: then 0).
   * @throws {TypeError} For an invalid topic name or idempotency key.
   * @throws {EngineUnavailableError} When the engine cannot publish (Redis
   * unreachable or not answering; see its `outcomeUnknown`).
   */
  publish(
    topic: string,
    publication: Publication,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    validateTopic(topic);
    const payload = publicationPayload(publication, options.from);
    let now: AppendedMessage | undefined;
    try {
      now = this.engine.appendNow?.(topic, payload, options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (now !== undefined) return Promise.resolve(this.#result(now));
    return this.engine.append(topic, payload, options).then((message) => this.#result(message));
  }

  /**
   * Subscribes a socket to a topic. With `since`, the socket first gets what
   * it missed after that id (or a gap notice and what the window holds),
   * then `subscribed`, then live messages. A long replay goes out in parts
   * as the socket drains, and the subscription starts once it has caught up.
   * With the memory engine, a replay that fits in one part (and a
   * subscription without `since`) happens before this returns.
   *
   * When the engine fails (Redis unreachable), the socket is closed with
   * 1013 (try again later), so that its client resumes elsewhere or later.
   *
   * @param socket An open socket of the server.
   * @param topic A topic name.
   * @param since The last id the socket's client saw in that topic.
   * @returns Resolves once the subscription is live (or the socket closed).
   * @throws {TypeError} For an invalid topic name, or a socket at its limit
   * of subscriptions.
   */
  subscribe(socket: Socket, topic: string, since?: MessageId): Promise<void> {
    validateTopic(topic);
    const resuming = this.#resumingOf(socket);
    if (socket.topics.has(topic) || resuming.has(topic)) {
      if (socket.topics.has(topic)) this.#sendSubscribed(socket, topic);
      return Promise.resolve();
    }
    if (socket.topics.size + resuming.size >= this.#maxSubscriptions) {
      throw new TypeError(`Cannot subscribe: at most ${this.#maxSubscriptions} topics per socket`);
    }
    if (!this.engine.shared && since === undefined) {
      socket.subscribe(topic);
      this.#sendSubscribed(socket, topic);
      return Promise.resolve();
    }
    const token = Symbol(topic);
    resuming.set(topic, token);
    this.#track(socket);
    this.#joining.set(topic, (this.#joining.get(topic) ?? 0) + 1);
    const active = () => socket.state === "open" && resuming.get(topic) === token;
    return this.#join(socket, topic, since, active).finally(() => {
      if (resuming.get(topic) === token) resuming.delete(topic);
      const joining = this.#joining.get(topic)! - 1;
      if (joining > 0) this.#joining.set(topic, joining);
      else {
        this.#joining.delete(topic);
        this.#release(topic);
      }
    });
  }

  /**
   * The topics a socket is subscribed to or catching up with (a replay
   * under way).
   *
   * @param socket A socket.
   * @returns Its topics, live ones first.
   */
  topicsOf(socket: Socket): string[] {
    return [...new Set([...socket.topics, ...this.#resumingOf(socket).keys()])];
  }

  /**
   * Unsubscribes a socket from a topic (and stops a replay under way).
   *
   * @param socket A socket.
   * @param topic A topic name.
   * @returns Whether it was subscribed (or catching up).
   */
  unsubscribe(socket: Socket, topic: string): boolean {
    const wasResuming = this.#resumingOf(socket).delete(topic);
    const was = socket.unsubscribe(topic) || wasResuming;
    if (was) this.#release(topic);
    return was;
  }

  /**
   * Closes the engine.
   *
   * @returns Resolves once the engine is closed.
   */
  close(): Promise<void> {
    return this.engine.close();
  }

  /** The hub's and the engine's numbers, for `GET /metrics`. */
  metrics(): Metric[] {
    return [...this.#counts.metrics(this.engine.stats()), ...this.engine.metrics()];
  }

  /** An event of the engine: a message to deliver, or a gap to announce. */
  #receive(event: EngineEvent): void {
    if (event.type === "gap") {
      if (isInternalTopic(event.topic)) return;
      const gap = JSON.stringify(
        {
          type: "gap",
          topic: event.topic,
          since: formatId(event.since),
          reason: event.reason,
        } satisfies GapEvent,
      );
      for (const socket of this.#subscribers(event.topic)) {
        socket.send(gap);
        this.#counts.gaps++;
      }
      return;
    }
    const { message } = event;
    if (isInternalTopic(message.topic)) {
      this.#internal?.(message);
      return;
    }
    const prepared = this.#prepare(message);
    let delivered = 0;
    for (const socket of this.#subscribers(message.topic)) {
      if (socket.sendPrepared(prepared)) delivered++;
    }
    this.#delivered.set(message, delivered);
    this.engine.account?.(message, message.payload.length + prepared.byteLength);
    this.#counts.published++;
    this.#counts.deliveries += delivered;
  }

  #result(message: AppendedMessage): PublishResult {
    const result: PublishResult = {
      id: formatId(message.id),
      topic: message.topic,
      delivered: message.repeated === true ? 0 : this.#delivered.get(message) ?? 0,
    };
    if (message.repeated === true) result.repeated = true;
    return result;
  }

  #prepare(message: EngineMessage): PreparedMessage {
    let prepared = this.#prepared.get(message);
    if (prepared === undefined) {
      const resume = { topic: message.topic, id: formatId(message.id) };
      prepared = new PreparedMessage(publicationJson(message), { resume });
      this.#prepared.set(message, prepared);
    }
    return prepared;
  }

  // Replays in parts of at most replayChunkBytes, each planned from the last
  // id sent, up to the engine's position (see replay.ts); once the replay
  // reaches it, the socket joins the live stream in the same synchronous step.
  async #join(
    socket: Socket,
    topic: string,
    since: MessageId | undefined,
    active: () => boolean,
  ): Promise<void> {
    const budget = {
      bytes: this.#replayChunkBytes,
      sizeOf: (message: EngineMessage) => this.#prepare(message).payload.length,
    };
    let outcome: string | undefined;
    try {
      if (this.engine.shared) await this.engine.watch(topic);
      if (since === undefined) {
        // Nothing to replay: join where this node's delivery stands, in the
        // same step as the watch, so no publication can come before it.
        if (active()) this.#joinLive(socket, topic);
        return;
      }
      let cursor = since;
      let gapSentFor: string | undefined;
      while (active()) {
        const recovery = this.engine.recoverNow?.(topic, cursor) ??
          await this.engine.recover(topic, cursor);
        if (!active()) return;
        // The socket's replay budget is shared by all its topics: a part
        // goes out only while the socket holds at most half of it (checked
        // after the read, which other topics' parts may have overtaken).
        if (socket.bufferedAmount > this.#replayChunkBytes / 2) {
          await drained(socket, this.#replayChunkBytes / 2);
          continue;
        }
        const step = planReplay(recovery, cursor, this.engine.position(topic), budget);
        if (step.next === "epoch") {
          await pause(EPOCH_POLL_MS);
          continue;
        }
        if (step.gap !== undefined) {
          outcome ??= step.gap;
          if (gapSentFor !== formatId(cursor)) {
            gapSentFor = formatId(cursor);
            sendEvent(socket, { type: "gap", topic, since: gapSentFor, reason: step.gap });
          }
        }
        outcome ??= "complete";
        this.#replay(socket, step.messages);
        cursor = step.cursor;
        if (step.next === "join") return this.#joinLive(socket, topic);
        if (step.next === "drain") await drained(socket, this.#replayChunkBytes / 2);
        else if (step.next === "behind") await pause(DRAIN_POLL_MS);
      }
    } catch (error) {
      if (error instanceof WatchLimitError) {
        sendEvent(socket, { type: "error", message: error.message });
      } else if (socket.state === "open") {
        socket.close(CLOSE_CODE.TryAgainLater, "topics unavailable, try again");
      }
    } finally {
      if (since !== undefined && outcome !== undefined) this.#counts.resumes.add(outcome);
    }
  }

  /** Sends replayed messages; a frame compressed for them anew is accounted as kept. */
  #replay(socket: Socket, messages: readonly EngineMessage[]): void {
    for (const message of messages) {
      const prepared = this.#prepare(message);
      const before = prepared.byteLength;
      socket.sendPrepared(prepared);
      if (prepared.byteLength !== before) {
        this.engine.account?.(message, message.payload.length + prepared.byteLength);
      }
    }
    this.#counts.replayed += messages.length;
  }

  /** The socket joins the live stream of a topic, and is told so. */
  #joinLive(socket: Socket, topic: string): void {
    this.#resuming.get(socket)?.delete(topic);
    socket.subscribe(topic);
    this.#sendSubscribed(socket, topic);
  }

  #sendSubscribed(socket: Socket, topic: string): void {
    sendEvent(socket, { type: "subscribed", topic, last: formatId(this.engine.position(topic)) });
  }

  #resumingOf(socket: Socket): Map<string, symbol> {
    let set = this.#resuming.get(socket);
    if (set === undefined) {
      set = new Map();
      this.#resuming.set(socket, set);
    }
    return set;
  }

  /**
   * With a shared engine, stops watching a topic as soon as no socket of
   * this node is subscribed to it or joining it, so that watched topics
   * follow the subscribers and not what they once named.
   */
  #release(topic: string): void {
    if (!this.engine.shared || isInternalTopic(topic) || this.#joining.has(topic)) return;
    if (this.#subscribers(topic)[Symbol.iterator]().next().done) this.engine.unwatch(topic);
  }

  /** Releases a socket's topics when it closes (once per socket). */
  #track(socket: Socket): void {
    if (!this.engine.shared || this.#tracked.has(socket)) return;
    this.#tracked.add(socket);
    socket.closed.then(() => {
      for (const topic of socket.topics) this.#release(topic);
    });
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until a socket's outbox holds at most `bytes`, or it closed. */
async function drained(socket: Socket, bytes: number): Promise<void> {
  while (socket.state === "open" && socket.bufferedAmount > bytes) {
    await pause(DRAIN_POLL_MS);
  }
}
