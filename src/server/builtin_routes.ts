/**
 * The routes every server answers besides the application's: `GET /healthz`
 * (JSON counts, public), `GET /metrics` (Prometheus text, to loopback
 * clients or with a bearer token; one rendering served for a short while)
 * and, when given, the page at `GET /`.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { HttpError } from "../protocol/errors.ts";
import { isLoopback, requireBearer } from "./access.ts";
import { type Metrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import type { HttpRequest, HttpRoute } from "./routes.ts";

/** What `GET /healthz` reports. */
export interface Health {
  /** `"ok"`, or `"shutting down"` once shutdown began. */
  status: "ok" | "shutting down";
  /** Open sockets. */
  sockets: number;
  /**
   * Connections still in their opening handshake: accepted, and neither a
   * socket yet nor a plain HTTP request being answered (so the `/healthz`
   * request itself is not counted: an idle server reports 0).
   */
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
  /**
   * The bearer token `GET /metrics` requires; without one, only loopback
   * clients are served.
   *
   * @default {none: loopback clients only}
   */
  metricsToken?: string;
  /**
   * Milliseconds one rendering of the metrics is served again; `0` renders
   * every scrape.
   *
   * @default {1000}
   */
  metricsCacheTtl?: number;
  /**
   * The clock, in milliseconds.
   *
   * @default {Date.now}
   */
  now?: () => number;
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
  const { metrics, page, metricsToken } = sources;
  if (metrics !== undefined) {
    const render = cachedRender(
      metrics,
      sources.metricsCacheTtl ?? DEFAULTS.metricsCacheTtl,
      sources.now ?? Date.now,
    );
    routes["/metrics"] = {
      methods: ["GET"],
      handle: async (request) => {
        await checkScraper(request, metricsToken);
        return { status: 200, body: render(), headers: { "Content-Type": METRICS_CONTENT_TYPE } };
      },
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

/**
 * A JavaScript module served from memory (the push client at `/client.js`):
 * revalidated on every use (`Cache-Control: no-cache`) through its `ETag`,
 * answered with 304 when `If-None-Match` names it.
 *
 * @example
 * ```ts
 * import { scriptRoute } from "./builtin_routes.ts";
 *
 * const route = scriptRoute("export const x = 1;\n", '"v1"');
 * const answer = await route.handle({
 *   method: "GET",
 *   path: "/client.js",
 *   query: new URLSearchParams(),
 *   headers: new Map([["if-none-match", '"v1"']]),
 *   remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
 *   body: () => Promise.resolve(new Uint8Array()),
 * });
 * console.log(answer.status); // 304
 * ```
 *
 * @param body The module's text.
 * @param etag Its entity tag, quoted (`"…"`).
 * @returns The route.
 */
export function scriptRoute(body: string, etag: string): HttpRoute {
  const headers = {
    "Content-Type": "text/javascript; charset=utf-8",
    "Cache-Control": "no-cache",
    "ETag": etag,
  };
  return {
    methods: ["GET"],
    handle: (request) => {
      const wanted = request.headers.get("if-none-match")?.split(",")
        .map((tag) => tag.trim().replace(/^W\//, ""));
      const fresh = wanted !== undefined && (wanted.includes(etag) || wanted.includes("*"));
      return fresh ? { status: 304, headers } : { status: 200, body, headers };
    },
  };
}

/** Renders the metrics at most once per `ttl` milliseconds. */
function cachedRender(metrics: Metrics, ttl: number, now: () => number): () => string {
  let text: string | undefined;
  let renderedAt = 0;
  return () => {
    const time = now();
    if (text === undefined || ttl <= 0 || time - renderedAt >= ttl || time < renderedAt) {
      text = metrics.render();
      renderedAt = time;
    }
    return text;
  };
}

/**
 * Lets a scrape of `GET /metrics` through: the token when one is set, else a
 * loopback client.
 *
 * @param request The request.
 * @param token The metrics token, if any.
 * @throws {HttpError} 401 without a token, 403 for a wrong one or a client
 * not on loopback.
 */
export async function checkScraper(request: HttpRequest, token: string | undefined): Promise<void> {
  if (token === undefined) {
    if (isLoopback(request.remoteAddr.hostname)) return;
    throw new HttpError(
      403,
      "Metrics are served to loopback clients only: set a metrics token to scrape from elsewhere",
    );
  }
  await requireBearer(request.headers, token, "token", "pushwire metrics");
}
