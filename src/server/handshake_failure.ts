/**
 * What becomes of a connection whose request failed before it became a
 * socket or got its answer: a refusal is answered with its status (and
 * counted as a failed handshake or a plain HTTP response); a client that ran
 * out of time before its head is counted; a disconnection is logged at debug
 * level, anything else as an error.
 *
 * @module
 */

import { HttpError } from "../protocol/errors.ts";
import { errorResponse } from "../protocol/http_head.ts";
import { addressOf } from "./admission.ts";
import { isDisconnection, lingerClose, writeAll } from "./conn_io.ts";
import { errorFields, type Logger } from "./log.ts";
import type { ServerMetrics } from "./server_metrics.ts";

/** A request that failed, and what is known of it. */
export interface HandshakeFailure {
  /** The connection. */
  conn: Deno.Conn<Deno.NetAddr>;
  /** What was thrown. */
  error: unknown;
  /** Whether its request head was read. */
  headRead: boolean;
  /** Whether the request asked for a socket (an upgrade or an event stream). */
  socketRequest: boolean;
  /** Whether it ran out of its handshake time (the connection was closed). */
  late: boolean;
}

/**
 * Answers, counts and logs a failed request.
 *
 * @example
 * ```ts ignore
 * await answerHandshakeFailure(
 *   { conn, error: new HttpError(400, "Bad"), headRead: true, socketRequest: true, late: false },
 *   stats,
 *   log,
 * );
 * ```
 *
 * @param failure The failure.
 * @param stats Where it is counted.
 * @param log Where it is logged.
 * @returns Resolves once a refusal is written and the connection drained.
 */
export async function answerHandshakeFailure(
  failure: HandshakeFailure,
  stats: ServerMetrics,
  log: Logger,
): Promise<void> {
  const { conn, error } = failure;
  const remote = addressOf(conn);
  if (error instanceof HttpError) {
    if (failure.socketRequest) stats.recordHandshakeFailure(error.status);
    else stats.recordHttpResponse(error.status);
    log.debug("request-refused", { remote, status: error.status, error });
    await writeAll(conn, errorResponse(error)).then(
      () => lingerClose(conn),
      (cause) => log.debug("connection-error", { remote, error: cause }),
    );
  } else if (failure.late && !failure.headRead) {
    stats.recordHandshakeTimeout();
    log.info("handshake-timeout", { remote });
  } else if (isDisconnection(error) || failure.late) {
    log.debug("connection-error", { remote, error });
  } else {
    log.error("handshake-failed", { remote, ...errorFields(error) });
  }
}
