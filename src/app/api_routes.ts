/**
 * The server API, for the application's back end: act on users and read
 * presence, on every node. Every request carries `Authorization: Bearer
 * <api key>` (compared in constant time); answers are JSON.
 *
 * ```text
 * POST /api/disconnect?user=<sub>[&reason=<text>]  → {"disconnected":2}
 * POST /api/unsubscribe?user=<sub>&topic=<topic>   → {"unsubscribed":1}
 * GET  /api/presence?topic=<topic>                 → {"topic":"room:1","clients":[{"client":"a1.7","user":"ada","info":{…}}]}
 * GET  /api/topics                                 → {"topics":[{"topic":"news","subscribers":3}]}
 * ```
 *
 * Errors answer `{"error":"…"}`: 400 (a missing or invalid `user`, `topic`
 * or `reason`), 401 with `WWW-Authenticate: Bearer` (no key sent), 403 (a
 * wrong key), 404 for every request when no API key is configured (the API
 * is then not served at all: unlike `/publish`, loopback is not enough to
 * disconnect users or read who is where), 405 with `Allow` (another
 * method), 503 with `Retry-After: 1` (the engine or Redis did not answer).
 * With several nodes, counts sum the replies of the nodes that answered
 * within the control timeout (see `cluster_control.ts`).
 *
 * @example
 * ```ts ignore
 * import { apiRoutes } from "./api_routes.ts";
 * import { serve } from "../server/server.ts";
 *
 * const server = serve({
 *   routes: apiRoutes({ apiKey: "s3cret", control, presence: (topic) => store.list(topic) }),
 * });
 * // curl -X POST -H 'Authorization: Bearer s3cret' 'localhost:8080/api/disconnect?user=ada'
 * ```
 *
 * @module
 */

import { HttpError } from "../protocol/errors.ts";
import { EngineUnavailableError } from "../push/engine.ts";
import type { PresenceEntry } from "../push/presence.ts";
import { requireBearer } from "../server/access.ts";
import {
  type HttpRequest,
  type HttpResponse,
  type HttpRoute,
  type HttpRoutes,
  jsonResponse,
} from "../server/routes.ts";
import { validateTopic } from "../server/topics.ts";
import { checkReason, checkUser, type ClusterControl } from "./cluster_control.ts";
import { snapshotEvent } from "./presence_events.ts";

/** The close reason of `POST /api/disconnect` without `reason`. */
export const DEFAULT_DISCONNECT_REASON = "Disconnected by the server";

/** Options for {@linkcode apiRoutes}. */
export interface ApiRoutesOptions {
  /**
   * The key callers send as `Authorization: Bearer <key>`. Without one,
   * every request gets 404: the API is off.
   */
  apiKey?: string;
  /** Disconnects, unsubscribes and counts topics on every node. */
  control: Pick<ClusterControl, "disconnect" | "unsubscribe" | "topics">;
  /**
   * Who is in a topic, on every node (the presence store's `list`); may
   * throw a `HttpError` to answer with its status (404 for a topic without
   * presence, say).
   */
  presence: (topic: string) => Promise<PresenceEntry[]>;
}

/**
 * The server API's routes, for `serve({ routes })` (or to spread into
 * `servePush`'s routes).
 *
 * @param options The API key, the cluster control and the presence.
 * @returns `/api/disconnect`, `/api/unsubscribe`, `/api/presence` and `/api/topics`.
 */
export function apiRoutes(options: ApiRoutesOptions): HttpRoutes {
  const { control, presence } = options;
  const route = (
    method: "GET" | "POST",
    answer: (query: URLSearchParams) => Promise<unknown>,
  ): HttpRoute => ({
    methods: [method],
    handle: async (request) => {
      try {
        await checkKey(request, options.apiKey);
        return json(200, await answer(request.query).catch(refusal));
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        return json(error.status, { error: error.message }, { ...error.headers });
      }
    },
  });
  return {
    "/api/disconnect": route("POST", async (query) => {
      const user = one(query, "user");
      const reason = optional(query, "reason") ?? DEFAULT_DISCONNECT_REASON;
      return { disconnected: await control.disconnect(user, reason) };
    }),
    "/api/unsubscribe": route("POST", async (query) => {
      const [user, topic] = [one(query, "user"), one(query, "topic")];
      return { unsubscribed: await control.unsubscribe(user, topic) };
    }),
    "/api/presence": route("GET", async (query) => {
      const topic = one(query, "topic");
      const { clients } = snapshotEvent(topic, await presence(topic));
      return { topic, clients };
    }),
    "/api/topics": route("GET", async () => ({ topics: await control.topics() })),
  };
}

/** Checks the bearer key: 404 without one configured, 401 none sent, 403 a wrong one. */
async function checkKey(request: HttpRequest, apiKey: string | undefined): Promise<void> {
  if (apiKey === undefined) {
    throw new HttpError(404, "Not found: the server API is off (start the server with --api-key)");
  }
  await requireBearer(request.headers, apiKey, "API key");
}

/** A query parameter given exactly once, checked: 400 otherwise. */
function one(query: URLSearchParams, name: "user" | "topic"): string {
  const values = query.getAll(name);
  if (values.length !== 1) throw new HttpError(400, `Name exactly one ${name}: ?${name}=<${name}>`);
  const value = values[0]!;
  try {
    if (name === "user") checkUser(value);
    else validateTopic(value);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
  return value;
}

/** A query parameter given at most once (a reason, checked): 400 otherwise. */
function optional(query: URLSearchParams, name: "reason"): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw new HttpError(400, `Name at most one ${name}`);
  try {
    if (values[0] !== undefined) checkReason(values[0]);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
  return values[0];
}

/** A failure of the engine or of Redis as 503, an invalid argument as 400. */
function refusal(error: unknown): never {
  if (error instanceof TypeError) throw new HttpError(400, error.message);
  if (error instanceof EngineUnavailableError) {
    throw new HttpError(503, error.message, { "Retry-After": "1" });
  }
  throw error;
}

/** A JSON answer of the API, never cached. */
function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return jsonResponse(status, body, { "Cache-Control": "no-store", ...headers });
}
