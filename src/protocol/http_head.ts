/**
 * HTTP/1.1 request heads and responses, pure: an incremental parser for the
 * request head (RFC 9112 §2–5) with size limits, and the bytes of a complete
 * response that closes the connection. The opening handshake, plain HTTP
 * routes and the publish API all read requests and answer through here.
 *
 * @module
 */

import { concatBytes } from "./bytes.ts";
import { HttpError } from "./errors.ts";
import { commonName, HeaderFields } from "./header_fields.ts";
import { DEFAULTS } from "../defaults.ts";

/** A parsed HTTP request head. */
export interface RequestHead {
  /** The request method, as sent (methods are case-sensitive). */
  method: string;
  /** The request target, as sent (for example `/chat?topic=news`). */
  target: string;
  /** The path of the target, without the query. */
  path: string;
  /** The query parameters of the target. */
  query: URLSearchParams;
  /** The protocol version, for example `HTTP/1.1`. */
  version: string;
  /**
   * The header fields: names in lower case, values trimmed, repeated
   * fields joined with `", "`.
   */
  headers: ReadonlyMap<string, string>;
}

/** Options for {@linkcode RequestHeadParser}. */
export interface RequestHeadParserOptions {
  /**
   * The largest request head in bytes, request line and blank line
   * included. A larger head fails with 431.
   *
   * @default {8192}
   */
  maxHeadBytes?: number;
  /**
   * The most header fields. More fail with 431.
   *
   * @default {100}
   */
  maxHeaders?: number;
}

/** An HTTP token (RFC 9110 §5.6.2): a method, a header name, a subprotocol. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** An HTTP version in a request line, with its major and minor digits. */
export const HTTP_VERSION = /^HTTP\/(\d)\.(\d)$/;
const ABSOLUTE_FORM = /^(?:https?|wss?):\/\//i;
// A request target is visible ASCII (RFC 9112 §3.2).
const TARGET_CHARS = /^[\x21-\x7e]+$/;
// Field values may hold visible characters, spaces, tabs and obs-text.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const latin1 = new TextDecoder("latin1");
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * Parses an HTTP/1.1 request head from chunks of any size. Once the blank
 * line arrives, {@linkcode RequestHeadParser.push} returns the head and
 * {@linkcode RequestHeadParser.rest} holds the bytes after it (a first
 * WebSocket frame, or the start of a request body).
 *
 * @example
 * ```ts
 * import { RequestHeadParser } from "./http_head.ts";
 *
 * const parser = new RequestHeadParser();
 * const bytes = new TextEncoder().encode("GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n");
 * parser.push(bytes.subarray(0, 10)); // undefined: not complete yet
 * const head = parser.push(bytes.subarray(10));
 * console.log(head?.path, head?.headers.get("host")); // "/chat" "example.com"
 * ```
 */
export class RequestHeadParser {
  readonly #maxHeadBytes: number;
  readonly #maxHeaders: number;
  #buffer: Uint8Array;
  #length = 0;
  #scanned = 0;
  #rest: Uint8Array = EMPTY;

  /**
   * Makes a parser for one request head.
   *
   * @param options Size limits.
   */
  constructor(options: RequestHeadParserOptions = {}) {
    this.#maxHeadBytes = options.maxHeadBytes ?? DEFAULTS.maxHeadBytes;
    this.#maxHeaders = options.maxHeaders ?? DEFAULTS.maxHeaders;
    this.#buffer = EMPTY;
  }

  /** The bytes that followed the head, once it is complete. */
  get rest(): Uint8Array {
    return this.#rest;
  }

