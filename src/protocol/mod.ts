/**
 * The protocol layer of pushwire, pure (bytes and strings in, values and
 * bytes out, no I/O): the RFC 6455 frame codec and incremental decoder,
 * message assembly, close frames and codes, HTTP/1.1 request heads, the
 * opening handshake, permessage-deflate (RFC 7692), and Server-Sent Events
 * (the `text/event-stream` format). For tools, tests and other servers; an
 * application needs only the main entry.
 *
 * @example Encode a frame and decode it again
 * ```ts
 * import { encodeFrame, FrameDecoder, OPCODE } from "jsr:@pushwire/pushwire/protocol";
 *
 * const bytes = encodeFrame(OPCODE.Text, new TextEncoder().encode("hi"));
 * const [frame] = new FrameDecoder({ requireMask: false }).push(bytes);
 * console.log(frame?.opcode, new TextDecoder().decode(frame?.payload)); // 1 "hi"
 * ```
 *
 * @module
 */

export {
  encodeFrame,
  type EncodeFrameOptions,
  encodeTextFrame,
  type Frame,
  frameHeaderLength,
  isControlOpcode,
  OPCODE,
  type Opcode,
} from "./frame.ts";
export { FrameDecoder, type FrameDecoderOptions, type PartialFrame } from "./frame_decoder.ts";
export { type Message, MessageAssembler } from "./message.ts";
export { applyMask } from "./mask.ts";
export { CLOSE_CODE, type CloseCode, isValidCloseCode } from "./close_code.ts";
export {
  type CloseInfo,
  decodeClosePayload,
  encodeClosePayload,
  MAX_CLOSE_REASON_BYTES,
} from "./close_frame.ts";
export { HttpError, ProtocolError } from "./errors.ts";
export {
  errorResponse,
  httpResponse,
  type RequestHead,
  RequestHeadParser,
  type RequestHeadParserOptions,
  STATUS_TEXT,
} from "./http_head.ts";
export {
  acceptKey,
  isUpgradeRequest,
  type UpgradeRequest,
  upgradeResponse,
  type UpgradeResponseOptions,
  validateUpgrade,
  WEBSOCKET_GUID,
} from "./handshake.ts";
export {
  type DeflateNegotiation,
  type DeflateOptions,
  type DeflateParams,
  type ExtensionOffer,
  type ExtensionParam,
  negotiateDeflate,
  parseExtensions,
  PERMESSAGE_DEFLATE,
  type WindowBits,
} from "./extensions.ts";
export {
  createDeflater,
  createInflater,
  type DataOpcode,
  DEFLATE_THRESHOLD,
  type Deflater,
  type DeflaterOptions,
  type Inflater,
  PreparedMessage,
  type PreparedMessageOptions,
} from "./deflate.ts";
export {
  closeEvent,
  encodeEvent,
  type EventFields,
  eventStreamRequest,
  eventStreamResponse,
  type EventStreamResponseOptions,
  eventTypeOf,
  HEARTBEAT,
  type PreparedEvent,
  prepareEvent,
  type ResumePoint,
} from "./event_stream.ts";
