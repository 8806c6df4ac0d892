/**
 * Presence shared between nodes through Redis (7.0 or later), on its own
 * connection: a topic's entries are a sorted set, each member scored by when
 * it expires (Redis's clock). Every node refreshes its own entries and its
 * heartbeat every `refresh` ms, so a dead node's entries vanish from
 * {@linkcode RedisPresence.list} within `ttl`; the node that finds them
 * expired removes them and hands them to its `listen` receiver, once.
 *
 * ```text
 * <prefix>presence:<topic>  ZSET  {"node","client","user","info"} → expiry (ms)
 * <prefix>nodes             ZSET  node id → expiry (ms): the live nodes
 * ```
 *
 * Both keys carry a `PEXPIRE` of `ttl` renewed by each refresh, so a key
 * that no live node refreshes is dropped by Redis itself. Every call has a
 * deadline (`commandTimeout`), after which it fails with
 * `EngineUnavailableError`. Every node of a deployment must use the same
 * `ttl` and `prefix`.
 *
 * @example
 * ```ts ignore
 * import { RedisPresence } from "./presence.ts";
 *
 * const presence = new RedisPresence({ url: "redis://127.0.0.1:6379/0" });
 * await presence.open();
 * await presence.add("room:1", { client: `${presence.node}.7`, user: "ada" });
 * console.log(await presence.list("room:1")); // entries of every node
 * await presence.close(); // removes this node's entries
 * ```
 *
 * @module
 */

import { DEFAULTS } from "../../defaults.ts";
import { type Logger, SILENT } from "../../server/log.ts";
import {
  checkPresenceEntry,
  newNodeId,
  nodeEntryJson,
  parseNodeEntry,
  positiveInteger,
  PRESENCE_LIST_LIMIT,
  type PresenceEntry,
  type PresenceExpiry,
  type PresenceStore,
} from "../presence.ts";
import {
  checkRedisUrl,
  createClients,
  DEFAULT_REDIS_URL,
  redactUrl,
  type RedisClient,
} from "./client.ts";
import { CommandGuard, type GuardedCall } from "./failure.ts";
import { Script } from "./scripts.ts";

/** How long a node's entries live without a refresh, by default (ms). */
export const PRESENCE_TTL = 15_000;

/** Members refreshed by one script call at most. */
const REFRESH_BATCH = 256;
/** Expired members one refresh removes per topic at most (the rest at the next). */
const SWEEP_BATCH = 1000;
/** Live nodes listed at most. */
const MAX_NODES = 10_000;

// Redis's clock in ms, and a key's expiry raised to at least the ttl.
const script = (body: string) =>
  new Script(`
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
${body}`);

/**
 * KEYS: the nodes' set, then topics' sets. ARGV: ttl, node, then for each
 * topic its member count and members. Renews the node and the members,
 * removes expired ones; returns each topic's expired members.
 */
const REFRESH = script(`
local ttl = tonumber(ARGV[1])
local expiry = string.format('%d', now + ttl)
local cutoff = string.format('%d', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
redis.call('ZADD', KEYS[1], expiry, ARGV[2])
keep(KEYS[1], ttl)
local expired = {}
local at = 3
for i = 2, #KEYS do
  local gone = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', cutoff, 'LIMIT', 0, ${SWEEP_BATCH})
  if #gone > 0 then redis.call('ZREM', KEYS[i], unpack(gone)) end
  expired[i - 1] = gone
  local count = tonumber(ARGV[at])
  local args = {}
  for j = 1, count do args[2 * j - 1], args[2 * j] = expiry, ARGV[at + j] end
  if count > 0 then redis.call('ZADD', KEYS[i], unpack(args)) end
  keep(KEYS[i], ttl)
  at = at + count + 1
end
return expired
`);

/** KEYS: a set. ARGV: the most members. Returns the members not expired. */
const LIVE = script(`
return redis.call('ZRANGE', KEYS[1], '(' .. string.format('%d', now), '+inf', 'BYSCORE',
  'LIMIT', 0, ARGV[1])
`);

