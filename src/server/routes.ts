/**
 * Plain HTTP on the server's port: a small route table, request bodies of a
 * declared length, and responses that close the connection. The server hands
 * every request that is not a WebSocket upgrade to {@linkcode handleHttp}.
 *
 * @module
 */

import { isDisconnection, writeAll } from "./conn_io.ts";
import { DEFAULTS } from "../defaults.ts";
import { HttpError } from "../protocol/errors.ts";
import { errorResponse, httpResponse, type RequestHead } from "../protocol/http_head.ts";
import { errorFields, type Logger, SILENT } from "./log.ts";
import { timerDelay } from "./timers.ts";

/** A plain HTTP request, as a route sees it. */
export interface HttpRequest {
  /** The request method, as sent. */
  readonly method: string;
  /** The path of the target, without the query. */
  readonly path: string;
  /** The query parameters. */
  readonly query: URLSearchParams;
  /** The header fields, names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /**
   * Reads the body. It must come with a `Content-Length` (chunked bodies get
   * 411) of at most the route's `maxBodyBytes` (else 413, answered from the
   * header before anything is read), within the request timeout (else 408).
   * A client that sent `Expect: 100-continue` is told to go on first.
   *
   * @returns The body bytes (empty without a body).
   * @throws {HttpError} With the status that answers the problem.
   */
  body(): Promise<Uint8Array>;
}

/** What a route answers. */
export interface HttpResponse {
  /** The HTTP status. */
  status: number;
  /**
   * The body; a string is sent as UTF-8.
   *
   * @default {""}
   */
  body?: string | Uint8Array;
  /** Extra headers; `Content-Type` defaults to plain text. */
  headers?: Record<string, string>;
}

/**
 * A JSON answer: the body as one line of JSON and a newline, with
 * `Content-Type: application/json`.
 *
 * @example
 * ```ts
 * import { jsonResponse } from "./routes.ts";
 *
 * console.log(jsonResponse(200, { ok: true }).body); // {"ok":true}
 * ```
 *
 * @param status The HTTP status.
 * @param body The value to send.
 * @param headers More headers.
 * @returns The response.
 */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    status,
    body: JSON.stringify(body) + "\n",
    headers: { "Content-Type": "application/json", ...headers },
  };
}

/** One path of the route table. */
export interface HttpRoute {
  /** The methods it answers; `GET` brings `HEAD` along. Others get 405. */
  methods: readonly string[];
  /**
   * The largest body {@linkcode HttpRequest.body} reads, in bytes.
   *
   * @default {65536}
   */
  maxBodyBytes?: number;
  /**
   * Answers a request. Throwing a {@linkcode HttpError} answers with its
   * status and message; any other error answers 500.
   */
  handle(request: HttpRequest): HttpResponse | Promise<HttpResponse>;
}

/** Routes by exact path, for example `{ "/healthz": { methods: ["GET"], handle } }`. */
export type HttpRoutes = Readonly<Record<string, HttpRoute>>;

/** The connection a request arrived on (a `Deno.Conn` is one). */
export interface HttpConnection {
  /** Reads into `buffer`; `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`. */
  write(bytes: Uint8Array): Promise<number>;
}

/** The response bytes, and whether the request was read to its end. */
export interface HttpOutcome {
  /** The complete response. */
  response: Uint8Array;
  /**
   * `false` when a read of the body is still pending (the body timed out):
   * the connection should then be closed at once rather than drained.
   */
  drained: boolean;
}

const CONTENT_LENGTH = /^\d{1,15}$/;
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/**
 * The length of a request's body from its head, checked before any of it is
 * read.
 *
 * @example
 * ```ts
 * import { bodyLength } from "./routes.ts";
 * import { RequestHeadParser } from "../protocol/http_head.ts";
 *
 * const head = new RequestHeadParser().push(new TextEncoder().encode(
 *   "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
 * ))!;
 * console.log(bodyLength(head, 1024)); // 5
 * ```
 *
 * @param head The request head.
 * @param maxBodyBytes The largest body accepted.
 * @returns The number of body bytes to read.
 * @throws {HttpError} 411 for a chunked body or none declared on a
 * method that carries one, 400 for a malformed or conflicting length, 413
 * for a body over `maxBodyBytes`.
 */
export function bodyLength(head: RequestHead, maxBodyBytes: number): number {
  const declared = head.headers.get("content-length");
  const encoding = head.headers.get("transfer-encoding");
  if (encoding !== undefined) {
    if (declared !== undefined) {
      throw new HttpError(400, "Content-Length and Transfer-Encoding must not both be sent");
    }
    throw new HttpError(411, "Chunked bodies are not supported: send a Content-Length");
  }
  if (declared === undefined) {
    if (head.method === "GET" || head.method === "HEAD") return 0;
    throw new HttpError(411, "Content-Length required");
  }
  if (!CONTENT_LENGTH.test(declared)) throw new HttpError(400, "Malformed Content-Length");
  const length = Number(declared);
  if (length > maxBodyBytes) {
    throw new HttpError(413, `Body too large: at most ${maxBodyBytes} bytes`);
  }
  return length;
}