  /**
   * Feeds bytes to the parser.
   *
   * @param chunk The next bytes from the client. Not changed or retained.
   * @returns The head once complete, else `undefined`.
   * @throws {HttpError} 431 when the head is too large, 400 when it is
   * malformed.
   */
  push(chunk: Uint8Array): RequestHead | undefined {
    if (this.#length === 0) {
      // The usual case: the whole head in one chunk, parsed where it lies.
      const end = headEnd(chunk, 1, Math.min(chunk.length, this.#maxHeadBytes));
      if (end !== -1) {
        this.#rest = end === chunk.length ? EMPTY : chunk.slice(end);
        return parseHead(latin1.decode(chunk.subarray(0, end)), this.#maxHeaders);
      }
    }
    const room = this.#maxHeadBytes - this.#length;
    const taken = chunk.subarray(0, room);
    this.#append(taken);
    const end = this.#findEnd();
    if (end === -1) {
      if (chunk.length > room || this.#length >= this.#maxHeadBytes) {
        throw new HttpError(431, "Request header fields too large");
      }
      return undefined;
    }
    this.#rest = concatBytes([this.#buffer.subarray(end, this.#length), chunk.subarray(room)]);
    return parseHead(latin1.decode(this.#buffer.subarray(0, end)), this.#maxHeaders);
  }

  #append(bytes: Uint8Array): void {
    const needed = this.#length + bytes.length;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(
        Math.min(this.#maxHeadBytes, Math.max(needed, this.#buffer.length * 2)),
      );
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#length);
    this.#length = needed;
  }

  #findEnd(): number {
    const end = headEnd(this.#buffer, Math.max(this.#scanned, 1), this.#length);
    if (end === -1) this.#scanned = this.#length;
    return end;
  }
}

// The index just past the blank line ending a head, looking at LFs in
// bytes[from, to), or -1.
function headEnd(bytes: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i - 1] === 0x0a) return i + 1;
    if (bytes[i - 1] === 0x0d && i >= 2 && bytes[i - 2] === 0x0a) return i + 1;
  }
  return -1;
}

function parseHead(text: string, maxHeaders: number): RequestHead {
  const lines = text.split("\n").map((line) => line.endsWith("\r") ? line.slice(0, -1) : line);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const requestLine = lines.shift() ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3) throw badRequest("Malformed request line");
  const [method, target, version] = parts as [string, string, string];
  if (!HTTP_TOKEN.test(method)) throw badRequest("Malformed request method");
  if (!HTTP_VERSION.test(version)) throw badRequest("Malformed HTTP version");
  // Origin form ("/chat?x=1") is the usual target; absolute form
  // ("http://host/chat") must be accepted too (RFC 6455 §4.2.1, RFC 9112
  // §3.2.2). Only its path and query are used; the query is parsed when
  // first read.
  let path: string;
  let rawQuery: string;
  if (target.startsWith("/") && TARGET_CHARS.test(target)) {
    const question = target.indexOf("?");
    path = question === -1 ? target : target.slice(0, question);
    rawQuery = question === -1 ? "" : target.slice(question + 1);
    // Dot segments ("/a/../b") are resolved as a URL would.
    if (path.includes("/.")) path = new URL(`http://localhost${path}`).pathname;
  } else if (ABSOLUTE_FORM.test(target)) {
    try {
      const url = new URL(target);
      path = url.pathname;
      rawQuery = url.search.slice(1);
    } catch {
      throw badRequest("Malformed request target");
    }
  } else {
    throw badRequest("Malformed request target");
  }
  if (lines.length > maxHeaders) throw new HttpError(431, "Too many header fields");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw badRequest("Malformed header field");
    const name = line.slice(0, colon);
    if (!HTTP_TOKEN.test(name)) throw badRequest("Malformed header field name");
    const value = trimOws(line.slice(colon + 1));
    if (!FIELD_VALUE.test(value)) throw badRequest("Malformed header field value");
    const key = commonName(name.toLowerCase());
    const previous = headers.get(key);
    if (previous !== undefined && key === "host") throw badRequest("More than one Host header");
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  return new ParsedHead(method, target, path, rawQuery, version, new HeaderFields(headers));
}

/**
 * The parser's request head: plain fields (one shape for every request) and
 * the query parsed on first read.
 */
export class ParsedHead implements RequestHead {
  #query: URLSearchParams | undefined;

  /**
   * Makes a head from its parsed parts.
   *
   * @param method The method.
   * @param target The request target.
   * @param path Its path.
   * @param rawQuery Its query, unparsed.
   * @param version The protocol version.
   * @param headers The header fields.
   */
  constructor(
    readonly method: string,
    readonly target: string,
    readonly path: string,
    readonly rawQuery: string,
    readonly version: string,
    readonly headers: ReadonlyMap<string, string>,
  ) {}

  /** The query parameters, parsed on first read. */
  get query(): URLSearchParams {
    return this.#query ??= new URLSearchParams(this.rawQuery);
  }
}

// Only SP and HTAB surround a field value (RFC 9110 §5.6.3): String#trim()
// would also drop VT, FF and NBSP, and a regular expression anchored at the
// end takes quadratic time on a long run of spaces.
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * A 400 Bad Request.
 *
 * @param message What is wrong with the request.
 * @returns The error to throw.
 */
export function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

/** Reason phrases for the statuses this server sends. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  202: "Accepted",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

/**
 * A complete HTTP/1.1 response that closes the connection: status line,
 * `Content-Type`, `Content-Length`, `Connection: close`, extra headers, body.
 *
 * @example
 * ```ts
 * import { httpResponse } from "./http_head.ts";
 *
 * const bytes = httpResponse(404, "Not found\n");
 * console.log(new TextDecoder().decode(bytes).split("\r\n")[0]); // "HTTP/1.1 404 Not Found"
 * ```
 *
 * @param status The HTTP status.
 * @param body The body; a string is sent as UTF-8.
 * @param headers Extra headers; `Content-Type` defaults to plain text.
 * @returns The response bytes.
 */
export function httpResponse(
  status: number,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Uint8Array {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const all: Record<string, string> = {
    "Content-Type": "text/plain; charset=utf-8",
    ...headers,
    "Content-Length": String(bytes.length),
    "Connection": "close",
  };
  // A 304 has no body, and a Content-Length would have to be the 200's (RFC 9110 §8.6).
  if (status === 304) delete all["Content-Length"];
  let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Unknown"}\r\n`;
  for (const [name, value] of Object.entries(all)) head += `${name}: ${value}\r\n`;
  const headBytes = encoder.encode(head + "\r\n");
  const response = new Uint8Array(headBytes.length + bytes.length);
  response.set(headBytes);
  response.set(bytes, headBytes.length);
  return response;
}

/**
 * The response for a refused handshake: its status, its headers and its
 * message as a plain-text body.
 *
 * @example
 * ```ts
 * import { errorResponse } from "./http_head.ts";
 * import { HttpError } from "./errors.ts";
 *
 * const bytes = errorResponse(new HttpError(405, "Method not allowed", { Allow: "GET" }));
 * console.log(new TextDecoder().decode(bytes).includes("Allow: GET")); // true
 * ```
 *
 * @param error The refusal.
 * @returns The response bytes.
 */
export function errorResponse(error: HttpError): Uint8Array {
  return httpResponse(error.status, `${error.message}\n`, { ...error.headers });
}
