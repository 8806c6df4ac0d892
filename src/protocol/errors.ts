/**
 * The two error classes of the protocol layer: a {@linkcode ProtocolError}
 * ends a WebSocket connection with a close code, an {@linkcode HttpError}
 * ends an HTTP request (a refused handshake, a route's refusal) with a
 * status.
 *
 * @module
 */

import type { CloseCode } from "./close_code.ts";

/**
 * A peer broke RFC 6455; `code` is the close code to send before closing.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * import { CLOSE_CODE } from "./close_code.ts";
 *
 * const error = new ProtocolError(CLOSE_CODE.ProtocolError, "Cannot decode frame: RSV2 must be clear");
 * console.log(error.code); // 1002
 * ```
 */
export class ProtocolError extends Error {
  /** The close code that answers this error. */
  readonly code: CloseCode;

  /**
   * Makes an error that answers with `code`.
   *
   * @param code The close code to send.
   * @param message What went wrong, for logs and the close reason.
   */
  constructor(code: CloseCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/**
 * An HTTP request was refused (an opening handshake, a request to a route,
 * a limit reached before the request was read); `status` and `headers` make
 * the HTTP response, the message its plain-text body.
 *
 * @example
 * ```ts
 * import { HttpError } from "./errors.ts";
 *
 * const error = new HttpError(426, "Unsupported WebSocket version", {
 *   "Sec-WebSocket-Version": "13",
 * });
 * console.log(error.status); // 426
 * ```
 */
export class HttpError extends Error {
  /** The HTTP status of the refusal. */
  readonly status: number;
  /** Extra response headers, for example `Allow` or `Sec-WebSocket-Version`. */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * Makes a refusal with an HTTP status.
   *
   * @param status The HTTP status to answer with.
   * @param message A short plain-text explanation, sent as the body.
   * @param headers Extra response headers.
   */
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}
