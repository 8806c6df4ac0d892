/**
 * pushwire: a WebSocket push server for Deno, written from the wire up —
 * RFC 6455 handshake and frame codec, an async-iterable registry of sockets,
 * topics with ids, history and resume, and broadcast that encodes each frame
 * once for every peer.
 *
 * This entry holds what an application needs: {@linkcode serve} for a
 * WebSocket server of your own, {@linkcode servePush} for the push server
 * (topics, `POST /publish`, resume, Server-Sent Events at `/events`, the
 * chat room), {@linkcode serveChat} for the chat room alone, and their
 * sockets, options, engines and logger. The frame codec and the handshake
 * are in `jsr:@pushwire/pushwire/protocol`; the engine interface, ids and
 * the events a push client receives in `jsr:@pushwire/pushwire/push`; the
 * CLI is `jsr:@pushwire/pushwire/server`.
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
 * @example A push server: publish from code, clients subscribe with `?topic=`
 * ```ts ignore
 * import { servePush } from "jsr:@pushwire/pushwire";
 *
 * const push = servePush({ port: 8080 });
 * // ws://localhost:8080/?topic=clock gets {"type":"publication","topic":"clock",…}
 * setInterval(() => push.publish("clock", { type: "text", text: new Date().toISOString() }), 1000);
 * ```
 *
 * @module
 */

export { serve, Server } from "./src/server/server.ts";
export type { Health } from "./src/server/builtin_routes.ts";
export {
  type Authorization,
  type Authorize,
  type AuthorizeInfo,
  type ServeOptions,
  type SocketHandler,
} from "./src/server/options.ts";
export {
  type CloseCause,
  type CloseResult,
  type SendOptions,
  Socket,
  type SocketCounters,
  type SocketOptions,
  type SocketState,
  type Wire,
} from "./src/server/socket.ts";
export type { EventStreamOptions } from "./src/server/event_stream.ts";
export type { ResumePoint } from "./src/protocol/event_stream.ts";
export { type BroadcastOptions, Registry, type RegistryAddOptions } from "./src/server/registry.ts";
export { type Subscriber, TopicIndex } from "./src/server/topics.ts";
export type { HttpRequest, HttpResponse, HttpRoute, HttpRoutes } from "./src/server/routes.ts";
export type { Metric, Metrics, MetricsCollector } from "./src/server/metrics.ts";
export { Logger, type LoggerOptions, type LogLevel, type LogThreshold } from "./src/server/log.ts";
export type { Message } from "./src/protocol/message.ts";
export { CLOSE_CODE, type CloseCode } from "./src/protocol/close_code.ts";
export { HttpError, ProtocolError } from "./src/protocol/errors.ts";
export type { UpgradeRequest } from "./src/protocol/handshake.ts";
export { type PushServer, servePush, type ServePushOptions } from "./src/app/serve_push.ts";
export {
  type PushWorkers,
  servePushWorkers,
  type ServePushWorkersOptions,
  type WorkerRedis,
  type WorkerServeOptions,
} from "./src/app/workers/serve_push_workers.ts";
export { PushHub, type PushHubOptions } from "./src/push/hub.ts";
export type { Publication, PublishOptions, PublishResult } from "./src/push/publish.ts";
export type { Sender } from "./src/push/events.ts";
export { grantFromClaim, TopicGrant } from "./src/auth/grants.ts";
export { Identity, type IdentityInit } from "./src/auth/identity.ts";
export {
  isJwtAuthorizer,
  type JwtAuthorizer,
  jwtAuthorizer,
  type JwtOptions,
} from "./src/auth/jwt.ts";
export type { JwtKeyOptions } from "./src/auth/jwt_keys.ts";
export { PUSH_CLOSE_CODE } from "./src/app/token_clock.ts";
export type { GapReason, MessageId } from "./src/push/history.ts";
export {
  type Engine,
  EngineUnavailableError,
  MemoryEngine,
  type MemoryEngineOptions,
  WatchLimitError,
} from "./src/push/engine.ts";
export { RedisEngine, type RedisEngineOptions } from "./src/push/redis_engine.ts";
export {
  MemoryPresence,
  type MemoryPresenceOptions,
  type PresenceEntry,
  type PresenceExpiry,
  type PresenceStore,
} from "./src/push/presence.ts";
export { RedisPresence, type RedisPresenceOptions } from "./src/push/redis/presence.ts";
export { Room } from "./src/chat/room.ts";
export { type ChatRoom, serveChat, type ServeChatOptions } from "./src/chat/serve_chat.ts";
export { CHAT_PAGE, CHAT_PAGE_ROUTES } from "./src/chat/page.ts";
