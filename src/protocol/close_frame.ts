/**
 * The payload of a close frame: a 2-byte code and a UTF-8 reason
 * (RFC 6455 §5.5.1).
 *
 * @module
 */

import { CLOSE_CODE, isValidCloseCode } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";

/** A close code and reason, as carried by a close frame. */
export interface CloseInfo {
  /** The close code; 1005 when the frame carried none. */
  code: number;
  /** The reason, possibly empty. */
  reason: string;
}

/** The longest close reason in UTF-8 bytes: 125 minus the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes a close payload. Throws `RangeError` for a code that may not be
 * sent or a reason longer than 123 bytes.
 *
 * @example
 * ```ts
 * import { encodeClosePayload } from "./close_frame.ts";
 *
 * console.log(encodeClosePayload(1000, "bye")); // Uint8Array(5) [ 3, 232, 98, 121, 101 ]
 * ```
 *
 * @param code A close code valid on the wire.
 * @param reason An optional reason, at most 123 bytes of UTF-8.
 * @returns The payload bytes.
 */
export function encodeClosePayload(code: number, reason = ""): Uint8Array {
  if (!isValidCloseCode(code)) {
    throw new RangeError(`Cannot close: ${code} is not a close code that may be sent`);
  }
  const reasonBytes = encoder.encode(reason);
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(
      `Cannot close: the reason is ${reasonBytes.length} bytes, more than ${MAX_CLOSE_REASON_BYTES}`,
    );
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/**
 * Decodes a received close payload. An empty payload means 1005 (no code).
 *
 * @example
 * ```ts
 * import { decodeClosePayload } from "./close_frame.ts";
 *
 * decodeClosePayload(new Uint8Array([3, 232, 98, 121, 101])); // { code: 1000, reason: "bye" }
 * ```
 *
 * @param payload The close frame's payload.
 * @returns The code and reason.
 * @throws {ProtocolError} 1002 for a 1-byte payload or a code that may not
 * be sent, 1007 for a reason that is not UTF-8.
 */
export function decodeClosePayload(payload: Uint8Array): CloseInfo {
  if (payload.length === 0) return { code: CLOSE_CODE.NoStatusReceived, reason: "" };
  if (payload.length === 1) {
    throw new ProtocolError(CLOSE_CODE.ProtocolError, "Cannot close: a 1-byte close payload");
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(CLOSE_CODE.ProtocolError, `Cannot close: invalid close code ${code}`);
  }
  let reason: string;
  try {
    reason = strictDecoder.decode(payload.subarray(2));
  } catch {
    throw new ProtocolError(CLOSE_CODE.InvalidPayloadData, "Cannot close: the reason is not UTF-8");
  }
  return { code, reason };
}
