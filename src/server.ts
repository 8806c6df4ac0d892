/**
 * `serve()`: listen on TCP, run the opening handshake, answer plain HTTP,
 * keep the registry of sockets, and shut down gracefully.
 *
 * @module
 */

import { CLOSE_CODE } from "./close_code.ts";
import { HandshakeError } from "./errors.ts";
import {
  acceptKey,
  errorResponse,
  httpResponse,
  isUpgradeRequest,
  type RequestHead,
  RequestHeadParser,
  type UpgradeRequest,
  upgradeResponse,
  validateUpgrade,
} from "./handshake.ts";
import { CHAT_PAGE } from "./page.ts";
import { Registry } from "./registry.ts";
import { Socket, type SocketOptions } from "./socket.ts";
import { TopicIndex } from "./topics.ts";

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
   * Milliseconds a client has to complete its request head; slower clients
   * are disconnected.
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * The HTML served at `GET /`, or `false` for none (404).
   *
   * @default {the chat page}
   */
  page?: string | false;
  /** Shuts the server down when aborted. */
  signal?: AbortSignal;
}

/** Called with every socket the server accepts. */
export type SocketHandler = (socket: Socket) => void | Promise<void>;

const DEFAULT_IDLE_TIMEOUT = 30_000;
const READ_CHUNK = 4096;
const encoder = new TextEncoder();

/**
 * A running WebSocket server, made by {@linkcode serve}.
 */
export class Server {
  /** The address the server listens on (with the real port when `port: 0`). */
  readonly addr: Deno.NetAddr;
  /** The live sockets: iterate for joins, broadcast to all. */
  readonly sockets: Registry = new Registry();
  /** The subscribers of every topic (see {@linkcode Socket.subscribe}). */
  readonly topics: TopicIndex<Socket> = new TopicIndex();

  readonly #listener: Deno.TcpListener;
  readonly #options: ServeOptions;
  readonly #handler: SocketHandler | undefined;
  readonly #pending = new Set<Deno.TcpConn>();
  readonly #finished = Promise.withResolvers<void>();
  readonly #startedAt = Date.now();
  #nextId = 0;
  #reserved = 0;
  #shutdown: Promise<void> | undefined;

  /**
   * Listens and starts accepting. Use {@linkcode serve}.
   *
   * @param options Where to listen, limits and timeouts.
   * @param handler Called with every accepted socket.
   */
  constructor(options: ServeOptions = {}, handler?: SocketHandler) {
    this.#options = options;
    this.#handler = handler;
    this.#listener = Deno.listen({
      port: options.port ?? 8080,
      hostname: options.hostname ?? "0.0.0.0",
    });
    this.addr = this.#listener.addr as Deno.NetAddr;
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
  publish(topic: string, data: string | Uint8Array): number {
    return this.topics.publish(topic, data);
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
      let conn: Deno.TcpConn;
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

  async #handshake(conn: Deno.TcpConn): Promise<void> {
    this.#pending.add(conn);
    const timer = setTimeout(
      () => closeQuietly(conn),
      this.#options.handshakeTimeout ?? 10_000,
    );
    let upgraded = false;
    let reserved = false;
    try {
      const parser = new RequestHeadParser({ maxHeadBytes: this.#options.maxHeadBytes ?? 8192 });
      const buffer = new Uint8Array(READ_CHUNK);
      let head: RequestHead | undefined;
      while (head === undefined) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head = parser.push(buffer.subarray(0, n));
      }
      if (!isUpgradeRequest(head)) {
        await writeAll(conn, this.#route(head));
        await lingerClose(conn);
        return;
      }
      const request = validateUpgrade(head);
      // Hold a place while the handshake completes, so that concurrent
      // upgrades cannot overshoot the limit.
      if (this.sockets.size + this.#reserved >= (this.#options.maxConnections ?? 10_000)) {
        throw new HandshakeError(503, "Too many connections");
      }
      this.#reserved++;
      reserved = true;
      const accept = await acceptKey(request.key);
      await writeAll(conn, upgradeResponse(accept));
      if (this.#shutdown !== undefined) return;
      clearTimeout(timer);
      this.#pending.delete(conn);
      upgraded = true;
      conn.setNoDelay(true);
      this.#open(conn, request, parser.rest);
    } catch (error) {
      if (error instanceof HandshakeError) {
        await writeAll(conn, errorResponse(error)).then(() => lingerClose(conn), () => {});
      }
    } finally {
      if (reserved) this.#reserved--;
      clearTimeout(timer);
      this.#pending.delete(conn);
      if (!upgraded) closeQuietly(conn);
    }
  }

  #open(conn: Deno.TcpConn, request: UpgradeRequest, head: Uint8Array): void {
    const socket = new Socket(conn, {
      id: String(++this.#nextId),
      remoteAddr: conn.remoteAddr,
      request,
      head,
      topics: this.topics,
    }, {
      ...this.#options,
      idleTimeout: this.#options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
    });
    this.sockets.add(socket);
    if (this.#handler === undefined) return;
    try {
      Promise.resolve(this.#handler(socket)).catch(() => failHandler(socket));
    } catch {
      failHandler(socket);
    }
  }

  #route(head: RequestHead): Uint8Array {
    const page = this.#options.page ?? CHAT_PAGE;
    const routes: Record<string, () => Uint8Array> = {
      "/healthz": () =>
        httpResponse(
          200,
          JSON.stringify({
            status: this.#shutdown === undefined ? "ok" : "shutting down",
            sockets: this.sockets.size,
            handshakes: this.#pending.size,
            uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
          }) + "\n",
          { "Content-Type": "application/json" },
        ),
    };
    if (page !== false) {
      routes["/"] = () => httpResponse(200, page, { "Content-Type": "text/html; charset=utf-8" });
    }
    const route = routes[head.path];
    if (route === undefined) return httpResponse(404, "Not found\n");
    if (head.method !== "GET" && head.method !== "HEAD") {
      return httpResponse(405, "Method not allowed\n", { Allow: "GET, HEAD" });
    }
    const response = route();
    return head.method === "HEAD" ? stripBody(response) : response;
  }
}

/**
 * Starts a WebSocket server. It listens at once; every accepted socket joins
 * `server.sockets` and is passed to `handler`, if given. Plain HTTP gets the
 * chat page at `/`, JSON counts at `/healthz`, and 404 elsewhere.
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
 * @param options Where to listen, limits and timeouts.
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

const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;

// After a response, stop writing and read what the client still sends (up to
// a bound) before closing: closing with unread input would reset the
// connection, and the client could lose the response.
async function lingerClose(conn: Deno.TcpConn): Promise<void> {
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

function stripBody(response: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(response);
  return encoder.encode(text.slice(0, text.indexOf("\r\n\r\n") + 4));
}
