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
 * @module
 */

import type { Engine, EngineMessage, EngineRecovery, EngineSink } from "./engine.ts";
import { type GapReason, type HistoryStats, type MessageId, newEpoch } from "./history.ts";
import { LabeledCounter, type Metric } from "../server/metrics.ts";

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
 * What the engine uses of a node-redis client. The client is imported when
 * the engine opens, so that importing this module (or `mod.ts`) loads no npm
 * package.
 */
interface Client {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: "error" | "ready", listener: () => void): unknown;
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<void>;
}

/** The state of one watched topic on this node. */
interface Watch {
  /** Resolves once the position is known. */
  ready: Promise<void>;
  /** Whether the position is known. */
  known: boolean;
  /** The epoch of the position. */
  epoch: string;
  /** The seq of the last message delivered to the sink. */
  last: number;
  /** Messages that came ahead of their turn, by seq. */
  held: Map<number, EngineMessage>;
  /** The last messages delivered, oldest first, for quick resumes. */
  recent: EngineMessage[];
  /** A catch-up read is under way. */
  fetching: boolean;
  /** A catch-up read is due again once the current one ends. */
  again: boolean;
  /** The timer of a scheduled catch-up read. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Failed catch-up reads in a row, for the backoff. */
  failures: number;
  /** The Pub/Sub listener, to unsubscribe it. */
  listener: (message: string) => void;
}

/** What the read script answers. */
interface StreamRead {
  epoch: string;
  last: number;
  messages: EngineMessage[];
}

const DEFAULT_URL = "redis://127.0.0.1:6379/0";
/** How long a hole may wait for Pub/Sub to fill it before the stream is read. */
const HOLE_WAIT_MS = 50;
const MAX_HELD = 10_000;
const MAX_BACKOFF_MS = 2000;

// Every script starts by reading the dataset's epoch, or making it.
const EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local clock = redis.call('TIME')
local now = clock[1] .. string.format('%03d', math.floor(tonumber(clock[2]) / 1000))
`;

/**
 * KEYS: epoch, floor, stream. ARGV: candidate epoch, size, ttl (ms), channel,
 * payload. Returns { epoch, seq, time }.
 */
const PUBLISH_SCRIPT = EPOCH + `
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
local id
if redis.call('EXISTS', KEYS[3]) == 1 then
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-*', 't', now, 'p', ARGV[5])
else
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-' .. string.format('%d', floor + 1),
    't', now, 'p', ARGV[5])
end
local seq = string.sub(id, 3)
if tonumber(seq) > floor then redis.call('SET', KEYS[2], seq) end
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
redis.call('PUBLISH', ARGV[4], epoch .. ' ' .. seq .. ' ' .. now .. ' ' .. ARGV[5])
return { epoch, seq, now }
`;

/**
 * KEYS: epoch, floor, stream. ARGV: candidate epoch, since epoch, since seq
 * (-1: the position only), size, ttl (ms), batch. Returns { epoch, last,
 * seq1, time1, payload1, seq2, … }: the window's messages after `since` (or
 * from its start when `since` is from another epoch or ahead of the topic),
 * at most `batch` of them, none older than the ttl.
 */
const READ_SCRIPT = EPOCH + `
local last
if redis.call('EXISTS', KEYS[3]) == 1 then
  local top = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #top > 0 then
    last = tonumber(string.sub(top[1][1], 3))
  else
    local info = redis.call('XINFO', 'STREAM', KEYS[3])
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then last = tonumber(string.sub(info[i + 1], 3)) end
    end
  end
else
  last = tonumber(redis.call('GET', KEYS[2]) or '0')
