/**
 * Test helpers for the hostile-client tests: raw HTTP exchanges and
 * upgrades, a client's events, hand-made HS256 tokens, a push server with
 * JWTs.
 *
 * @module
 */

import { jwtAuthorizer, type JwtOptions } from "../src/auth/jwt.ts";
import type { PushServer, ServePushOptions } from "../src/app/serve_push.ts";
import { SECRET } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { upgradeRequest } from "./_raw_client.ts";
import { type TestClient, until } from "./_server.ts";

/** A JSON event a client received. */
export type Event = Record<string, unknown>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** What a raw HTTP exchange got back. */
export interface Answer {
  /** The status code. */
  status: number;
  /** The status line and header fields. */
  head: string;
  /** The body, trimmed (none for a 101). */
  body: string;
}

/** Sends a raw HTTP request; the answer (a 101's head only), within 3 s. */
export async function exchange(port: number, request: string): Promise<Answer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 3000);
  let text = "";
  try {
    const bytes = encoder.encode(request);
    for (let sent = 0; sent < bytes.length;) sent += await conn.write(bytes.subarray(sent));
    const buffer = new Uint8Array(64 * 1024);
    while (!(text.startsWith("HTTP/1.1 101") && text.includes("\r\n\r\n"))) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
  const [head = "", body = ""] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), head, body: body.trim() };
}

/** The answer to an upgrade request for `path` with extra header fields. */
export const upgrade = (
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> => exchange(port, upgradeRequest(`127.0.0.1:${port}`, { path, headers }));

/** Every event a client got so far. */
export const events = (client: TestClient): Event[] =>
  client.messages.map((message) => JSON.parse(String(message)));

/** Waits (4 s at most) for an event matching `match`. */
export async function waitEvent(client: TestClient, match: (e: Event) => boolean): Promise<Event> {
  await until(() => events(client).some(match), 4000, "an event");
  return events(client).find(match)!;
}

/** Sends a message: text as is, anything else as JSON. */
export const send = (client: TestClient, message: unknown): void =>
  client.ws.send(typeof message === "string" ? message : JSON.stringify(message));

/** A compact JWS signed with HS256, its header and payload exactly as given. */
export async function hs256(header: string, payload: string, secret = SECRET): Promise<string> {
  const part = (bytes: Uint8Array) =>
    btoa(String.fromCharCode(...bytes)).replaceAll("=", "").replaceAll("+", "-")
      .replaceAll("/", "_");
  const input = `${part(encoder.encode(header))}.${part(encoder.encode(payload))}`;
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, encoder.encode(input));
  return `${input}.${part(new Uint8Array(signature))}`;
}

/** Runs `fn` with a push server that verifies tokens as `jwt` says. */
export const withJwt = (
  jwt: JwtOptions,
  fn: (port: number, push: PushServer) => Promise<void>,
  options: ServePushOptions = {},
): Promise<void> =>
  withPush({ authorize: jwtAuthorizer(jwt), ...options }, (push, port) => fn(port, push));
