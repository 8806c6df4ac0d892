/**
 * What the main thread and a worker of {@linkcode servePushWorkers} say to
 * each other about the worker's life (the engine's traffic has its own
 * channel, `push/workers/messages.ts`).
 *
 * @module
 */

import type { JwtOptions } from "../../auth/jwt.ts";
import type { LogThreshold } from "../../server/log.ts";
import type { ServePushOptions } from "../serve_push.ts";

/**
 * The options a worker's server takes from the main thread: the data of
 * {@linkcode ServePushOptions}, without its functions and objects (the
 * authorize hook is built in the worker from `jwt`).
 */
export type WorkerServeOptions = Omit<
  ServePushOptions,
  | "authorize"
  | "allowTopic"
  | "logger"
  | "signal"
  | "routes"
  | "engine"
  | "presenceStore"
  | "subscribers"
  | "reusePort"
>;

/** Main → worker: start, with the coordinator's channel as the message's one port. */
export interface WorkerStart {
  /** Always `"start"`. */
  kind: "start";
  /** The worker's node id. */
  node: string;
  /** Its server's options. */
  options: WorkerServeOptions;
  /** Its log level (lines go to stderr). */
  logLevel: LogThreshold;
  /** The JWT options, when clients must present a token. */
  jwt?: JwtOptions;
  /**
   * With Redis: the worker is a Redis node (its own engine and presence
   * store on this Redis) instead of a client of the coordinator.
   */
  redis?: WorkerRedis;
}

/** A worker's Redis: where, and the engine's history and start timeout. */
export interface WorkerRedis {
  /** The Redis URL. */
  url: string;
  /** Messages kept per topic. */
  size?: number;
  /** Milliseconds a message is kept. */
  ttl?: number;
  /** Milliseconds to keep trying to reach Redis at start. */
  connectTimeout?: number;
}

/** Main → worker. */
export type ToWorker = WorkerStart | { kind: "shutdown" } | { kind: "crash" };

/** Worker → main. */
export type FromWorker =
  | { kind: "listening"; port: number }
  | { kind: "failed"; message: string }
  | { kind: "finished" };