end
local reply = { epoch, string.format('%d', last) }
local since = tonumber(ARGV[3])
if since < 0 then return reply end
local size = tonumber(ARGV[4])
local start = last - size + 1
if ARGV[2] == epoch and since <= last and since + 1 > start then start = since + 1 end
if start < 1 then start = 1 end
local cutoff = -1
if tonumber(ARGV[5]) > 0 then cutoff = tonumber(now) - tonumber(ARGV[5]) end
local batch = tonumber(ARGV[6])
local count = 0
while count < batch and start <= last do
  local entries = redis.call('XRANGE', KEYS[3], '0-' .. string.format('%d', start), '+',
    'COUNT', batch)
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    local time, payload
    for i = 1, #fields, 2 do
      if fields[i] == 't' then time = fields[i + 1] elseif fields[i] == 'p' then payload = fields[i + 1] end
    end
    if count < batch and tonumber(time) > cutoff then
      reply[#reply + 1] = string.sub(entry[1], 3)
      reply[#reply + 1] = time
      reply[#reply + 1] = payload
      count = count + 1
    end
  end
  start = tonumber(string.sub(entries[#entries][1], 3)) + 1
end
return reply
`;

/** A script and its SHA-1, for EVALSHA with an EVAL fallback. */
class Script {
  readonly source: string;
  #sha: Promise<string> | undefined;

  constructor(source: string) {
    this.source = source;
  }

  sha(): Promise<string> {
    this.#sha ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.source))
      .then((digest) =>
        Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("")
      );
    return this.#sha;
  }
}

const PUBLISH = new Script(PUBLISH_SCRIPT);
const READ = new Script(READ_SCRIPT);

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
 * await a.publish("news", "hello");
 * ```
 */
export class RedisEngine implements Engine {
  /** Always `"redis"`. */
  readonly kind = "redis" as const;
  /** Shared by every node on the same Redis and prefix. */
  readonly shared = true;
  readonly #url: string;
  readonly #prefix: string;
  readonly #size: number;
  readonly #ttl: number;
  readonly #connectTimeout: number;
  readonly #batchSize: number;
  readonly #watches = new Map<string, Watch>();
  readonly #gaps = new LabeledCounter("reason");
  #sink: EngineSink | undefined;
  #commands: Client | undefined;
  #subscriber: Client | undefined;
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
    this.#url = options.url ?? DEFAULT_URL;
    let protocol: string;
    try {
      protocol = new URL(this.#url).protocol;
    } catch {
      throw new TypeError(`Invalid Redis URL "${redact(this.#url)}"`);
    }
    if (protocol !== "redis:" && protocol !== "rediss:") {
      throw new TypeError(
        `Invalid Redis URL "${redact(this.#url)}": use redis://host:port/db or rediss://`,
      );
    }
    this.#prefix = options.prefix ?? "pushwire:";
    this.#size = whole(options.size ?? 100, "size");
    this.#ttl = whole(options.ttl ?? 3_600_000, "ttl");
    this.#connectTimeout = whole(options.connectTimeout ?? 10_000, "connectTimeout");
    this.#batchSize = Math.max(1, whole(options.batchSize ?? 1000, "batchSize"));
  }

  /** The Redis URL, without its password. */
  get url(): string {
    return redact(this.#url);
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
    const started = Date.now();
    const { createClient } = await import("redis");
    const make = (role: string) => {
      let connected = false;
      const client: Client = createClient({
        url: this.#url,
        // Maintenance notifications read environment variables.
        maintNotifications: "disabled",
        // Fail at once while disconnected, rather than queue.
        disableOfflineQueue: true,
        socket: {
          connectTimeout: Math.max(1000, Math.min(this.#connectTimeout, 5000)),
          reconnectStrategy: (retries: number, cause: Error) => {
            if (this.#closed) return false;
            if (!connected && Date.now() - started >= this.#connectTimeout) {
              return new Error(
                `Cannot connect to Redis at ${this.url} (${role}) within ${this.#connectTimeout} ms: ${cause.message}`,
              );
            }
            return backoff(retries);
          },
        },
      });
      // Errors are reported through reconnecting, failed calls and metrics;
      // without a listener they would be thrown.
      client.on("error", () => {});
      client.on("ready", () => {
        if (connected) this.#reconnected(role);
        connected = true;
      });
      return client;
    };
    this.#commands = make("commands");
    this.#subscriber = make("subscriber");
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
  async publish(topic: string, payload: string): Promise<EngineMessage> {
    const reply = await this.#run(PUBLISH, topic, [
      String(this.#size),
      String(this.#ttl),
      this.#channel(topic),
      payload,
    ]) as string[];
    const message: EngineMessage = {
      topic,
      id: { epoch: String(reply[0]), seq: Number(reply[1]) },
      time: Number(reply[2]),
      payload,
    };
    this.#receive(message);
    // The copy this node delivered, if Pub/Sub brought it first.
    const watch = this.#watches.get(topic);
    return watch?.recent.findLast((m) =>
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
      known: false,
      epoch: "",
      last: 0,
      held: new Map(),
      recent: [],
      fetching: false,
      again: false,
      timer: undefined,
      failures: 0,
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
    this.#subscriber?.unsubscribe(this.#channel(topic), watch.listener).catch(() => {});
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
    if (watch === undefined || !watch.known) {
      throw new TypeError(`Cannot tell the position of "${topic}": it is not watched`);
    }
    return { epoch: watch.epoch, seq: watch.last };
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
    if (
      watch !== undefined && this.#current(watch) && since.epoch === watch.epoch &&
      since.seq <= watch.last
    ) {
      const first = watch.recent[0];
      const last = { epoch: watch.epoch, seq: watch.last };
      if (since.seq === watch.last) return { kind: "complete", messages: [], last };
      if (first !== undefined && first.id.seq <= since.seq + 1 && this.#fresh(first)) {
        const from = since.seq + 1 - first.id.seq;
        return {
          kind: "complete",
          messages: watch.recent.slice(from, from + this.#batchSize),
          last,
        };
      }
    }
    const read = await this.#read(topic, since);
    return judge(read, since);
  }

  /**
   * Whether a watch's position can answer for Redis: known, with Pub/Sub
   * connected and no catch-up read due (after a reconnect or a message from
   * a new epoch, the node may be behind until that read ends).
   */
  #current(watch: Watch): boolean {
    return watch.known && this.#subscriber?.isReady === true && !watch.fetching &&
      watch.timer === undefined;
  }

  /** What this node holds: watched topics and their recent messages. */
  stats(): HistoryStats {
    let messages = 0;
    let bytes = 0;
    for (const watch of this.#watches.values()) {
      messages += watch.recent.length;
      for (const message of watch.recent) bytes += message.payload.length;
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
        help: "Gaps in live delivery, by reason: restart (Redis lost its data) or expired.",
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
      await subscriber.subscribe(this.#channel(topic), watch.listener);
      const read = await this.#read(topic, undefined);
      if (this.#watches.get(topic) !== watch) return;
      watch.epoch = read.epoch;
      watch.last = read.last;
      watch.known = true;
      this.#drain(topic, watch);
    } catch (error) {
      if (this.#watches.get(topic) === watch) this.unwatch(topic);
      throw error;
    }
  }

  /** A message from Pub/Sub or from this node's own publish. */
  #receive(message: EngineMessage): void {
    const watch = this.#watches.get(message.topic);
    if (watch === undefined) return;
    if (!watch.known) {
      this.#hold(message.topic, watch, message);
      return;
    }
    if (message.id.epoch !== watch.epoch) {
      // A new dataset: the stream tells what the window holds.
      this.#schedule(message.topic, watch, 0);
      return;
    }
    const seq = message.id.seq;
    if (seq <= watch.last) return;
    if (seq === watch.last + 1) {
      this.#deliver(watch, message);
      this.#drain(message.topic, watch);
      return;
    }
    this.#holes++;
    this.#hold(message.topic, watch, message);
    this.#schedule(message.topic, watch, HOLE_WAIT_MS);
  }

  #hold(topic: string, watch: Watch, message: EngineMessage): void {
    if (watch.held.size >= MAX_HELD) {
      // Too far behind: the stream has them all.
      watch.held.clear();
      this.#schedule(topic, watch, 0);
    }
    watch.held.set(message.id.seq, message);
  }

  /** Delivers held messages that are next; drops those already delivered. */
  #drain(topic: string, watch: Watch): void {
    for (const [seq, message] of watch.held) {
      if (message.id.epoch !== watch.epoch || seq <= watch.last) watch.held.delete(seq);
    }
    let next = watch.held.get(watch.last + 1);
    while (next !== undefined) {
      watch.held.delete(next.id.seq);
      this.#deliver(watch, next);
      next = watch.held.get(watch.last + 1);
    }
    if (watch.held.size > 0) this.#schedule(topic, watch, HOLE_WAIT_MS);
  }

  #deliver(watch: Watch, message: EngineMessage): void {
    watch.last = message.id.seq;
    if (this.#size > 0) {
      watch.recent.push(message);
      if (watch.recent.length > this.#size) {
        watch.recent.splice(0, watch.recent.length - this.#size);
      }
    }
    this.#sink?.({ type: "message", message });
  }

  #gap(topic: string, watch: Watch, reason: GapReason): void {
    this.#gaps.add(reason);
    watch.recent = [];
    this.#sink?.({ type: "gap", topic, since: { epoch: watch.epoch, seq: watch.last }, reason });
  }

  /** Schedules a catch-up read of a topic's stream, unless one is due sooner. */
  #schedule(topic: string, watch: Watch, delay: number): void {
    if (this.#closed || this.#watches.get(topic) !== watch) return;
    if (watch.fetching) {
      watch.again = true;
      return;
    }
    if (watch.timer !== undefined) {
      if (delay > 0) return;
      clearTimeout(watch.timer);
    }
    watch.timer = setTimeout(() => {
      watch.timer = undefined;
      this.#catchUp(topic, watch);
    }, delay);
  }

  /** Reads what this node missed of a topic and delivers it, or the gap. */
  async #catchUp(topic: string, watch: Watch): Promise<void> {
    if (this.#watches.get(topic) !== watch || !watch.known) return;
    watch.fetching = true;
    watch.again = false;
    this.#catchUps++;
    try {
      while (true) {
        const asked = watch.last;
        const read = await this.#read(topic, { epoch: watch.epoch, seq: asked });
        if (this.#watches.get(topic) !== watch) return;
        // Pub/Sub may have delivered more meanwhile: watch.last >= asked.
        const first = read.messages[0];
        if (read.epoch !== watch.epoch) {
          this.#gap(topic, watch, "restart");
          watch.epoch = read.epoch;
          watch.last = first === undefined ? read.last : first.id.seq - 1;
        } else if (read.last < asked) {
          // Redis kept the epoch but lost its latest writes.
          this.#gap(topic, watch, "unknown");
          watch.last = first === undefined ? read.last : first.id.seq - 1;
        } else if (
          (first !== undefined && first.id.seq > watch.last + 1) ||
          (first === undefined && read.last > watch.last)
        ) {
          this.#gap(topic, watch, "expired");
          watch.last = first === undefined ? read.last : first.id.seq - 1;
        }
        for (const message of read.messages) {
          if (message.id.seq === watch.last + 1) this.#deliver(watch, message);
        }
        if (read.messages.length < this.#batchSize || watch.last >= read.last) break;
      }
      watch.failures = 0;
      watch.fetching = false;
      this.#drain(topic, watch);
    } catch {
      // Redis is away: try again with backoff (its return also triggers one).
      watch.fetching = false;
      watch.again = false;
      this.#schedule(topic, watch, backoff(++watch.failures));
      return;
    }
    if (watch.again) this.#schedule(topic, watch, 0);
  }

  /** A connection came back: every watched topic catches up. */
  #reconnected(role: string): void {
    this.#reconnects++;
    if (role !== "subscriber") return;
    for (const [topic, watch] of this.#watches) {
      if (watch.known) this.#schedule(topic, watch, 0);
    }
  }

  async #read(topic: string, since: MessageId | undefined): Promise<StreamRead> {
    const reply = await this.#run(READ, topic, [
      since?.epoch ?? "",
      String(since?.seq ?? -1),
      String(this.#size),
      String(this.#ttl),
      String(this.#batchSize),
    ]) as string[];
    const messages: EngineMessage[] = [];
    const epoch = String(reply[0]);
    for (let i = 2; i + 2 < reply.length; i += 3) {
      messages.push({
        topic,
        id: { epoch, seq: Number(reply[i]) },
        time: Number(reply[i + 1]),
        payload: String(reply[i + 2]),
      });
    }
    return { epoch, last: Number(reply[1]), messages };
  }

  /** Runs a script by its SHA-1, loading it when Redis does not know it. */
  async #run(script: Script, topic: string, args: string[]): Promise<unknown> {
    const client = this.#connected(this.#commands);
    const keys = [`${this.#prefix}epoch`, `${this.#prefix}floor`, `${this.#prefix}s:${topic}`];
    const rest = [String(keys.length), ...keys, newEpoch(), ...args];
    try {
      return await client.sendCommand(["EVALSHA", await script.sha(), ...rest]);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return await client.sendCommand(["EVAL", script.source, ...rest]);
    }
  }

  #connected(client: Client | undefined): Client {
    if (client === undefined || this.#closed) {
      throw new Error("Cannot use the Redis engine: it is not open");
    }
    return client;
  }

  #channel(topic: string): string {
    return `${this.#prefix}c:${topic}`;
  }

  #fresh(message: EngineMessage): boolean {
    return this.#ttl === 0 || message.time > Date.now() - this.#ttl;
  }
}

/** Reads `<epoch> <seq> <time> <payload>`; `undefined` when malformed. */
function parseAnnouncement(topic: string, text: string): EngineMessage | undefined {
  const a = text.indexOf(" ");
  const b = text.indexOf(" ", a + 1);
  const c = text.indexOf(" ", b + 1);
  if (a <= 0 || b <= a || c <= b) return undefined;
  const seq = Number(text.slice(a + 1, b));
  const time = Number(text.slice(b + 1, c));
  if (!Number.isSafeInteger(seq) || !Number.isFinite(time)) return undefined;
  return { topic, id: { epoch: text.slice(0, a), seq }, time, payload: text.slice(c + 1) };
}

/** Complete or a gap, from what the read script answered for `since`. */
function judge(read: StreamRead, since: MessageId): EngineRecovery {
  const { messages } = read;
  const last = { epoch: read.epoch, seq: read.last };
  if (since.epoch !== read.epoch) return { kind: "gap", reason: "restart", messages, last };
  if (since.seq > read.last) return { kind: "gap", reason: "unknown", messages, last };
  if (since.seq === read.last) return { kind: "complete", messages: [], last };
  const first = messages[0];
  if (first === undefined || first.id.seq !== since.seq + 1) {
    return { kind: "gap", reason: "expired", messages, last };
  }
  return { kind: "complete", messages, last };
}

/** Exponential backoff from 50 ms to 2 s, with jitter. */
function backoff(attempt: number): number {
  const base = Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(attempt, 6));
  return Math.round(base / 2 + Math.random() * base / 2);
}

function whole(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Invalid Redis engine ${name}: ${value} is not a whole number of 0 or more`,
    );
  }
  return value;
}

/** The URL without its password. */
function redact(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, "$1***@");
}
