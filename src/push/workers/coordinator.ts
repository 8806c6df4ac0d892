/**
 * The coordinator of a server's workers, in the main thread: what Redis is
 * to nodes. It holds the one history ({@linkcode MemoryEngine}: one epoch,
 * one sequence of ids per topic, the window, idempotency keys), assigns
 * every publication its id in the one order in which requests reach it,
 * and sends each message to every worker that watches its topic; it answers
 * resumes from the window, keeps every worker's presence entries, and
 * gathers the workers' answers to a question (their metrics, their health).
 *
 * A worker's channel is FIFO in both directions, so a worker gets a topic's
 * messages in id order, gets its own publication before the reply to its
 * append, and, once the reply to its `watch` (the topic's last id) arrives,
 * every later message: nothing is lost or doubled between the two. A worker
 * that goes ({@linkcode Coordinator.detach}) stops watching; its presence
 * entries are handed to one live worker to announce as `leave`.
 *
 * @example Two workers' channels, one order
 * ```ts
 * import { Coordinator } from "./coordinator.ts";
 * import { WorkerLink } from "./link.ts";
 * import { WorkerEngine } from "./worker_engine.ts";
 *
 * const coordinator = new Coordinator({ epoch: "e1" });
 * const engines = ["a", "b"].map((node) => {
 *   const channel = new MessageChannel();
 *   coordinator.attach(channel.port1, node);
 *   return new WorkerEngine(new WorkerLink(channel.port2));
 * });
 * const [a, b] = engines as [WorkerEngine, WorkerEngine];
 * const got: string[] = [];
 * b.listen((event) => event.type === "message" && got.push(event.message.payload));
 * await b.watch("news");
 * const first = await a.append("news", "hello");
 * await a.append("news", "again");
 * await b.recover("news", first.id); // the channel is FIFO: delivered before this answer
 * console.log(first.id.seq, got); // 1 [ "hello", "again" ]
 * for (const engine of engines) await engine.close();
 * coordinator.close();
 * ```
 *
 * @module
 */

import { MemoryEngine, type MemoryEngineOptions } from "../engine.ts";
import type { HistoryStats } from "../history.ts";
import { checkPresenceEntry, PRESENCE_LIST_LIMIT, type PresenceEntry } from "../presence.ts";
import type { ChannelMessage, Gathered, Port, Reply, ReplyValues, Request } from "./messages.ts";

/** Options for {@linkcode Coordinator}: the history window, and two limits. */
export interface CoordinatorOptions extends MemoryEngineOptions {
  /**
   * The most entries a presence list answers for one topic.
   *
   * @default {1000}
   */
  maxList?: number;
  /**
   * Milliseconds a worker has to answer a gathered question.
   *
   * @default {2000}
   */
  askTimeout?: number;
}

/** A worker as the coordinator knows it: its channel, node id and watched topics. */
export interface Member {
  /** The worker's node id (its presence entries' prefix). */
  readonly node: string;
  /** Its channel. */
  readonly port: Port;
  /** The topics it watches. */
  readonly watched: Set<string>;
}

/** Every worker's view: ids, windows, watches, presence, and gathered answers. */
export class Coordinator {
  readonly #engine: MemoryEngine;
  readonly #maxList: number;
  readonly #askTimeout: number;
  readonly #members = new Set<Member>();
  readonly #watchers = new Map<string, Set<Member>>();
  // topic → client → the entry and the node that holds it.
  readonly #presence = new Map<string, Map<string, { node: string; entry: PresenceEntry }>>();
  readonly #asks = new Map<number, (value: unknown) => void>();
  #nextAsk = 0;

