/**
 * The Redis engine: topics, ids and history shared by every pushwire node
 * connected to one Redis, so a client may publish on one node, subscribe on
 * another, and resume on a third.
 *
 * How it keeps its promise (one message, one id, every node, in order):
 *
 * - **A stream per topic** (`<prefix>s:<topic>`) holds the window. Its entry
 *   ids are `0-<seq>`, so `seq` counts the topic's messages by one, as in
 *   memory, and an id says exactly what came before it.
 * - **One Lua script publishes**: it reads (or creates) the dataset's epoch
 *   (`<prefix>epoch`), appends with `XADD … MAXLEN ~ <size> 0-*` (Redis assigns
 *   the next seq), stamps Redis's own clock, sets the stream to expire after
 *   the age bound, and `PUBLISH`es the message, with its id, on the topic's
 *   channel (`<prefix>c:<topic>`). A script runs alone, so channel order is
 *   stream order, and every id is assigned once.
 * - **Live delivery is Pub/Sub, checked against the stream.** Each node
 *   subscribes to the channels of the topics its clients watch; since seqs go
 *   up by one, a node sees a hole at once (a seq past the next one) and reads
 *   what is missing from the stream before delivering further. After its
 *   subscriber connection comes back (Redis restarted, network cut), a node
 *   reads every watched topic from where it stopped: what was published
 *   meanwhile is delivered, and what is no longer there becomes a gap event.
 * - **The epoch names the dataset.** A Redis that restarts empty loses the
 *   epoch key; the next script to run makes a new one, so an id from the lost
 *   dataset can never be mistaken for one of the new (a `restart` gap).
 * - **Topics that expire** leave no trace but `<prefix>floor`, the highest
 *   seq ever assigned: a topic's stream is created with its first seq above
 *   it, so an id is never reused within an epoch.
 *
 * Pub/Sub rather than `XREAD BLOCK`: one subscriber connection serves any
 * number of topics, Redis sends each message only to the nodes that watch
 * its topic, and watching a topic is one `SUBSCRIBE` instead of re-issuing a
 * blocking read over every topic. Its one weakness, losing messages while
 * disconnected, is covered by the stream and the consecutive seqs.
 *
 * The client is node-redis (`npm:redis`), which needs only network
 * permission once its maintenance notifications are off (they would read
 * environment variables).
 *
 * This module wires the pieces under `redis/`: `sequencer.ts` (each watched
 * topic's ordering, holes and catch-up reads, without I/O), `scripts.ts`
 * (the Lua scripts and their replies) and `client.ts` (the connections).
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import type { Engine, EngineEvent, EngineMessage, EngineRecovery, EngineSink } from "./engine.ts";
import type { HistoryStats, MessageId } from "./history.ts";
import { LabeledCounter, type Metric } from "../server/metrics.ts";
import {
  checkRedisUrl,
  createClients,
  DEFAULT_REDIS_URL,
  redactUrl,
  type RedisClient,
  type RedisRole,
} from "./redis/client.ts";
import { parseAnnouncement, RedisStreams } from "./redis/scripts.ts";
import { readRecovery, Sequencer } from "./redis/sequencer.ts";

/** Options for {@linkcode RedisEngine}. */
export interface RedisEngineOptions {
  /**
   * Where Redis is: `redis://[[user]:password@]host[:port][/db]`, or
   * `rediss://` for TLS.
   *
   * @default {"redis://127.0.0.1:6379/0"}
   */
  url?: string;
  /**
   * The prefix of every key and channel, so that several deployments can
   * share one Redis.
   *
   * @default {"pushwire:"}
   */
  prefix?: string;
  /**
   * Messages kept per topic. Every node of a deployment must use the same
   * window.
   *
   * @default {100}
   */
  size?: number;
  /**
   * Milliseconds a message is kept; `0` for no time bound (then idle topics'
   * streams stay in Redis until deleted).
   *
   * @default {3600000}
   */
  ttl?: number;
  /**
   * Milliseconds to keep trying to reach Redis at {@linkcode RedisEngine.open}
   * (with backoff) before giving up with an error.
   *
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Messages read from Redis at a time, for a replay or a catch-up.
   *
   * @default {1000}
   */
  batchSize?: number;
}

