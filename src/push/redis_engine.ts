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
 * - **A topic with no stream has a pin** (`<prefix>p:<topic>`), taken from
 *   the floor by the first read and kept for the window's ttl: its first
 *   message comes right after it, so every node tells the same place for a
 *   quiet topic. A stream's first message is marked *fresh*: a node whose
 *   delivery was continuous takes it as next whatever its seq (the pin may
 *   have expired and the floor moved), and a node that finds a topic still
 *   without a stream moves up to its pin, without a gap.
 * - **Idempotency keys** (`<prefix>i:<topic> <key>`, the window's ttl) are
 *   checked and set by the publish script, so two nodes racing agree.
 * - **Every call has a deadline** (`commandTimeout`), after which it fails
 *   with `EngineUnavailableError`; **watched topics are capped**
 *   (`maxWatched`) and released a grace (`watchGrace`) after `unwatch`.
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
 * (the Lua scripts and their replies), `watches.ts` (the watched topics,
 * their cap and grace), `failure.ts` (deadlines and errors) and `client.ts`
 * (the connections).
 *
 * @module
 */

import type {
  AppendedMessage,
  Engine,
  EngineEvent,
  EngineMessage,
  EngineRecovery,
  EngineSink,
} from "./engine.ts";
import { EngineUnavailableError } from "./engine_errors.ts";
import type { HistoryStats, MessageId } from "./history.ts";
import { type AppendOptions, validateIdempotencyKey } from "./idempotency.ts";
import type { Logger } from "../server/log.ts";
import { LabeledCounter, type Metric } from "../server/metrics.ts";
import { createClients, redactUrl, type RedisClient, type RedisRole } from "./redis/client.ts";
import { CommandGuard } from "./redis/failure.ts";
import { parseAnnouncement, RedisStreams } from "./redis/scripts.ts";
import { redisMetrics } from "./redis/metrics.ts";
import { type RedisEngineOptions, resolveRedisOptions } from "./redis/options.ts";
import { readRecovery, Sequencer } from "./redis/sequencer.ts";
import { type Watch, WatchSet } from "./redis/watches.ts";

export type { RedisEngineOptions } from "./redis/options.ts";

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
 * await a.append("news", "hello", { idempotencyKey: "greeting-1" });
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
  readonly #logger: Logger;
  readonly #guard: CommandGuard;
  readonly #streams: RedisStreams;
  readonly #watches: WatchSet;
  readonly #sizes = new WeakMap<EngineMessage, number>();
  readonly #gaps = new LabeledCounter("reason");
  #sink: EngineSink | undefined;
  #commands: RedisClient | undefined;
  #subscriber: RedisClient | undefined;
  #isErrorReply: (error: unknown) => boolean = () => false;
  #opening: Promise<void> | undefined;
  #closed = false;
  readonly #lostAt = new Map<RedisRole, number>();
  #reconnects = 0;
  #catchUps = 0;
  #holes = 0;

  /**
   * Makes an engine; {@linkcode RedisEngine.open} connects.
   *
   * @param options Where Redis is, the key prefix, the window and the limits.
   * @throws {TypeError} For a URL that is not `redis://` or `rediss://`.
   * @throws {RangeError} For a negative or fractional size, ttl, timeout, cap or batch.
   */
  constructor(options: RedisEngineOptions = {}) {
    const resolved = resolveRedisOptions(options);
    this.#url = resolved.url;
    this.#size = resolved.size;
    this.#ttl = resolved.ttl;
    this.#connectTimeout = resolved.connectTimeout;
    this.#batchSize = resolved.batchSize;
    this.#logger = resolved.logger;
    this.#guard = new CommandGuard({
      timeout: resolved.commandTimeout,
      isReply: (error) => this.#isErrorReply(error),
      logger: this.#logger,
    });
    this.#streams = new RedisStreams(() => this.#closed ? undefined : this.#commands, this.#guard, {
      prefix: resolved.prefix,
      size: this.#size,
      ttl: this.#ttl,
      batchSize: this.#batchSize,
    });
    this.#watches = new WatchSet({
      maxWatched: resolved.maxWatched,
      grace: resolved.watchGrace,
      release: (topic, watch) => this.#release(topic, watch),
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
      lost: (role, error) => this.#lost(role, error),
      reconnected: (role) => this.#reconnected(role),
    });
    this.#commands = clients.commands;
    this.#subscriber = clients.subscriber;
    this.#isErrorReply = clients.isErrorReply;
    try {
      await Promise.all([this.#commands.connect(), this.#subscriber.connect()]);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Publishes: one script checks the idempotency key, assigns the id,
   * appends to the topic's stream (trimmed to the window) and announces it
   * to every node.
   *
   * @param topic A valid topic name.
   * @param payload The message.
   * @param options Its idempotency key.
   * @returns The message with its id and Redis's time; for a key already
   * used, the first message, `repeated`.
   * @throws {TypeError} For an invalid idempotency key.
   * @throws {EngineUnavailableError} When Redis cannot be reached (nothing was
   * published) or did not answer within `commandTimeout` (`outcomeUnknown`:
   * it may have been).
   */
  async append(topic: string, payload: string, options?: AppendOptions): Promise<AppendedMessage> {
    const key = options?.idempotencyKey;
    if (key !== undefined) validateIdempotencyKey(key);
    const { message, fresh, repeated } = await this.#streams.publish(topic, payload, key);
    if (repeated) return { ...message, repeated: true };
    this.#receive(message, fresh);
    // The copy this node delivered, if Pub/Sub brought it first.
    const watch = this.#watches.get(topic);
    return watch?.sequencer.recent.findLast((m) =>
      m.id.seq === message.id.seq && m.id.epoch === message.id.epoch
    ) ?? message;
  }

  /**
   * Subscribes this node to a topic's channel, then reads its position: from
   * then on every message of the topic is delivered. A topic in its grace
   * after `unwatch` is wanted again at once.
   *
   * @param topic A topic name.
   * @throws {WatchLimitError} When `maxWatched` topics are wanted.
   * @throws {EngineUnavailableError} When Redis cannot be reached or did not answer in time.
   */
  watch(topic: string): Promise<void> {
    const existing = this.#watches.want(topic);
    if (existing !== undefined) return existing.ready;
    const watch: Watch = {
      ready: Promise.resolve(),
      sequencer: new Sequencer(topic, {
        sink: (event) => {
          // In its grace, a topic is kept in order but no longer delivered.
          if (this.#watches.wants(topic)) this.#emit(event);
        },
        schedule: (delay) => this.#schedule(topic, watch, delay),
      }, { size: this.#size }),
      timer: undefined,
      listener: (text) => {
        const announced = parseAnnouncement(topic, text);
        if (announced !== undefined) this.#receive(announced.message, announced.fresh);
      },
    };
    try {
      this.#watches.add(topic, watch);
    } catch (error) {
      return Promise.reject(error);
    }
    watch.ready = this.#start(topic, watch);
    return watch.ready;
  }

  /**
   * Stops delivering a topic's messages. No local subscriber needs it any
   * more: it stays subscribed (kept in order, not delivered) for
   * `watchGrace`, then is released; cheap, and safe to call at once.
   *
   * @param topic A topic name.
   */
  unwatch(topic: string): void {
    this.#watches.unwatch(topic);
  }

  /**
   * The topics this node watches (not those in their grace after `unwatch`).
   *
   * @returns The topic names.
   */
  watched(): IterableIterator<string> {
    return this.#watches.wanted();
  }

  /**
   * The id of the last message of a watched topic delivered to the sink (in
   * a grace after `unwatch`, put in order); for a topic with no message yet,
   * the one its first message will follow.
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
   * @throws {EngineUnavailableError} When Redis cannot be reached or did not answer in time.
   */
  async recover(topic: string, since: MessageId): Promise<EngineRecovery> {
    const watch = this.#watches.get(topic);
    // A watch's position answers for Redis only with Pub/Sub connected and
    // no catch-up read due (after a reconnect or a message from a new epoch,
    // the node may be behind until that read ends).
    const live = () => this.#subscriber?.isReady === true && this.#watches.get(topic) === watch;
    if (watch !== undefined && watch.sequencer.settled && live()) {
      const cutoff = this.#ttl === 0 ? -Infinity : Date.now() - this.#ttl;
      const recent = watch.sequencer.recover(since, { limit: this.#batchSize, cutoff });
      if (recent !== undefined) return recent;
    }
    const read = await this.#streams.read(topic, since);
    // A topic still without a message: a resume point from a node that
    // learnt its place later is this node's too.
    if (watch !== undefined && live()) watch.sequencer.advance(read);
    return readRecovery(since, read);
  }

  /**
   * Counts `bytes` for a message this node holds (in `stats()`), instead of
   * its payload's length.
   *
   * @param message A message the sink got.
   * @param bytes What this node keeps for it.
   */
  account(message: EngineMessage, bytes: number): void {
    if (bytes >= 0) this.#sizes.set(message, bytes);
  }

  /** What this node holds: watched topics (idle ones too) and their recent messages. */
  stats(): HistoryStats {
    let messages = 0;
    let bytes = 0;
    for (const { sequencer } of this.#watches.watches()) {
      messages += sequencer.recent.length;
      for (const message of sequencer.recent) {
        bytes += this.#sizes.get(message) ?? message.payload.length;
      }
    }
    return { topics: this.#watches.size, messages, bytes };
  }
  /** Connection state, watches, reconnects, catch-up reads and gaps, for `GET /metrics`. */
  metrics(): Metric[] {
    return redisMetrics({
      up: this.#commands?.isReady === true && this.#subscriber?.isReady === true,
      reconnects: this.#reconnects,
      watched: this.#watches.size,
      idle: this.#watches.idle,
      holes: this.#holes,
      catchUps: this.#catchUps,
      timeouts: this.#guard.timeouts,
      gaps: this.#gaps,
    });
  }

  /** Stops delivering and closes both connections. */
  close(): Promise<void> {
    this.#closed = true;
    this.#sink = undefined;
    for (const watch of this.#watches.watches()) clearTimeout(watch.timer);
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

  /** Subscribes, then reads the position: from then on, nothing is missed. */
  async #start(topic: string, watch: Watch): Promise<void> {
    const channel = this.#streams.channel(topic);
    const call = { what: `watch topic "${topic}"`, write: false };
    try {
      const subscriber = this.#closed ? undefined : this.#subscriber;
      await this.#guard.run(
        subscriber,
        call,
        (client) => client.subscribe(channel, watch.listener),
      );
      const read = await this.#streams.read(topic, undefined);
      if (this.#watches.get(topic) !== watch) {
        throw new EngineUnavailableError(`Cannot ${call.what}: it was let go meanwhile`);
      }
      watch.sequencer.start({ epoch: read.epoch, seq: read.last });
    } catch (error) {
      if (this.#watches.get(topic) === watch) {
        this.#watches.forget(topic, watch);
        this.#release(topic, watch);
      }
      throw error;
    }
  }

  /** Lets a topic go: no more catch-up reads, and unsubscribes its channel. */
  #release(topic: string, watch: Watch): void {
    clearTimeout(watch.timer);
    watch.timer = undefined;
    const subscriber = this.#closed ? undefined : this.#subscriber;
    subscriber?.unsubscribe(this.#streams.channel(topic), watch.listener).catch((error) => {
      // Redis is away: the subscription ended with the connection anyway.
      this.#logger.debug("redis-unsubscribe-failed", { topic, error });
    });
  }

  /** A message from Pub/Sub or from this node's own publish. */
  #receive(message: EngineMessage, fresh: boolean): void {
    const watch = this.#watches.get(message.topic);
    if (watch !== undefined && watch.sequencer.receive(message, fresh) === "hole") this.#holes++;
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
    } catch (error) {
      // Redis is away: try again with backoff (its return also triggers one).
      this.#logger.warn("redis-catch-up-failed", { topic, error });
      sequencer.failRead();
    }
  }

  /** A connection failed: live delivery may lose messages until it is back. */
  #lost(role: RedisRole, error: unknown): void {
    this.#lostAt.set(role, Date.now());
    this.#logger.warn("redis-connection-lost", { role, url: this.url, error });
    if (role !== "subscriber") return;
    for (const { sequencer } of this.#watches.watches()) sequencer.interrupt();
  }

  /** A connection came back: every watched topic catches up. */
  #reconnected(role: RedisRole): void {
    this.#reconnects++;
    const lostAt = this.#lostAt.get(role);
    this.#lostAt.delete(role);
    const fields = lostAt === undefined ? { role } : { role, down: Date.now() - lostAt };
    this.#logger.info("redis-connection-back", fields);
    if (role !== "subscriber") return;
    for (const { sequencer } of this.#watches.watches()) sequencer.recheck();
  }
}
