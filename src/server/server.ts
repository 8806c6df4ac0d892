/**
 * `serve()`: listen on TCP (or TLS), run the opening handshake with its
 * access checks, hand plain HTTP to the route table, keep the registry of
 * sockets, and shut down gracefully.
 *
 * @module
 */

import {
  createDeflater,
  createInflater,
  type Deflater,
  type DeflaterOptions,
} from "../protocol/deflate.ts";
import {
  type DeflateNegotiation,
  type DeflateOptions,
  type DeflateParams,
  negotiateDeflate,
} from "../protocol/extensions.ts";
import { checkOrigin, chooseProtocol, normalizeOrigins } from "./access.ts";
import { CLOSE_CODE } from "../protocol/close_code.ts";
import { DEFAULTS } from "../defaults.ts";
import { Deadlines } from "./deadlines.ts";
import { HttpError } from "../protocol/errors.ts";
import {
  acceptKey,
  isUpgradeRequest,
  type UpgradeRequest,
  upgradeResponse,
  validateUpgrade,
} from "../protocol/handshake.ts";
import { errorResponse, type RequestHead, RequestHeadParser } from "../protocol/http_head.ts";
import { handleHttp, type HttpRoute, type HttpRoutes } from "./routes.ts";
import { Metrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import { Registry } from "./registry.ts";
import { ServerMetrics } from "./server_metrics.ts";
import { Socket, type SocketOptions } from "./socket.ts";
import { TopicIndex } from "./topics.ts";

/**
 * The answer of an {@linkcode Authorize} hook: accept the upgrade (with data
 * for {@linkcode Server.dataOf}), or refuse it with an HTTP status.
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
}

/**
 * Decides whether an upgrade request may become a socket. It runs after the
 * request was found valid and its origin allowed, before the `101` response;
 * the handshake timeout bounds it. Throwing a `HttpError` refuses with
 * its status; any other error refuses with 500.
 */
export type Authorize = (
  request: UpgradeRequest,
  info: AuthorizeInfo,
) => Authorization | Promise<Authorization>;

/** Options for {@linkcode serve}. Socket limits apply to every socket. */
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
   * The most open sockets; upgrade requests past it get 503.
   *
   * @default {10000}
   */
  maxConnections?: number;
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
   * Origins allowed to open sockets, such as `https://app.example`. When
   * set, an upgrade request whose `Origin` is neither listed nor this
   * server's own (its host equal to the `Host` header) gets 403; requests
   * without an `Origin` (programs, not browsers) pass.
   *
   * @default {every origin}
   */
  origins?: readonly string[];
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
   * The HTML served at `GET /` (for example the chat page, `CHAT_PAGE`), or
   * `false` for none (404). `serveChat` and `servePush` serve the chat page.
   *
   * @default {none}
   */
  page?: string | false;
  /** Shuts the server down when aborted. */
  signal?: AbortSignal;
}

/** Called with every socket the server accepts. */
export type SocketHandler = (socket: Socket) => void | Promise<void>;

type Listener = Deno.Listener<Deno.Conn<Deno.NetAddr>, Deno.NetAddr>;
type Conn = Deno.Conn<Deno.NetAddr>;

const READ_CHUNK = 2048;

/**
 * A running WebSocket server, made by {@linkcode serve}.
 */
export class Server {
  /** The address the server listens on (with the real port when `port: 0`). */
  readonly addr: Deno.NetAddr;
  /** Whether the server speaks TLS (`wss://`). */
  readonly secure: boolean;
  /** The live sockets: iterate for joins, broadcast to all. */
  readonly sockets: Registry = new Registry();
  /** The subscribers of every topic (see {@linkcode Socket.subscribe}). */
  readonly topics: TopicIndex<Socket> = new TopicIndex();
  /**
   * What `GET /metrics` reports: the server's own numbers, and whatever
   * other layers register.
   */
  readonly metrics: Metrics = new Metrics();

  readonly #listener: Listener;
  readonly #options: ServeOptions;
  readonly #socketOptions: SocketOptions;
  readonly #handler: SocketHandler | undefined;
  readonly #origins: ReadonlySet<string> | undefined;
  readonly #routes: HttpRoutes;
  readonly #stats = new ServerMetrics();
  readonly #data = new WeakMap<Socket, unknown>();
  readonly #pending = new Set<Conn>();
  // Handshakes still waiting for their request, and those that ran out of time.
  readonly #handshakeDeadlines: Deadlines<Conn>;
  readonly #lateHandshakes = new Set<Conn>();
  readonly #finished = Promise.withResolvers<void>();
  readonly #startedAt = Date.now();
  readonly #deflaters = new Map<number, Deflater>();
  #nextId = 0;
  #reserved = 0;
  #shutdown: Promise<void> | undefined;