/**
 * The engine for several nodes: topics in Redis Streams, ids global per
 * topic, live delivery through Redis Pub/Sub with holes filled from the
 * streams (see the module documentation for how).
 *
 * Needs Redis 7 or later, and network permission only.
 *
 * @example Two nodes' engines on one Redis
 * ```ts ignore
 * import { RedisEngine } from "./redis_engine.ts";
 *
 * const a = new RedisEngine({ url: "redis://127.0.0.1:6379/0" });
 * const b = new RedisEngine({ url: "redis://127.0.0.1:6379/0" });
 * await a.open();
 * b.listen((event) => {
 *   if (event.type === "message") console.log(event.message.payload); // "hello"
 * });
 * await b.open();
 * await b.watch("news");
 * await a.append("news", "hello");
 * ```
 */
export class RedisEngine implements Engine {
  /** Always `"redis"`. */
  readonly kind = "redis" as const;
  /** Shared by every node on the same Redis and prefix. */
  readonly shared = true;
  readonly #url: string;
  readonly #size: number;
  readonly #ttl: number;
  readonly #connectTimeout: number;
  readonly #batchSize: number;
  readonly #streams: RedisStreams;
  readonly #watches = new Map<string, Watch>();
  readonly #gaps = new LabeledCounter("reason");
  #sink: EngineSink | undefined;
  #commands: RedisClient | undefined;
  #subscriber: RedisClient | undefined;
  #opening: Promise<void> | undefined;
  #closed = false;
  #reconnects = 0;
  #catchUps = 0;
  #holes = 0;

