/**
 * What a worker and the coordinator say to each other over one
 * `MessagePort` (or a `Worker` and its `self`): requests with an id and
 * their replies, the messages of watched topics, expired presence entries,
 * and the coordinator's own questions to a worker (its metrics, its
 * health). Every value is structured-cloneable: plain objects, strings and
 * numbers.
 *
 * @module
 */

import type { AppendedMessage, EngineMessage, EngineRecovery } from "../engine.ts";
import type { HistoryStats, MessageId } from "../history.ts";
import type { PresenceEntry } from "../presence.ts";

/**
 * The side of a channel a worker or the coordinator holds: a `MessagePort`,
 * a `Worker`, or a worker's `self`.
 */
export interface Port {
  /**
   * Sends a value to the other side.
   *
   * @param message A structured-cloneable value.
   */
  postMessage(message: unknown): void;
  /** Receives the other side's values. */
  onmessage: ((event: MessageEvent) => void) | null;
}

/** A worker's request to the coordinator, answered by a {@linkcode Reply} with its id. */
export type Request =
  & {
    /** Always `"request"`. */
    kind: "request";
    /** Matches the reply. */
    id: number;
  }
  & (
    | { op: "append"; topic: string; payload: string; key?: string }
    | { op: "watch"; topic: string }
    | { op: "recover"; topic: string; since: MessageId }
    | { op: "presence-add"; topic: string; entry: PresenceEntry }
    | { op: "presence-remove"; topic: string; client: string }
    | { op: "presence-list"; topic: string }
    | { op: "presence-nodes" }
    | { op: "gather"; what: string }
  );

/** What each request resolves with. */
export interface ReplyValues {
  /** The message appended (or the first one, `repeated`). */
  append: AppendedMessage;
  /** The topic's position when the worker became a watcher. */
  watch: MessageId;
  /** The recovery. */
  recover: EngineRecovery;
  /** Nothing. */
  "presence-add": null;
  /** Nothing. */
  "presence-remove": null;
  /** A topic's entries, on every worker. */
  "presence-list": PresenceEntry[];
  /** The live workers' node ids. */
  "presence-nodes": string[];
  /** Every live worker's answer to the question, and the coordinator's history sizes. */
  gather: Gathered;
}

/** The answers of every live worker to a question, gathered by the coordinator. */
export interface Gathered {
  /** Each answer (workers that did not answer in time are left out). */
  answers: unknown[];
  /** How many workers were asked. */
  asked: number;
  /** The one history's sizes. */
  stats: HistoryStats;
}

/** The coordinator's answer to a {@linkcode Request}. */
export type Reply =
  | { kind: "reply"; id: number; ok: true; value: unknown }
  | { kind: "reply"; id: number; ok: false; error: { name: string; message: string } };

/** What else goes over the channel. */
export type Notice =
  /** Worker → coordinator: stop delivering a topic. */
  | { kind: "unwatch"; topic: string }
  /** Coordinator → worker: a message of a watched topic, in order. */
  | { kind: "message"; message: EngineMessage }
  /** Coordinator → worker: entries of a worker that died, for this worker to announce. */
  | { kind: "expired"; topic: string; entries: PresenceEntry[] }
  /** Coordinator → worker: a question (see `gather`), answered with an `answer`. */
  | { kind: "ask"; id: number; what: string }
  /** Worker → coordinator: the answer to an `ask`. */
  | { kind: "answer"; id: number; value: unknown };

/** Anything on the channel. */
export type ChannelMessage = Request | Reply | Notice;
