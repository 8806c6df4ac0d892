/**
 * Acting on users on every node: disconnect a user, unsubscribe a user from
 * a topic, count the subscribers of every topic. With an engine that is not
 * shared, {@linkcode ClusterControl} runs the node's own operations at once.
 * With a shared engine it appends a request to the internal engine topic
 * {@linkcode CONTROL_TOPIC}; every node (the requester included, as the
 * request comes back through the engine) runs its own operation and
 * appends a reply; the requester adds up the replies until every live node
 * has answered, or until the timeout (2 s by default) passes, and then
 * answers with what it has: **a count can be short when a node does not
 * answer in time** (it may still act afterwards).
 *
 * ```text
 * {"kind":"request","id":"a1b2c3:7","from":"a1b2c3","op":"disconnect","user":"ada","reason":"Bye"}
 * {"kind":"reply","id":"a1b2c3:7","to":"a1b2c3","from":"d4e5f6","count":2}
 * {"kind":"reply","id":"a1b2c3:9","to":"a1b2c3","from":"d4e5f6","topics":[["news",3]]}
 * ```
 *
 * @example One node
 * ```ts
 * import { ClusterControl } from "./cluster_control.ts";
 * import { MemoryEngine } from "../push/engine.ts";
 *
 * const control = new ClusterControl({
 *   engine: new MemoryEngine(),
 *   node: "n1",
 *   nodes: () => Promise.resolve(["n1"]),
 *   local: {
 *     disconnect: (user) => user === "ada" ? 2 : 0,
 *     unsubscribe: () => 0,
 *     topics: () => new Map([["news", 3], ["chat", 5]]),
 *   },
 * });
 * console.log(await control.disconnect("ada", "Bye")); // 2
 * console.log(await control.topics());
 * // [ { topic: "chat", subscribers: 5 }, { topic: "news", subscribers: 3 } ]
 * ```
 *
 * @module
 */

import { MAX_USER_LENGTH } from "../auth/identity.ts";
import { MAX_CLOSE_REASON_BYTES } from "../protocol/close_frame.ts";
import { type Engine, type EngineMessage, EngineUnavailableError } from "../push/engine.ts";
import { type Logger, SILENT } from "../server/log.ts";
import { validateTopic } from "../server/topics.ts";

/**
 * The engine topic that carries control requests and replies between
 * nodes: internal (its name starts with `#`), so no client can subscribe.
 */
export const CONTROL_TOPIC = "#control";

/** Milliseconds a request waits for every live node's reply, by default. */
export const CONTROL_TIMEOUT = 2000;

/** Requests of this node waiting for replies at once, at most, by default. */
export const MAX_PENDING_CONTROL = 64;

/** Topics one node's `topics` reply lists at most (those with most subscribers). */
export const MAX_TOPICS_REPLY = 10_000;

/** What this node does on its own: its sockets, counted. */
export interface LocalControl {
  /**
   * Closes every socket of a user on this node (with a 4xxx close code and
   * the reason).
   *
   * @param user The user (a token's `sub`).
   * @param reason The close reason (at most 123 bytes of UTF-8).
   * @returns How many sockets were closed.
   */
  disconnect(user: string, reason: string): number;
  /**
   * Unsubscribes every socket of a user on this node from a topic.
   *
   * @param user The user.
   * @param topic The topic.
   * @returns How many sockets were unsubscribed.
   */
  unsubscribe(user: string, topic: string): number;
  /**
   * The topics with subscribers on this node.
   *
   * @returns Each topic's number of subscribers.
   */
  topics(): Map<string, number>;
}

/** A topic and its subscribers, summed over the nodes that answered. */
export interface TopicCount {
  /** The topic. */
  topic: string;
  /** Its subscribers. */
  subscribers: number;
}

/** Options for {@linkcode ClusterControl}. */
export interface ClusterControlOptions {
  /** The hub's engine: requests travel through it when it is shared. */
  engine: Engine;
  /** This node's id (the presence store's `node`). */
  node: string;
  /** The live nodes, this one included (the presence store's `nodes`). */
  nodes: () => Promise<string[]>;
  /** This node's own operations. */
  local: LocalControl;
  /**
   * Milliseconds a request waits for the live nodes' replies.
   *
   * @default {2000}
   */
  timeout?: number;
  /**
   * Requests of this node waiting at once; past it a request is refused
   * with `EngineUnavailableError` (a 503 for the API).
   *
   * @default {64}
   */
  maxPending?: number;
  /**
   * Where failed replies and failing local operations are logged.
   *
   * @default {SILENT}
   */
  logger?: Logger;
}

/** An operation, as a request carries it. */
export type ControlOperation =
  | { op: "disconnect"; user: string; reason: string }
  | { op: "unsubscribe"; user: string; topic: string }
  | { op: "topics" };

