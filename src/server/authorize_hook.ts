/**
 * The application's `authorize` hook, run for every socket request (an
 * upgrade or an event stream) once it passed the origin check and the
 * connection limit: its answer read into the data kept with the socket, or
 * into the refusal's HTTP status.
 *
 * @module
 */

import { HttpError } from "../protocol/errors.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import { errorFields, type Logger } from "./log.ts";
import type { Authorization, Authorize, AuthorizeInfo } from "./options.ts";

/**
 * Runs the hook. A refusal throws its status (400 to 599, else 500); a hook
 * that throws an `HttpError` refuses with it; any other failure, or an
 * answer that is not one, refuses with 500 (logged as `authorize-failed`).
 *
 * @example
 * ```ts
 * import { runAuthorize } from "./authorize_hook.ts";
 * import { SILENT } from "./log.ts";
 * import type { UpgradeRequest } from "../protocol/handshake.ts";
 *
 * const info = { remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 1 }, wire: "websocket" as const };
 * const request = {} as UpgradeRequest;
 * console.log(await runAuthorize(() => ({ accept: true, data: 7 }), request, info, SILENT)); // 7
 * ```
 *
 * @param authorize The hook, if any.
 * @param request The request.
 * @param info Where it comes from and what it asks for.
 * @param log Where a failing hook is logged.
 * @returns The data the hook attached (`undefined` without a hook).
 * @throws {HttpError} The refusal.
 */
export async function runAuthorize(
  authorize: Authorize | undefined,
  request: UpgradeRequest,
  info: AuthorizeInfo,
  log: Logger,
): Promise<unknown> {
  if (authorize === undefined) return undefined;
  let answer: Authorization | undefined;
  try {
    answer = await authorize(request, info);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    log.error("authorize-failed", { remote: info.remoteAddr.hostname, ...errorFields(error) });
    answer = undefined;
  }
  if (typeof answer !== "object" || answer === null) {
    throw new HttpError(500, "Authorization failed");
  }
  if (answer.accept === true) return answer.data;
  const status = Number.isInteger(answer.status) && answer.status >= 400 && answer.status <= 599
    ? answer.status
    : 500;
  throw new HttpError(status, answer.message ?? "Forbidden", answer.headers ?? {});
}
