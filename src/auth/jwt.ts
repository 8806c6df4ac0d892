/**
 * JWT authentication for the push server: tokens verified with
 * [jose](https://github.com/panva/jose) against a secret, a public key or an
 * identity provider's key set, and read into an {@linkcode Identity} (the
 * user, its public info and its topic grants).
 *
 * A token's claims:
 *
 * - `sub`: the user (required).
 * - `topics`: the topics the user may subscribe to, as patterns (`news`,
 *   `room:*`, `*`).
 * - `publish`: the topics the user may publish to from the socket.
 * - `info`: public JSON shown to others in presence (at most 1 KiB).
 * - `exp`, `nbf`: checked; a socket is told before its token expires and
 *   closed at expiry unless it sends a fresh token.
 *
 * @example
 * ```ts ignore
 * import { jwtAuthorizer, servePush } from "jsr:@pushwire/pushwire";
 *
 * servePush({
 *   port: 8080,
 *   authorize: jwtAuthorizer({ secret: Deno.env.get("PUSHWIRE_JWT_SECRET")! }),
 * });
 * // new WebSocket("ws://localhost:8080/?topic=room:1&token=<jwt>")
 * ```
 *
 * @module
 */

import { HttpError } from "../protocol/errors.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import { bearerToken } from "../server/access.ts";
import type { Authorization, Authorize } from "../server/options.ts";
import { grantFromClaim, TopicGrant } from "./grants.ts";
import { Identity } from "./identity.ts";
import {
  type JwtKeyOptions,
  loadJose,
  loadVerificationKey,
  type VerificationKey,
} from "./jwt_keys.ts";

/** The longest token read, in characters; a longer one is refused. */
export const MAX_TOKEN_LENGTH = 4096;

/** Options for {@linkcode jwtAuthorizer}: the key, and what else is checked. */
export interface JwtOptions extends JwtKeyOptions {
  /** The `iss` a token must have. @default {any} */
  issuer?: string;
  /** The `aud` a token must have (one of). @default {any} */
  audience?: string | readonly string[];
  /** Seconds of clock skew allowed for `exp` and `nbf`. @default {0} */
  clockTolerance?: number;
  /**
   * Topic patterns anyone may subscribe to: a connection without a token is
   * accepted when every topic in its URL matches one (it may not publish),
   * and they are granted to every token too.
   *
   * @default {[]}
   */
  publicTopics?: readonly string[];
}

/**
 * An `authorize` hook that accepts upgrades with a valid token, attaching
 * the token's {@linkcode Identity} as the socket's data; its `verify` reads a
 * fresh token a socket sends.
 */
export interface JwtAuthorizer extends Authorize {
  /**
   * Verifies a token and reads its identity.
   *
   * @param token The compact JWT.
   * @returns The identity.
   * @throws {HttpError} 401 for a missing, invalid, expired or not yet valid
   * token; 503 when the key set cannot be fetched.
   */
  verify(token: string): Promise<Identity>;
  /** The topics anyone may subscribe to. */
  readonly publicTopics: TopicGrant;
  /**
   * Resolves once the key is loaded; rejects with a `TypeError` for a key
   * that does not parse (await it at startup to fail early).
   */
  readonly ready: Promise<void>;
}

/**
 * Makes an `authorize` hook that requires a JWT: in the `token` query
 * parameter (browsers cannot set headers on a WebSocket) or an
 * `Authorization: Bearer` header. A missing, malformed, expired or not yet
 * valid token, a wrong signature, `alg: none` or an algorithm other than
 * the key's is answered 401 (with `WWW-Authenticate`); an unreachable key
 * set 503.
 *
 * @example
 * ```ts
 * import { jwtAuthorizer } from "./jwt.ts";
 *
 * const authorize = jwtAuthorizer({ secret: "a-secret-of-at-least-32-bytes!!!", publicTopics: ["news"] });
 * console.log(authorize.publicTopics.allows("news")); // true
 * ```
 *
 * @param options The key (one of `secret`, `key`, `jwks`) and the checks.
 * @returns The hook.
 * @throws {TypeError} For invalid options (checked again, with the key, on
 * first use: a key that does not parse makes every upgrade answer 500).
 */
export function jwtAuthorizer(options: JwtOptions): JwtAuthorizer {
  const publicTopics = new TopicGrant(options.publicTopics ?? []);
  const loaded = loadVerificationKey(options);
  loaded.catch(() => {}); // Reported by each verify.
  const verify = async (token: string) => readIdentity(await loaded, token, options, publicTopics);
  const authorize = async (request: UpgradeRequest): Promise<Authorization> => {
    const token = requestToken(request);
    if (token === undefined) {
      const topics = request.query.getAll("topic");
      if (topics.length > 0 && topics.every((topic) => publicTopics.allows(topic))) {
        return { accept: true, data: new Identity({ subscribe: publicTopics }) };
      }
      throw unauthorized("Missing token", undefined);
    }
    return { accept: true, data: await verify(token) };
  };
  const ready = loaded.then(() => {});
  ready.catch(() => {}); // Reported to whoever awaits it.
  return Object.assign(authorize, { verify, publicTopics, ready });
}

