/**
 * Presence announced on every node: a client entering a topic with
 * presence is added to the {@linkcode PresenceStore} and a `join` reaches
 * the topic's subscribers on every node; leaving removes it and announces a
 * `leave`. With an engine that is not shared, announcements go straight to
 * this node's subscribers; with a shared engine they travel through the
 * internal engine topic {@linkcode PRESENCE_TOPIC}, and every node (this one
 * included) delivers them as they come back, so each node delivers each
 * announcement once. Entries a dead node left behind, found expired by the
 * store, are announced as `leave` too.
 *
 * @example
 * ```ts
 * import { PresenceRelay } from "./presence_relay.ts";
 * import { MemoryPresence } from "../push/presence.ts";
 * import { MemoryEngine } from "../push/engine.ts";
 *
 * const sent: string[] = [];
 * const relay = new PresenceRelay({
 *   store: new MemoryPresence(),
 *   engine: new MemoryEngine(),
 *   deliver: (_topic, json) => sent.push(json),
 *   topics: (topic) => topic.startsWith("room:"),
 * });
 * await relay.enter("room:1", { client: "a1.7", user: "ada" });
 * await relay.enter("news", { client: "a1.7", user: "ada" }); // no presence: nothing
 * console.log(await relay.snapshot("room:1"));
 * // {"type":"presence","topic":"room:1","clients":[{"client":"a1.7","user":"ada"}]}
 * await relay.exitAll("a1.7");
 * console.log(sent);
 * // [ '{"type":"join","topic":"room:1","client":"a1.7","user":"ada"}',
 * //   '{"type":"leave","topic":"room:1","client":"a1.7","user":"ada"}' ]
 * ```
 *
 * @module
 */

import type { Engine, EngineMessage } from "../push/engine.ts";
import type { PresenceEntry, PresenceStore } from "../push/presence.ts";
import { type Logger, SILENT } from "../server/log.ts";
import {
  encodePresenceEvent,
  joinEvent,
  leaveEvent,
  parsePresenceEvent,
  type PresenceJoinEvent,
  type PresenceLeaveEvent,
  snapshotEvent,
} from "./presence_events.ts";

/**
 * The engine topic that carries `join` and `leave` between nodes: internal
 * (its name starts with `#`), so no client can subscribe to it.
 */
export const PRESENCE_TOPIC = "#presence";

/** Options for {@linkcode PresenceRelay}. */
export interface PresenceRelayOptions {
  /** Where entries live (`MemoryPresence`, or `RedisPresence` with a shared engine). */
  store: PresenceStore;
  /** The hub's engine: announcements travel through it when it is shared. */
  engine: Engine;
  /**
   * Sends an event's JSON to this node's subscribers of a topic (for
   * example `server.topics.broadcast(topic, json)`).
   */
  deliver: (topic: string, json: string) => void;
  /**
   * Which topics have presence (`--presence` patterns); `enter` and `exit`
   * ignore the others.
   *
   * @default {every topic}
   */
  topics?: (topic: string) => boolean;
  /**
   * Where failed announcements of expired entries are logged.
   *
   * @default {SILENT}
   */
  logger?: Logger;
}

/**
 * Adds and removes this node's clients in the presence store, and
 * announces each `join` and `leave` to the topic's subscribers on every
 * node, once per node.
 */
export class PresenceRelay {
  readonly #store: PresenceStore;
  readonly #engine: Engine;
  readonly #deliver: (topic: string, json: string) => void;
  readonly #tracks: (topic: string) => boolean;
  readonly #logger: Logger;
  // This node's clients present: client → topic → entry.
  readonly #present = new Map<string, Map<string, PresenceEntry>>();