/** Options for {@linkcode RedisPresence}. */
export interface RedisPresenceOptions {
  /**
   * Where Redis is: `redis://[[user]:password@]host[:port][/db]`, or
   * `rediss://` for TLS.
   *
   * @default {"redis://127.0.0.1:6379/0"}
   */
  url?: string;
  /**
   * The prefix of every key (the engine's `prefix`).
   *
   * @default {"pushwire:"}
   */
  prefix?: string;
  /**
   * Milliseconds a node's entries (and its heartbeat) live without a
   * refresh: a node that dies is gone from `list` and `nodes` within it.
   *
   * @default {15000}
   */
  ttl?: number;
  /**
   * Milliseconds between two refreshes of this node's entries; less than
   * `ttl`.
   *
   * @default {ttl / 3}
   */
  refresh?: number;
  /**
   * Milliseconds a call may take before it fails with `EngineUnavailableError`.
   *
   * @default {2000}
   */
  commandTimeout?: number;
  /**
   * Milliseconds to keep trying to reach Redis at `open` (with backoff).
   *
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * The most entries `list` answers for one topic.
   *
   * @default {1000}
   */
  maxList?: number;
  /**
   * This node's id.
   *
   * @default {a new one from `newNodeId`}
   */
  node?: string;
  /**
   * Where failed refreshes and lost connections are logged.
   *
   * @default {SILENT}
   */
  logger?: Logger;
}

/**
 * Presence kept in Redis, shared by every node, with expiry: see the module
 * documentation for the keys. Entries added while Redis cannot be reached
 * are kept here and written by the next refresh.
 */
export class RedisPresence implements PresenceStore {
  /** This node's id. */
  readonly node: string;
  readonly #url: string;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #refreshEvery: number;
  readonly #connectTimeout: number;
  readonly #maxList: number;
  readonly #logger: Logger;
  readonly #guard: CommandGuard;
  // This node's entries: topic → client → the member stored.
  readonly #own = new Map<string, Map<string, string>>();
  #client: RedisClient | undefined;
  #opening: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing: Promise<void> | undefined;
  #expired: PresenceExpiry | undefined;
  #isErrorReply: (error: unknown) => boolean = () => false;
  #closed = false;

  /**
   * Makes a store, not yet connected.
   *
   * @param options Where Redis is, the expiry and its refresh, the deadlines.
   * @throws {TypeError} For a URL that is not `redis://` or `rediss://`.
   * @throws {RangeError} For a ttl, refresh or timeout that is not a
   * positive integer, or a refresh not below the ttl.
   */
  constructor(options: RedisPresenceOptions = {}) {
    this.#url = options.url ?? DEFAULT_REDIS_URL;
    checkRedisUrl(this.#url);
    this.node = options.node ?? newNodeId();
    this.#prefix = options.prefix ?? "pushwire:";
    const { ttl = PRESENCE_TTL, commandTimeout = DEFAULTS.redisCommandTimeout } = options;
    this.#ttl = positiveInteger(ttl, "ttl");
    this.#refreshEvery = positiveInteger(options.refresh ?? Math.ceil(ttl / 3), "refresh");
    if (this.#refreshEvery >= ttl) throw new RangeError("Invalid presence refresh: not below ttl");
    const { connectTimeout = DEFAULTS.redisConnectTimeout } = options;
    this.#connectTimeout = positiveInteger(connectTimeout, "connectTimeout");
    this.#maxList = positiveInteger(options.maxList ?? PRESENCE_LIST_LIMIT, "maxList");
    this.#logger = options.logger ?? SILENT;
    this.#guard = new CommandGuard({
      timeout: positiveInteger(commandTimeout, "commandTimeout"),
      isReply: (error) => this.#isErrorReply(error),
      logger: this.#logger,
    });
  }

  /**
   * Connects (keeping on trying for `connectTimeout`), writes this node's
   * heartbeat, and starts refreshing. Opening again returns the same
   * promise.
   *
   * @returns Resolves once this node is listed by `nodes()`.
   * @throws {Error} When Redis cannot be reached in time.
   */
  open(): Promise<void> {
    this.#opening ??= this.#open();
    return this.#opening;
  }

