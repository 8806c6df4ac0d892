/**
 * pushwire: a WebSocket push server for Deno, written from the wire up —
 * RFC 6455 handshake and frame codec, an async-iterable registry of sockets,
 * and broadcast that encodes each frame once for every peer.
 *
 * @example A chat room: every message goes to every client
 * ```ts ignore
 * import { serve } from "jsr:@pushwire/pushwire";
 *
 * const server = serve({ port: 8080 });
 * console.log(`ws://localhost:${server.addr.port}/`);
 * for await (const socket of server.sockets) {
 *   (async () => {
 *     for await (const message of socket) server.sockets.broadcast(message);
 *   })();
 * }
 * ```
 *
 * @module
 */

export {
  type Authorization,
  type Authorize,
  type AuthorizeInfo,
  serve,
  type ServeOptions,
  Server,
  type SocketHandler,
} from "./src/server/server.ts";
export {
  bodyLength,
  handleHttp,
  type HttpConnection,
  type HttpOutcome,
  type HttpRequest,
  type HttpResponse,
  type HttpRoute,
  type HttpRoutes,
} from "./src/server/routes.ts";
export {
  bearerToken,
  checkOrigin,
  chooseProtocol,
  isLoopback,
  normalizeOrigins,
  timingSafeEqual,
} from "./src/server/access.ts";
export {
  LabeledCounter,
  type Metric,
  Metrics,
  METRICS_CONTENT_TYPE,
  type MetricsCollector,
  type MetricType,
  renderMetrics,
  type Sample,
} from "./src/server/metrics.ts";
export { fanoutMetrics, type FanoutSource, ServerMetrics } from "./src/server/server_metrics.ts";
export {
  type CloseResult,
  Socket,
  type SocketCounters,
  type SocketInit,
  type SocketOptions,
  type SocketState,
  type Transport,
} from "./src/server/socket.ts";
export { type BroadcastOptions, Registry } from "./src/server/registry.ts";
export {
  MAX_TOPIC_LENGTH,
  type Subscriber,
  TopicIndex,
  validateTopic,
} from "./src/server/topics.ts";
export type { Message } from "./src/protocol/message.ts";
export { CLOSE_CODE, type CloseCode, isValidCloseCode } from "./src/protocol/close_code.ts";
export { HandshakeError, ProtocolError } from "./src/protocol/errors.ts";
export {
  acceptKey,
  errorResponse,
  httpResponse,
  isUpgradeRequest,
  type RequestHead,
  RequestHeadParser,
  type RequestHeadParserOptions,
  STATUS_TEXT,
  type UpgradeRequest,
  upgradeResponse,
  type UpgradeResponseOptions,
  validateUpgrade,
  WEBSOCKET_GUID,
} from "./src/protocol/handshake.ts";
export {
  encodeFrame,
  type EncodeFrameOptions,
  type Frame,
  frameHeaderLength,
  isControlOpcode,
  OPCODE,
  type Opcode,
} from "./src/protocol/frame.ts";
export {
  FrameDecoder,
  type FrameDecoderOptions,
  type PartialFrame,
} from "./src/protocol/frame_decoder.ts";
export {
  type CloseInfo,
  decodeClosePayload,
  encodeClosePayload,
} from "./src/protocol/close_frame.ts";
export { MessageAssembler } from "./src/protocol/message.ts";
export { applyMask } from "./src/protocol/mask.ts";
export {
  type ChatEvent,
  type ChatMessage,
  type ChatPresence,
  type ChatRoom,
  Room,
  serveChat,
} from "./src/chat/room.ts";
export {
  type ErrorEvent,
  type GapEvent,
  type PublicationEvent,
  type PushEvent,
  PushHub,
  type PushHubOptions,
  type PushServer,
  ROOM_TOPIC,
  servePush,
  type ServePushOptions,
  type SubscribedEvent,
  type UnsubscribedEvent,
} from "./src/push/hub.ts";
export {
  type Engine,
  type EngineEvent,
  type EngineMessage,
  type EngineRecovery,
  type EngineSink,
  MemoryEngine,
  type MemoryEngineOptions,
} from "./src/push/engine.ts";
export { RedisEngine, type RedisEngineOptions } from "./src/push/redis_engine.ts";
export {
  parsePublication,
  type Publication,
  type PublishResult,
  publishRoute,
  type PublishRouteOptions,
} from "./src/push/publish.ts";
export {
  formatId,
  type GapReason,
  History,
  type HistoryEntry,
  type HistoryOptions,
  type HistoryStats,
  type MessageId,
  newEpoch,
  parseId,
  parseSince,
  type Recovery,
} from "./src/push/history.ts";
export {
  type ControlMessage,
  MAX_CONTROL_LENGTH,
  parseControl,
  parseSubscriptions,
  type Subscriptions,
} from "./src/push/subscriptions.ts";
export {
  type DataOpcode,
  DEFLATE_THRESHOLD,
  type Deflater,
  type DeflaterOptions,
  type Inflater,
  PreparedMessage,
} from "./src/protocol/deflate.ts";
export { createDeflater, createInflater } from "./src/protocol/deflate.ts";
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
} from "./src/protocol/extensions.ts";
