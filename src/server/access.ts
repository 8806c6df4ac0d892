/**
 * Access control, pure: the `Origin` allowlist, the `Host` allowlist (the
 * DNS-rebinding defence), cross-site requests, subprotocol choice, bearer
 * tokens compared in constant time, and loopback addresses and host names.
 *
 * @module
 */

import { HttpError } from "../protocol/errors.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";

const encoder = new TextEncoder();

/**
 * The `origins` entry that accepts every browser origin (`--origin '*'`).
 *
 * @example
 * ```ts
 * import { ANY_ORIGIN, originPolicy } from "./access.ts";
 *
 * console.log(originPolicy([ANY_ORIGIN]).kind); // "any"
 * ```
 */
export const ANY_ORIGIN = "*";

/**
 * Which browser origins may open sockets, from `ServeOptions.origins`: every
 * one (`"*"`), or those listed and this server's own (an empty list: this
 * server's own only).
 */
export type OriginPolicy =
  | {
    /** Every origin: any web page may open sockets. */
    kind: "any";
  }
  | {
    /** The listed origins and this server's own. */
    kind: "listed";
    /** Canonical origins from {@linkcode normalizeOrigins}. */
    origins: ReadonlySet<string>;
  };

// A `Host` header or an allowed host: a name or IPv4 address, or an IPv6
// address in brackets, then an optional port.
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s/?#@\\[\]:]+)(?::(\d{1,5}))?$/;
// A canonical host name (labels of letters, digits, `-` and `_`), an IPv4
// address, or an IPv6 address in brackets.
const HOST_NAME =
  /^(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*|\[[0-9a-f:.]+\])$/;

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
 * Reads `ServeOptions.origins` into an {@linkcode OriginPolicy}: unset means
 * this server's own origin only, `["*"]` every origin.
 *
 * @example
 * ```ts
 * import { originPolicy } from "./access.ts";
 *
 * console.log(originPolicy(undefined)); // { kind: "listed", origins: Set(0) {} }
 * console.log(originPolicy(["*"])); // { kind: "any" }
 * console.log(originPolicy(["https://App.example"])); // { kind: "listed", origins: Set(1) { "https://app.example" } }
 * ```
 *
 * @param origins Origins such as `https://app.example`, or `["*"]`.
 * @returns The policy.
 * @throws {TypeError} For an entry that is not an http(s) origin, or `"*"`
 * listed with other origins.
 */
export function originPolicy(origins: readonly string[] | undefined): OriginPolicy {
  if (origins?.includes(ANY_ORIGIN)) {
    if (origins.some((origin) => origin !== ANY_ORIGIN)) {
      throw new TypeError(
        'Cannot combine origin "*" (every origin) with other origins: list "*" alone',
      );
    }
    return { kind: "any" };
  }
  return { kind: "listed", origins: normalizeOrigins(origins ?? []) };
}

/**
 * Checks an upgrade request's `Origin` against an allowlist. Requests without
 * an `Origin` (programs rather than browsers) pass, and so do pages served by
 * this server itself: the origin's `host[:port]` equals the `Host` header
 * (compared canonically: case-insensitive, default ports dropped). Any other
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
  const url = parseOrigin(origin);
  if (url !== undefined) {
    if (allowed.has(url.origin)) return;
    if (isOwnOrigin(url, request.headers.get("host"))) return;
  }
  throw new HttpError(403, "Origin not allowed");
}

/**
 * Turns `allowedHosts` entries into canonical ones: a host name or address
 * (lower case, a trailing dot dropped, IPv6 in brackets) alone, which allows
 * it on every port, or with `:port`, which allows that port only.
 *
 * @example
 * ```ts
 * import { normalizeAllowedHosts } from "./access.ts";
 *
 * console.log([...normalizeAllowedHosts(["LocalHost", "push.example:8443", "[::1]"])]);
 * // ["localhost", "push.example:8443", "[::1]"]
 * ```
 *
 * @param hosts Host names or addresses, each with an optional `:port`.
 * @returns The canonical entries.
 * @throws {TypeError} For an empty list, or an entry with a scheme, a path,
 * a user name, a wildcard, or a port outside 1..65535.
 */
