/**
 * The opening handshake (RFC 6455 §4.2): validation of an upgrade request,
 * `Sec-WebSocket-Accept`, and the 101 response bytes. Pure: values in,
 * values and bytes out; the request head itself is parsed by `http_head.ts`.
 *
 * @module
 */

import { encodeBase64 } from "@std/encoding";
import { HttpError } from "./errors.ts";
import { badRequest, HTTP_TOKEN, HTTP_VERSION, ParsedHead, type RequestHead } from "./http_head.ts";

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

/** The GUID that RFC 6455 §1.3 appends to the key before hashing. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY_SHAPE = /^[A-Za-z0-9+/]{22}==$/;
const encoder = new TextEncoder();

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
 * import { RequestHeadParser } from "./http_head.ts";
 * import { validateUpgrade } from "./handshake.ts";
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
 * @throws {HttpError} 405 for a method other than GET (with `Allow`),
 * 426 for a version other than 13 (with `Sec-WebSocket-Version: 13`), 400 for
 * anything else that is wrong.
 */
export function validateUpgrade(head: RequestHead): UpgradeRequest {
  const { headers } = head;
  if (head.method !== "GET") {
    throw new HttpError(405, "WebSocket upgrade requires GET", { Allow: "GET" });
  }
  const [, major, minor] = HTTP_VERSION.exec(head.version)!;
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
    throw new HttpError(426, "Unsupported WebSocket version", {
      "Sec-WebSocket-Version": "13",
    });
  }
  const key = headers.get("sec-websocket-key") ?? "";
  if (!isValidKey(key)) throw badRequest("Sec-WebSocket-Key must be base64 of 16 bytes");
  const protocols = (headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((item) => item.trim()).filter((item) => item !== "");
  if (protocols.some((protocol) => !HTTP_TOKEN.test(protocol))) {
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

// An upgrade request that shares the parsed head's fields (and its lazily
// parsed query).
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
