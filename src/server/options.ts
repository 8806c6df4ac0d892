/**
 * What `serve()` takes: where to listen, TLS, limits and timeouts (those of
 * every socket included), access checks, compression, routes and the page;
 * and the hooks it calls.
 *
 * @module
 */

import type { DeflaterOptions } from "../protocol/deflate.ts";
import type { DeflateOptions } from "../protocol/extensions.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import type { EventStreamOptions } from "./event_stream.ts";
import type { Logger } from "./log.ts";
import type { HttpRoutes } from "./routes.ts";
import type { Socket, SocketOptions, Wire } from "./socket.ts";

/**
 * The answer of an {@linkcode Authorize} hook: accept the upgrade (with data
 * for `Server.dataOf`), or refuse it with an HTTP status.
 */
export type Authorization =
  | {
    /** Accept the upgrade. */
    accept: true;
    /** Anything to keep with the socket, read back with `server.dataOf(socket)`. */
    data?: unknown;
  }
  | {
    /** Refuse the upgrade. */
    accept: false;
    /** The HTTP status to answer with, 400 to 599 (for example 401 or 403). */
    status: number;
    /** A short plain-text explanation, sent as the body. */
    message?: string;
    /** Extra response headers, for example `WWW-Authenticate`. */
    headers?: Record<string, string>;
  };

/** Where an upgrade request came from, for an {@linkcode Authorize} hook. */
export interface AuthorizeInfo {
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
  /**
   * What the request opens: a WebSocket (an upgrade), or an event stream
   * (a `GET` of `ServeOptions.eventStream`'s path).
   */
  wire: Wire;
}

/**
 * Decides whether an upgrade request (or an event stream request, see
 * `AuthorizeInfo.wire`) may become a socket. It runs after the request was
 * found valid, its origin allowed and a place held within `maxConnections`,
 * before the `101` response (or the event stream's `200`); the handshake
 * timeout bounds it. Throwing a `HttpError` refuses with
 * its status; any other error refuses with 500.
 */
export type Authorize = (
  request: UpgradeRequest,
  info: AuthorizeInfo,
) => Authorization | Promise<Authorization>;

