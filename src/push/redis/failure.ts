/**
 * How the Redis engine's commands fail, in one place: each runs under a
 * deadline (`commandTimeout`), and every failure becomes an
 * `EngineUnavailableError` that says whether a write may have been applied
 * all the same (sent and not answered: a timeout, a connection lost
 * meanwhile) or surely was not (not connected, or refused by Redis).
 *
 * @module
 */

import { EngineUnavailableError } from "../engine_errors.ts";
import { type Logger, SILENT } from "../../server/log.ts";

/** What {@linkcode CommandGuard} needs of a client: whether it can send now. */
export interface ReadyClient {
  /** Whether the client can send commands now. */
  readonly isReady: boolean;
}

/** Options for {@linkcode CommandGuard}. */
export interface CommandGuardOptions {
  /** Milliseconds a call may take; `0` for no deadline. */
  timeout: number;
  /** Whether an error is Redis's own answer (the command ran, and failed). */
  isReply: (error: unknown) => boolean;
  /**
   * Where timeouts and errors from Redis are logged.
   *
   * @default {SILENT}
   */
  logger?: Logger;
}

/** One call to guard: what it does, and whether it writes. */
export interface GuardedCall {
  /** What the call does, for messages: `append to topic "news"`. */
  readonly what: string;
  /** Whether it changes data (its outcome then matters when unanswered). */
  readonly write: boolean;
}

/**
 * Runs the engine's calls to Redis under a deadline, and turns their
 * failures into `EngineUnavailableError`.
 *
 * @example
 * ```ts
 * import { CommandGuard } from "./failure.ts";
 * import { EngineUnavailableError } from "../engine_errors.ts";
 *
 * const guard = new CommandGuard({ timeout: 10, isReply: () => false });
 * const client = { isReady: true };
 * const never = () => new Promise<string>(() => {});
 * try {
 *   await guard.run(client, { what: 'append to topic "news"', write: true }, never);
 * } catch (error) {
 *   console.log((error as EngineUnavailableError).outcomeUnknown); // true
 * }
 * ```
 */
export class CommandGuard {
  readonly #timeout: number;
  readonly #isReply: (error: unknown) => boolean;
  readonly #logger: Logger;
  #timeouts = 0;

  /**
   * Makes a guard.
   *
   * @param options The deadline, how to tell Redis's answers, and the logger.
   */
  constructor(options: CommandGuardOptions) {
    this.#timeout = options.timeout;
    this.#isReply = options.isReply;
    this.#logger = options.logger ?? SILENT;
  }

  /** Calls that got no answer within the deadline, so far. */
  get timeouts(): number {
    return this.#timeouts;
  }

  /**
   * Runs a call on a client when it can send, within the deadline.
   *
   * @param client The client, or `undefined` when the engine is not open.
   * @param call What the call does, and whether it writes.
   * @param send Sends the call's commands.
   * @returns What `send` resolved with.
   * @throws {EngineUnavailableError} When the client cannot send, the deadline
   * passes first, or the call fails.
   */
  async run<C extends ReadyClient, T>(
    client: C | undefined,
    call: GuardedCall,
    send: (client: C) => Promise<T>,
  ): Promise<T> {
    if (client === undefined) {
      throw this.#refused(call, "the Redis engine is not open");
    }
    if (!client.isReady) throw this.#refused(call, "Redis is not connected");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      if (this.#timeout > 0) {
        timer = setTimeout(() => reject(this.#timedOut(call)), this.#timeout);
      }
    });
    try {
      return await Promise.race([send(client), deadline]);
    } catch (error) {
      throw this.#failed(call, error);
    } finally {
      clearTimeout(timer);
    }
  }

  #refused(call: GuardedCall, why: string): EngineUnavailableError {
    const outcome = call.write ? " (nothing was written)" : "";
    return new EngineUnavailableError(`Cannot ${call.what}: ${why}${outcome}`);
  }

  #timedOut(call: GuardedCall): EngineUnavailableError {
    this.#timeouts++;
    this.#logger.warn("redis-command-timeout", { call: call.what, timeout: this.#timeout });
    const outcome = call.write ? " (it may have been applied)" : "";
    return new EngineUnavailableError(
      `Cannot ${call.what}: Redis did not answer within ${this.#timeout} ms${outcome}`,
      { outcomeUnknown: call.write },
    );
  }

  #failed(call: GuardedCall, error: unknown): EngineUnavailableError {
    if (error instanceof EngineUnavailableError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (this.#isReply(error)) {
      // Redis ran the command and answered with an error: nothing was applied.
      this.#logger.error("redis-script-error", { call: call.what, error: message });
      return new EngineUnavailableError(`Cannot ${call.what}: Redis answered ${message}`, {
        cause: error,
      });
    }
    const outcome = call.write ? " (it may have been applied)" : "";
    return new EngineUnavailableError(`Cannot ${call.what}: ${message}${outcome}`, {
      outcomeUnknown: call.write,
      cause: error,
    });
  }
}