/** What a node answers: a count, or its topics' counts. */
type Answer = number | [string, number][];

/** A request or a reply, as {@linkcode CONTROL_TOPIC} carries it. */
type ControlMessage =
  | { kind: "request"; id: string; from: string; operation: ControlOperation }
  | { kind: "reply"; id: string; to: string; from: string; answer: Answer };

interface Pending {
  readonly answers: Map<string, Answer>;
  expected: ReadonlySet<string> | undefined;
  readonly done: PromiseWithResolvers<void>;
}

/**
 * Disconnects users, unsubscribes them and counts topics, on every node:
 * see the module documentation for how and with which guarantees.
 */
export class ClusterControl {
  readonly #engine: Engine;
  readonly #node: string;
  readonly #nodes: () => Promise<string[]>;
  readonly #local: LocalControl;
  readonly #timeout: number;
  readonly #maxPending: number;
  readonly #logger: Logger;
  readonly #pending = new Map<string, Pending>();
  #sequence = 0;

  /**
   * Makes a control for this node.
   *
   * @param options The engine, this node and the live nodes, the local
   * operations, the timeout and the bound on waiting requests.
   */
  constructor(options: ClusterControlOptions) {
    this.#engine = options.engine;
    this.#node = options.node;
    this.#nodes = options.nodes;
    this.#local = options.local;
    this.#timeout = options.timeout ?? CONTROL_TIMEOUT;
    this.#maxPending = options.maxPending ?? MAX_PENDING_CONTROL;
    this.#logger = options.logger ?? SILENT;
  }

