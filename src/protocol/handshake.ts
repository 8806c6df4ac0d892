/**
 * The opening handshake (RFC 6455 §4.2): an incremental parser for the HTTP
 * request head, validation of an upgrade request, `Sec-WebSocket-Accept`, and
 * the response bytes. Pure: bytes in, values and bytes out.
 *
 * @module
 */

import { encodeBase64 } from "@std/encoding";
import { concatBytes } from "./bytes.ts";
import { HandshakeError } from "./errors.ts";

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

/** A valid WebSocket upgrade request. */
export interface UpgradeRequest extends RequestHead {
  /** The `Sec-WebSocket-Key` to answer with {@linkcode acceptKey}. */
  key: string;
  /** The `Origin` header, if any. */
  origin: string | undefined;
  /** The subprotocols the client offers, in its order of preference. */
  protocols: string[];
  /** The raw `Sec-WebSocket-Extensions` offer, or `""`. */
  extensions: string;
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

/** The GUID that RFC 6455 §1.3 appends to the key before hashing. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KEY_SHAPE = /^[A-Za-z0-9+/]{22}==$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
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
 * import { RequestHeadParser } from "./handshake.ts";
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
    this.#maxHeadBytes = options.maxHeadBytes ?? 8192;
    this.#maxHeaders = options.maxHeaders ?? 100;
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
   * @throws {HandshakeError} 431 when the head is too large, 400 when it is
   * malformed.
   */
  push(chunk: Uint8Array): RequestHead | undefined {
    if (this.#length === 0) {
      // The usual case: the whole head in one chunk, parsed where it lies.
      const end = headEnd(chunk, 1, Math.min(chunk.length, this.#maxHeadBytes));
      if (end !== -1) {
        this.#rest = chunk.slice(end);
        return parseHead(latin1.decode(chunk.subarray(0, end)), this.#maxHeaders);
      }
    }
    const room = this.#maxHeadBytes - this.#length;
    const taken = chunk.subarray(0, room);
    this.#append(taken);
    const end = this.#findEnd();
    if (end === -1) {
      if (chunk.length > room || this.#length >= this.#maxHeadBytes) {
        throw new HandshakeError(431, "Request header fields too large");
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
  if (!TOKEN.test(method)) throw badRequest("Malformed request method");
  if (!VERSION.test(version)) throw badRequest("Malformed HTTP version");
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
  if (lines.length > maxHeaders) throw new HandshakeError(431, "Too many header fields");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw badRequest("Malformed header field");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw badRequest("Malformed header field name");
    const value = trimOws(line.slice(colon + 1));
    if (!FIELD_VALUE.test(value)) throw badRequest("Malformed header field value");
    const key = name.toLowerCase();
    const previous = headers.get(key);
    if (previous !== undefined && key === "host") throw badRequest("More than one Host header");
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  return new ParsedHead(method, target, path, rawQuery, version, headers);
}

// The parser's request head: plain fields (one shape for every request) and
// the query parsed on first read.
class ParsedHead implements RequestHead {
  #query: URLSearchParams | undefined;

  constructor(
    readonly method: string,
    readonly target: string,
    readonly path: string,
    readonly rawQuery: string,
    readonly version: string,
    readonly headers: ReadonlyMap<string, string>,
  ) {}

  get query(): URLSearchParams {
    return this.#query ??= new URLSearchParams(this.rawQuery);
  }
}

class ParsedUpgrade extends ParsedHead implements UpgradeRequest {
  constructor(
    head: RequestHead,
    readonly key: string,
    readonly origin: string | undefined,
    readonly protocols: string[],
    readonly extensions: string,
  ) {
    const rawQuery = head instanceof ParsedHead ? head.rawQuery : head.query.toString();
    super(head.method, head.target, head.path, rawQuery, head.version, head.headers);
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

function badRequest(message: string): HandshakeError {
  return new HandshakeError(400, message);
}

function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(",").some((item) => item.trim().toLowerCase() === token);
}

/**
 * Whether a request asks to switch protocols at all (it has an `Upgrade`
 * header). Such a request is validated with {@linkcode validateUpgrade};
 * others are plain HTTP.
 *
 * @param head A parsed request head.
 * @returns `true` when the request carries an `Upgrade` header.
 */
export function isUpgradeRequest(head: RequestHead): boolean {
  return head.headers.has("upgrade");
}

/**
 * Checks a request head against RFC 6455 §4.2.1.
 *
 * @example
 * ```ts
 * import { RequestHeadParser, validateUpgrade } from "./handshake.ts";
 *
 * const head = new RequestHeadParser().push(new TextEncoder().encode(
 *   "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
 *     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
 * ))!;
 * console.log(validateUpgrade(head).key); // "dGhlIHNhbXBsZSBub25jZQ=="
 * ```
 *
 * @param head A parsed request head.
 * @returns The upgrade request.
 * @throws {HandshakeError} 405 for a method other than GET (with `Allow`),
 * 426 for a version other than 13 (with `Sec-WebSocket-Version: 13`), 400 for
 * anything else that is wrong.
 */
export function validateUpgrade(head: RequestHead): UpgradeRequest {
  const { headers } = head;
  if (head.method !== "GET") {
    throw new HandshakeError(405, "WebSocket upgrade requires GET", { Allow: "GET" });
  }
  const [, major, minor] = VERSION.exec(head.version)!;
  if (Number(major) < 1 || (Number(major) === 1 && Number(minor) < 1)) {
    throw badRequest("WebSocket upgrade requires HTTP/1.1 or later");
  }
  if (!headers.get("host")) throw badRequest("Missing Host header");
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    throw badRequest("Upgrade header must name websocket");
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw badRequest("Connection header must contain upgrade");
  }
  if (headers.get("sec-websocket-version") !== "13") {
    throw new HandshakeError(426, "Unsupported WebSocket version", {
      "Sec-WebSocket-Version": "13",
    });
  }
  const key = headers.get("sec-websocket-key") ?? "";
  if (!isValidKey(key)) throw badRequest("Sec-WebSocket-Key must be base64 of 16 bytes");
  const protocols = (headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((item) => item.trim()).filter((item) => item !== "");
  if (protocols.some((protocol) => !TOKEN.test(protocol))) {
    throw badRequest("Malformed Sec-WebSocket-Protocol");
  }
  return new ParsedUpgrade(
    head,
    key,
    headers.get("origin"),
    protocols,
    headers.get("sec-websocket-extensions") ?? "",
  );
}

// 22 base64 digits and "==" are always 16 bytes (RFC 6455 §4.1).
function isValidKey(key: string): boolean {
  return KEY_SHAPE.test(key);
}

/**
 * Computes `Sec-WebSocket-Accept` for a key: base64 of the SHA-1 of the key
 * followed by {@linkcode WEBSOCKET_GUID}.
 *
 * @example The vector of RFC 6455 §1.3
 * ```ts
 * import { acceptKey } from "./handshake.ts";
 *
 * console.log(await acceptKey("dGhlIHNhbXBsZSBub25jZQ==")); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
 * ```
 *
 * @param key The client's `Sec-WebSocket-Key`.
 * @returns The accept value.
 */
export async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + WEBSOCKET_GUID));
  return encodeBase64(digest);
}

/** Options for {@linkcode upgradeResponse}. */
export interface UpgradeResponseOptions {
  /** The subprotocol chosen from the client's offer, if any. */
  protocol?: string;
  /** The `Sec-WebSocket-Extensions` answer, if any. */
  extensions?: string;
}

/**
 * The `101 Switching Protocols` response.
 *
 * @example
 * ```ts
 * import { upgradeResponse } from "./handshake.ts";
 *
 * const bytes = upgradeResponse("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * console.log(new TextDecoder().decode(bytes).split("\r\n")[0]); // "HTTP/1.1 101 Switching Protocols"
 * ```
 *
 * @param accept The value from {@linkcode acceptKey}.
 * @param options A chosen subprotocol and extensions.
 * @returns The response bytes.
 */
export function upgradeResponse(accept: string, options: UpgradeResponseOptions = {}): Uint8Array {
  let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${accept}\r\n`;
  if (options.protocol !== undefined) head += `Sec-WebSocket-Protocol: ${options.protocol}\r\n`;
  if (options.extensions) head += `Sec-WebSocket-Extensions: ${options.extensions}\r\n`;
  return encoder.encode(head + "\r\n");
}

/** Reason phrases for the statuses this server sends. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  202: "Accepted",
  204: "No Content",
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
 * import { httpResponse } from "./handshake.ts";
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
 * import { errorResponse } from "./handshake.ts";
 * import { HandshakeError } from "./errors.ts";
 *
 * const bytes = errorResponse(new HandshakeError(405, "Method not allowed", { Allow: "GET" }));
 * console.log(new TextDecoder().decode(bytes).includes("Allow: GET")); // true
 * ```
 *
 * @param error The refusal.
 * @returns The response bytes.
 */
export function errorResponse(error: HandshakeError): Uint8Array {
  return httpResponse(error.status, `${error.message}\n`, { ...error.headers });
}
