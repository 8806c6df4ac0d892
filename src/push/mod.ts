/**
 * The push layer of pushwire, for extending it: the hub, the `Engine`
 * interface with its messages, events and errors (to write an engine of
 * your own, or to drive one directly), message ids and idempotency keys,
 * and the events a push client receives. An application that runs the push
 * server needs only the main entry.
 *
 * @example An engine's round trip
 * ```ts
 * import { type EngineEvent, formatId, MemoryEngine } from "jsr:@pushwire/pushwire/push";
 *
 * const engine = new MemoryEngine({ epoch: "e1" });
 * const events: EngineEvent[] = [];
 * engine.listen((event) => events.push(event));
 * const first = await engine.append("news", `"data":"hello"`, { idempotencyKey: "k1" });
 * const again = await engine.append("news", `"data":"hello"`, { idempotencyKey: "k1" });
 * console.log(formatId(first.id), again.repeated, events.length); // "e1:1" true 1
 * ```
 *
 * @module
 */

export { isInternalTopic, PushHub, type PushHubOptions } from "./hub.ts";
export {
  type AppendedMessage,
  type AppendOptions,
  type Engine,
  type EngineEvent,
  type EngineMessage,
  type EngineRecovery,
  type EngineSink,
  EngineUnavailableError,
  type EngineUnavailableErrorOptions,
  MemoryEngine,
  type MemoryEngineOptions,
  validateIdempotencyKey,
  WatchLimitError,
} from "./engine.ts";
export { RedisEngine, type RedisEngineOptions } from "./redis_engine.ts";
export {
  formatId,
  type GapReason,
  type HistoryStats,
  type MessageId,
  newEpoch,
  parseId,
} from "./history.ts";
export type {
  ErrorEvent,
  ExpiringEvent,
  GapEvent,
  PublicationEvent,
  PublishedEvent,
  PushEvent,
  Sender,
  SubscribedEvent,
  TokenAcceptedEvent,
  UnsubscribedEvent,
} from "./events.ts";
export type { Publication, PublishContext, PublishOptions, PublishResult } from "./publish.ts";
