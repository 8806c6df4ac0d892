/**
 * `serve()`: listen on TCP (or TLS), admit connections within the limits
 * (pending handshakes, connections per address), run the opening handshake
 * (or open an event stream) with its access checks, hand plain HTTP to the
 * route table, keep the registry of sockets, log what an operator needs to
 * know, and shut down gracefully.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { CLOSE_CODE } from "../protocol/close_code.ts";
import { HttpError } from "../protocol/errors.ts";
import { eventStreamRequest } from "../protocol/event_stream.ts";
import { isUpgradeRequest, type UpgradeRequest, validateUpgrade } from "../protocol/handshake.ts";
import { type RequestHead, RequestHeadParser } from "../protocol/http_head.ts";
import { VERSION } from "../version.ts";
import {
  checkHost,
  checkOrigin,
  normalizeAllowedHosts,
  type OriginPolicy,
  originPolicy,
} from "./access.ts";
import { addressOf, Admission } from "./admission.ts";
import { runAuthorize } from "./authorize_hook.ts";
import { builtinRoutes, type Health } from "./builtin_routes.ts";
import { Compression } from "./compression.ts";
import { closeQuietly, lingerClose, readHead, statusOf, writeAll } from "./conn_io.ts";
import { logClose } from "./close_log.ts";
import { Deadlines } from "./deadlines.ts";
import {
  checkEventStreamTopics,
  corsHeaders,
  type EventStreamSettings,
  eventStreamSettings,
} from "./event_stream.ts";
import { answerEventStream, answerPreflight, answerUpgrade, type Opening } from "./opening.ts";
import { hostPort, listen, type Listener } from "./listen.ts";
import { errorFields, type Logger, SILENT } from "./log.ts";
import { Metrics } from "./metrics.ts";
import type { ServeOptions, SocketHandler } from "./options.ts";
import { Registry } from "./registry.ts";
import { answerHandshakeFailure } from "./handshake_failure.ts";
import { handleHttp, type HttpRoutes } from "./routes.ts";
import { ServerMetrics } from "./server_metrics.ts";
import {
  type CloseResult,
  Socket,
  type SocketInit,
  type SocketOptions,
  type Wire,
} from "./socket.ts";
import { timerDelay } from "./timers.ts";
import { TopicIndex } from "./topics.ts";

type Conn = Deno.Conn<Deno.NetAddr>;

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
  readonly #origins: OriginPolicy;
  readonly #allowedHosts: ReadonlySet<string> | undefined;
  readonly #routes: HttpRoutes;
  readonly #eventStream: EventStreamSettings | undefined;
  readonly #stats = new ServerMetrics();
  readonly #data = new WeakMap<Socket, unknown>();
  // Pending connections (#answering of them plain HTTP requests being
  // answered) and the limits met as a connection is accepted.
  readonly #admission: Admission;
  readonly #log: Logger;
  #answering = 0;
  // Handshakes still waiting for their request, and those that ran out of time.
  readonly #handshakeDeadlines: Deadlines<Conn>;
  readonly #lateHandshakes = new Set<Conn>();
  readonly #finished = Promise.withResolvers<void>();
  #accepting: Promise<void> = Promise.resolve();
  readonly #startedAt = Date.now();
  readonly #compression: Compression;
  #nextId = 0;
  #shutdown: Promise<void> | undefined;

  /**
   * Listens and starts accepting. Use {@linkcode serve}.
   *
   * @param options Where to listen, limits and timeouts.
   * @param handler Called with every accepted socket.
   * @throws {TypeError} For `cert` without `key` (or the reverse), an
   * invalid origin, an invalid allowed host or event stream path.
   * @throws {RangeError} For an invalid event stream heartbeat or retry.
   */
  constructor(options: ServeOptions = {}, handler?: SocketHandler) {
    this.#options = options;
    this.#log = options.logger ?? SILENT;
    this.#admission = new Admission({ ...options, stats: this.#stats, logger: this.#log });
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
    this.#origins = originPolicy(options.origins);
    this.#eventStream = eventStreamSettings(options.eventStream);
    this.#allowedHosts = options.allowedHosts === undefined
      ? undefined
      : normalizeAllowedHosts(options.allowedHosts);
    this.#listener = listen(options);
    this.secure = options.cert !== undefined;
    this.addr = this.#listener.addr;
    this.#compression = new Compression(options.perMessageDeflate ?? true);
    this.#routes = { ...this.#builtinRoutes(options), ...options.routes };
    this.metrics.register(() => this.#stats.collect(this.sockets, this.topics));
    this.#log.info("listening", {
      version: VERSION,
      address: hostPort(this.addr),
      tls: this.secure,
    });
    options.signal?.addEventListener("abort", () => this.shutdown(), { once: true });
    if (options.signal?.aborted) this.shutdown();
    this.#accepting = this.#acceptLoop();
  }

  #builtinRoutes(options: ServeOptions): HttpRoutes {
    return builtinRoutes({
      health: () => this.health(),
      metrics: (options.metrics ?? true) ? this.metrics : undefined,
      ...(options.metricsToken === undefined ? {} : { metricsToken: options.metricsToken }),
      ...(options.metricsCacheTtl === undefined
        ? {}
        : { metricsCacheTtl: options.metricsCacheTtl }),
      page: options.page ?? false,
    });
  }

  /**
   * What `GET /healthz` reports: the status, open sockets, handshakes in
   * progress and uptime.
   *
   * @returns The counts, now.
   */
  health(): Health {
    return {
      status: this.#shutdown === undefined ? "ok" : "shutting down",
      sockets: this.sockets.size,
      handshakes: this.#admission.pending - this.#answering,
      uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
    };
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
    this.#stats.recordBroadcast(deliveries);
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
   * Stops accepting, closes every pending handshake, closes every socket
   * with 1001 (going away), waits for them (each at most its close
   * timeout), and ends the registry. It logs `shutting-down` with what it
   * closed, then `stopped`. Calling it again returns the same promise.
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
    const handshakes = this.#admission.closeAll();
    const closing = [];
    for (const socket of this.sockets) {
      socket.close(CLOSE_CODE.GoingAway, "server shutting down");
      closing.push(socket.closed);
    }
    this.#log.info("shutting-down", { sockets: closing.length, handshakes });
    const started = Date.now();
    await Promise.all(closing);
    // The port is free once the accept loop has let go of the listener.
    await this.#accepting;
    this.sockets.end();
    this.#log.info("stopped", { closingMs: Date.now() - started });
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
        this.#log.error("accept-failed", { error });
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (this.#admission.admit(conn)) this.#handshake(conn);
    }
    this.shutdown();
  }

  // One connection until it is a socket: its request head, then the
  // upgrade, the event stream or plain HTTP; a refusal is answered with its
  // status.
  async #handshake(conn: Conn): Promise<void> {
    this.#handshakeDeadlines.add(conn);
    const parser = new RequestHeadParser({
      maxHeadBytes: this.#options.maxHeadBytes ?? DEFAULTS.maxHeadBytes,
    });
    let head: RequestHead | undefined;
    let upgraded = false;
    try {
      head = await readHead(conn, parser);
      if (head === undefined) return;
      if (this.#allowedHosts !== undefined) {
        checkHost(head.headers, this.#allowedHosts, this.secure ? 443 : 80);
      }
      if (isUpgradeRequest(head)) {
        upgraded = await this.#upgrade(conn, validateUpgrade(head), parser.rest);
      } else if (head.path === this.#eventStream?.path) {
        upgraded = await this.#openEventStream(conn, head, parser.rest, this.#eventStream);
      } else {
        this.#handshakeDeadlines.delete(conn);
        await this.#serveHttp(conn, head, parser.rest);
      }
    } catch (error) {
      await answerHandshakeFailure(
        {
          conn,
          error,
          headRead: head !== undefined,
          socketRequest: head !== undefined && this.#isSocketRequest(head),
          late: this.#lateHandshakes.has(conn),
        },
        this.#stats,
        this.#log,
      );
    } finally {
      this.#handshakeDeadlines.delete(conn);
      this.#lateHandshakes.delete(conn);
      if (!upgraded) {
        closeQuietly(conn);
        this.#admission.done(conn);
      }
    }
  }

  /** Whether a request asks for a socket: an upgrade, or an event stream's GET. */
  #isSocketRequest(head: RequestHead): boolean {
    return isUpgradeRequest(head) ||
      (head.path === this.#eventStream?.path && head.method !== "OPTIONS");
  }

  // The checks every socket passes, in order (origin, connection limit,
  // authorize), then its answer (written by `answer`) and the socket.
  // Whether the connection became a socket.
  async #accept(
    conn: Conn,
    request: UpgradeRequest,
    wire: Wire,
    rest: Uint8Array,
    answer: () => Promise<Opening>,
  ): Promise<boolean> {
    if (this.#origins.kind === "listed") checkOrigin(request, this.#origins.origins);
    const release = this.#admission.reserve(conn, this.sockets.size);
    try {
      const authorize = this.#options.authorize;
      const data = authorize === undefined
        ? undefined
        : await runAuthorize(authorize, request, { remoteAddr: conn.remoteAddr, wire }, this.#log);
      const opening = await answer();
      if (this.#shutdown !== undefined) return false;
      this.#handshakeDeadlines.delete(conn);
      this.#admission.upgraded(conn);
      if (!this.secure) (conn as Deno.TcpConn).setNoDelay(true);
      this.#open(conn, { ...opening, request, head: rest }, data);
      return true;
    } finally {
      release();
    }
  }

  // An upgrade: the socket's subprotocol and compression, then the 101.
  #upgrade(conn: Conn, request: UpgradeRequest, rest: Uint8Array): Promise<boolean> {
    return this.#accept(conn, request, "websocket", rest, () =>
      answerUpgrade(conn, request, {
        protocols: this.#options.protocols ?? [],
        compression: this.#compression,
        maxMessageBytes: this.#options.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      }));
  }

  // An event stream: a preflight is answered; a GET passes the same checks
  // as an upgrade (its refusals with CORS headers for an allowed origin),
  // then gets its 200 and first bytes.
  async #openEventStream(
    conn: Conn,
    head: RequestHead,
    rest: Uint8Array,
    settings: EventStreamSettings,
  ): Promise<boolean> {
    if (head.method === "OPTIONS") {
      await answerPreflight(conn, head.headers, this.#origins);
      this.#stats.recordHttpResponse(204);
      return false;
    }
    const request = eventStreamRequest(head);
    const cors = corsHeaders(request, this.#origins);
    try {
      const maxHeadBytes = this.#options.maxHeadBytes ?? DEFAULTS.maxHeadBytes;
      const topics = checkEventStreamTopics(request, maxHeadBytes);
      const answer = () => answerEventStream(conn, settings, topics, cors);
      return await this.#accept(conn, request, "event-stream", rest, answer);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      throw new HttpError(error.status, error.message, { ...error.headers, ...cors });
    }
  }

  async #serveHttp(conn: Conn, head: RequestHead, rest: Uint8Array): Promise<void> {
    const timeout = this.#options.handshakeTimeout ?? DEFAULTS.handshakeTimeout;
    // The response must be out within the timeout and a grace period.
    const guard = setTimeout(() => closeQuietly(conn), timerDelay(timeout + 2000));
    this.#answering++;
    try {
      const { response, drained } = await handleHttp(this.#routes, {
        head,
        rest,
        conn,
        remoteAddr: conn.remoteAddr,
        timeout,
        logger: this.#log,
      });
      this.#stats.recordHttpResponse(statusOf(response));
      await writeAll(conn, response);
      // A body read still pending (timed out): nothing more to read politely.
      if (drained) await lingerClose(conn);
    } finally {
      this.#answering--;
      clearTimeout(guard);
    }
  }

  // Every socket's close, one function for all of them.
  readonly #socketClosed = (socket: Socket, result: CloseResult): void => {
    this.sockets.delete(socket);
    this.#stats.recordClose(socket, result);
    const address = addressOf(socket as { remoteAddr: Deno.NetAddr });
    this.#admission.release(address);
    logClose(this.#log, socket, address, result);
  };

  #open(
    conn: Conn,
    init: Omit<SocketInit, "id" | "remoteAddr" | "topics">,
    data: unknown,
  ): void {
    const socket = new Socket(conn, {
      ...init,
      id: String(++this.#nextId),
      remoteAddr: conn.remoteAddr,
      topics: this.topics,
      onClose: this.#socketClosed,
    }, this.#socketOptions);
    if (data !== undefined) this.#data.set(socket, data);
    this.#stats.recordSocket();
    // Bytes that came with the request may already have closed the socket
    // (a flood that overflows its outbox): its server was told, and a closed
    // socket joins nothing.
    if (socket.state !== "closed") this.sockets.add(socket, { leaveOnClose: false });
    if (this.#handler === undefined) return;
    const fail = (error: unknown) => {
      this.#log.error("handler-failed", { socket: socket.id, ...errorFields(error) });
      failHandler(socket);
    };
    try {
      Promise.resolve(this.#handler(socket)).catch(fail);
    } catch (error) {
      fail(error);
    }
  }
}

/**
 * Starts a WebSocket server. It listens at once; every accepted socket joins
 * `server.sockets` and is passed to `handler`, if given. Plain HTTP gets the
 * `page` at `/` (if given), JSON counts at `/healthz`, the metrics at
 * `/metrics` (to loopback clients, or with `metricsToken`), the `routes`
 * given, and 404 elsewhere. Browsers connect from this server's own pages
 * or `origins`; with `allowedHosts`, a request naming another host gets 403.
 * Connections are admitted within `maxPendingHandshakes` and
 * `maxConnectionsPerAddress`; what happens is logged through `logger`. With
 * `eventStream`, a `GET` of its path opens a socket that writes
 * Server-Sent Events, after the same checks as an upgrade.
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
