/**
 * The presence store of one worker among a server's workers: entries live
 * in the coordinator (`coordinator.ts`), a worker's node is alive while the
 * worker is, and the entries of a worker that died are handed to a live
 * one, whose relay announces them as `leave`.
 *
 * @module
 */

import {
  checkPresenceEntry,
  type PresenceEntry,
  type PresenceExpiry,
  type PresenceStore,
} from "../presence.ts";
import type { WorkerLink } from "./link.ts";

/**
 * A worker's presence store, through its link to the coordinator.
 *
 * @example
 * ```ts
 * import { Coordinator } from "./coordinator.ts";
 * import { WorkerLink } from "./link.ts";
 * import { WorkerPresence } from "./worker_presence.ts";
 *
 * const coordinator = new Coordinator();
 * const channel = new MessageChannel();
 * coordinator.attach(channel.port1, "a");
 * const link = new WorkerLink(channel.port2);
 * const presence = new WorkerPresence(link, "a");
 * await presence.add("room:1", { client: "a.7", user: "ada" });
 * console.log(await presence.list("room:1"), await presence.nodes()); // [ { client: "a.7", user: "ada" } ] [ "a" ]
 * link.close();
 * coordinator.close();
 * ```
 */
export class WorkerPresence implements PresenceStore {
  /** This worker's node id. */
  readonly node: string;
  readonly #link: WorkerLink;

  /**
   * Makes a store on a worker's link.
   *
   * @param link The worker's channel to the coordinator.
   * @param node The worker's node id, as the coordinator knows it.
   */
  constructor(link: WorkerLink, node: string) {
    this.#link = link;
    this.node = node;
  }

  /** Nothing to connect: the channel is there. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Adds or replaces a client's entry.
   *
   * @param topic The topic.
   * @param entry The client, its user and info.
   * @throws {TypeError} For an entry without a client id.
   */
  async add(topic: string, entry: PresenceEntry): Promise<void> {
    await this.#link.request("presence-add", { topic, entry: checkPresenceEntry(entry) });
  }

  /**
   * Removes a client's entry.
   *
   * @param topic The topic.
   * @param client The client's id.
   */
  async remove(topic: string, client: string): Promise<void> {
    await this.#link.request("presence-remove", { topic, client });
  }

  /**
   * A topic's entries on every worker.
   *
   * @param topic The topic.
   * @returns The entries.
   */
  list(topic: string): Promise<PresenceEntry[]> {
    return this.#link.request("presence-list", { topic });
  }

  /** The live workers' node ids. */
  nodes(): Promise<string[]> {
    return this.#link.request("presence-nodes", {});
  }

  /**
   * Names the receiver of a dead worker's entries, handed to this one.
   *
   * @param expired The receiver.
   */
  listen(expired: PresenceExpiry): void {
    this.#link.onExpired = expired;
  }

  /** Nothing to do: the coordinator forgets this worker's entries as it goes. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
