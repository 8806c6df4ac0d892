/**
 * The HTTP publish API: `POST /publish?topic=T` with the message as the
 * body, authenticated with a bearer token, answered with the message's id.
 *
 * ```text
 * POST /publish?topic=news HTTP/1.1
 * Authorization: Bearer s3cret
 * Content-Type: text/plain
 * Content-Length: 5
 *
 * hello
 * ```
 *
 * → `200 {"id":"m3k9x2ab0f1c:12","topic":"news","delivered":3}`. Errors
 * answer `{"error":"…"}` with 400 (bad topic, body or `Idempotency-Key`),
 * 401 (no token), 403 (wrong token; or, with no token configured, a client
 * that is not on loopback or a request from a page of another site), 405
 * (not POST), 411 (no `Content-Length`), 413 (body too large), 415
 * (unsupported `Content-Type`), and whatever status the `publish` callback
 * throws as a `HttpError` (503 when the engine is away), its message kept.
 *
 * Without a token, any program on this machine may publish, but a web page
 * may not: a browser on this machine would otherwise let any site publish
 * with a form or a `text/plain` `fetch` (neither needs a CORS preflight).
 * A request whose `Origin` is neither in `origins` nor this server's own, or
 * that carries `Sec-Fetch-Site: cross-site`, gets 403.
 *
 * @module
 */

import type { Sender } from "./events.ts";
import { type AppendOptions, validateIdempotencyKey } from "./idempotency.ts";
import { isCrossSite, isLoopback, originPolicy, requireBearer } from "../server/access.ts";
import { HttpError } from "../protocol/errors.ts";
import { type HttpRequest, type HttpRoute, jsonResponse } from "../server/routes.ts";
import { validateTopic } from "../server/topics.ts";

/**
 * A message to publish, by kind: text (sent as a JSON string), a JSON value
 * (sent as is), or bytes (sent base64-encoded).
 */
export type Publication =
  | {
    /** Text. */
    type: "text";
    /** The text. */
    text: string;
  }
  | {
    /** A JSON value. */
    type: "json";
    /** The value, as `JSON.parse` returned it. */
    value: unknown;
  }
  | {
    /** Bytes. */
    type: "binary";
    /** The bytes. */
    bytes: Uint8Array;
  };

/** Options of a publish: an idempotency key, and the socket it came from. */
export interface PublishOptions extends AppendOptions {
  /** The socket a client publish came from, shown to subscribers as `from`. */
  from?: Sender;
}

/** What publishing a message answers. */
export interface PublishResult {
  /** The message's id, `<epoch>:<seq>`. */
  id: string;
  /** The topic it was published to. */
  topic: string;
  /** How many sockets it was queued for. */
  delivered: number;
  /**
   * `true` when an `Idempotency-Key` already published this message: the id
   * is the first publish's, and nothing was published again.
   */
  repeated?: boolean;
}

/** Options for {@linkcode publishRoute}. */
export interface PublishRouteOptions {
  /**
   * The bearer token publishers must send. Without one, only clients on a
   * loopback address (127.0.0.0/8, `::1`) may publish.
   */
  token?: string;
  /**
   * Browser origins allowed to publish when no token is set (the server's
   * `origins`): a request whose `Origin` is neither listed nor this server's
   * own gets 403, and so does one with `Sec-Fetch-Site: cross-site`. `["*"]`
   * (every origin, for sockets) lets no other site publish: a page of
   * another site still needs a token. With a token, origins are not checked.
   *
   * @default {none: only this server's own pages}
   */
  origins?: readonly string[];
  /**
   * The largest body, in bytes (larger ones get 413).
   *
   * @default {65536}
   */
  maxBodyBytes?: number;
  /**
   * Publishes the message; throws a `TypeError` for an invalid topic, and a
   * `HttpError` to answer with its status and message (503 when the engine
   * is away, or when the outcome is unknown).
   */
  publish(
    topic: string,
    publication: Publication,
    context: PublishContext,
  ): PublishResult | Promise<PublishResult>;
}

