/**
 * One push server on every core: {@linkcode servePushWorkers} starts N Deno
 * workers in this process, each a push server accepting on the same port
 * (`reusePort`, Linux), and a coordinator in this thread that is to them
 * what Redis is to nodes (`push/workers/coordinator.ts`): one id order per
 * topic, one history window, one set of presence entries, the room and the
 * server API across workers. `/metrics` and `/healthz` answer for the whole
 * server. A worker that crashes is logged and replaced; the others go on.
 *
 * Needs, besides `-N`: `--unstable-net` (Deno's `reusePort` is unstable),
 * and read access to the modules a worker loads (from a checkout,
 * `-R=src`). See `docs/workers.md`.
 *
 * @module
 */

import { Coordinator } from "../../push/workers/coordinator.ts";
import type { JwtOptions } from "../../auth/jwt.ts";
import { type Logger, type LogThreshold, SILENT } from "../../server/log.ts";
import { DEFAULTS } from "../../defaults.ts";
import { WorkerFleet } from "./worker_fleet.ts";
import type { WorkerRedis, WorkerServeOptions } from "./worker_messages.ts";

export type { WorkerRedis, WorkerServeOptions } from "./worker_messages.ts";

/** The worker's module. */
const WORKER_URL = new URL("./worker_main.ts", import.meta.url);
/** What a worker reads: every module under `src/`. */
const SOURCE_DIR = new URL("../../", import.meta.url);

/** Options for {@linkcode servePushWorkers}: the push server's data, and the workers'. */
export interface ServePushWorkersOptions extends WorkerServeOptions {
  /** How many workers: a positive whole number (`navigator.hardwareConcurrency` for every core). */
  workers: number;
  /**
   * Where this thread logs workers that crash and are replaced.
   *
   * @default {SILENT}
   */
  logger?: Logger;
  /**
   * The workers' log level (their JSON lines go to stderr).
   *
   * @default {"silent"}
   */
  logLevel?: LogThreshold;
  /** Clients must present a JWT: the options of `jwtAuthorizer`, built in each worker. */
  jwt?: JwtOptions;
  /**
   * Share topics through Redis: each worker is then a Redis node (its own
   * `RedisEngine` and `RedisPresence`), sharing one view with the other
   * workers and nodes; the coordinator only gathers `/metrics` and
   * `/healthz`.
   */
  redis?: WorkerRedis;
  /**
   * Milliseconds a worker has to start listening.
   *
   * @default {10000}
   */
  startTimeout?: number;
}

/** A running server of several workers, made by {@linkcode servePushWorkers}. */
export interface PushWorkers {
  /** The address every worker listens on (the real port when `port: 0`). */
  readonly addr: Deno.NetAddr;
  /** Whether it serves TLS. */
  readonly secure: boolean;
  /** How many workers serve. */
  readonly workers: number;
  /** How many workers were replaced after a crash. */
  readonly replaced: number;
  /** Each worker's node id (the prefix of its clients' ids), by index. */
  readonly nodes: readonly string[];
  /**
   * Ends a worker at once, as a crash would (its sockets drop); it is
   * logged and replaced as a crash is. For drills and tests.
   *
   * @param index The worker, from 0.
   */
  terminate(index: number): void;
  /**
   * Shuts down: every worker closes its sockets with 1001 and finishes;
   * then the coordinator stops. Calling it again returns the same promise.
   *
   * @returns Resolves once every worker has finished.
   */
  shutdown(): Promise<void>;
  /** Resolves once shut down. */
  readonly finished: Promise<void>;
}

/**
 * Starts a push server of `workers` workers sharing one port, one set of
 * topics, ids and rooms. Resolves once every worker listens.
 *
 * The connection limits (`maxConnections`, `maxPendingHandshakes`) are the
 * server's: each worker gets an even share. `maxConnectionsPerAddress` is
 * per worker. The history options are the coordinator's: one window.
 *
 * @example
 * ```ts ignore
 * import { servePushWorkers } from "jsr:@pushwire/pushwire";
 *
 * const push = await servePushWorkers({ workers: navigator.hardwareConcurrency, port: 8080 });
 * Deno.addSignalListener("SIGINT", () => push.shutdown().then(() => Deno.exit(0)));
 * ```
 *
 * @param options The workers, and the push server's options (data only).
 * @returns The running server.
 * @throws {RangeError} For a worker count that is not a positive whole number.
 * @throws {Error} When `reusePort` is not available (Linux, `--unstable-net`),
 * a worker's modules cannot be read (`-R`), or a worker fails to listen.
 */
export async function servePushWorkers(options: ServePushWorkersOptions): Promise<PushWorkers> {
  const { workers: count, logger = SILENT, logLevel = "silent", jwt, redis, ...serve } = options;
  const startTimeout = options.startTimeout ?? 10_000;
  delete (serve as { startTimeout?: number }).startTimeout;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`Invalid workers: ${count} is not a positive whole number`);
  }
  checkWorkerPermissions();
  const coordinator = new Coordinator({
    ...(serve.historySize === undefined ? {} : { size: serve.historySize }),
    ...(serve.historyTtl === undefined ? {} : { ttl: serve.historyTtl }),
    ...(serve.historyTopics === undefined ? {} : { maxTopics: serve.historyTopics }),
    ...(serve.historyBytes === undefined ? {} : { maxBytes: serve.historyBytes }),
  });
  const share = (total: number) => Math.max(1, Math.floor(total / count));
  const fleet = new WorkerFleet({
    url: WORKER_URL,
    coordinator,
    logger,
    startTimeout,
    start: {
      logLevel,
      ...(jwt === undefined ? {} : { jwt }),
      ...(redis === undefined ? {} : { redis }),
      options: {
        ...serve,
        maxConnections: share(serve.maxConnections ?? DEFAULTS.maxConnections),
        maxPendingHandshakes: share(serve.maxPendingHandshakes ?? DEFAULTS.maxPendingHandshakes),
      },
    },
    port: serve.port ?? DEFAULTS.port,
  });
  await fleet.start(count);
  return {
    addr: { transport: "tcp", hostname: serve.hostname ?? DEFAULTS.hostname, port: fleet.port },
    secure: serve.cert !== undefined,
    workers: count,
    get replaced() {
      return fleet.replaced;
    },
    get nodes() {
      return fleet.nodes;
    },
    terminate: (index) => fleet.terminate(index),
    shutdown: () => fleet.shutdown(),
    finished: fleet.finished,
  };
}

/**
 * Fails early and clearly when a worker could not start: without read
 * access to its modules (from a checkout: `src/`, and the offline `@std`
 * fallback when that is where `@std` resolves), or without `reusePort`
 * (`--unstable-net`; Deno exits at once when an unstable API is called
 * without its flag, so the flag is told by an API only it defines).
 */
function checkWorkerPermissions(): void {
  const folders = [SOURCE_DIR];
  try {
    folders.push(new URL(".", import.meta.resolve("@std/encoding")));
  } catch {
    // Not mapped here: nothing more to read.
  }
  const missing = folders
    .filter((url) => url.protocol === "file:")
    .map((url) => decodeURIComponent(url.pathname))
    .filter((path) => Deno.permissions.querySync({ name: "read", path }).state !== "granted");
  if (missing.length > 0) {
    throw new Error(
      `workers need read access to their modules: run with -R=${missing.join(",")}`,
    );
  }
  if (Deno.build.os !== "linux") {
    throw new Error(`workers share one port through reusePort, which needs Linux`);
  }
  if (!("listenDatagram" in Deno)) {
    throw new Error("workers share one port through reusePort: run with --unstable-net");
  }
}