/**
 * Answers one plain HTTP request from a route table: 404 for an unknown path,
 * 405 (with `Allow`) for a method the route does not answer, the route's
 * response otherwise (head only for `HEAD`).
 *
 * @example
 * ```ts
 * import { handleHttp } from "./routes.ts";
 * import { RequestHeadParser } from "../protocol/http_head.ts";
 *
 * const bytes = new TextEncoder().encode("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
 * const parser = new RequestHeadParser();
 * const head = parser.push(bytes)!;
 * const conn = { read: () => Promise.resolve(null), write: (b: Uint8Array) => Promise.resolve(b.length) };
 * const { response } = await handleHttp(
 *   { "/ping": { methods: ["GET"], handle: () => ({ status: 200, body: "pong\n" }) } },
 *   { head, rest: parser.rest, conn, remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } },
 * );
 * console.log(new TextDecoder().decode(response).split("\r\n")[0]); // "HTTP/1.1 200 OK"
 * ```
 *
 * @param routes The route table.
 * @param incoming The request head, the bytes read after it, the connection
 * (to read the rest of the body and send `100 Continue`), the client's
 * address, how long the body may take in milliseconds (default 10 s), and
 * where to log a route's failure (`route-failed`, error level; a client's
 * disconnection at debug level).
 * @returns The response bytes, and whether the request was read to its end.
 */
export async function handleHttp(
  routes: HttpRoutes,
  incoming: {
    head: RequestHead;
    rest: Uint8Array;
    conn: HttpConnection;
    remoteAddr: Deno.NetAddr;
    timeout?: number;
    logger?: Logger;
  },
): Promise<HttpOutcome> {
  const { head } = incoming;
  const route = Object.hasOwn(routes, head.path) ? routes[head.path] : undefined;
  if (route === undefined) return { response: httpResponse(404, "Not found\n"), drained: true };
  const methods = route.methods.includes("GET") && !route.methods.includes("HEAD")
    ? [...route.methods, "HEAD"]
    : route.methods;
  if (!methods.includes(head.method)) {
    return {
      response: httpResponse(405, "Method not allowed\n", { Allow: methods.join(", ") }),
      drained: true,
    };
  }
  const reader = new BodyReader(incoming, route.maxBodyBytes ?? DEFAULTS.maxBodyBytes);
  let response: Uint8Array;
  try {
    const answer = await route.handle({
      method: head.method,
      path: head.path,
      query: head.query,
      headers: head.headers,
      remoteAddr: incoming.remoteAddr,
      body: () => reader.read(),
    });
    response = httpResponse(answer.status, answer.body ?? "", answer.headers);
  } catch (error) {
    if (error instanceof HttpError) {
      response = errorResponse(error);
    } else {
      const log = incoming.logger ?? SILENT;
      const fields = { method: head.method, path: head.path };
      if (isDisconnection(error)) log.debug("route-failed", { ...fields, error });
      else log.error("route-failed", { ...fields, ...errorFields(error) });
      response = httpResponse(500, "Internal server error\n");
    }
  }
  return {
    response: head.method === "HEAD" ? headOnly(response) : response,
    drained: !reader.pending,
  };
}

/** Reads one request body, once. */
class BodyReader {
  readonly #incoming: {
    head: RequestHead;
    rest: Uint8Array;
    conn: HttpConnection;
    timeout?: number;
  };
  readonly #maxBodyBytes: number;
  #body: Promise<Uint8Array> | undefined;
  pending = false;

  constructor(
    incoming: { head: RequestHead; rest: Uint8Array; conn: HttpConnection; timeout?: number },
    maxBodyBytes: number,
  ) {
    this.#incoming = incoming;
    this.#maxBodyBytes = maxBodyBytes;
  }

  read(): Promise<Uint8Array> {
    this.#body ??= this.#read();
    return this.#body;
  }

  async #read(): Promise<Uint8Array> {
    const { head, rest, conn } = this.#incoming;
    const length = bodyLength(head, this.#maxBodyBytes);
    const body = new Uint8Array(length);
    let filled = Math.min(rest.length, length);
    body.set(rest.subarray(0, filled));
    if (filled === length) return body;
    if (head.headers.get("expect")?.toLowerCase() === "100-continue" && rest.length === 0) {
      await writeAll(conn, CONTINUE);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(
        () => resolve("timeout"),
        timerDelay(this.#incoming.timeout ?? DEFAULTS.handshakeTimeout),
      );
    });
    try {
      while (filled < length) {
        this.pending = true;
        const n = await Promise.race([conn.read(body.subarray(filled)), expired]);
        if (n === "timeout") throw new HttpError(408, "Request body not received in time");
        this.pending = false;
        if (n === null) throw new HttpError(400, "Request body ended early");
        filled += n;
      }
    } finally {
      clearTimeout(timer);
    }
    return body;
  }
}

/** The status line and headers of a response, without its body. */
function headOnly(response: Uint8Array): Uint8Array {
  for (let i = 3; i < response.length; i++) {
    if (
      response[i] === 0x0a && response[i - 1] === 0x0d && response[i - 2] === 0x0a &&
      response[i - 3] === 0x0d
    ) {
      return response.subarray(0, i + 1);
    }
  }
  return response;
}
