/**
 * Access control, pure: the `Origin` allowlist, cross-site requests,
 * subprotocol choice, bearer tokens compared in constant time, and loopback
 * addresses and host names.
 *
 * @module
 */

import { HttpError } from "../protocol/errors.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";

const encoder = new TextEncoder();

/**
 * Turns allowlist entries into canonical origins (`scheme://host[:port]`,
 * lower case, default ports dropped), so that comparing is exact.
 *
 * @example
 * ```ts
 * import { normalizeOrigins } from "./access.ts";
 *
 * console.log([...normalizeOrigins(["https://App.example:443", "http://localhost:8080"])]);
 * // ["https://app.example", "http://localhost:8080"]
 * ```
 *
 * @param origins Origins such as `https://app.example`.
 * @returns The canonical origins.
 * @throws {TypeError} For an entry that is not an http(s) origin (a path,
 * query or user name is refused too).
 */
export function normalizeOrigins(origins: Iterable<string>): Set<string> {
  const set = new Set<string>();
  for (const origin of origins) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new TypeError(`Invalid origin "${origin}": expected scheme://host[:port]`);
    }
    const bare = url.pathname === "/" && url.search === "" && url.hash === "" &&
      url.username === "" && !origin.endsWith("/");
    if ((url.protocol !== "http:" && url.protocol !== "https:") || !bare) {
      throw new TypeError(`Invalid origin "${origin}": expected scheme://host[:port]`);
    }
    set.add(url.origin);
  }
  return set;
}

/**
 * Checks an upgrade request's `Origin` against an allowlist. Requests without
 * an `Origin` (programs rather than browsers) pass, and so do pages served by
 * this server itself (the origin's host equals the `Host` header); any other
 * origin, `null` included, is refused.
 *
 * @example
 * ```ts
 * import { checkOrigin, normalizeOrigins } from "./access.ts";
 *
 * const allowed = normalizeOrigins(["https://app.example"]);
 * const request = { origin: "https://evil.example", headers: new Map([["host", "push.example"]]) };
 * try {
 *   checkOrigin(request, allowed);
 * } catch (error) {
 *   console.log((error as Error).message); // "Origin not allowed"
 * }
 * ```
 *
 * @param request The upgrade request (its `origin` and `Host` header).
 * @param allowed Canonical origins from {@linkcode normalizeOrigins}.
 * @throws {HttpError} 403 for an origin that is not allowed.
 */
export function checkOrigin(
  request: Pick<UpgradeRequest, "origin" | "headers">,
  allowed: ReadonlySet<string>,
): void {
  const { origin } = request;
  if (origin === undefined) return;
  let canonical: URL | undefined;
  try {
    canonical = new URL(origin);
  } catch {
    canonical = undefined;
  }
  if (canonical !== undefined) {
    if (allowed.has(canonical.origin)) return;
    const host = request.headers.get("host")?.toLowerCase();
    if (host !== undefined && canonical.host === host) return;
  }
  throw new HttpError(403, "Origin not allowed");
}

/**
 * Chooses the subprotocol: the first one the client offers that the server
 * supports (the client lists them in its order of preference).
 *
 * @example
 * ```ts
 * import { chooseProtocol } from "./access.ts";
 *
 * console.log(chooseProtocol(["v2.chat", "v1.chat"], ["v1.chat", "v2.chat"])); // "v2.chat"
 * console.log(chooseProtocol(["mqtt"], ["v1.chat"])); // undefined
 * ```
 *
 * @param offered The client's `Sec-WebSocket-Protocol` values.
 * @param supported The server's subprotocols.
 * @returns The chosen subprotocol, or `undefined` for none in common.
 */
export function chooseProtocol(
  offered: readonly string[],
  supported: readonly string[],
): string | undefined {
  return offered.find((protocol) => supported.includes(protocol));
}