  async #open(): Promise<void> {
    const clients = await createClients({
      url: this.#url,
      connectTimeout: this.#connectTimeout,
      closed: () => this.#closed,
      lost: (_role, error) => this.#logger.warn("presence-redis-lost", { error }),
      reconnected: () => void this.#refresh(),
    });
    this.#client = clients.commands;
    this.#isErrorReply = clients.isErrorReply;
    try {
      await this.#connect(this.#client);
      await this.#refresh(true);
    } catch (error) {
      await this.close();
      throw error;
    }
    this.#timer = setInterval(() => void this.#refresh(), this.#refreshEvery);
  }

  /** Connects, within `connectTimeout` even when Redis accepts and never answers. */
  async #connect(client: RedisClient): Promise<void> {
    const { promise, reject } = Promise.withResolvers<never>();
    const why = `Cannot connect to Redis at ${redactUrl(this.#url)} (presence) within ` +
      `${this.#connectTimeout} ms: no answer`;
    const timer = setTimeout(() => reject(new Error(why)), this.#connectTimeout);
    try {
      await Promise.race([client.connect(), promise]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Adds or replaces this node's entry of a client, at once in Redis.
   *
   * @param topic The topic.
   * @param entry The client, its user and info (JSON).
   * @throws {TypeError} For an entry without a client id, or info that
   * `JSON.stringify` refuses.
   * @throws {EngineUnavailableError} When Redis cannot be reached in time
   * (the entry is kept and written by the next refresh).
   */
  async add(topic: string, entry: PresenceEntry): Promise<void> {
    const checked = checkPresenceEntry(entry);
    const member = nodeEntryJson(this.node, checked);
    let clients = this.#own.get(topic);
    if (clients === undefined) this.#own.set(topic, clients = new Map());
    const previous = clients.get(checked.client);
    clients.set(checked.client, member);
    const what = `add client "${checked.client}" to the presence of topic "${topic}"`;
    const reply = await this.#run({ what, write: true }, (client) =>
      Promise.all([
        previous === undefined || previous === member
          ? undefined
          : client.sendCommand(["ZREM", this.#key(topic), previous]),
        REFRESH.run(client, [this.#nodesKey, this.#key(topic)], this.#refreshArgs([member])),
      ]));
    this.#sweep([topic], reply[1]);
    await this.#forgetStale([[topic, [member]]]); // removed or replaced meanwhile
  }

  /**
   * Removes this node's entry of a client.
   *
   * @param topic The topic.
   * @param client The client's id.
   * @throws {EngineUnavailableError} When Redis cannot be reached in time
   * (the entry is no longer refreshed, and expires within the ttl).
   */
  async remove(topic: string, client: string): Promise<void> {
    const clients = this.#own.get(topic);
    const member = clients?.get(client);
    if (member === undefined) return;
    clients!.delete(client);
    if (clients!.size === 0) this.#own.delete(topic);
    await this.#run(
      { what: `remove client "${client}" from the presence of topic "${topic}"`, write: true },
      (redis) => redis.sendCommand(["ZREM", this.#key(topic), member]),
    );
  }

  /**
   * The entries of a topic that have not expired, from every node, at most
   * `maxList`.
   *
   * @param topic The topic.
   * @returns The entries.
   * @throws {EngineUnavailableError} When Redis cannot be reached in time.
   */
  async list(topic: string): Promise<PresenceEntry[]> {
    const members = await this.#live(this.#key(topic), this.#maxList, `topic "${topic}"`);
    return members.flatMap((member) => {
      const entry = parseNodeEntry(member)?.entry;
      return entry === undefined ? [] : [entry];
    });
  }

  /**
   * The nodes whose heartbeat has not expired, this one included.
   *
   * @returns Their ids.
   * @throws {EngineUnavailableError} When Redis cannot be reached in time.
   */
  nodes(): Promise<string[]> {
    return this.#live(this.#nodesKey, MAX_NODES, "the nodes");
  }

  /**
   * Names the receiver of other nodes' entries found expired by this
   * node's refresh.
   *
   * @param expired Receives a topic and its expired entries.
   */
  listen(expired: PresenceExpiry): void {
    this.#expired = expired;
  }

  /**
   * Stops refreshing, removes this node's entries and heartbeat (within the
   * deadline; otherwise they expire by themselves), and disconnects.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    // A refresh that failed was logged, or rejected `open`.
    await this.#refreshing?.catch(() => {});
    const client = this.#client;
    if (client?.isReady) {
      const removals = [...this.#own].map(([topic, clients]) =>
        client.sendCommand(["ZREM", this.#key(topic), ...clients.values()])
      );
      removals.push(client.sendCommand(["ZREM", this.#nodesKey, this.node]));
      await this.#guard.run(
        client,
        { what: "remove this node's presence", write: true },
        () => Promise.all(removals),
      ).catch((error) => this.#logger.warn("presence-close-failed", { error }));
    }
    this.#own.clear();
    client?.destroy();
  }

  /** The Redis key of a topic's entries. */
  #key(topic: string): string {
    return `${this.#prefix}presence:${topic}`;
  }

  /** The Redis key of the live nodes. */
  get #nodesKey(): string {
    return `${this.#prefix}nodes`;
  }

  /** `REFRESH`'s arguments for each topic's members. */
  #refreshArgs(...topics: string[][]): string[] {
    return [String(this.#ttl), this.node, ...topics.flatMap((m) => [String(m.length), ...m])];
  }

  /** Runs a call under the deadline; refused once closed or before open. */
  #run<T>(call: GuardedCall, send: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.#guard.run(this.#closed ? undefined : this.#client, call, send);
  }

  /** The members of a set that have not expired. */
  async #live(key: string, limit: number, what: string): Promise<string[]> {
    const reply = await this.#run(
      { what: `read the presence of ${what}`, write: false },
      (client) => LIVE.run(client, [key], [String(limit)]),
    );
    return Array.isArray(reply) ? reply.filter((m): m is string => typeof m === "string") : [];
  }

  /**
   * Renews the heartbeat and this node's entries, in batches, and hands on
   * the expired entries found; one refresh at a time. Failures are logged
   * (the next refresh tries again), or thrown when `strict`.
   */
  #refresh(strict = false): Promise<void> {
    if (this.#closed || this.#refreshing !== undefined) {
      return this.#refreshing ?? Promise.resolve();
    }
    this.#refreshing = this.#refreshAll().catch((error) => {
      if (strict) throw error;
      this.#logger.warn("presence-refresh-failed", { error });
    }).finally(() => this.#refreshing = undefined);
    return this.#refreshing;
  }

  async #refreshAll(): Promise<void> {
    const batches = refreshBatches(this.#own);
    for (const batch of batches) {
      const keys = [this.#nodesKey, ...batch.map(([topic]) => this.#key(topic))];
      const args = this.#refreshArgs(...batch.map(([, members]) => members));
      const reply = await this.#run(
        { what: "refresh this node's presence", write: true },
        (client) => REFRESH.run(client, keys, args),
      );
      this.#sweep(batch.map(([topic]) => topic), reply);
      await this.#forgetStale(batch);
    }
  }

  /**
   * Removes again the members of a refreshed batch that were removed or
   * replaced while it was on its way (the refresh may have written them
   * back after the removal).
   */
  async #forgetStale(batch: [string, string[]][]): Promise<void> {
    for (const [topic, members] of batch) {
      const current = new Set(this.#own.get(topic)?.values());
      const stale = members.filter((member) => !current.has(member));
      if (stale.length === 0) continue;
      await this.#run(
        { what: `remove stale presence of topic "${topic}"`, write: true },
        (client) => client.sendCommand(["ZREM", this.#key(topic), ...stale]),
      );
    }
  }

  /** Hands other nodes' expired entries to the receiver, by topic. */
  #sweep(topics: string[], reply: unknown): void {
    if (!Array.isArray(reply)) return;
    topics.forEach((topic, i) => {
      const gone = reply[i];
      if (!Array.isArray(gone) || gone.length === 0) return;
      const entries = gone.flatMap((member) => {
        const parsed = typeof member === "string" ? parseNodeEntry(member) : undefined;
        return parsed === undefined || parsed.node === this.node ? [] : [parsed.entry];
      });
      if (entries.length > 0) this.#expired?.(topic, entries);
    });
  }
}

/**
 * This node's members cut into batches of at most {@linkcode REFRESH_BATCH}
 * (a topic with more is split over several); one batch even with none, for
 * the heartbeat.
 */
function refreshBatches(own: Map<string, Map<string, string>>): [string, string[]][][] {
  const batches: [string, string[]][][] = [[]];
  let size = 0;
  for (const [topic, clients] of own) {
    const members = [...clients.values()];
    for (let i = 0; i < members.length; i += REFRESH_BATCH) {
      const part = members.slice(i, i + REFRESH_BATCH);
      if (size + part.length > REFRESH_BATCH) {
        batches.push([]);
        size = 0;
      }
      batches.at(-1)!.push([topic, part]);
      size += part.length;
    }
  }
  return batches;
}
