/**
 * Where the keys that verify tokens come from: a shared secret (HS256), one
 * public key (PEM or JWK: RS256, PS256, ES256, EdDSA …), or an identity
 * provider's key set fetched from its JWKS URL and cached. Each source
 * accepts only the algorithms of its keys, so a token signed with another
 * (`alg: none`, or HS256 with the public key as secret) is refused.
 *
 * @module
 */

import type { JWK, JWTVerifyGetKey, KeyObject } from "jose";
import { isLoopbackHost } from "../server/access.ts";

/** jose, loaded on first use: importing this module loads no npm package. */
export type Jose = typeof import("jose");
let jose: Promise<Jose> | undefined;

/**
 * Loads jose (`npm:jose`) once.
 *
 * @returns The module.
 */
export function loadJose(): Promise<Jose> {
  return jose ??= import("jose");
}

/** The fewest bytes of an HS256 secret (RFC 7518 §3.2: the hash's size). */
export const MIN_SECRET_BYTES = 32;

/** The asymmetric algorithms a key set's keys may use. */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

/** The algorithms tried, in order, for a PEM key without a stated algorithm. */
const PEM_ALGORITHMS = ["RS256", "ES256", "ES384", "ES512", "EdDSA"];

/** How tokens are verified: one of a secret, a public key, or a key set. */
export interface JwtKeyOptions {
  /** The HS256 shared secret, at least 32 bytes (as UTF-8 for a string). */
  secret?: string | Uint8Array;
  /**
   * One public key, as PEM (`-----BEGIN PUBLIC KEY-----`) or JWK JSON text,
   * or a `CryptoKey`.
   */
  key?: string | CryptoKey;
  /** The https URL of an identity provider's key set (JWKS), fetched and cached. */
  jwks?: string | URL;
  /**
   * The algorithms accepted. With `secret`: `["HS256"]`; with `key`: the
   * JWK's `alg`, or the one a PEM key fits (RS256 for RSA; PS256 needs this
   * option); with `jwks`: every asymmetric algorithm.
   */
  algorithms?: readonly string[];
}

/** A key, or a key lookup by token header, and the algorithms it accepts. */
export interface VerificationKey {
  /** The key, or the lookup jose calls with the token's header. */
  key: Uint8Array | CryptoKey | KeyObject | JWTVerifyGetKey;
  /** The algorithms accepted. */
  algorithms: string[];
  /** Whether keys are fetched over the network (a failure is then 503). */
  remote: boolean;
}

/**
 * Loads the key that verifies tokens.
 *
 * @example
 * ```ts
 * import { loadVerificationKey } from "./jwt_keys.ts";
 *
 * const { algorithms } = await loadVerificationKey({ secret: "a".repeat(32) });
 * console.log(algorithms); // ["HS256"]
 * ```
 *
 * @param options Exactly one of `secret`, `key`, `jwks`.
 * @returns The key and its algorithms.
 * @throws {TypeError} For none or several sources, a short secret, a key
 * that does not parse, or a JWKS URL that is not https (http is accepted on
 * this machine only: `localhost`, 127.0.0.0/8, `[::1]`).
 */
export async function loadVerificationKey(options: JwtKeyOptions): Promise<VerificationKey> {
  const { createRemoteJWKSet } = await loadJose();
  const given = [options.secret, options.key, options.jwks].filter((x) => x !== undefined);
  if (given.length !== 1) {
    throw new TypeError("Give exactly one of a JWT secret, a public key, or a JWKS URL");
  }
  const algorithms = options.algorithms === undefined ? undefined : [...options.algorithms];
  if (options.secret !== undefined) {
    const secret = typeof options.secret === "string"
      ? new TextEncoder().encode(options.secret)
      : options.secret;
    if (secret.length < MIN_SECRET_BYTES) {
      throw new TypeError(`A JWT secret has at least ${MIN_SECRET_BYTES} bytes`);
    }
    return { key: secret, algorithms: algorithms ?? ["HS256"], remote: false };
  }
  if (options.jwks !== undefined) {
    const url = new URL(options.jwks);
    // Over plain http anyone on the way to the provider could hand out keys
    // and so mint tokens: only a key set on this machine may use it.
    if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
      throw new TypeError(
        `Invalid JWKS URL "${url}": expected https:// (http:// only on this machine)`,
      );
    }
    const keySet = createRemoteJWKSet(url, {
      timeoutDuration: 5000,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
    });
    return { key: keySet, algorithms: algorithms ?? [...ASYMMETRIC_ALGORITHMS], remote: true };
  }
  return await publicKey(options.key!, algorithms);
}

/** Imports one public key, and finds its algorithm when none is given. */
async function publicKey(
  key: string | CryptoKey,
  algorithms: string[] | undefined,
): Promise<VerificationKey> {
  if (typeof key !== "string") {
    if (algorithms === undefined) {
      throw new TypeError("Give the algorithms of a CryptoKey (for example RS256)");
    }
    return { key, algorithms, remote: false };
  }
  const { importJWK, importSPKI } = await loadJose();
  const text = key.trim();
  if (text.startsWith("{")) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(text);
    } catch {
      throw new TypeError("Invalid JWT key: not valid JWK JSON");
    }
    if (typeof jwk !== "object" || jwk === null) throw new TypeError("Invalid JWT key: not a JWK");
    if ("d" in jwk || jwk.kty === "oct") {
      throw new TypeError("Invalid JWT key: give the public key only (no private or secret part)");
    }
    const alg = algorithms?.[0] ?? jwk.alg;
    if (alg === undefined) throw new TypeError('Invalid JWT key: the JWK has no "alg"');
    const imported = await importJWK(jwk, alg).catch((error) => {
      throw new TypeError(`Invalid JWT key: ${(error as Error).message}`);
    });
    return { key: imported, algorithms: algorithms ?? [alg], remote: false };
  }
  if (!text.startsWith("-----BEGIN PUBLIC KEY-----")) {
    throw new TypeError("Invalid JWT key: expected a PEM public key (BEGIN PUBLIC KEY) or a JWK");
  }
  for (const alg of algorithms ?? PEM_ALGORITHMS) {
    try {
      return { key: await importSPKI(text, alg), algorithms: algorithms ?? [alg], remote: false };
    } catch {
      // Not this algorithm's key type: try the next.
    }
  }
  throw new TypeError("Invalid JWT key: the PEM key fits none of the algorithms");
}