/**
 * The token of an `Authorization: Bearer <token>` header.
 *
 * @example
 * ```ts
 * import { bearerToken } from "./access.ts";
 *
 * console.log(bearerToken("Bearer s3cret")); // "s3cret"
 * console.log(bearerToken("Basic dTpw")); // undefined
 * ```
 *
 * @param header The `Authorization` header value, if any.
 * @returns The token, or `undefined` when there is none.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer[ \t]+(\S+)[ \t]*$/i);
  return match?.[1];
}

/**
 * Compares two secrets in time that depends only on their lengths' maximum,
 * never on where they first differ: both are hashed with SHA-256 and the
 * digests compared byte by byte without an early exit.
 *
 * @example
 * ```ts
 * import { timingSafeEqual } from "./access.ts";
 *
 * console.log(await timingSafeEqual("s3cret", "s3cret")); // true
 * console.log(await timingSafeEqual("s3cret", "guess")); // false
 * ```
 *
 * @param a One secret.
 * @param b The other.
 * @returns Whether they are equal.
 */
export async function timingSafeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const left = new Uint8Array(x);
  const right = new Uint8Array(y);
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= left[i]! ^ right[i]!;
  return difference === 0;
}

/**
 * Whether an address is the local machine's (127.0.0.0/8, `::1`, or an
 * IPv4-mapped loopback).
 *
 * @example
 * ```ts
 * import { isLoopback } from "./access.ts";
 *
 * console.log(isLoopback("127.0.0.1"), isLoopback("::1"), isLoopback("10.0.0.7")); // true true false
 * ```
 *
 * @param hostname An IP address.
 * @returns `true` for a loopback address.
 */
export function isLoopback(hostname: string): boolean {
  const address = hostname.toLowerCase().replace(/^::ffff:/, "");
  return address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/**
 * Whether a host name names this machine: `localhost` (and names under
 * `.localhost`), or a loopback address (IPv6 in brackets or bare).
 *
 * @example
 * ```ts
 * import { isLoopbackHost } from "./access.ts";
 *
 * console.log(isLoopbackHost("localhost"), isLoopbackHost("[::1]"), isLoopbackHost("evil.example")); // true true false
 * ```
 *
 * @param hostname A host name or address, without a port.
 * @returns `true` for a name or address of this machine.
 */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  return isLoopback(name.replace(/^\[(.*)\]$/, "$1"));
}

/**
 * Whether a plain HTTP request comes from a page of another site, as a
 * browser tells: its `Origin` is neither allowed nor this server's own, or
 * it carries `Sec-Fetch-Site: cross-site`. An origin in `allowed` is never
 * cross-site. This server's own origin is one whose host equals the `Host`
 * header and names this machine (`localhost`, 127.0.0.0/8, `[::1]`): a page
 * of another site whose name was made to resolve to 127.0.0.1 (DNS
 * rebinding) sends matching `Origin` and `Host` headers, but not a loopback
 * name. Requests without `Origin` and `Sec-Fetch-Site` (programs such as
 * curl) are not cross-site.
 *
 * @example
 * ```ts
 * import { isCrossSite } from "./access.ts";
 *
 * const none = new Set<string>();
 * const from = (origin: string) => new Map([["host", "localhost:8080"], ["origin", origin]]);
 * console.log(isCrossSite(from("https://evil.example"), none)); // true
 * console.log(isCrossSite(from("http://localhost:8080"), none)); // false
 * console.log(isCrossSite(new Map([["sec-fetch-site", "cross-site"]]), none)); // true
 * console.log(isCrossSite(new Map([["host", "localhost:8080"]]), none)); // false
 * ```
 *
 * @param headers The request's header fields, names in lower case.
 * @param allowed Canonical origins from {@linkcode normalizeOrigins}.
 * @returns `true` when the request must be treated as cross-site.
 */
export function isCrossSite(
  headers: ReadonlyMap<string, string>,
  allowed: ReadonlySet<string>,
): boolean {
  const origin = headers.get("origin");
  const url = origin === undefined ? undefined : parseOrigin(origin);
  if (url !== undefined && allowed.has(url.origin)) return false;
  if (headers.get("sec-fetch-site")?.trim().toLowerCase() === "cross-site") return true;
  if (origin === undefined) return false;
  if (url === undefined) return true; // "null" or garbage
  const host = headers.get("host")?.trim().toLowerCase();
  return !(host !== undefined && url.host === host && isLoopbackHost(url.hostname));
}

/** An `Origin` header value as a URL, or `undefined` when it is not one. */
function parseOrigin(origin: string): URL | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}
