/**
 * The Redis engine's connections, thin: URL checks, and the two node-redis
 * clients (commands, Pub/Sub) made with the options the engine relies on.
 * node-redis (`npm:redis`) is imported only when clients are made, so that
 * importing the engine (or `mod.ts`) loads no npm package; with its
 * maintenance notifications off it needs only network permission.
 *
 * @module
 */

import { backoff } from "./backoff.ts";

/** Where Redis is when no URL is given. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0";

/** What the engine uses of a node-redis client. */
export interface RedisClient {
  /** Whether the client is connected or connecting. */
  readonly isOpen: boolean;
  /** Whether the client can send commands now. */
  readonly isReady: boolean;
  /** Connects; rejects when the reconnect strategy gives up. */
  connect(): Promise<unknown>;
  /** Closes the connection at once. */
  destroy(): void;
  /**
   * Listens to the client's `error` or `ready` events.
   *
   * @param event The event.
   * @param listener Called on each (with the error, for `error`).
   */
  on(event: "error" | "ready", listener: (error?: unknown) => void): unknown;
  /**
   * Sends a command.
   *
   * @param args The command and its arguments.
   */
  sendCommand(args: string[]): Promise<unknown>;
  /**
   * Subscribes a listener to a channel.
   *
   * @param channel The channel.
   * @param listener Gets each message.
   */
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /**
   * Unsubscribes a listener from a channel.
   *
   * @param channel The channel.
   * @param listener The listener given to `subscribe`.
   */
  unsubscribe(channel: string, listener: (message: string) => void): Promise<void>;
}

/** Which of an engine's two connections: commands and scripts, or Pub/Sub. */
export type RedisRole = "commands" | "subscriber";

/** Options for {@linkcode createClients}. */
export interface RedisClientsOptions {
  /** The Redis URL, checked by {@linkcode checkRedisUrl}. */
  url: string;
  /**
   * Milliseconds to keep trying the first connection (with backoff) before
   * `connect()` fails.
   */
  connectTimeout: number;
  /** Whether the engine was closed: the clients then stop reconnecting. */
  closed: () => boolean;
  /** Called once when a connection that was ready fails (it then reconnects). */
  lost: (role: RedisRole, error: unknown) => void;
  /** Called each time a connection comes back after it was lost. */
  reconnected: (role: RedisRole) => void;
}

/** An engine's two clients, and how to tell Redis's answers from other errors. */
export interface RedisClients {
  /** Commands and scripts. */
  readonly commands: RedisClient;
  /** Pub/Sub. */
  readonly subscriber: RedisClient;
  /**
   * Whether an error is Redis's own answer to a command (an error reply:
   * the command ran, or was refused, and nothing more will come of it).
   */
  readonly isErrorReply: (error: unknown) => boolean;
}

/**
 * Checks that a URL is `redis://` or `rediss://`.
 *
 * @example
 * ```ts
 * import { checkRedisUrl } from "./client.ts";
 *
 * checkRedisUrl("redis://127.0.0.1:6379/0"); // fine
 * try {
 *   checkRedisUrl("http://127.0.0.1:6379");
 * } catch (error) {
 *   console.log((error as TypeError).message);
 *   // Invalid Redis URL "http://127.0.0.1:6379": use redis://host:port/db or rediss://
 * }
 * ```
 *
 * @param url The URL.
 * @throws {TypeError} For anything else (the message shows no password).
 */
export function checkRedisUrl(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new TypeError(`Invalid Redis URL "${redactUrl(url)}"`);
  }
  if (protocol !== "redis:" && protocol !== "rediss:") {
    throw new TypeError(
      `Invalid Redis URL "${redactUrl(url)}": use redis://host:port/db or rediss://`,
    );
  }
}

/**
 * A Redis URL without its password.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./client.ts";
 *
 * console.log(redactUrl("redis://:secret@db:6379/0")); // "redis://:***@db:6379/0"
 * ```
 *
 * @param url The URL.
 * @returns The URL with `***` for the password.
 */
export function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, "$1***@");
}

/**
 * Makes an engine's two clients, not yet connected. Both fail commands at
 * once while disconnected (no offline queue), and reconnect by themselves
 * with backoff up to 2 s until the engine closes; before their first
 * connection, they give up after `connectTimeout` with an error naming the
 * URL (without its password) and the role.
 *
 * @param options The URL, the timeout, and the engine's callbacks.
 * @returns The commands and Pub/Sub clients.
 */
export async function createClients(options: RedisClientsOptions): Promise<RedisClients> {
  const started = Date.now();
  const { createClient, ErrorReply } = await import("redis");
  const { url, connectTimeout, closed, lost, reconnected } = options;
  const where = redactUrl(url);
  const make = (role: RedisRole) => {
    let connected = false;
    let up = false;
    const client: RedisClient = createClient({
      url,
      // Maintenance notifications read environment variables.
      maintNotifications: "disabled",
      // Fail at once while disconnected, rather than queue.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: Math.max(1000, Math.min(connectTimeout, 5000)),
        reconnectStrategy: (retries: number, cause: Error) => {
          if (closed()) return false;
          if (!connected && Date.now() - started >= connectTimeout) {
            return new Error(
              `Cannot connect to Redis at ${where} (${role}) within ${connectTimeout} ms: ${cause.message}`,
            );
          }
          return backoff(retries);
        },
      },
    });
    // Errors are reported through `lost`, failed calls and metrics; without
    // a listener they would be thrown.
    client.on("error", (error) => {
      if (!up || closed()) return;
      up = false;
      lost(role, error);
    });
    client.on("ready", () => {
      up = true;
      if (connected) reconnected(role);
      connected = true;
    });
    return client;
  };
  return {
    commands: make("commands"),
    subscriber: make("subscriber"),
    isErrorReply: (error) => error instanceof ErrorReply,
  };
}
