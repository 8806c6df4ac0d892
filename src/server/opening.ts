/**
 * The answers that open a socket, once a request passed every check: the
 * `101` of a WebSocket upgrade (with its subprotocol and compression), the
 * `200` and first bytes of an event stream; and the answer to an event
 * stream's CORS preflight. Each returns what the socket is made with.
 *
 * @module
 */

import { eventStreamResponse } from "../protocol/event_stream.ts";
import { acceptKey, type UpgradeRequest, upgradeResponse } from "../protocol/handshake.ts";
import { httpResponse } from "../protocol/http_head.ts";
import { chooseProtocol, type OriginPolicy } from "./access.ts";
import type { Compression } from "./compression.ts";
import { lingerClose, writeAll } from "./conn_io.ts";
import { type EventStreamSettings, EventStreamWire, preflightHeaders } from "./event_stream.ts";
import type { SocketInit } from "./socket_options.ts";

/** What a socket's answer gives it: a subprotocol and compression, or its event stream. */
export type Opening = Pick<SocketInit, "protocol" | "compression" | "eventStream">;

/** A server's WebSocket settings, for {@linkcode answerUpgrade}. */
export interface UpgradeSettings {
  /** The subprotocols it speaks. */
  protocols: readonly string[];
  /** Its permessage-deflate. */
  compression: Compression;
  /** The largest message a socket accepts. */
  maxMessageBytes: number;
}

/**
 * Chooses the subprotocol and compression of an upgrade and writes the 101.
 *
 * @param conn The connection.
 * @param request The upgrade request.
 * @param settings The server's subprotocols and compression.
 * @returns The socket's subprotocol and compression.
 */
export async function answerUpgrade(
  conn: Deno.Conn,
  request: UpgradeRequest,
  settings: UpgradeSettings,
): Promise<Opening> {
  const protocol = chooseProtocol(request.protocols, settings.protocols);
  const deflate = settings.compression.negotiate(request.extensions);
  const accept = await acceptKey(request.key);
  await writeAll(
    conn,
    upgradeResponse(accept, {
      ...(protocol === undefined ? {} : { protocol }),
      ...(deflate === undefined ? {} : { extensions: deflate.response }),
    }),
  );
  return {
    ...(protocol === undefined ? {} : { protocol }),
    ...(deflate === undefined
      ? {}
      : { compression: settings.compression.forSocket(deflate, settings.maxMessageBytes) }),
  };
}

/**
 * Writes an event stream's 200 and first bytes (a comment, `retry:`).
 *
 * @param conn The connection.
 * @param settings The server's event stream settings.
 * @param topics How many topics the stream names.
 * @param headers Extra headers (CORS).
 * @returns The socket's event stream.
 */
export async function answerEventStream(
  conn: Deno.Conn,
  settings: EventStreamSettings,
  topics: number,
  headers: Record<string, string>,
): Promise<Opening> {
  await writeAll(conn, eventStreamResponse({ retry: settings.retry, headers }));
  return { eventStream: new EventStreamWire({ topics, heartbeat: settings.heartbeat }) };
}

/**
 * Answers an event stream's CORS preflight (`OPTIONS`) with 204 and closes
 * politely.
 *
 * @param conn The connection.
 * @param headers The preflight's header fields.
 * @param policy The server's origin policy.
 * @returns Resolves once answered.
 * @throws {HttpError} 403 for an origin that is not allowed.
 */
export async function answerPreflight(
  conn: Deno.Conn,
  headers: ReadonlyMap<string, string>,
  policy: OriginPolicy,
): Promise<void> {
  await writeAll(conn, httpResponse(204, "", preflightHeaders(headers, policy)));
  await lingerClose(conn);
}