  /**
   * Makes a relay and becomes the store's receiver of expired entries.
   *
   * @param options The store, the engine, where events go, which topics.
   */
  constructor(options: PresenceRelayOptions) {
    this.#store = options.store;
    this.#engine = options.engine;
    this.#deliver = options.deliver;
    this.#tracks = options.topics ?? (() => true);
    this.#logger = options.logger ?? SILENT;
    this.#store.listen((topic, entries) => {
      for (const entry of entries) {
        this.#announce(leaveEvent(topic, entry)).catch((error) =>
          this.#logger.warn("presence-leave-failed", { topic, client: entry.client, error })
        );
      }
    });
  }

  /**
   * Whether a topic has presence.
   *
   * @param topic A topic name.
   * @returns `true` when `enter` and `exit` act on it.
   */
  tracks(topic: string): boolean {
    return this.#tracks(topic);
  }

  /**
   * A client entered a topic (it subscribed): adds its entry to the store
   * and announces `join` (to the topic's subscribers of every node, the
   * client itself included once it is subscribed). Nothing for a topic
   * without presence.
   *
   * @param topic The topic.
   * @param entry The client (unique across nodes), its user and info.
   * @returns Resolves once stored and announced.
   * @throws {EngineUnavailableError} When the store or the engine failed
   * (both are tried; the first failure is thrown).
   */
  async enter(topic: string, entry: PresenceEntry): Promise<void> {
    if (!this.#tracks(topic)) return;
    let topics = this.#present.get(entry.client);
    if (topics === undefined) this.#present.set(entry.client, topics = new Map());
    topics.set(topic, entry);
    await settle(this.#store.add(topic, entry), this.#announce(joinEvent(topic, entry)));
  }

  /**
   * A client left a topic (it unsubscribed): removes its entry and
   * announces `leave`. Nothing when it had not entered.
   *
   * @param topic The topic.
   * @param client The client's id.
   * @returns Resolves once removed and announced.
   * @throws {EngineUnavailableError} When the store or the engine failed.
   */
  async exit(topic: string, client: string): Promise<void> {
    const topics = this.#present.get(client);
    const entry = topics?.get(topic);
    if (entry === undefined) return;
    topics!.delete(topic);
    if (topics!.size === 0) this.#present.delete(client);
    await settle(this.#store.remove(topic, client), this.#announce(leaveEvent(topic, entry)));
  }

  /**
   * A client left every topic (its socket closed).
   *
   * @param client The client's id.
   * @returns Resolves once every topic was left.
   * @throws {EngineUnavailableError} When the store or the engine failed.
   */
  async exitAll(client: string): Promise<void> {
    const topics = [...this.#present.get(client)?.keys() ?? []];
    await settle(...topics.map((topic) => this.exit(topic, client)));
  }

  /**
   * The `presence` event of a topic: who is there on every node, as JSON.
   *
   * @param topic The topic.
   * @param you The client id of the socket it goes to, if any.
   * @returns The event's JSON.
   * @throws {EngineUnavailableError} When the store cannot be reached in time.
   */
  async snapshot(topic: string, you?: string): Promise<string> {
    return encodePresenceEvent(snapshotEvent(topic, await this.#store.list(topic), you));
  }

  /**
   * Every client of this node leaves every topic (announced to the other
   * nodes), then the store closes: for a shutdown, once the sockets closed.
   *
   * @returns Resolves once the store is closed (failures to announce are
   * logged: the store's expiry covers them).
   */
  async close(): Promise<void> {
    await this.exitEverything().catch((error) =>
      this.#logger.warn("presence-leave-failed", { error })
    );
    await this.#store.close();
  }

  /**
   * Every client of this node leaves every topic.
   *
   * @returns Resolves once every leave was stored and announced.
   * @throws {EngineUnavailableError} When the store or the engine failed.
   */
  async exitEverything(): Promise<void> {
    await settle(...[...this.#present.keys()].map((client) => this.exitAll(client)));
  }

  /**
   * Delivers an announcement that came through the engine (a message of
   * {@linkcode PRESENCE_TOPIC}) to this node's subscribers of its topic;
   * a message of another topic, or a malformed one, is ignored.
   *
   * @param message A message of an internal topic.
   */
  receive(message: EngineMessage): void {
    if (message.topic !== PRESENCE_TOPIC) return;
    const event = parsePresenceEvent(message.payload);
    if (event === undefined || event.type === "presence") return;
    this.#deliver(event.topic, encodePresenceEvent(event));
  }

  /** Sends an announcement on its way: through a shared engine, or straight here. */
  async #announce(event: PresenceJoinEvent | PresenceLeaveEvent): Promise<void> {
    const json = encodePresenceEvent(event);
    if (this.#engine.shared) await this.#engine.append(PRESENCE_TOPIC, json);
    else this.#deliver(event.topic, json);
  }
}

/** Waits for every promise; then throws the first failure, if any. */
async function settle(...promises: Promise<unknown>[]): Promise<void> {
  for (const result of await Promise.allSettled(promises)) {
    if (result.status === "rejected") throw result.reason;
  }
}