  /**
   * Listens and starts accepting. Use {@linkcode serve}.
   *
   * @param options Where to listen, limits and timeouts.
   * @param handler Called with every accepted socket.
   * @throws {TypeError} For `cert` without `key` (or the reverse), or an
   * invalid origin.
   */
  constructor(options: ServeOptions = {}, handler?: SocketHandler) {
    this.#options = options;
    this.#socketOptions = {
      ...options,
      idleTimeout: options.idleTimeout ?? DEFAULTS.idleTimeout,
    };
    this.#handler = handler;
    this.#handshakeDeadlines = new Deadlines(
      options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
      (conn) => {
        this.#lateHandshakes.add(conn);
        closeQuietly(conn);
      },
    );
    this.#origins = options.origins === undefined ? undefined : normalizeOrigins(options.origins);
    if ((options.cert === undefined) !== (options.key === undefined)) {
      throw new TypeError("Cannot serve TLS: cert and key must be given together");
    }
    const where = {
      port: options.port ?? DEFAULTS.port,
      hostname: options.hostname ?? DEFAULTS.hostname,
    };
    this.secure = options.cert !== undefined;
    this.#listener = options.cert !== undefined && options.key !== undefined
      ? Deno.listenTls({ ...where, cert: options.cert, key: options.key })
      : Deno.listen(where);
    this.addr = this.#listener.addr;
    this.#routes = { ...this.#builtinRoutes(), ...options.routes };
    this.metrics.register(() => this.#stats.collect(this.sockets, this.topics));
    options.signal?.addEventListener("abort", () => this.shutdown(), { once: true });
    if (options.signal?.aborted) this.shutdown();
    this.#acceptLoop();
  }

  /**
   * Sends a message to every socket subscribed to `topic`; the frame is
   * encoded once.
   *
   * @param topic A topic name.
   * @param data A string (text frame) or bytes (binary frame).
   * @returns How many sockets the frame was queued for.
   */
  broadcast(topic: string, data: string | Uint8Array): number {
    const deliveries = this.topics.broadcast(topic, data);
    this.#stats.recordPublish(deliveries);
    return deliveries;
  }

  /**
   * The data the {@linkcode ServeOptions.authorize} hook attached to a
   * socket.
   *
   * @param socket A socket of this server.
   * @returns The data, or `undefined` when none was attached.
   */
  dataOf(socket: Socket): unknown {
    return this.#data.get(socket);
  }

  /** Resolves once the server has shut down. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Stops accepting, closes every socket with 1001 (going away), waits for
   * them (each at most its close timeout), and ends the registry. Calling it
   * again returns the same promise.
   *
   * @returns A promise that resolves once everything is closed.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#closeAll();
    return this.#shutdown;
  }

  async #closeAll(): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const conn of this.#pending) closeQuietly(conn);
    const closing = [];
    for (const socket of this.sockets) {
      socket.close(CLOSE_CODE.GoingAway, "server shutting down");
      closing.push(socket.closed);
    }
    await Promise.all(closing);
    this.sockets.end();
    this.#finished.resolve();
  }

  async #acceptLoop(): Promise<void> {
    while (this.#shutdown === undefined) {
      let conn: Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#shutdown !== undefined || error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors or a transient error: pause, then go on.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      this.#handshake(conn);
    }
    this.shutdown();
  }

  async #handshake(conn: Conn): Promise<void> {
    this.#pending.add(conn);
    this.#handshakeDeadlines.add(conn);
    const handshakeTimeout = this.#options.handshakeTimeout ?? DEFAULTS.handshakeTimeout;
    let upgraded = false;
    let reserved = false;
    let head: RequestHead | undefined;
    try {
      const parser = new RequestHeadParser({
        maxHeadBytes: this.#options.maxHeadBytes ?? DEFAULTS.maxHeadBytes,
      });
      const buffer = new Uint8Array(READ_CHUNK);
      while (head === undefined) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head = parser.push(buffer.subarray(0, n));
      }
      if (!isUpgradeRequest(head)) {
        this.#handshakeDeadlines.delete(conn);
        await this.#serveHttp(conn, head, parser.rest, handshakeTimeout);
        return;
      }
      const request = validateUpgrade(head);
      if (this.#origins !== undefined) checkOrigin(request, this.#origins);
      // Hold a place while the handshake completes, so that concurrent
      // upgrades cannot overshoot the limit.
      if (
        this.sockets.size + this.#reserved >=
          (this.#options.maxConnections ?? DEFAULTS.maxConnections)
      ) {
        throw new HttpError(503, "Too many connections");
      }
      this.#reserved++;
      reserved = true;
      const data = await this.#authorize(request, conn.remoteAddr);
      const protocol = chooseProtocol(request.protocols, this.#options.protocols ?? []);
      const deflate = this.#negotiateDeflate(request.extensions);
      const accept = await acceptKey(request.key);
      await writeAll(
        conn,
        upgradeResponse(accept, {
          ...(protocol === undefined ? {} : { protocol }),
          ...(deflate === undefined ? {} : { extensions: deflate.response }),
        }),
      );
      if (this.#shutdown !== undefined) return;
      this.#handshakeDeadlines.delete(conn);
      this.#pending.delete(conn);
      upgraded = true;
      if (!this.secure) (conn as Deno.TcpConn).setNoDelay(true);
      this.#open(conn, request, parser.rest, protocol, data, deflate);
    } catch (error) {
      if (error instanceof HttpError) {
        if (head !== undefined && isUpgradeRequest(head)) {
          this.#stats.recordHandshakeFailure(error.status);
        } else {
          this.#stats.recordHttpResponse(error.status);
        }
        await writeAll(conn, errorResponse(error)).then(() => lingerClose(conn), () => {});
      } else if (this.#lateHandshakes.has(conn) && head === undefined) {
        this.#stats.recordHandshakeTimeout();
      }
    } finally {
      if (reserved) this.#reserved--;
      this.#handshakeDeadlines.delete(conn);
      this.#lateHandshakes.delete(conn);
      this.#pending.delete(conn);
      if (!upgraded) closeQuietly(conn);
    }
  }

  /** Runs the authorize hook; returns its data or throws the refusal. */
  async #authorize(request: UpgradeRequest, remoteAddr: Deno.NetAddr): Promise<unknown> {
    const authorize = this.#options.authorize;
    if (authorize === undefined) return undefined;
    let answer: Authorization | undefined;
    try {
      answer = await authorize(request, { remoteAddr });
    } catch (error) {
      if (error instanceof HttpError) throw error;
      answer = undefined;
    }
    if (typeof answer !== "object" || answer === null) {
      throw new HttpError(500, "Authorization failed");
    }
    if (answer.accept === true) return answer.data;
    const status = Number.isInteger(answer.status) && answer.status >= 400 && answer.status <= 599
      ? answer.status
      : 500;
    throw new HttpError(status, answer.message ?? "Forbidden", answer.headers ?? {});
  }

  async #serveHttp(conn: Conn, head: RequestHead, rest: Uint8Array, timeout: number) {
    // The response must be out within the timeout and a grace period.
    const guard = setTimeout(() => closeQuietly(conn), timeout + 2000);
    try {
      const { response, drained } = await handleHttp(this.#routes, {
        head,
        rest,
        conn,
        remoteAddr: conn.remoteAddr,
        timeout,
      });
      this.#stats.recordHttpResponse(statusOf(response));
      await writeAll(conn, response);
      // A body read still pending (timed out): nothing more to read politely.
      if (drained) await lingerClose(conn);
    } finally {
      clearTimeout(guard);
    }
  }

  // A malformed or unacceptable offer means no compression, never a refusal.
  #negotiateDeflate(offer: string): DeflateNegotiation | undefined {
    const setting = this.#options.perMessageDeflate ?? true;
    if (setting === false || offer === "") return undefined;
    return negotiateDeflate(offer, setting === true ? {} : setting);
  }

  // Deflaters keep no state, so sockets with equal parameters share one.
  #deflaterFor(params: DeflateParams): Deflater {
    const key = params.serverMaxWindowBits;
    let deflater = this.#deflaters.get(key);
    if (deflater === undefined) {
      const setting = this.#options.perMessageDeflate;
      deflater = createDeflater(params, typeof setting === "object" ? setting : {});
      this.#deflaters.set(key, deflater);
    }
    return deflater;
  }

  #open(
    conn: Conn,
    request: UpgradeRequest,
    head: Uint8Array,
    protocol: string | undefined,
    data: unknown,
    deflate: DeflateNegotiation | undefined,
  ): void {
    const maxMessageBytes = this.#options.maxMessageBytes ?? DEFAULTS.maxMessageBytes;
    const socket = new Socket(conn, {
      id: String(++this.#nextId),
      remoteAddr: conn.remoteAddr,
      request,
      head,
      topics: this.topics,
      ...(protocol === undefined ? {} : { protocol }),
      ...(deflate === undefined ? {} : {
        compression: {
          deflater: this.#deflaterFor(deflate.params),
          inflater: createInflater(deflate.params, maxMessageBytes),
          response: deflate.response,
        },
      }),
    }, this.#socketOptions);
    if (data !== undefined) this.#data.set(socket, data);
    this.#stats.recordSocket(socket);
    this.sockets.add(socket);
    if (this.#handler === undefined) return;
    try {
      Promise.resolve(this.#handler(socket)).catch(() => failHandler(socket));
    } catch {
      failHandler(socket);
    }
  }

  #builtinRoutes(): Record<string, HttpRoute> {
    const routes: Record<string, HttpRoute> = {
      "/healthz": {
        methods: ["GET"],
        handle: () => ({
          status: 200,
          body: JSON.stringify({
            status: this.#shutdown === undefined ? "ok" : "shutting down",
            sockets: this.sockets.size,
            handshakes: this.#pending.size,
            uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
          }) + "\n",
          headers: { "Content-Type": "application/json" },
        }),
      },
    };
    if (this.#options.metrics ?? true) {
      routes["/metrics"] = {
        methods: ["GET"],
        handle: () => ({
          status: 200,
          body: this.metrics.render(),
          headers: { "Content-Type": METRICS_CONTENT_TYPE },
        }),
      };
    }
    const page = this.#options.page ?? false;
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
}

/**
 * Starts a WebSocket server. It listens at once; every accepted socket joins
 * `server.sockets` and is passed to `handler`, if given. Plain HTTP gets the
 * `page` at `/` (if given), JSON counts at `/healthz`, the metrics at
 * `/metrics`, the `routes` given, and 404 elsewhere.
 *
 * @example Broadcast every message to every client
 * ```ts ignore
 * import { serve } from "jsr:@pushwire/pushwire";
 *
 * const server = serve({ port: 8080 }, async (socket) => {
 *   for await (const message of socket) server.sockets.broadcast(message);
 * });
 * ```
 *
 * @example Only signed-in users, from one origin, with a subprotocol
 * ```ts ignore
 * import { serve } from "jsr:@pushwire/pushwire";
 *
 * const users = new Map([["t0k3n", "ada"]]);
 * const server = serve({
 *   origins: ["https://app.example"],
 *   protocols: ["chat.v1"],
 *   authorize: (request) => {
 *     const user = users.get(request.query.get("token") ?? "");
 *     return user === undefined
 *       ? { accept: false, status: 401, message: "Sign in first" }
 *       : { accept: true, data: { user } };
 *   },
 * }, (socket) => {
 *   const { user } = server.dataOf(socket) as { user: string };
 *   socket.send(`hello ${user}, speaking ${socket.protocol || "no subprotocol"}`);
 * });
 * ```
 *
 * @param options Where to listen, TLS, limits, timeouts and access checks.
 * @param handler Called with every accepted socket, synchronously, right
 * after it joins `server.sockets` and before any other socket joins (so a
 * greeting sent here is the socket's first message). If it throws or
 * rejects, that socket is closed with 1011.
 * @returns The running server.
 */
export function serve(options: ServeOptions = {}, handler?: SocketHandler): Server {
  return new Server(options, handler);
}

function failHandler(socket: Socket): void {
  if (socket.state === "open") socket.close(CLOSE_CODE.InternalError, "handler failed");
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** The status code of response bytes (`HTTP/1.1 200 OK...`). */
function statusOf(response: Uint8Array): number {
  return Number(String.fromCharCode(response[9]!, response[10]!, response[11]!));
}

const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;

// After a response, stop writing and read what the client still sends (up to
// a bound) before closing: closing with unread input would reset the
// connection, and the client could lose the response.
async function lingerClose(conn: Deno.Conn): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
  try {
    await conn.closeWrite();
    const buffer = new Uint8Array(16 * 1024);
    let drained = 0;
    while (drained < LINGER_BYTES) {
      const n = await conn.read(buffer);
      if (n === null) break;
      drained += n;
    }
  } catch {
    // Reset or closed by the timer: nothing more to do.
  } finally {
    clearTimeout(timer);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
