/**
 * What a socket's close tells an operator: one log line by its cause. A
 * limit is worth a line at info level (a protocol error or message over its
 * size, an idle timeout) or warn level (a slow consumer); any other close
 * (either side closing, a lost connection) at debug level only.
 *
 * @module
 */

import type { CloseCause, CloseResult } from "./closing_handshake.ts";
import type { Logger, LogLevel } from "./log.ts";

/** The closes logged above debug level: their event is their cause. */
const LIMIT_LEVELS: Readonly<Partial<Record<CloseCause, LogLevel>>> = {
  "slow-consumer": "warn",
  "protocol-error": "info",
  "idle-timeout": "info",
};

/** The socket a close is logged for. */
export interface ClosedSocket {
  /** The socket's id. */
  readonly id: string;
  /** Why it closed. */
  readonly closeCause: CloseCause | undefined;
}

/**
 * Logs a socket's close by its cause: `slow-consumer` (warn),
 * `protocol-error` and `idle-timeout` (info), else `socket-closed` (debug,
 * with the cause). Each line has the socket's id, its remote address, and
 * the close code and reason.
 *
 * @example
 * ```ts
 * import { logClose } from "./close_log.ts";
 * import { Logger } from "./log.ts";
 *
 * const lines: string[] = [];
 * const log = new Logger({ write: (line) => lines.push(line), now: () => 0 });
 * const socket = { id: "7", closeCause: "slow-consumer" as const };
 * logClose(log, socket, "10.0.0.7", { code: 1008, reason: "slow consumer", wasClean: false });
 * console.log(JSON.parse(lines[0]!).event); // "slow-consumer"
 * ```
 *
 * @param log Where to log.
 * @param socket The socket that closed.
 * @param remote Its remote address.
 * @param result How it closed.
 */
export function logClose(
  log: Logger,
  socket: ClosedSocket,
  remote: string,
  result: CloseResult,
): void {
  const cause = socket.closeCause ?? "connection-lost";
  const fields = { socket: socket.id, remote, code: result.code, reason: result.reason };
  const level = LIMIT_LEVELS[cause];
  if (level === undefined) log.debug("socket-closed", { ...fields, cause });
  else log.log(level, cause, fields);
}
