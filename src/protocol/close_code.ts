/**
 * WebSocket close codes (RFC 6455 §7.4 and the IANA registry) and the rules
 * for which of them may appear on the wire.
 *
 * @module
 */

/**
 * Named close codes. Codes 1005, 1006 and 1015 are reported locally and never
 * sent in a close frame.
 *
 * @example Closing a socket for a policy violation
 * ```ts
 * import { CLOSE_CODE } from "./close_code.ts";
 *
 * console.log(CLOSE_CODE.PolicyViolation); // 1008
 * ```
 */
export const CLOSE_CODE = {
  /** The purpose of the connection was fulfilled. */
  NormalClosure: 1000,
  /** The endpoint is going away (server shutdown, page navigation). */
  GoingAway: 1001,
  /** The peer broke the protocol. */
  ProtocolError: 1002,
  /** The peer sent a kind of data the endpoint cannot accept. */
  UnsupportedData: 1003,
  /** Reported locally when a close frame carried no code. Never sent. */
  NoStatusReceived: 1005,
  /** Reported locally when the connection ended without a close frame. Never sent. */
  AbnormalClosure: 1006,
  /** A text message or close reason was not valid UTF-8. */
  InvalidPayloadData: 1007,
  /** The peer violated a policy (for example a slow consumer). */
  PolicyViolation: 1008,
  /** A message exceeded the size limit. */
  MessageTooBig: 1009,
  /** The client expected an extension the server did not negotiate. */
  MandatoryExtension: 1010,
  /** The server met an unexpected condition. */
  InternalError: 1011,
  /** The service is restarting. */
  ServiceRestart: 1012,
  /** The service is overloaded; try again later. */
  TryAgainLater: 1013,
  /** A gateway received an invalid response upstream. */
  BadGateway: 1014,
  /** Reported locally when the TLS handshake failed. Never sent. */
  TlsHandshake: 1015,
} as const;

/** One of the named close codes in {@linkcode CLOSE_CODE}. */
export type CloseCode = typeof CLOSE_CODE[keyof typeof CLOSE_CODE];

/**
 * Whether `code` may be sent in a close frame: 1000–1003, 1007–1014 (the
 * codes RFC 6455 and the IANA registry assign) and 3000–4999 (registered
 * libraries and private use). Everything else, including the local-only
 * 1005, 1006 and 1015, is a protocol error when received.
 *
 * @example
 * ```ts
 * import { isValidCloseCode } from "./close_code.ts";
 *
 * isValidCloseCode(1000); // true
 * isValidCloseCode(1005); // false
 * isValidCloseCode(4000); // true
 * ```
 *
 * @param code The close code to check.
 * @returns `true` when the code may appear in a close frame.
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}