  /**
   * Closes every connection of a user, on every node.
   *
   * @param user The user (1 to 256 characters).
   * @param reason The close reason (at most 123 bytes of UTF-8).
   * @returns How many connections were closed (on the nodes that answered in time).
   * @throws {TypeError} For an invalid user or reason.
   * @throws {EngineUnavailableError} When the engine or the list of nodes
   * failed, or too many requests are waiting.
   */
  async disconnect(user: string, reason: string): Promise<number> {
    checkUser(user);
    checkReason(reason);
    return sum(await this.#request({ op: "disconnect", user, reason }));
  }

  /**
   * Unsubscribes every connection of a user from a topic, on every node.
   *
   * @param user The user (1 to 256 characters).
   * @param topic A topic name.
   * @returns How many connections were unsubscribed (on the nodes that answered in time).
   * @throws {TypeError} For an invalid user or topic.
   * @throws {EngineUnavailableError} As for {@linkcode ClusterControl.disconnect}.
   */
  async unsubscribe(user: string, topic: string): Promise<number> {
    checkUser(user);
    validateTopic(topic);
    return sum(await this.#request({ op: "unsubscribe", user, topic }));
  }

  /**
   * Every topic with subscribers, and how many, summed over the nodes;
   * sorted by topic name.
   *
   * @returns The topics (as the nodes that answered in time count them).
   * @throws {EngineUnavailableError} As for {@linkcode ClusterControl.disconnect}.
   */
  async topics(): Promise<TopicCount[]> {
    const totals = new Map<string, number>();
    for (const answer of await this.#request({ op: "topics" })) {
      if (typeof answer === "number") continue;
      for (const [topic, n] of answer) totals.set(topic, (totals.get(topic) ?? 0) + n);
    }
    return [...totals].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([topic, subscribers]) => ({ topic, subscribers }));
  }

  /**
   * Handles a message of {@linkcode CONTROL_TOPIC} that came through the
   * engine: a request is run here and answered, a reply to one of this
   * node's requests is counted. Other topics, malformed messages and other
   * nodes' replies are ignored.
   *
   * @param message A message of an internal topic.
   */
  receive(message: EngineMessage): void {
    if (message.topic !== CONTROL_TOPIC) return;
    const control = parseControlMessage(message.payload);
    if (control?.kind === "request") this.#answer(control.id, control.from, control.operation);
    else if (control?.kind === "reply" && control.to === this.#node) {
      const pending = this.#pending.get(control.id);
      if (pending === undefined || pending.answers.has(control.from)) return;
      pending.answers.set(control.from, control.answer);
      settleIfComplete(pending);
    }
  }

  /** Runs an operation everywhere: its answers, by node. */
  async #request(operation: ControlOperation): Promise<Answer[]> {
    if (!this.#engine.shared) return [this.#run(operation)];
    if (this.#pending.size >= this.#maxPending) {
      throw new EngineUnavailableError(
        `Cannot ${operation.op}: ${this.#maxPending} requests are waiting for answers already`,
      );
    }
    const id = `${this.#node}:${++this.#sequence}`;
    const pending: Pending = {
      answers: new Map(),
      expected: undefined,
      done: Promise.withResolvers(),
    };
    this.#pending.set(id, pending);
    const timer = setTimeout(() => pending.done.resolve(), this.#timeout);
    try {
      const request = { kind: "request", id, from: this.#node, ...operation };
      const [, nodes] = await Promise.all([
        this.#engine.append(CONTROL_TOPIC, JSON.stringify(request)),
        this.#nodes(),
      ]);
      pending.expected = new Set(nodes);
      settleIfComplete(pending);
      await pending.done.promise;
      return [...pending.answers.values()];
    } finally {
      clearTimeout(timer);
      this.#pending.delete(id);
    }
  }

  /** Runs another node's (or this node's) request here, and replies. */
  #answer(id: string, to: string, operation: ControlOperation): void {
    const answer = this.#run(operation);
    const reply = { kind: "reply", id, to, from: this.#node };
    const payload = JSON.stringify(
      typeof answer === "number" ? { ...reply, count: answer } : { ...reply, topics: answer },
    );
    this.#engine.append(CONTROL_TOPIC, payload).catch((error) =>
      this.#logger.warn("control-reply-failed", { id, op: operation.op, error })
    );
  }

  /** Runs an operation on this node; a failing one counts 0, logged. */
  #run(operation: ControlOperation): Answer {
    try {
      switch (operation.op) {
        case "disconnect":
          return this.#local.disconnect(operation.user, operation.reason);
        case "unsubscribe":
          return this.#local.unsubscribe(operation.user, operation.topic);
        case "topics":
          return [...this.#local.topics()].sort(([, a], [, b]) => b - a)
            .slice(0, MAX_TOPICS_REPLY);
      }
    } catch (error) {
      this.#logger.error("control-failed", { op: operation.op, error });
      return operation.op === "topics" ? [] : 0;
    }
  }
}

/**
 * Checks a user id: 1 to {@linkcode MAX_USER_LENGTH} characters.
 *
 * @example
 * ```ts
 * import { checkUser } from "./cluster_control.ts";
 *
 * checkUser("ada"); // fine
 * try {
 *   checkUser("");
 * } catch (error) {
 *   console.log((error as TypeError).message); // "Invalid user: use 1 to 256 characters"
 * }
 * ```
 *
 * @param user The user.
 * @throws {TypeError} When it is not a string of 1 to 256 characters.
 */
export function checkUser(user: string): void {
  if (typeof user !== "string" || user.length === 0 || user.length > MAX_USER_LENGTH) {
    throw new TypeError(`Invalid user: use 1 to ${MAX_USER_LENGTH} characters`);
  }
}

/**
 * Checks a close reason: at most 123 bytes of UTF-8 (what a close frame
 * carries).
 *
 * @param reason The reason.
 * @throws {TypeError} When it is longer.
 */
export function checkReason(reason: string): void {
  if (
    typeof reason !== "string" ||
    (reason.length > MAX_CLOSE_REASON_BYTES / 3 &&
      new TextEncoder().encode(reason).length > MAX_CLOSE_REASON_BYTES)
  ) {
    throw new TypeError(`Invalid reason: at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8`);
  }
}

/** Resolves a request once every expected node has answered. */
function settleIfComplete(pending: Pending): void {
  const { expected, answers } = pending;
  if (expected !== undefined && [...expected].every((node) => answers.has(node))) {
    pending.done.resolve();
  }
}

function sum(answers: Answer[]): number {
  return answers.reduce<number>((total, a) => total + (typeof a === "number" ? a : 0), 0);
}

/** A control message from JSON, checked field by field; `undefined` when malformed. */
function parseControlMessage(json: string): ControlMessage | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { kind, id, from, to } = value;
  if (!isName(id) || !isName(from)) return undefined;
  if (kind === "request") {
    const operation = parseOperation(value);
    return operation === undefined ? undefined : { kind, id, from, operation };
  }
  if (kind !== "reply" || !isName(to)) return undefined;
  const { count, topics } = value;
  if (isCount(count)) return { kind, id, from, to, answer: count };
  if (!Array.isArray(topics) || topics.length > MAX_TOPICS_REPLY) return undefined;
  const pairs = topics.filter((pair): pair is [string, number] =>
    Array.isArray(pair) && typeof pair[0] === "string" && isCount(pair[1])
  );
  return pairs.length === topics.length ? { kind, id, from, to, answer: pairs } : undefined;
}

/** A request's operation, checked; `undefined` when malformed. */
function parseOperation(value: Record<string, unknown>): ControlOperation | undefined {
  const { op, user, reason, topic } = value;
  if (op === "topics") return { op };
  try {
    checkUser(user as string);
    if (op === "disconnect") {
      checkReason(reason as string);
      return { op, user: user as string, reason: reason as string };
    }
    validateTopic(topic as string);
    return op === "unsubscribe" ? { op, user: user as string, topic: topic as string } : undefined;
  } catch {
    return undefined;
  }
}

const isName = (value: unknown): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= 128;

const isCount = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
