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

import { Coordinator, type Member } from "../../push/workers/coordinator.ts";
import { newNodeId } from "../../push/presence.ts";
import type { JwtOptions } from "../../auth/jwt.ts";
import { type Logger, type LogThreshold, SILENT } from "../../server/log.ts";
import { DEFAULTS } from "../../defaults.ts";
import type { FromWorker, ToWorker, WorkerServeOptions } from "./worker_messages.ts";

export type { WorkerServeOptions } from "./worker_messages.ts";

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

/** One worker, as this thread tracks it. */
interface Slot {
  readonly index: number;
  readonly node: string;
  readonly worker: Worker;
  readonly member: Member;
  readonly channel: MessageChannel;
  listening: boolean;
  readonly finished: PromiseWithResolvers<void>;
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
  const { workers: count, logger = SILENT, logLevel = "silent", jwt, ...serve } = options;
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
  const perWorker: WorkerServeOptions = {
    ...serve,
    maxConnections: share(serve.maxConnections ?? DEFAULTS.maxConnections),
    maxPendingHandshakes: share(serve.maxPendingHandshakes ?? DEFAULTS.maxPendingHandshakes),
  };
  const slots: Slot[] = [];
  const finished = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  let replaced = 0;
  let port = serve.port ?? DEFAULTS.port;

  const spawn = (index: number): Promise<Slot> => {
    const node = newNodeId();
    const worker = new Worker(WORKER_URL, { type: "module", name: `pushwire-worker-${index}` });
    const channel = new MessageChannel();
    const member = coordinator.attach(channel.port1, node);
    const slot: Slot = {
      index,
      node,
      worker,
      member,
      channel,
      listening: false,
      finished: Promise.withResolvers(),
    };
    const started = Promise.withResolvers<number>();
    const timer = setTimeout(
      () => started.reject(new Error(`worker ${index} did not listen within ${startTimeout} ms`)),
      startTimeout,
    );
    worker.onmessage = (event) => {
      const message = event.data as FromWorker;
      if (message.kind === "listening") {
        slot.listening = true;
        started.resolve(message.port);
      } else if (message.kind === "failed") started.reject(new Error(message.message));
      else slot.finished.resolve();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      if (!slot.listening) started.reject(new Error(event.message));
      else lost(slot, event.message);
    };
    const start: ToWorker = {
      kind: "start",
      node,
      options: { ...perWorker, port },
      logLevel,
      ...(jwt === undefined ? {} : { jwt }),
    };
    worker.postMessage(start, [channel.port2]);
    return started.promise.then((listening) => {
      clearTimeout(timer);
      port = listening;
      return slot;
    }, (error) => {
      clearTimeout(timer);
      end(slot);
      throw error;
    });
  };

  /** Lets a worker go: the thread, its channel, its place in the coordinator. */
  const end = (slot: Slot) => {
    slot.worker.terminate();
    coordinator.detach(slot.member);
    slot.channel.port1.close();
    slot.finished.resolve();
  };

  const lost = (slot: Slot, error: string) => {
    if (stopping !== undefined || slots[slot.index] !== slot) return;
    logger.error("worker-crashed", { worker: slot.index, node: slot.node, error });
    end(slot);
    replaced++;
    const replace = (): void => {
      if (stopping !== undefined) return;
      spawn(slot.index).then((next) => {
        if (stopping !== undefined) return end(next);
        slots[slot.index] = next;
        logger.info("worker-replaced", { worker: slot.index, node: next.node });
      }, (error) => {
        logger.error("worker-replace-failed", { worker: slot.index, error });
        setTimeout(replace, 1000);
      });
    };
    replace();
  };

  try {
    slots.push(await spawn(0));
    slots.push(...await Promise.all(Array.from({ length: count - 1 }, (_, i) => spawn(i + 1))));
  } catch (error) {
    for (const slot of slots) end(slot);
    coordinator.close();
    throw error;
  }

  const shutdown = () => {
    stopping ??= (async () => {
      for (const slot of slots) slot.worker.postMessage({ kind: "shutdown" } satisfies ToWorker);
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, 15_000));
      await Promise.race([Promise.all(slots.map((slot) => slot.finished.promise)), deadline]);
      for (const slot of slots) end(slot);
      coordinator.close();
      finished.resolve();
    })();
    return stopping;
  };

  return {
    addr: { transport: "tcp", hostname: serve.hostname ?? DEFAULTS.hostname, port },
    secure: serve.cert !== undefined,
    workers: count,
    get replaced() {
      return replaced;
    },
    get nodes() {
      return slots.map((slot) => slot.node);
    },
    terminate: (index) => {
      const slot = slots[index];
      if (slot === undefined) throw new RangeError(`Invalid worker: ${index}`);
      slot.worker.terminate();
      lost(slot, "terminated");
    },
    shutdown,
    finished: finished.promise,
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