/** What a publish request says besides its topic and body. */
export interface PublishContext {
  /**
   * The request's `Idempotency-Key` header: the publisher's name for this
   * message, the same on each retry of it, so that the engine can publish
   * it once (1 to 128 visible ASCII characters).
   */
  idempotencyKey?: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a request body as a publication by its `Content-Type`: `text/*` (or
 * none) as text, `application/json` (and `+json` types) as a JSON value,
 * `application/octet-stream` as bytes. Text must be UTF-8.
 *
 * @example
 * ```ts
 * import { parsePublication } from "./publish.ts";
 *
 * const body = new TextEncoder().encode('{"price":42}');
 * console.log(parsePublication("application/json; charset=utf-8", body)); // { type: "json", value: { price: 42 } }
 * ```
 *
 * @param contentType The `Content-Type` header, if any.
 * @param body The body.
 * @returns The publication.
 * @throws {HttpError} 415 for another type or charset, 400 for text
 * that is not UTF-8 or JSON that does not parse.
 */
export function parsePublication(contentType: string | undefined, body: Uint8Array): Publication {
  const [mediaType = "", ...parameters] = (contentType ?? "text/plain").split(";");
  const type = mediaType.trim().toLowerCase();
  const charset = parameters.map((p) => p.trim().toLowerCase())
    .find((p) => p.startsWith("charset="))?.slice(8).replace(/^"|"$/g, "");
  if (type === "application/octet-stream") return { type: "binary", bytes: body };
  const json = type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type);
  if (!json && !type.startsWith("text/")) {
    throw new HttpError(
      415,
      `Unsupported Content-Type "${type}": use text/plain, application/json or application/octet-stream`,
    );
  }
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new HttpError(415, `Unsupported charset "${charset}": use utf-8`);
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new HttpError(400, "Body is not valid UTF-8");
  }
  if (!json) return { type: "text", text };
  try {
    return { type: "json", value: JSON.parse(text) };
  } catch (error) {
    throw new HttpError(400, `Body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The `POST /publish` route: checks the token (in constant time), then the
 * topic, then reads the body (its size checked from `Content-Length` first)
 * and publishes it.
 *
 * @example Add the route to a server
 * ```ts ignore
 * import { serve } from "jsr:@pushwire/pushwire";
 * import { publishRoute } from "jsr:@pushwire/pushwire";
 *
 * const server = serve({
 *   routes: {
 *     "/publish": publishRoute({
 *       token: "s3cret",
 *       publish: (topic, publication) => {
 *         const text = publication.type === "text" ? publication.text : JSON.stringify(publication);
 *         return { id: "", topic, delivered: server.broadcast(topic, text) };
 *       },
 *     }),
 *   },
 * });
 * ```
 *
 * @param options The token, the body limit, and what publishing does.
 * @returns The route, for `serve({ routes: { "/publish": … } })`.
 */
export function publishRoute(options: PublishRouteOptions): HttpRoute {
  const policy = originPolicy(options.origins);
  const origins = policy.kind === "listed" ? policy.origins : new Set<string>();
  return {
    methods: ["POST"],
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    handle: async (request) => {
      try {
        await checkPublisher(request, options.token, origins);
        const topic = topicOf(request.query);
        const context = contextOf(request.headers);
        const publication = parsePublication(
          request.headers.get("content-type"),
          await request.body(),
        );
        return jsonResponse(200, await options.publish(topic, publication, context));
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        return jsonResponse(error.status, { error: error.message }, { ...error.headers });
      }
    },
  };
}

async function checkPublisher(
  request: HttpRequest,
  token: string | undefined,
  origins: ReadonlySet<string>,
): Promise<void> {
  if (token === undefined) {
    if (!isLoopback(request.remoteAddr.hostname)) {
      throw new HttpError(
        403,
        "Publishing from another machine needs a token: start the server with --publish-token",
      );
    }
    if (isCrossSite(request.headers, origins)) {
      throw new HttpError(
        403,
        "Publishing from a page of another site needs a token (or its origin in --origin)",
      );
    }
    return;
  }
  await requireBearer(request.headers, token);
}

/** The request's publish context: its `Idempotency-Key`, checked. */
function contextOf(headers: ReadonlyMap<string, string>): PublishContext {
  const key = headers.get("idempotency-key");
  if (key === undefined) return {};
  try {
    validateIdempotencyKey(key);
  } catch {
    throw new HttpError(400, "Idempotency-Key must be 1 to 128 visible ASCII characters");
  }
  return { idempotencyKey: key };
}

function topicOf(query: URLSearchParams): string {
  const topics = query.getAll("topic");
  if (topics.length !== 1) throw new HttpError(400, "Name exactly one topic: ?topic=<name>");
  try {
    validateTopic(topics[0]!);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
  return topics[0]!;
}