  /**
   * Makes an engine; {@linkcode RedisEngine.open} connects.
   *
   * @param options Where Redis is, the key prefix and the window.
   * @throws {TypeError} For a URL that is not `redis://` or `rediss://`.
   * @throws {RangeError} For a negative or fractional size, ttl, timeout or batch.
   */
  constructor(options: RedisEngineOptions = {}) {
    this.#url = options.url ?? DEFAULT_REDIS_URL;
    checkRedisUrl(this.#url);
    this.#size = whole(options.size ?? DEFAULTS.historySize, "size");
    this.#ttl = whole(options.ttl ?? DEFAULTS.historyTtl, "ttl");
    this.#connectTimeout = whole(
      options.connectTimeout ?? DEFAULTS.redisConnectTimeout,
      "connectTimeout",
    );
    this.#batchSize = Math.max(1, whole(options.batchSize ?? 1000, "batchSize"));
    this.#streams = new RedisStreams(() => this.#connected(this.#commands), {
      prefix: options.prefix ?? "pushwire:",
      size: this.#size,
      ttl: this.#ttl,
      batchSize: this.#batchSize,
    });
  }

  /** The Redis URL, without its password. */
  get url(): string {
    return redactUrl(this.#url);
  }

  /**
   * Connects two clients (commands, and Pub/Sub), retrying with backoff for
   * up to `connectTimeout`. Once connected, both reconnect by themselves,
   * for ever, with backoff up to 2 s; while they are away, publishing and
   * reading fail at once, and on their return every watched topic catches
   * up from the streams. Opening again returns the same promise.
   *
   * @throws {Error} When Redis cannot be reached within `connectTimeout`.
   */
  open(): Promise<void> {
    this.#opening ??= this.#open();
    return this.#opening;
  }

  /**
   * Names the receiver of the watched topics' messages and gaps.
   *
   * @param sink The receiver.
   */
  listen(sink: EngineSink): void {
    this.#sink = sink;
  }

  async #open(): Promise<void> {
    const clients = await createClients({
      url: this.#url,
      connectTimeout: this.#connectTimeout,
      closed: () => this.#closed,
      reconnected: (role) => this.#reconnected(role),
    });
    this.#commands = clients.commands;
    this.#subscriber = clients.subscriber;
    try {
      await Promise.all([this.#commands.connect(), this.#subscriber.connect()]);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Publishes: one script assigns the id, appends to the topic's stream
   * (trimmed to the window) and announces it to every node.
   *
   * @param topic A valid topic name.
   * @param payload The message.
   * @returns The message with its id and Redis's time.
   * @throws {Error} When Redis cannot be reached (nothing was published).
   */
  async append(topic: string, payload: string): Promise<EngineMessage> {
    const message = await this.#streams.publish(topic, payload);
    this.#receive(message);
    // The copy this node delivered, if Pub/Sub brought it first.
    const watch = this.#watches.get(topic);
    return watch?.sequencer.recent.findLast((m) =>
      m.id.seq === message.id.seq && m.id.epoch === message.id.epoch
    ) ?? message;
  }

  /**
   * Subscribes this node to a topic's channel, then reads its position: from
   * then on every message of the topic is delivered.
   *
   * @param topic A topic name.
   * @throws {Error} When Redis cannot be reached.
   */
  watch(topic: string): Promise<void> {
    const existing = this.#watches.get(topic);
    if (existing !== undefined) return existing.ready;
    const watch: Watch = {
      ready: Promise.resolve(),
      sequencer: new Sequencer(topic, {
        sink: (event) => this.#emit(event),
        schedule: (delay) => this.#schedule(topic, watch, delay),
      }, { size: this.#size }),
      timer: undefined,
      listener: (text) => {
        const message = parseAnnouncement(topic, text);
        if (message !== undefined) this.#receive(message);
      },
    };
    this.#watches.set(topic, watch);
    watch.ready = this.#start(topic, watch);
    return watch.ready;
  }

  /**
   * Unsubscribes this node from a topic's channel.
   *
   * @param topic A topic name.
   */
  unwatch(topic: string): void {
    const watch = this.#watches.get(topic);
    if (watch === undefined) return;
    this.#watches.delete(topic);
    clearTimeout(watch.timer);
    this.#subscriber?.unsubscribe(this.#streams.channel(topic), watch.listener).catch(() => {});
  }

  /**
   * The topics this node watches.
   *
   * @returns The topic names.
   */
  watched(): IterableIterator<string> {
    return this.#watches.keys();
  }

  /**
   * The id of the last message of a watched topic delivered to the sink.
   *
   * @param topic A watched topic, once `watch` resolved.
   * @returns The id.
   * @throws {TypeError} For a topic not watched (or not yet).
   */
  position(topic: string): MessageId {
    const watch = this.#watches.get(topic);
    if (watch === undefined || !watch.sequencer.known) {
      throw new TypeError(`Cannot tell the position of "${topic}": it is not watched`);
    }
    return watch.sequencer.position;
  }

  /**
   * What a client that saw `since` last missed: from this node's recent
   * messages when they reach back far enough, otherwise from the stream.
   * At most `batchSize` messages come at once; ask again from the last.
   *
   * @param topic A topic name.
   * @param since The last id the client saw.
   * @returns The messages after it, or a gap and what the window holds.
   * @throws {Error} When Redis cannot be reached.
   */
  async recover(topic: string, since: MessageId): Promise<EngineRecovery> {
    const watch = this.#watches.get(topic);
    // A watch's position answers for Redis only with Pub/Sub connected and
    // no catch-up read due (after a reconnect or a message from a new epoch,
    // the node may be behind until that read ends).
    if (watch !== undefined && watch.sequencer.settled && this.#subscriber?.isReady === true) {
      const cutoff = this.#ttl === 0 ? -Infinity : Date.now() - this.#ttl;
      const recent = watch.sequencer.recover(since, { limit: this.#batchSize, cutoff });
      if (recent !== undefined) return recent;
    }
    return readRecovery(since, await this.#streams.read(topic, since));
  }

  /** What this node holds: watched topics and their recent messages. */
  stats(): HistoryStats {
    let messages = 0;
    let bytes = 0;
    for (const { sequencer } of this.#watches.values()) {
      messages += sequencer.recent.length;
      for (const message of sequencer.recent) bytes += message.payload.length;
    }
    return { topics: this.#watches.size, messages, bytes };
  }

  /** Connection state, reconnects, catch-up reads and gaps, for `GET /metrics`. */
  metrics(): Metric[] {
    const up = this.#commands?.isReady === true && this.#subscriber?.isReady === true;
    return [
      {
        name: "pushwire_redis_up",
        help: "Whether both Redis connections (commands, Pub/Sub) are ready.",
        type: "gauge",
        samples: [{ value: up ? 1 : 0 }],
      },
      {
        name: "pushwire_redis_reconnects_total",
        help: "Times a Redis connection came back after it was lost.",
        type: "counter",
        samples: [{ value: this.#reconnects }],
      },
      {
        name: "pushwire_redis_watched_topics",
        help: "Topics this node receives from Redis (those its clients subscribe to).",
        type: "gauge",
        samples: [{ value: this.#watches.size }],
      },
      {
        name: "pushwire_redis_holes_total",
        help: "Messages that arrived ahead of their turn (a hole to fill from the stream).",
        type: "counter",
        samples: [{ value: this.#holes }],
      },
      {
        name: "pushwire_redis_catchups_total",
        help: "Reads of a topic's stream to fill a hole or catch up after a reconnect.",
        type: "counter",
        samples: [{ value: this.#catchUps }],
      },
      {
        name: "pushwire_redis_gaps_total",
        help:
          "Gaps in live delivery, by reason: restart (Redis lost its data), expired or unknown (Redis lost its latest writes).",
        type: "counter",
        samples: this.#gaps.samples(),
      },
    ];
  }

  /** Stops delivering and closes both connections. */
  close(): Promise<void> {
    this.#closed = true;
    this.#sink = undefined;
    for (const watch of this.#watches.values()) clearTimeout(watch.timer);
    this.#watches.clear();
    const clients = [this.#commands, this.#subscriber];
    this.#commands = undefined;
    this.#subscriber = undefined;
    for (const client of clients) {
      if (client === undefined) continue;
      try {
        if (client.isOpen) client.destroy();
      } catch {
        // Closed already.
      }
    }
    return Promise.resolve();
  }

  async #start(topic: string, watch: Watch): Promise<void> {
    try {
      const subscriber = this.#connected(this.#subscriber);
      await subscriber.subscribe(this.#streams.channel(topic), watch.listener);
      const read = await this.#streams.read(topic, undefined);
      if (this.#watches.get(topic) !== watch) return;
      watch.sequencer.start({ epoch: read.epoch, seq: read.last });
    } catch (error) {
      if (this.#watches.get(topic) === watch) this.unwatch(topic);
      throw error;
    }
  }

  /** A message from Pub/Sub or from this node's own publish. */
  #receive(message: EngineMessage): void {
    const watch = this.#watches.get(message.topic);
    if (watch !== undefined && watch.sequencer.receive(message) === "hole") this.#holes++;
  }

  #emit(event: EngineEvent): void {
    if (event.type === "gap") this.#gaps.add(event.reason);
    this.#sink?.(event);
  }

  /** Arms a watch's catch-up timer, as its sequencer asks. */
  #schedule(topic: string, watch: Watch, delay: number): void {
    if (this.#closed || this.#watches.get(topic) !== watch) return;
    clearTimeout(watch.timer);
    watch.timer = setTimeout(() => {
      watch.timer = undefined;
      this.#catchUp(topic, watch);
    }, delay);
  }

  /** Reads what this node missed of a topic; its sequencer delivers it, or the gap. */
  async #catchUp(topic: string, watch: Watch): Promise<void> {
    const { sequencer } = watch;
    if (this.#watches.get(topic) !== watch || !sequencer.beginRead()) return;
    this.#catchUps++;
    try {
      while (true) {
        const since = sequencer.position;
        const read = await this.#streams.read(topic, since);
        if (this.#watches.get(topic) !== watch) return;
        const behind = sequencer.applyRead(since, read);
        if (read.messages.length < this.#batchSize || !behind) break;
      }
      sequencer.endRead();
    } catch {
      // Redis is away: try again with backoff (its return also triggers one).
      sequencer.failRead();
    }
  }

  /** A connection came back: every watched topic catches up. */
  #reconnected(role: RedisRole): void {
    this.#reconnects++;
    if (role !== "subscriber") return;
    for (const { sequencer } of this.#watches.values()) sequencer.recheck();
  }

  #connected(client: RedisClient | undefined): RedisClient {
    if (client === undefined || this.#closed) {
      throw new Error("Cannot use the Redis engine: it is not open");
    }
    return client;
  }
}

/** The state of one watched topic on this node. */
interface Watch {
  /** Resolves once the position is known. */
  ready: Promise<void>;
  /** Ordering, holes and catch-up reads. */
  readonly sequencer: Sequencer;
  /** The timer of a scheduled catch-up read. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The Pub/Sub listener, to unsubscribe it. */
  readonly listener: (message: string) => void;
}

function whole(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Invalid Redis engine ${name}: ${value} is not a whole number of 0 or more`,
    );
  }
  return value;
}
