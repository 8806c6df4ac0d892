/**
 * A worker of {@linkcode servePushWorkers}: one push server (a node, as a
 * Redis node is) whose engine and presence store are the coordinator's,
 * through the `MessagePort` it is given at start. It shares the port with
 * the other workers (`reusePort`), answers `/metrics` and `/healthz` for the
 * whole server (gathered through the coordinator), tells the main thread
 * when it listens and when it has finished, and shuts down when asked. It
 * prints nothing: the main thread prints the one `listening` line.
 *
 * @module
 */

import { HttpError } from "../../protocol/errors.ts";
import { checkScraper } from "../../server/builtin_routes.ts";
import { Logger } from "../../server/log.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "../../server/metrics.ts";
import type { HttpRoutes } from "../../server/routes.ts";
import { WorkerLink } from "../../push/workers/link.ts";
import type { Port } from "../../push/workers/messages.ts";
import { WorkerEngine } from "../../push/workers/worker_engine.ts";
import { WorkerPresence } from "../../push/workers/worker_presence.ts";
import { type PushServer, servePush, type ServePushOptions } from "../serve_push.ts";
import { mergeHealth, mergeMetrics } from "./gathered.ts";
import type { FromWorker, ToWorker, WorkerStart } from "./worker_messages.ts";

const self = globalThis as unknown as Port & { close(): void };
let push: PushServer | undefined;

self.onmessage = (event: MessageEvent) => {
  const message = event.data as ToWorker;
  if (message.kind === "start") {
    start(message, event.ports[0]!).catch((error) =>
      tell({ kind: "failed", message: error instanceof Error ? error.message : String(error) })
    );
  } else if (message.kind === "shutdown") {
    if (push === undefined) tell({ kind: "finished" });
    else push.server.shutdown();
  } else if (message.kind === "crash") {
    // For tests: an uncaught error, as a bug would throw.
    setTimeout(() => {
      throw new Error("crash asked for");
    });
  }
};

function tell(message: FromWorker): void {
  self.postMessage(message);
}

async function start(message: WorkerStart, port: MessagePort): Promise<void> {
  const link = new WorkerLink(port);
  const logger = new Logger({ level: message.logLevel, write: (line) => console.error(line) });
  const options: ServePushOptions = {
    ...message.options,
    reusePort: true,
    logger,
    ...await sharedState(message, link, logger),
    routes: gatheredRoutes(link, message.options.metricsToken),
  };
  if (message.jwt !== undefined) {
    const { jwtAuthorizer } = await import("../../auth/jwt.ts");
    const authorize = jwtAuthorizer(message.jwt);
    await authorize.ready;
    options.authorize = authorize;
  }
  const server = servePush(options);
  push = server;
  link.onAsk = (what) =>
    what === "metrics"
      ? server.server.metrics.collect()
      : what === "health"
      ? server.server.health()
      : undefined;
  server.server.finished.finally(() => tell({ kind: "finished" }));
  await server.ready;
  tell({ kind: "listening", port: server.server.addr.port });
}

/**
 * Where a worker's topics and presence live: the coordinator, or (with
 * Redis) Redis, as for any node; npm:redis is loaded only then.
 */
async function sharedState(
  message: WorkerStart,
  link: WorkerLink,
  logger: Logger,
): Promise<Pick<ServePushOptions, "engine" | "presenceStore">> {
  const { redis } = message;
  if (redis === undefined) {
    return {
      engine: new WorkerEngine(link),
      presenceStore: new WorkerPresence(link, message.node),
    };
  }
  const { RedisEngine } = await import("../../push/redis_engine.ts");
  const { RedisPresence } = await import("../../push/redis/presence.ts");
  const engine = new RedisEngine({ ...redis, logger });
  await engine.open();
  const presenceStore = new RedisPresence({
    url: redis.url,
    node: message.node,
    logger,
    ...(redis.connectTimeout === undefined ? {} : { connectTimeout: redis.connectTimeout }),
  });
  return { engine, presenceStore };
}

/** `/metrics` and `/healthz` of the whole server: every worker's, gathered. */
function gatheredRoutes(link: WorkerLink, metricsToken: string | undefined): HttpRoutes {
  return {
    "/healthz": {
      methods: ["GET"],
      handle: async () => ({
        status: 200,
        body: JSON.stringify(mergeHealth(await link.request("gather", { what: "health" }))) + "\n",
        headers: { "Content-Type": "application/json" },
      }),
    },
    "/metrics": {
      methods: ["GET"],
      handle: async (request) => {
        await checkScraper(request, metricsToken);
        const gathered = await link.request("gather", { what: "metrics" }).catch((error) => {
          throw new HttpError(503, `Cannot gather the workers' metrics: ${error.message}`);
        });
        return {
          status: 200,
          body: renderMetrics(mergeMetrics(gathered)),
          headers: { "Content-Type": METRICS_CONTENT_TYPE },
        };
      },
    },
  };
}
