/**
 * Where and how the client connects: the server's WebSocket URL from what
 * the application gave, the SSE endpoint beside it, and each connection's
 * request (topics, resume points, name, token).
 *
 * @module
 */

import { addResumeParams, lastEventId } from "./resume.ts";

/** What a connection names: its topics with their last ids, a nickname, a token. */
export interface ConnectParams {
  /** Each topic and its last id. */
  topics: ReadonlyMap<string, string | undefined>;
  /** The nickname (`?name=`). */
  name: string | undefined;
  /** The token. */
  token: string | undefined;
}

/**
 * The WebSocket URL of a server: `ws:`/`wss:`, from `http:`/`https:` too;
 * in a browser a path (`/`) is read against the page's address.
 *
 * @example
 * ```ts
 * import { socketUrl } from "./connect_url.ts";
 *
 * console.log(socketUrl("https://push.example.com/").href); // "wss://push.example.com/"
 * ```
 *
 * @param url What the application gave.
 * @returns The URL.
 * @throws {TypeError} For another scheme, or a path outside a browser.
 */
export function socketUrl(url: string | URL): URL {
  let base: string | undefined;
  try {
    base = (globalThis as { location?: { href?: string } }).location?.href;
  } catch {
    base = undefined; // Deno without --location throws
  }
  const parsed = new URL(url, base);
  parsed.protocol = parsed.protocol.replace(/^http/, "ws");
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TypeError(
      `Cannot connect to ${parsed.href}: expected a ws:, wss:, http: or https: URL`,
    );
  }
  return parsed;
}

/**
 * The SSE endpoint: the one given, or `events` beside the server's path.
 *
 * @example
 * ```ts
 * import { eventsUrl, socketUrl } from "./connect_url.ts";
 *
 * console.log(eventsUrl(socketUrl("wss://push.example.com/"), undefined).href);
 * // "https://push.example.com/events"
 * ```
 *
 * @param server The WebSocket URL.
 * @param given The `eventsUrl` option.
 * @returns The URL.
 */
export function eventsUrl(server: URL, given: string | URL | undefined): URL {
  const url = new URL(given ?? new URL("events", server), server);
  url.protocol = url.protocol.replace(/^ws/, "http");
  return url;
}

/**
 * A WebSocket connection's URL: `topic` and `since` for every topic, then
 * `name` and `token`.
 *
 * @param server The WebSocket URL.
 * @param params What the connection names.
 * @returns The URL.
 */
export function webSocketRequest(server: URL, params: ConnectParams): string {
  const url = new URL(server);
  addResumeParams(url.searchParams, params.topics);
  if (params.name !== undefined) url.searchParams.set("name", params.name);
  if (params.token !== undefined) url.searchParams.set("token", params.token);
  return url.href;
}

/**
 * An SSE connection's URL (`topic` for every topic, `name`) and headers
 * (`Authorization: Bearer`, and `Last-Event-ID` with every topic's last id).
 *
 * @param events The SSE endpoint.
 * @param params What the connection names.
 * @returns The URL and headers.
 */
export function eventStreamRequest(
  events: URL,
  params: ConnectParams,
): { url: string; headers: Record<string, string> } {
  const url = new URL(events);
  for (const topic of params.topics.keys()) url.searchParams.append("topic", topic);
  if (params.name !== undefined) url.searchParams.set("name", params.name);
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  if (params.token !== undefined) headers.Authorization = `Bearer ${params.token}`;
  const last = lastEventId(params.topics);
  if (last !== undefined) headers["Last-Event-ID"] = last;
  return { url: url.href, headers };
}