/** Options for `serve()`. Socket limits apply to every socket. */
export interface ServeOptions extends SocketOptions {
  /**
   * The TCP port; `0` picks a free one (read it from `server.addr`).
   *
   * @default {8080}
   */
  port?: number;
  /**
   * The address to listen on.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * A PEM certificate chain: with {@linkcode ServeOptions.key}, the server
   * speaks TLS (`wss://`, `https://`) through `Deno.listenTls`.
   */
  cert?: string;
  /** The PEM private key of {@linkcode ServeOptions.cert}. */
  key?: string;
  /**
   * Shares the port with other listeners (a server's workers): the kernel
   * spreads connections between them. Linux, and Deno's `--unstable-net`.
   *
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * The most open sockets; upgrade requests past it get 503.
   *
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * The most connections accepted and not yet a socket or answered: reading
   * their request head, being upgraded, or being answered as plain HTTP.
   * Past it, a new connection is closed at once, before anything is read or
   * written: under a flood of connections that send nothing, an answer
   * would cost what the server is short of (a write, a timer, up to 2 s of
   * draining) and tell a browser no more than a close does.
   *
   * @default {2048}
   */
  maxPendingHandshakes?: number;
  /**
   * The most open sockets and pending handshakes from one remote address.
   * Past it, a new connection from that address is answered 429 at once,
   * before its request is read (and, once as many again are being answered,
   * closed without an answer). `0` turns the limit off: do so behind a
   * reverse proxy or load balancer, where every client has the proxy's
   * address.
   *
   * @default {1024}
   */
  maxConnectionsPerAddress?: number;
  /**
   * The largest request head in bytes; larger heads get 431.
   *
   * @default {8192}
   */
  maxHeadBytes?: number;
  /**
   * Milliseconds a client has to complete its request head (and, for plain
   * HTTP, again for its body); slower clients are disconnected (a slow body
   * gets 408).
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * Browser origins allowed to open sockets, such as `https://app.example`,
   * besides this server's own. An upgrade request whose `Origin` is neither
   * listed nor this server's own (its host and port equal to the `Host`
   * header's, compared case-insensitively with default ports dropped) gets
   * 403 "Origin not allowed", `Origin: null` included; requests without an
   * `Origin` (programs, not browsers) pass. So, unset, only pages served
   * from the host the request was sent to may connect.
   *
   * `["*"]` accepts every origin: any web page the user visits may then
   * open sockets that carry the user's cookies and other ambient authority
   * (a login, a loopback or intranet address), so use it only when the
   * `authorize` hook checks something a page of another site cannot send,
   * such as a token. `"*"` must be the only entry. It does not open
   * `POST /publish` without a token to other sites (see `publishRoute`).
   *
   * Checking the origin does not stop DNS rebinding (the page's origin and
   * `Host` then name the same host): see
   * {@linkcode ServeOptions.allowedHosts}.
   *
   * @default {[]: this server's own origin only}
   */
  origins?: readonly string[];
  /**
   * Host names (or addresses) the server answers to, such as `localhost` or
   * `push.example:8443`: every request, upgrades and plain HTTP routes
   * alike, whose `Host` header names another host gets 403 "Host not
   * allowed" before anything else is done; one without a `Host` header gets
   * 400. An entry without a port allows its host on every port; one with a
   * port allows that port only (a `Host` without a port meaning 80, or 443
   * under TLS). Names compare case-insensitively, a trailing dot ignored;
   * IPv6 addresses go in brackets (`[::1]`); no wildcards.
   *
   * This is the defence against DNS rebinding: a page of another site whose
   * name was made to resolve to this server's address sends its own name in
   * `Host`, so it cannot reach `POST /publish` (tokenless on loopback),
   * `/metrics` or the sockets.
   *
   * @default {every host}
   */
  allowedHosts?: readonly string[];
  /**
   * Subprotocols the server speaks. The first one the client offers that is
   * listed here is chosen, answered in `Sec-WebSocket-Protocol` and found in
   * `socket.protocol`. A client that offers only others is accepted without
   * a subprotocol (RFC 6455 §4.2.2; browsers then fail the connection
   * themselves).
   *
   * @default {[]}
   */
  protocols?: readonly string[];
  /**
   * permessage-deflate (RFC 7692): `true` negotiates it with every client
   * that offers it, an object does so with these limits and zlib settings,
   * `false` turns it off. The server always compresses each message on its
   * own (`server_no_context_takeover`), so a broadcast is compressed once
   * for every socket with the same parameters and no compressor state lives
   * between messages; by default it asks clients to do the same, so an idle
   * connection holds no compression memory. Messages under 128 bytes go
   * uncompressed.
   *
   * @default {true}
   */
  perMessageDeflate?: boolean | (DeflateOptions & DeflaterOptions);
  /** Decides whether each upgrade request is accepted (see {@linkcode Authorize}). */
  authorize?: Authorize;
  /**
   * Server-Sent Events: a `GET` of this path (or `EventStreamOptions.path`)
   * opens an event stream, a `Socket` whose messages go out as events (its
   * `wire` is `"event-stream"`). It passes the same checks as an upgrade, in
   * the same order (origin, `maxConnections`, `authorize`) and is refused
   * with the same statuses; an allowed cross-origin request gets CORS
   * headers (and an `OPTIONS` preflight its answer). It takes precedence
   * over `routes` on its path; an upgrade on it is still a WebSocket.
   * `servePush` serves it at `/events`.
   *
   * @default {false: none}
   */
  eventStream?: string | false | EventStreamOptions;
  /**
   * More plain HTTP routes by exact path, for example `POST /publish`. They
   * take precedence over the built-in `/`, `/healthz` and `/metrics`.
   *
   * @default {{}}
   */
  routes?: HttpRoutes;
  /**
   * Whether `GET /metrics` serves the metrics in the Prometheus text format.
   *
   * @default {true}
   */
  metrics?: boolean;
  /**
   * The bearer token `GET /metrics` requires (`Authorization: Bearer
   * <token>`; 401 without it, 403 for another). Without one, `/metrics` is
   * served to loopback clients only (403 for others). `/healthz` stays
   * public: it reports counts only.
   *
   * @default {none: loopback clients only}
   */
  metricsToken?: string;
  /**
   * Milliseconds one rendering of `/metrics` is served again, so that a
   * scrape's cost (a walk over every socket, topic and history window) is
   * paid at most once per period however often it is asked for. `0`
   * renders every scrape.
   *
   * @default {1000}
   */
  metricsCacheTtl?: number;
  /**
   * Where the server writes its structured log lines: start, shutdown,
   * refusals at the limits, sockets closed by a limit, and errors it
   * recovers from (see `Logger`).
   *
   * @default {silent}
   */
  logger?: Logger;
  /**
   * The HTML served at `GET /` (for example the chat page, `CHAT_PAGE`, with
   * `routes: CHAT_PAGE_ROUTES` for the client it imports), or `false` for
   * none (404). `serveChat` and `servePush` serve the chat page.
   *
   * @default {none}
   */
  page?: string | false;
  /** Shuts the server down when aborted. */
  signal?: AbortSignal;
}

/** Called with every socket the server accepts. */
export type SocketHandler = (socket: Socket) => void | Promise<void>;
