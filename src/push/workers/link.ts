/**
 * A worker's side of its channel to the coordinator: requests answered by
 * id, and what the coordinator sends unasked (messages of watched topics,
 * expired presence entries, questions) handed to whoever listens for them.
 * The worker's {@linkcode WorkerEngine} and {@linkcode WorkerPresence}
 * share one link.
 *
 * @module
 */

import type { EngineMessage } from "../engine.ts";
import { EngineUnavailableError } from "../engine_errors.ts";
import type { PresenceEntry } from "../presence.ts";
import type { ChannelMessage, Port, Reply, ReplyValues, Request } from "./messages.ts";

/** A request's fields, without its kind and id. */
export type RequestArgs<K extends Request["op"]> = Omit<
  Extract<Request, { op: K }>,
  "kind" | "id" | "op"
>;

/** The worker's end of the channel to the coordinator. */
export class WorkerLink {
  readonly #port: Port;
  readonly #pending = new Map<number, PromiseWithResolvers<unknown>>();
  #next = 0;
  #closed = false;
  /** Receives the messages of watched topics, in order. */
  onMessage: (message: EngineMessage) => void = () => {};
  /** Receives entries of a worker that died, to announce. */
  onExpired: (topic: string, entries: PresenceEntry[]) => void = () => {};
  /** Answers the coordinator's questions (`undefined`: no answer). */
  onAsk: (what: string) => unknown = () => undefined;

  /**
   * Takes over a channel.
   *
   * @param port The worker's side (a `MessagePort`, or the worker's `self`).
   */
  constructor(port: Port) {
    this.#port = port;
    port.onmessage = (event) => this.#receive(event.data as ChannelMessage);
  }

  /**
   * Sends a request.
   *
   * @param op The operation.
   * @param args Its arguments.
   * @returns The coordinator's answer.
   * @throws {TypeError} When the coordinator refused it as malformed.
   * @throws {EngineUnavailableError} When the link is closed, or the
   * coordinator failed otherwise.
   */
  request<K extends Request["op"]>(op: K, args: RequestArgs<K>): Promise<ReplyValues[K]> {
    if (this.#closed) {
      return Promise.reject(new EngineUnavailableError("Cannot reach the coordinator: closed"));
    }
    const id = this.#next++;
    const pending = Promise.withResolvers<unknown>();
    this.#pending.set(id, pending);
    this.#port.postMessage({ ...args, op, kind: "request", id });
    return pending.promise as Promise<ReplyValues[K]>;
  }

  /**
   * Tells the coordinator to stop delivering a topic.
   *
   * @param topic The topic.
   */
  unwatch(topic: string): void {
    if (!this.#closed) this.#port.postMessage({ kind: "unwatch", topic } satisfies ChannelMessage);
  }

  /** Stops: pending requests fail, nothing more is received. */
  close(): void {
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      pending.reject(new EngineUnavailableError("Cannot reach the coordinator: closed"));
    }
    this.#pending.clear();
  }

  #receive(message: ChannelMessage): void {
    if (this.#closed) return;
    switch (message.kind) {
      case "reply":
        return this.#settle(message);
      case "message":
        return this.onMessage(message.message);
      case "expired":
        return this.onExpired(message.topic, message.entries);
      case "ask":
        Promise.resolve()
          .then(() => this.onAsk(message.what))
          .catch(() => undefined)
          .then((value) => {
            if (!this.#closed) {
              this.#port.postMessage({ kind: "answer", id: message.id, value } as ChannelMessage);
            }
          });
        return;
    }
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (reply.ok) return pending.resolve(reply.value);
    const { name, message } = reply.error;
    pending.reject(
      name === "TypeError"
        ? new TypeError(message)
        : name === "RangeError"
        ? new RangeError(message)
        : new EngineUnavailableError(`The coordinator failed: ${message}`),
    );
  }
}
