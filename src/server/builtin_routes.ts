/**
 * The routes every server answers besides the application's: `GET /healthz`
 * (JSON counts), `GET /metrics` (Prometheus text) and, when given, the page
 * at `GET /`.
 *
 * @module
 */

import { type Metrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import type { HttpRoute } from "./routes.ts";

/** What `GET /healthz` reports. */
export interface Health {
  /** `"ok"`, or `"shutting down"` once shutdown began. */
  status: "ok" | "shutting down";
  /** Open sockets. */
  sockets: number;
  /** Connections still in their opening handshake. */
  handshakes: number;
  /** Seconds since the server started. */
  uptimeSeconds: number;
}

/** What the built-in routes serve. */
export interface BuiltinRouteSources {
  /** The health counts, read at each request. */
  health: () => Health;
  /** The metrics for `GET /metrics`, or `undefined` for none. */
  metrics: Metrics | undefined;
  /** The HTML for `GET /`, or `false` for none. */
  page: string | false;
}

/**
 * The built-in routes, by path.
 *
 * @example
 * ```ts
 * import { builtinRoutes } from "./builtin_routes.ts";
 *
 * const routes = builtinRoutes({
 *   health: () => ({ status: "ok", sockets: 0, handshakes: 0, uptimeSeconds: 1 }),
 *   metrics: undefined,
 *   page: "<!doctype html><title>hi</title>",
 * });
 * console.log(Object.keys(routes)); // ["/healthz", "/"]
 * ```
 *
 * @param sources What to serve.
 * @returns The routes.
 */
export function builtinRoutes(sources: BuiltinRouteSources): Record<string, HttpRoute> {
  const routes: Record<string, HttpRoute> = {
    "/healthz": {
      methods: ["GET"],
      handle: () => ({
        status: 200,
        body: JSON.stringify(sources.health()) + "\n",
        headers: { "Content-Type": "application/json" },
      }),
    },
  };
  const { metrics, page } = sources;
  if (metrics !== undefined) {
    routes["/metrics"] = {
      methods: ["GET"],
      handle: () => ({
        status: 200,
        body: metrics.render(),
        headers: { "Content-Type": METRICS_CONTENT_TYPE },
      }),
    };
  }
  if (page !== false) {
    routes["/"] = {
      methods: ["GET"],
      handle: () => ({
        status: 200,
        body: page,
        headers: { "Content-Type": "text/html; charset=utf-8" },
      }),
    };
  }
  return routes;
}
