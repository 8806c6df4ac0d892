/**
 * Test helper: tokens signed in the tests, with a secret or a key pair.
 *
 * @module
 */

import { type CryptoKey, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/** The HS256 secret the tests sign with (32 bytes). */
export const SECRET = "pushwire-test-secret-of-32-bytes";

/** What a test token says, and how it is signed. */
export interface TokenSpec extends JWTPayload {
  /** The algorithm. @default {"HS256"} */
  alg?: string;
  /** The signing key. @default {SECRET} */
  signWith?: CryptoKey | Uint8Array;
  /** Seconds from now to `exp`; `null` for no `exp`. @default {60} */
  expiresIn?: number | null;
  /** A `kid` header. */
  kid?: string;
  /** No `sub` claim at all. */
  anonymous?: boolean;
}

/** Signs a token with the claims given (`sub` defaults to `"alice"`). */
export async function signToken(spec: TokenSpec = {}): Promise<string> {
  const { alg = "HS256", signWith, expiresIn = 60, kid, anonymous, ...claims } = spec;
  const jwt = new SignJWT(anonymous === true ? claims : { sub: "alice", ...claims })
    .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
    .setIssuedAt();
  if (expiresIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn);
  return await jwt.sign(signWith ?? new TextEncoder().encode(SECRET));
}

/** An unsigned token (`alg: none`), which no key may accept. */
export function unsecuredToken(claims: JWTPayload = { sub: "alice" }): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}

/** A fresh key pair of an algorithm. */
export function keyPair(alg: string): Promise<{ publicKey: CryptoKey; privateKey: CryptoKey }> {
  return generateKeyPair(alg, { extractable: true });
}