export function normalizeAllowedHosts(hosts: Iterable<string>): Set<string> {
  const set = new Set<string>();
  for (const host of hosts) {
    const parsed = parseHost(host);
    if (parsed === undefined || !HOST_NAME.test(parsed.hostname) || parsed.port === 0) {
      throw new TypeError(
        `Invalid allowed host "${host}": expected a host name or address, optionally with :port ` +
          "(no scheme, path or wildcard; IPv6 in brackets)",
      );
    }
    set.add(parsed.port === undefined ? parsed.hostname : `${parsed.hostname}:${parsed.port}`);
  }
  if (set.size === 0) {
    throw new TypeError("Invalid allowed hosts: list at least one host, or leave them unset");
  }
  return set;
}

/**
 * Checks a request's `Host` header against the allowed hosts, the defence
 * against DNS rebinding: a page of another site whose name was made to
 * resolve to this server's address still sends its own name in `Host`. An
 * entry without a port allows its host on every port; one with a port
 * allows that port only, a `Host` without a port standing for
 * `defaultPort`.
 *
 * @example
 * ```ts
 * import { checkHost, normalizeAllowedHosts } from "./access.ts";
 *
 * const allowed = normalizeAllowedHosts(["localhost", "push.example:8443"]);
 * checkHost(new Map([["host", "LOCALHOST:8080"]]), allowed, 80); // passes
 * try {
 *   checkHost(new Map([["host", "evil.example:8080"]]), allowed, 80);
 * } catch (error) {
 *   console.log((error as Error).message); // "Host not allowed"
 * }
 * ```
 *
 * @param headers The request's header fields, names in lower case.
 * @param allowed Canonical entries from {@linkcode normalizeAllowedHosts}.
 * @param defaultPort The port a `Host` without one means: 80, or 443 under TLS.
 * @throws {HttpError} 400 without a `Host` header, 403 for a host not allowed.
 */
export function checkHost(
  headers: ReadonlyMap<string, string>,
  allowed: ReadonlySet<string>,
  defaultPort: number,
): void {
  const host = headers.get("host");
  if (host === undefined || host === "") throw new HttpError(400, "Missing Host header");
  const parsed = parseHost(host);
  if (parsed !== undefined) {
    const { hostname, port = defaultPort } = parsed;
    if (allowed.has(hostname) || allowed.has(`${hostname}:${port}`)) return;
  }
  throw new HttpError(403, "Host not allowed");
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
  return !(isOwnOrigin(url, headers.get("host")) && isLoopbackHost(url.hostname));
}

/**
 * Whether an origin is this server's own: its host and port are the `Host`
 * header's, both canonical (lower case, a trailing dot dropped, no port
 * meaning the origin scheme's default).
 */
function isOwnOrigin(origin: URL, host: string | undefined): boolean {
  const parsed = host === undefined ? undefined : parseHost(host);
  if (parsed === undefined) return false;
  const defaultPort = origin.protocol === "https:" ? 443 : 80;
  return parsed.hostname === origin.hostname.replace(/\.$/, "") &&
    (parsed.port ?? defaultPort) === (origin.port === "" ? defaultPort : Number(origin.port));
}

/**
 * A `Host` header (or an allowed host) as its canonical host name and its
 * port, if any; `undefined` when it is not one.
 */
function parseHost(host: string): { hostname: string; port: number | undefined } | undefined {
  const match = HOST_PORT.exec(host.trim());
  if (match === null) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && port > 65535) return undefined;
  try {
    const hostname = new URL(`http://${match[1]}`).hostname.replace(/\.$/, "");
    return hostname === "" ? undefined : { hostname, port };
  } catch {
    return undefined;
  }
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

/**
 * Requires a bearer token equal to `expected` (compared in constant time).
 *
 * @example
 * ```ts
 * import { requireBearer } from "./access.ts";
 *
 * await requireBearer(new Map([["authorization", "Bearer s3cret"]]), "s3cret"); // passes
 * ```
 *
 * @param headers The request's header fields (names in lower case).
 * @param expected The token to match.
 * @param name What the token is called in the answers (`Wrong <name>`).
 * @param realm The realm of the `WWW-Authenticate` challenge.
 * @throws {HttpError} 401 (with `WWW-Authenticate`) when none is sent, 403
 * for another.
 */
export async function requireBearer(
  headers: ReadonlyMap<string, string>,
  expected: string,
  name = "token",
  realm = "pushwire",
): Promise<void> {
  const sent = bearerToken(headers.get("authorization"));
  if (sent === undefined) {
    throw new HttpError(401, `Authorization: Bearer <${name}> required`, {
      "WWW-Authenticate": `Bearer realm="${realm}"`,
    });
  }
  if (!(await timingSafeEqual(sent, expected))) throw new HttpError(403, `Wrong ${name}`);
}
