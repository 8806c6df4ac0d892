/**
 * The client's publishes on their way: each gets a `ref`, waits for a
 * connection if there is none, and is settled by the server's answer with
 * that `ref` (`published` or `error`), by a drop of the connection it was
 * sent on (outcome unknown), or by a timeout. Chat messages for the room
 * wait in the same line, so that what is sent keeps its order, and are
 * settled once sent: the room answers nothing.
 *
 * @module
 */

/** What a publish got: the id the server gave the message. */
export interface PublishResult {
  /** The topic. */
  topic: string;
  /** The message's id, `<epoch>:<seq>`. */
  id: string;
}

/**
 * A publish (or a chat message, from `say`) that did not succeed. `outcome`
 * says whether the message may still have been published: `"refused"` (it
 * was not: the server refused it, or it was never sent) or `"unknown"` (it
 * was sent and the connection dropped, or the answer did not come in time:
 * it may have been published; subscribers will see it if it was). A chat
 * message is only ever `"refused"`: once sent, it is settled.
 */
export class PublishError extends Error {
  /** `"refused"`: not published. `"unknown"`: it may have been. */
  readonly outcome: "refused" | "unknown";

  /**
   * Makes the error.
   *
   * @param message What happened.
   * @param outcome Whether the message may have been published.
   */
  constructor(message: string, outcome: "refused" | "unknown") {
    super(message);
    this.name = "PublishError";
    this.outcome = outcome;
  }
}

/**
 * Why nothing can be sent, for good, or `undefined`: the client is closed,
 * or its transport is SSE (one way).
 *
 * @example
 * ```ts
 * import { sendRefusal } from "./publishes.ts";
 *
 * console.log(sendRefusal("say", "open", "sse")?.message);
 * // "Cannot say over SSE: it only carries the server's events"
 * ```
 *
 * @param verb What was asked: `publish`, `say`.
 * @param state The client's state.
 * @param transport Its transport.
 * @returns The error to reject with, or `undefined`.
 */
export function sendRefusal(
  verb: string,
  state: string,
  transport: string,
): PublishError | undefined {
  if (state === "closed") {
    return new PublishError(`Cannot ${verb}: the client is closed`, "refused");
  }
  if (transport !== "sse") return undefined;
  return new PublishError(
    `Cannot ${verb} over SSE: it only carries the server's events`,
    "refused",
  );
}

/** The most publishes waiting for an answer or a connection. */
export const MAX_PENDING_PUBLISHES = 1000;

interface Pending {
  text: string;
  sent: boolean;
  /** A chat message: settled (with `undefined`) once sent. */
  chat: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve: (result: PublishResult | undefined) => void;
  reject: (error: PublishError) => void;
}

/** The publishes waiting, by `ref`. */
export class PendingPublishes {
  readonly #pending = new Map<number, Pending>();
  readonly #timeout: number;
  #nextRef = 1;

  /**
   * Makes an empty set of publishes.
   *
   * @param timeout Milliseconds a sent publish waits for its answer.
   */
  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  /**
   * Adds a publish; `send` is tried at once.
   *
   * @param topic The topic.
   * @param json The data, as JSON.
   * @param send Sends a text message now, or says it cannot.
   * @returns The answer.
   */
  add(topic: string, json: string, send: (text: string) => boolean): Promise<PublishResult> {
    const quoted = JSON.stringify(topic);
    const text = (ref: number) =>
      `{"type":"publish","topic":${quoted},"data":${json},"ref":${ref}}`;
    return this.#enqueue(text, false, send) as Promise<PublishResult>;
  }

  /**
   * Adds a chat message; `send` is tried at once. It is settled once sent.
   *
   * @param text The message.
   * @param send Sends a text message now, or says it cannot.
   * @returns Resolves once it is sent.
   */
  addChat(text: string, send: (text: string) => boolean): Promise<void> {
    return this.#enqueue(() => text, true, send).then(() => {});
  }

  #enqueue(
    textOf: (ref: number) => string,
    chat: boolean,
    send: (text: string) => boolean,
  ): Promise<PublishResult | undefined> {
    if (this.#pending.size >= MAX_PENDING_PUBLISHES) {
      const what = chat ? "Cannot say" : "Cannot publish";
      return Promise.reject(
        new PublishError(`${what}: ${MAX_PENDING_PUBLISHES} messages are waiting`, "refused"),
      );
    }
    const ref = this.#nextRef++;
    const text = textOf(ref);
    return new Promise((resolve, reject) => {
      const pending: Pending = { text, sent: false, chat, timer: undefined, resolve, reject };
      this.#pending.set(ref, pending);
      this.#send(ref, pending, send);
    });
  }

  /**
   * Sends every publish not sent yet (a connection opened).
   *
   * @param send Sends a text message.
   */
  flush(send: (text: string) => boolean): void {
    for (const [ref, pending] of this.#pending) if (!pending.sent) this.#send(ref, pending, send);
  }

  /**
   * Settles a publish with the server's answer.
   *
   * @param ref The answer's `ref`.
   * @param answer The id and topic, or the server's error message.
   * @returns Whether a publish had that `ref`.
   */
  answer(ref: unknown, answer: { id: string; topic: string } | { error: string }): boolean {
    const pending = typeof ref === "number" ? this.#pending.get(ref) : undefined;
    if (pending === undefined) return false;
    this.#settle(ref as number, pending);
    if ("error" in answer) pending.reject(new PublishError(answer.error, "refused"));
    else pending.resolve({ topic: answer.topic, id: answer.id });
    return true;
  }

  /**
   * The connection dropped: publishes sent on it fail with outcome unknown;
   * the others wait for the next one.
   */
  dropped(): void {
    for (const [ref, pending] of this.#pending) {
      if (!pending.sent) continue;
      this.#settle(ref, pending);
      pending.reject(
        new PublishError(
          "The connection dropped before the server answered: the message may have been published",
          "unknown",
        ),
      );
    }
  }

  /**
   * Fails every publish: sent ones with outcome unknown, others refused.
   *
   * @param reason Why.
   */
  failAll(reason: string): void {
    for (const [ref, pending] of this.#pending) {
      this.#settle(ref, pending);
      pending.reject(
        pending.sent
          ? new PublishError(`${reason}: the message may have been published`, "unknown")
          : new PublishError(`${reason}: the message was not sent`, "refused"),
      );
    }
  }

  #send(ref: number, pending: Pending, send: (text: string) => boolean): void {
    if (!send(pending.text)) return;
    pending.sent = true;
    if (pending.chat) {
      this.#settle(ref, pending);
      return pending.resolve(undefined);
    }
    pending.timer = setTimeout(() => {
      this.#settle(ref, pending);
      pending.reject(
        new PublishError(
          `No answer within ${this.#timeout} ms: the message may have been published`,
          "unknown",
        ),
      );
    }, this.#timeout);
  }

  #settle(ref: number, pending: Pending): void {
    clearTimeout(pending.timer);
    this.#pending.delete(ref);
  }
}