/**
 * Whether an `authorize` hook is a {@linkcode JwtAuthorizer}.
 *
 * @param authorize A hook.
 * @returns `true` for one made by {@linkcode jwtAuthorizer}.
 */
export function isJwtAuthorizer(authorize: Authorize | undefined): authorize is JwtAuthorizer {
  return typeof (authorize as Partial<JwtAuthorizer> | undefined)?.verify === "function";
}

/**
 * The token of an upgrade request: its `Authorization: Bearer` header or its
 * `token` query parameter, sent one way only (RFC 6750 §2: a request that
 * sends two, which a proxy or a log filter could read differently from this
 * server, is refused).
 *
 * @example
 * ```ts
 * import { requestToken } from "./jwt.ts";
 *
 * const headers = new Map([["authorization", "Bearer abc"]]);
 * console.log(requestToken({ headers, query: new URLSearchParams() })); // "abc"
 * console.log(requestToken({ headers: new Map(), query: new URLSearchParams("token=abc") })); // "abc"
 * ```
 *
 * @param request The upgrade request.
 * @returns The token, or `undefined` when there is none.
 * @throws {HttpError} 400 for a token both in the header and in the query,
 * or twice in the query.
 */
export function requestToken(
  request: Pick<UpgradeRequest, "headers" | "query">,
): string | undefined {
  const header = bearerToken(request.headers.get("authorization"));
  const query = request.query.getAll("token");
  if (query.length > 1 || (query.length === 1 && header !== undefined)) {
    throw challenge(
      400,
      "Send one token: in the Authorization header or the URL",
      "invalid_request",
    );
  }
  const token = header ?? query[0];
  return token === undefined || token === "" ? undefined : token;
}

/** Verifies a token and reads its claims into an identity. */
async function readIdentity(
  verification: VerificationKey,
  token: string,
  options: JwtOptions,
  publicTopics: TopicGrant,
): Promise<Identity> {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw unauthorized(`Token longer than ${MAX_TOKEN_LENGTH} characters`, "invalid_request");
  }
  const { jwtVerify } = await loadJose();
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, verification.key as Uint8Array, {
      algorithms: verification.algorithms,
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
      ...(options.audience === undefined ? {} : { audience: [options.audience].flat() }),
      clockTolerance: options.clockTolerance ?? 0,
    }));
  } catch (error) {
    throw verifyFailure(error, verification.remote);
  }
  const { sub, exp, info } = payload;
  if (typeof sub !== "string" || sub.length === 0) {
    throw unauthorized('Invalid token: no "sub" claim', "invalid_token");
  }
  try {
    return new Identity({
      user: sub,
      ...(info === undefined ? {} : { info }),
      subscribe: grantFromClaim(payload.topics, "topics").with(publicTopics),
      publish: grantFromClaim(payload.publish, "publish"),
      ...(typeof exp === "number" ? { expiresAt: exp * 1000 } : {}),
    });
  } catch (error) {
    throw unauthorized(`Invalid token: ${(error as Error).message}`, "invalid_token");
  }
}

/** What a failed verification is answered with, by jose's error code. */
function verifyFailure(error: unknown, remote: boolean): HttpError {
  const { code, claim } = error as { code?: unknown; claim?: unknown };
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return unauthorized("Token expired", "invalid_token");
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return unauthorized(
        claim === "nbf" ? "Token not yet valid" : `Invalid token: ${claim} claim check failed`,
        "invalid_token",
      );
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return unauthorized("Invalid token signature", "invalid_token");
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return unauthorized("Token algorithm not allowed", "invalid_token");
    case "ERR_JWKS_NO_MATCHING_KEY":
      return unauthorized("No key for the token in the key set", "invalid_token");
  }
  const fromJose = typeof code === "string" && code.startsWith("ERR_");
  if (remote && (code === "ERR_JWKS_TIMEOUT" || code === "ERR_JWKS_INVALID" || !fromJose)) {
    return new HttpError(503, "Cannot verify token: the key set is unavailable", {
      "Retry-After": "5",
    });
  }
  if (!fromJose && !remote) {
    return new HttpError(500, "Cannot verify token: the configured key is invalid");
  }
  return unauthorized("Invalid token", "invalid_token");
}

/** A 401 with the `WWW-Authenticate` challenge of RFC 6750 §3. */
function unauthorized(message: string, code: string | undefined): HttpError {
  return challenge(401, message, code);
}

/** An error status with the `WWW-Authenticate` challenge of RFC 6750 §3. */
function challenge(status: number, message: string, code: string | undefined): HttpError {
  const error = code === undefined ? "" : `, error="${code}"`;
  return new HttpError(status, message, { "WWW-Authenticate": `Bearer realm="pushwire"${error}` });
}
