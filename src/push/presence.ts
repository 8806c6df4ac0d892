/**
 * Presence: who is subscribed to a topic, across every node. A
 * {@linkcode PresenceStore} keeps one entry per client and topic (the
 * client's id, its user and public info), lists a topic's entries from every
 * node, and tells which nodes are alive. {@linkcode MemoryPresence} is one
 * node on its own; `RedisPresence` (in `redis/presence.ts`) shares entries
 * between nodes, with an expiry so that a dead node's entries vanish.
 *
 * A store does not decide which topics have presence, nor bounds an entry's
 * info: its caller does (info ≤ 1 KiB, topics matching `--presence`).
 *
 * @example
 * ```ts
 * import { MemoryPresence } from "./presence.ts";
 *
 * const presence = new MemoryPresence();
 * await presence.open();
 * await presence.add("room:1", { client: "7", user: "ada", info: { name: "Ada" } });
 * console.log(await presence.list("room:1")); // [ { client: "7", user: "ada", info: { name: "Ada" } } ]
 * await presence.remove("room:1", "7");
 * console.log(await presence.list("room:1")); // []
 * ```
 *
 * @module
 */

/** The most entries {@linkcode PresenceStore.list} answers for one topic, by default. */
export const PRESENCE_LIST_LIMIT = 1000;

/** One client present in a topic. */
export interface PresenceEntry {
  /** The client's id, unique across every node (for example `<node>.<socket id>`). */
  client: string;
  /** The user it authenticated as (a JWT's `sub`), if any. */
  user?: string;
  /** The user's public info (JSON, at most 1 KiB as its caller bounds it), if any. */
  info?: unknown;
}

/**
 * Receives the entries that left a store without a `remove`: those of a
 * node that stopped refreshing them (it died), found by another node.
 *
 * @param topic The topic.
 * @param entries The entries that expired.
 */
export type PresenceExpiry = (topic: string, entries: PresenceEntry[]) => void;

/**
 * Where presence lives: this node's entries, and every node's when listing.
 * Every method but {@linkcode PresenceStore.open} and
 * {@linkcode PresenceStore.close} is used only once the store is open.
 */
export interface PresenceStore {
  /** This node's id: short, random, unique per process. */
  readonly node: string;
  /**
   * Connects, where there is something to connect to.
   *
   * @returns Resolves once entries can be added.
   * @throws {Error} When the store cannot be reached.
   */
  open(): Promise<void>;
  /**
   * Adds (or replaces) this node's entry of a client in a topic.
   *
   * @param topic The topic.
   * @param entry The client, its user and info.
   * @throws {EngineUnavailableError} When the store cannot be reached in
   * time (a shared store keeps the entry and adds it at its next refresh).
   */
  add(topic: string, entry: PresenceEntry): Promise<void>;
  /**
   * Removes this node's entry of a client in a topic (none: nothing to do).
   *
   * @param topic The topic.
   * @param client The client's id.
   * @throws {EngineUnavailableError} When the store cannot be reached in
   * time (a shared store's entry then expires by itself).
   */
  remove(topic: string, client: string): Promise<void>;
  /**
   * The entries of a topic on every live node: at most the store's list
   * limit ({@linkcode PRESENCE_LIST_LIMIT} by default).
   *
   * @param topic The topic.
   * @returns The entries, in no particular order.
   * @throws {EngineUnavailableError} When the store cannot be reached in time.
   */
  list(topic: string): Promise<PresenceEntry[]>;
  /**
   * The live nodes, this one included.
   *
   * @returns Their ids.
   * @throws {EngineUnavailableError} When the store cannot be reached in time.
   */
  nodes(): Promise<string[]>;
  /**
   * Names the one receiver of entries that expired (a later call replaces
   * it). A store whose entries never expire never calls it.
   *
   * @param expired Receives a topic and its expired entries.
   */
  listen(expired: PresenceExpiry): void;
  /**
   * Removes this node's entries, stops refreshing and disconnects.
   *
   * @returns Resolves once done.
   */
  close(): Promise<void>;
}

/**
 * A new node id: 12 hex digits from the system's random source.
 *
 * @example
 * ```ts
 * import { newNodeId } from "./presence.ts";
 *
 * console.log(newNodeId().length); // 12
 * ```
 *
 * @returns The id.
 */
export function newNodeId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Options for {@linkcode MemoryPresence}. */
export interface MemoryPresenceOptions {
  /**
   * This node's id.
   *
   * @default {a new one from `newNodeId`}
   */
  node?: string;
  /**
   * The most entries `list` answers for one topic.
   *
   * @default {1000}
   */
  maxList?: number;
}

/**
 * The presence of a single node: entries in this process's memory, one
 * node alive, nothing ever expires.
 *
 * @example
 * ```ts
 * import { MemoryPresence } from "./presence.ts";
 *
 * const presence = new MemoryPresence({ node: "n1", maxList: 2 });
 * for (const client of ["a", "b", "c"]) await presence.add("room:1", { client });
 * console.log((await presence.list("room:1")).length, await presence.nodes()); // 2 [ "n1" ]
 * ```
 */
export class MemoryPresence implements PresenceStore {
  /** This node's id. */
  readonly node: string;
  readonly #maxList: number;
  readonly #topics = new Map<string, Map<string, PresenceEntry>>();

  /**
   * Makes an empty store.
   *
   * @param options The node's id and the list limit.
   * @throws {RangeError} For a list limit that is not a positive integer.
   */
  constructor(options: MemoryPresenceOptions = {}) {
    this.node = options.node ?? newNodeId();
    this.#maxList = positiveInteger(options.maxList ?? PRESENCE_LIST_LIMIT, "maxList");
  }