  /**
   * Makes a coordinator with an empty history.
   *
   * @param options The window, the byte budget, the epoch, the limits.
   * @throws {RangeError} For a negative or fractional size, ttl, topic count or budget.
   */
  constructor(options: CoordinatorOptions = {}) {
    const { maxList, askTimeout, ...window } = options;
    this.#engine = new MemoryEngine(window);
    this.#maxList = maxList ?? PRESENCE_LIST_LIMIT;
    this.#askTimeout = askTimeout ?? 2000;
    this.#engine.listen((event) => {
      if (event.type !== "message") return;
      const notice: ChannelMessage = { kind: "message", message: event.message };
      for (const member of this.#watchers.get(event.message.topic) ?? []) {
        member.port.postMessage(notice);
      }
    });
  }

  /** How many workers are attached. */
  get size(): number {
    return this.#members.size;
  }

  /** The one history's sizes. */
  stats(): HistoryStats {
    return this.#engine.stats();
  }

  /**
   * Serves a worker's channel.
   *
   * @param port The coordinator's side of the worker's channel.
   * @param node The worker's node id.
   * @returns The member, for {@linkcode Coordinator.detach}.
   */
  attach(port: Port, node: string): Member {
    const member: Member = { node, port, watched: new Set() };
    this.#members.add(member);
    port.onmessage = (event) => this.#receive(member, event.data as ChannelMessage);
    return member;
  }

  /**
   * Forgets a worker that stopped or died: its watches go, and its presence
   * entries are handed to one live worker to announce as `leave`.
   *
   * @param member What {@linkcode Coordinator.attach} returned.
   */
  detach(member: Member): void {
    if (!this.#members.delete(member)) return;
    member.port.onmessage = null;
    for (const topic of member.watched) this.#unwatch(member, topic);
    const heir = this.#members.values().next().value;
    for (const [topic, entries] of this.#presence) {
      const gone: PresenceEntry[] = [];
      for (const [client, held] of entries) {
        if (held.node !== member.node) continue;
        entries.delete(client);
        gone.push(held.entry);
      }
      if (entries.size === 0) this.#presence.delete(topic);
      if (gone.length > 0 && heir !== undefined) {
        heir.port.postMessage({ kind: "expired", topic, entries: gone } satisfies ChannelMessage);
      }
    }
  }

  /** Forgets every worker and question. */
  close(): void {
    for (const member of [...this.#members]) this.detach(member);
    for (const answer of this.#asks.values()) answer(undefined);
    this.#asks.clear();
  }

  #receive(member: Member, message: ChannelMessage): void {
    if (!this.#members.has(member)) return;
    if (message.kind === "unwatch") this.#unwatch(member, message.topic);
    else if (message.kind === "answer") this.#asks.get(message.id)?.(message.value);
    else if (message.kind === "request") this.#request(member, message);
  }

  #request(member: Member, request: Request): void {
    let value: Promise<unknown> | unknown;
    try {
      value = this.#answer(member, request);
    } catch (error) {
      value = Promise.reject(error);
    }
    Promise.resolve(value).then(
      (value) => this.#reply(member, { kind: "reply", id: request.id, ok: true, value }),
      (error: Error) => {
        const { name, message } = error instanceof Error ? error : new Error(String(error));
        this.#reply(member, { kind: "reply", id: request.id, ok: false, error: { name, message } });
      },
    );
  }

  #reply(member: Member, reply: Reply): void {
    if (this.#members.has(member)) member.port.postMessage(reply);
  }

  /** A request's answer; synchronous but for `gather`. */
  #answer(member: Member, request: Request): ReplyValues[Request["op"]] | Promise<Gathered> {
    switch (request.op) {
      case "append": {
        const options = request.key === undefined ? {} : { idempotencyKey: request.key };
        return this.#engine.appendNow(request.topic, request.payload, options);
      }
      case "watch":
        this.#watch(member, request.topic);
        return this.#engine.position(request.topic);
      case "recover":
        return this.#engine.recoverNow(request.topic, request.since);
      case "presence-add": {
        const entry = checkPresenceEntry(request.entry);
        let entries = this.#presence.get(request.topic);
        if (entries === undefined) this.#presence.set(request.topic, entries = new Map());
        entries.set(entry.client, { node: member.node, entry });
        return null;
      }
      case "presence-remove": {
        const entries = this.#presence.get(request.topic);
        entries?.delete(request.client);
        if (entries?.size === 0) this.#presence.delete(request.topic);
        return null;
      }
      case "presence-list":
        return [...this.#presence.get(request.topic)?.values() ?? []]
          .slice(0, this.#maxList)
          .map((held) => held.entry);
      case "presence-nodes":
        return [...this.#members].map((each) => each.node);
      case "gather":
        return this.gather(request.what);
    }
  }

  /**
   * Asks every live worker a question and gathers the answers (those that
   * come within the ask timeout).
   *
   * @param what The question (the workers know what it means).
   * @returns The answers, how many were asked, and the history's sizes.
   */
  async gather(what: string): Promise<Gathered> {
    const members = [...this.#members];
    const answers = await Promise.all(members.map((member) => this.#ask(member, what)));
    return {
      answers: answers.filter((answer) => answer !== undefined),
      asked: members.length,
      stats: this.stats(),
    };
  }

  #ask(member: Member, what: string): Promise<unknown> {
    const id = this.#nextAsk++;
    const { promise, resolve } = Promise.withResolvers<unknown>();
    const timer = setTimeout(() => resolve(undefined), this.#askTimeout);
    this.#asks.set(id, (value) => {
      clearTimeout(timer);
      this.#asks.delete(id);
      resolve(value);
    });
    member.port.postMessage({ kind: "ask", id, what } satisfies ChannelMessage);
    return promise;
  }

  #watch(member: Member, topic: string): void {
    member.watched.add(topic);
    let watchers = this.#watchers.get(topic);
    if (watchers === undefined) this.#watchers.set(topic, watchers = new Set());
    watchers.add(member);
  }

  #unwatch(member: Member, topic: string): void {
    member.watched.delete(topic);
    const watchers = this.#watchers.get(topic);
    watchers?.delete(member);
    if (watchers?.size === 0) this.#watchers.delete(topic);
  }
}