  /** Nothing to connect to. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Adds or replaces a client's entry.
   *
   * @param topic The topic.
   * @param entry The client, its user and info.
   * @throws {TypeError} For an entry without a client id (as a rejection).
   */
  add(topic: string, entry: PresenceEntry): Promise<void> {
    return new Promise((resolve) => {
      const checked = checkPresenceEntry(entry);
      let entries = this.#topics.get(topic);
      if (entries === undefined) this.#topics.set(topic, entries = new Map());
      entries.set(checked.client, checked);
      resolve();
    });
  }

  /**
   * Removes a client's entry.
   *
   * @param topic The topic.
   * @param client The client's id.
   */
  remove(topic: string, client: string): Promise<void> {
    const entries = this.#topics.get(topic);
    entries?.delete(client);
    if (entries?.size === 0) this.#topics.delete(topic);
    return Promise.resolve();
  }

  /**
   * A topic's entries, oldest first, at most the list limit.
   *
   * @param topic The topic.
   * @returns The entries.
   */
  list(topic: string): Promise<PresenceEntry[]> {
    const entries = [...(this.#topics.get(topic)?.values() ?? [])].slice(0, this.#maxList);
    return Promise.resolve(entries.map((entry) => ({ ...entry })));
  }

  /** This node only. */
  nodes(): Promise<string[]> {
    return Promise.resolve([this.node]);
  }

  /** Entries never expire here: the receiver is never called. */
  listen(_expired: PresenceExpiry): void {}

  /** Forgets every entry. */
  close(): Promise<void> {
    this.#topics.clear();
    return Promise.resolve();
  }
}

/**
 * Checks a count or a duration of a presence store's options.
 *
 * @example
 * ```ts
 * import { positiveInteger } from "./presence.ts";
 *
 * console.log(positiveInteger(1000, "maxList")); // 1000
 * try {
 *   positiveInteger(0, "ttl");
 * } catch (error) {
 *   console.log((error as RangeError).message); // "Invalid presence ttl: 0 is not a positive whole number"
 * }
 * ```
 *
 * @param value The number.
 * @param name The option's name, for the message.
 * @returns The number, checked.
 * @throws {RangeError} When it is not a positive whole number.
 */
export function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid presence ${name}: ${value} is not a positive whole number`);
  }
  return value;
}

/**
 * An entry tagged with the node that holds it, as JSON: how a shared store
 * keeps it.
 *
 * @example
 * ```ts
 * import { nodeEntryJson, parseNodeEntry } from "./presence.ts";
 *
 * const json = nodeEntryJson("n1", { client: "n1.7", user: "ada" });
 * console.log(json); // {"node":"n1","client":"n1.7","user":"ada"}
 * console.log(parseNodeEntry(json)); // { node: "n1", entry: { client: "n1.7", user: "ada" } }
 * ```
 *
 * @param node The node's id.
 * @param entry The entry.
 * @returns The JSON text.
 * @throws {TypeError} For info that `JSON.stringify` refuses.
 */
export function nodeEntryJson(node: string, entry: PresenceEntry): string {
  return JSON.stringify({ node, ...entry });
}

/**
 * Reads what {@linkcode nodeEntryJson} wrote.
 *
 * @param json The JSON text.
 * @returns The node and its entry, or `undefined` when malformed.
 */
export function parseNodeEntry(json: string): { node: string; entry: PresenceEntry } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const entry = presenceEntry(value);
  const node = (value as { node?: unknown } | null)?.node;
  return entry === undefined || typeof node !== "string" ? undefined : { node, entry };
}

/**
 * Reads a presence entry from a value (for example parsed JSON): its
 * `client` (a non-empty string), `user` (a string, if any) and `info` (if
 * any), and nothing else.
 *
 * @example
 * ```ts
 * import { presenceEntry } from "./presence.ts";
 *
 * console.log(presenceEntry({ client: "7", user: "ada", node: "n1" })); // { client: "7", user: "ada" }
 * console.log(presenceEntry({ client: 7 })); // undefined
 * ```
 *
 * @param value The value.
 * @returns The entry, or `undefined` when the value is not one.
 */
export function presenceEntry(value: unknown): PresenceEntry | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { client, user, info } = value as Record<string, unknown>;
  if (typeof client !== "string" || client === "") return undefined;
  if (user !== undefined && typeof user !== "string") return undefined;
  const entry: PresenceEntry = { client };
  if (user !== undefined) entry.user = user;
  if (info !== undefined) entry.info = info;
  return entry;
}

/**
 * An entry to store, checked: a copy with its own fields only.
 *
 * @example
 * ```ts
 * import { checkPresenceEntry } from "./presence.ts";
 *
 * try {
 *   checkPresenceEntry({ client: "" });
 * } catch (error) {
 *   console.log((error as TypeError).message); // "Invalid presence entry: client must be a non-empty string, user a string"
 * }
 * ```
 *
 * @param entry The entry.
 * @returns The copy.
 * @throws {TypeError} When `client` is not a non-empty string or `user` not a string.
 */
export function checkPresenceEntry(entry: PresenceEntry): PresenceEntry {
  const checked = presenceEntry(entry);
  if (checked === undefined) {
    throw new TypeError(
      "Invalid presence entry: client must be a non-empty string, user a string",
    );
  }
  return checked;
}
