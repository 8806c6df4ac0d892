/**
 * The push server: topics fed by an authenticated HTTP publish API, every
 * message with an id, a history window per topic, and resume with no loss
 * and no duplicate; plus the chat room for clients that name no topic. It
 * is what the `pushwire` CLI runs.
 *
 * A client subscribes in its URL, `ws://host/?topic=news&topic=chat`, or
 * later with a control message; every frame the hub sends is JSON text,
 * told apart by `type` (see {@linkcode PushEvent}):
 *
 * ```text
 * ← {"type":"subscribe","topic":"news","since":"m3k9x2ab0f1c:12"}   since is optional
 * ← {"type":"unsubscribe","topic":"news"}
 * → {"type":"gap","topic":"news","since":"m3k9x2ab0f1c:12","reason":"expired"}
 * → {"type":"publication","topic":"news","id":"m3k9x2ab0f1c:13","time":1763776800000,"data":"hello"}
 * → {"type":"publication","topic":"news","id":"…:14","time":…,"data":"AAEC","encoding":"base64"}
 * → {"type":"subscribed","topic":"news","last":"m3k9x2ab0f1c:14"}
 * → {"type":"unsubscribed","topic":"news"}
 * → {"type":"error","message":"…"}
 * ```
 *
 * To resume, a client reconnects with the last id it saw in each topic:
 * `?topic=news&since=news:m3k9x2ab0f1c:12` (or `since=m3k9x2ab0f1c:12` when
 * it names one topic). It first gets every message after that id, in order,
 * then `subscribed`, then live messages. When the window no longer holds all
 * of them (or the id is from an earlier server run), a `gap` comes first,
 * then what the window holds.
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "@std/encoding";
import { Room } from "../chat/room.ts";
import { CLOSE_CODE } from "../protocol/close_code.ts";
import { PreparedMessage } from "../protocol/deflate.ts";
import { type Engine, type EngineEvent, type EngineMessage, MemoryEngine } from "./engine.ts";
import { HandshakeError } from "../protocol/errors.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import { formatId, type GapReason, type MessageId } from "./history.ts";
import { LabeledCounter, type Metric } from "../server/metrics.ts";
import { type Publication, type PublishResult, publishRoute } from "./publish.ts";
import { type Authorization, serve, type ServeOptions, type Server } from "../server/server.ts";
import { fanoutMetrics } from "../server/server_metrics.ts";
import type { Socket } from "../server/socket.ts";
import { type ControlMessage, parseControl, parseSubscriptions } from "./subscriptions.ts";
import { validateTopic } from "../server/topics.ts";

/** A published message as a client receives it. */
export interface PublicationEvent {
  /** Always `"publication"`. */
  type: "publication";
  /** The topic. */
  topic: string;
  /** The message's id, `<epoch>:<seq>`: the `since` to resume after it. */
  id: string;
  /** When it was published, in milliseconds since the epoch. */
  time: number;
  /** Text as a string, JSON as its value, bytes as base64. */
  data: unknown;
  /** `"base64"` when `data` holds bytes. */
  encoding?: "base64";
}

/**
 * Messages were missed and cannot all be replayed; the application should
 * reload its state. What the window still holds follows.
 */
export interface GapEvent {
  /** Always `"gap"`. */
  type: "gap";
  /** The topic. */
  topic: string;
  /** The id the client resumed from. */
  since: string;
  /**
   * `restart` (the id is from an earlier server run), `expired` (messages
   * after it left the window) or `unknown` (an id never assigned).
   */
  reason: GapReason;
}

/** The subscription is live: everything after `last` arrives as published. */
export interface SubscribedEvent {
  /** Always `"subscribed"`. */
  type: "subscribed";
  /** The topic. */
  topic: string;
  /**
   * The id of the topic's last message (its `seq` is 0 before the first):
   * the `since` to resume from when nothing else arrived.
   */
  last: string;
}

/** The socket left a topic. */
export interface UnsubscribedEvent {
  /** Always `"unsubscribed"`. */
  type: "unsubscribed";
  /** The topic. */
  topic: string;
}

/** A control message was refused, or a message could not be handled. */
export interface ErrorEvent {
  /** Always `"error"`. */
  type: "error";
  /** What went wrong. */
  message: string;
}

/**
 * Every event the hub sends, as JSON in a text frame; `type` tells them
 * apart.
 *
 * @example Keep the last id of each topic, to resume with
 * ```ts
 * import type { PushEvent } from "./hub.ts";
 *
 * const last = new Map<string, string>();
 * function receive(event: PushEvent): void {
 *   if (event.type === "publication") last.set(event.topic, event.id);
 *   else if (event.type === "subscribed") last.set(event.topic, event.last);
 *   else if (event.type === "gap") console.log(`missed messages in ${event.topic}: reload`);
 * }
 * receive({ type: "subscribed", topic: "news", last: "e1:0" });
 * receive({ type: "publication", topic: "news", id: "e1:1", time: 0, data: "hi" });
 * console.log(`?topic=news&since=news:${last.get("news")}`); // "?topic=news&since=news:e1:1"
 * ```
 */
export type PushEvent =
  | PublicationEvent
  | GapEvent
  | SubscribedEvent
  | UnsubscribedEvent
  | ErrorEvent;

/** Options for {@linkcode PushHub}. */
export interface PushHubOptions {
  /**
   * Where topics live: ids, history, and delivery between nodes. Give a
   * `RedisEngine` to share topics between several nodes; the history
   * options below then do not apply (the engine has its own).
   *
   * @default {a MemoryEngine with the history options below}
   */
  engine?: Engine;
  /**
   * Messages kept per topic for resume.
   *
   * @default {100}
   */
  historySize?: number;
  /**
   * Milliseconds a message is kept for resume; `0` for no time bound.
   *
   * @default {3600000}
   */
  historyTtl?: number;
  /**
   * Topics whose history is kept; past it, the least recently published is
   * forgotten.
   *
   * @default {10000}
   */
  historyTopics?: number;
  /**
   * The most topics one socket may subscribe to.
   *
   * @default {100}
   */
  maxSubscriptions?: number;
  /**
   * Bytes of replay queued on a socket at a time; a longer replay waits for
   * the socket to drain between parts, so that it never trips the
   * slow-consumer limit. Keep it under the sockets' `maxBufferedBytes`.
   *
   * @default {1048576}
   */
  replayChunkBytes?: number;
  /**
   * The live subscribers of a topic on this node (a server's
   * `topics.subscribers`), to which the hub delivers what the engine brings.
   *
   * @default {none}
   */
  subscribers?: (topic: string) => Iterable<Socket>;
  /**
   * Receives the chat room's messages that came through the engine (see
   * {@linkcode PushHub.publishRoom}).
   *
   * @default {none}
   */
  room?: (payload: string) => void;
}

const DRAIN_POLL_MS = 5;
/** How often a join asks again while this node catches up with a new epoch. */
const EPOCH_POLL_MS = 50;
/** How often topics no socket needs any more stop being watched. */
const SWEEP_MS = 30_000;

/**
 * The engine topic that carries the chat room between nodes: `#` is not
 * allowed in topic names, so no client can subscribe to it.
 */
export const ROOM_TOPIC = "#room";

/**
 * Topics with ids and history, kept by an engine: a publish is prepared once
 * (one frame, and one compressed frame per permessage-deflate parameter set)
 * and the same frames serve every subscriber and every replay; a subscriber
 * that resumes gets the messages it missed, then the live ones, with no
 * duplicate and no hole between them.
 *
 * With the default {@linkcode MemoryEngine} everything is synchronous: a
 * publish is queued on every subscriber before `publish` returns, and a
 * replay that fits in one part is queued before `subscribe` returns. With a
 * shared engine, messages reach subscribers as the engine delivers them,
 * from whichever node published.
 *
 * @example
 * ```ts ignore
 * import { PushHub, serve } from "jsr:@pushwire/pushwire";
 *
 * const hub = new PushHub({ subscribers: (topic) => server.topics.subscribers(topic) });
 * const server = serve({ port: 8080 }, (socket) => hub.subscribe(socket, "news"));
 * setInterval(() => hub.publish("news", { type: "text", text: new Date().toISOString() }), 1000);
 * ```
 */
export class PushHub {
  /** Where the topics live. */
  readonly engine: Engine;
  readonly #maxSubscriptions: number;
  readonly #replayChunkBytes: number;
  readonly #subscribers: (topic: string) => Iterable<Socket>;
  readonly #room: ((payload: string) => void) | undefined;
  // Topics a socket is catching up on (subscribed once caught up).
  readonly #resuming = new WeakMap<Socket, Set<string>>();
  // Sockets joining each topic (watched but not yet subscribed).
  readonly #joining = new Map<string, number>();
  // The frames of each message, made once.
  readonly #prepared = new WeakMap<EngineMessage, PreparedMessage>();
  // How many sockets each message was queued for as it was delivered.
  readonly #delivered = new WeakMap<EngineMessage, number>();
  readonly #resumes = new LabeledCounter("outcome");
  readonly #sweeper: ReturnType<typeof setInterval> | undefined;
  #published = 0;
  #deliveries = 0;
  #replayed = 0;
  #gaps = 0;

  /**
   * Makes a hub on an engine (a new {@linkcode MemoryEngine} by default) and
   * becomes the engine's receiver.
   *
   * @param options The engine, history size and age, limits, and where
   * subscribers are.
   */
  constructor(options: PushHubOptions = {}) {
    this.engine = options.engine ?? new MemoryEngine({
      size: options.historySize ?? 100,
      ttl: options.historyTtl ?? 3_600_000,
      maxTopics: options.historyTopics ?? 10_000,
    });
    this.#maxSubscriptions = options.maxSubscriptions ?? 100;
    this.#replayChunkBytes = Math.max(1, options.replayChunkBytes ?? 1024 * 1024);
    this.#subscribers = options.subscribers ?? (() => []);
    this.#room = options.room;
    this.engine.listen((event) => this.#receive(event));
    if (!(this.engine instanceof MemoryEngine)) {
      this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    }
  }

  /**
   * Publishes a message to a topic: the engine assigns its id and keeps it
   * in the window, and every subscriber (on every node, with a shared
   * engine) gets it.
   *
   * @param topic A topic name.
   * @param publication The message.
   * @returns Its id, topic, and how many sockets of this node it was queued
   * for by the time the engine answered (with a shared engine, it may reach
   * them a moment later: then 0).
   * @throws {TypeError} For an invalid topic name.
   * @throws {Error} When the engine cannot publish (Redis unreachable).
   */
  publish(topic: string, publication: Publication): Promise<PublishResult> {
    validateTopic(topic);
    const payload = publicationPayload(publication);
    if (this.engine instanceof MemoryEngine) {
      return Promise.resolve(this.#result(this.engine.publishNow(topic, payload)));
    }
    return this.engine.publish(topic, payload).then((message) => this.#result(message));
  }

  /**
   * Sends a chat room message through the engine, so that the room on every
   * node gets it (through the `room` option).
   *
   * @param payload The room's message, as the `room` option reads it.
   * @returns Resolves once the engine took it.
   */
  async publishRoom(payload: string): Promise<void> {
    await this.engine.publish(ROOM_TOPIC, payload);
  }

  /**
   * Subscribes a socket to a topic. With `since`, the socket first gets what
   * it missed after that id (or a gap notice and what the window holds),
   * then `subscribed`, then live messages. A long replay goes out in parts
   * as the socket drains, and the subscription starts once it has caught up.
   * With the memory engine, a replay that fits in one part (and a
   * subscription without `since`) happens before this returns.
   *
   * When the engine fails (Redis unreachable), the socket is closed with
   * 1013 (try again later), so that its client resumes elsewhere or later.
   *
   * @param socket An open socket of the server.
   * @param topic A topic name.
   * @param since The last id the socket's client saw in that topic.
   * @returns Resolves once the subscription is live (or the socket closed).
   * @throws {TypeError} For an invalid topic name, or a socket at its limit
   * of subscriptions.
   */
  subscribe(socket: Socket, topic: string, since?: MessageId): Promise<void> {
    validateTopic(topic);
    const resuming = this.#resumingOf(socket);
    if (socket.topics.has(topic) || resuming.has(topic)) {
      if (socket.topics.has(topic)) this.#sendSubscribed(socket, topic);
      return Promise.resolve();
    }
    if (socket.topics.size + resuming.size >= this.#maxSubscriptions) {
      throw new TypeError(`Cannot subscribe: at most ${this.#maxSubscriptions} topics per socket`);
    }
    if (this.engine instanceof MemoryEngine && since === undefined) {
      socket.subscribe(topic);
      this.#sendSubscribed(socket, topic);
      return Promise.resolve();
    }
    resuming.add(topic);
    this.#joining.set(topic, (this.#joining.get(topic) ?? 0) + 1);
    return this.#join(socket, topic, since, resuming).finally(() => {
      resuming.delete(topic);
      const joining = this.#joining.get(topic)! - 1;
      if (joining === 0) this.#joining.delete(topic);
      else this.#joining.set(topic, joining);
    });
  }

  /**
   * Unsubscribes a socket from a topic (and stops a replay under way).
   *
   * @param socket A socket.
   * @param topic A topic name.
   * @returns Whether it was subscribed (or catching up).
   */
  unsubscribe(socket: Socket, topic: string): boolean {
    const wasResuming = this.#resumingOf(socket).delete(topic);
    return socket.unsubscribe(topic) || wasResuming;
  }

  /**
   * Stops the hub's timer and closes the engine.
   *
   * @returns Resolves once the engine is closed.
   */
  close(): Promise<void> {
    clearInterval(this.#sweeper);
    return this.engine.close();
  }

  /** The hub's and the engine's numbers, for `GET /metrics`. */
  metrics(): Metric[] {
    const stats = this.engine.stats();
    const gauge = (name: string, help: string, value: number): Metric => ({
      name,
      help,
      type: "gauge",
      samples: [{ value }],
    });
    return [
      ...fanoutMetrics("publish", this.#published, this.#deliveries),
      gauge("pushwire_history_topics", "Topics with a history window.", stats.topics),
      gauge("pushwire_history_messages", "Messages held in history windows.", stats.messages),
      gauge("pushwire_history_bytes", "Payload bytes held in history windows.", stats.bytes),
      {
        name: "pushwire_resumes_total",
        help: "Subscriptions that resumed from an id, by outcome (complete or the gap reason).",
        type: "counter",
        samples: this.#resumes.samples(),
      },
      {
        name: "pushwire_replayed_messages_total",
        help: "Messages replayed to resuming subscribers.",
        type: "counter",
        samples: [{ value: this.#replayed }],
      },
      {
        name: "pushwire_live_gaps_total",
        help:
          "Gap notices sent to live subscribers (the engine lost messages, e.g. Redis restarted empty).",
        type: "counter",
        samples: [{ value: this.#gaps }],
      },
      ...this.engine.metrics(),
    ];
  }

  /** An event of the engine: a message to deliver, or a gap to announce. */
  #receive(event: EngineEvent): void {
    if (event.type === "gap") {
      if (event.topic === ROOM_TOPIC) return;
      const gap = JSON.stringify(
        {
          type: "gap",
          topic: event.topic,
          since: formatId(event.since),
          reason: event.reason,
        } satisfies GapEvent,
      );
      for (const socket of this.#subscribers(event.topic)) {
        socket.send(gap);
        this.#gaps++;
      }
      return;
    }
    const { message } = event;
    if (message.topic === ROOM_TOPIC) {
      this.#room?.(message.payload);
      return;
    }
    const prepared = this.#prepare(message);
    let delivered = 0;
    for (const socket of this.#subscribers(message.topic)) {
      if (socket.sendPrepared(prepared)) delivered++;
    }
    this.#delivered.set(message, delivered);
    this.#published++;
    this.#deliveries += delivered;
  }

  #result(message: EngineMessage): PublishResult {
    return {
      id: formatId(message.id),
      topic: message.topic,
      delivered: this.#delivered.get(message) ?? 0,
    };
  }

  #prepare(message: EngineMessage): PreparedMessage {
    let prepared = this.#prepared.get(message);
    if (prepared === undefined) {
      prepared = new PreparedMessage(publicationJson(message));
      this.#prepared.set(message, prepared);
    }
    return prepared;
  }

  // Replays in parts of at most replayChunkBytes, each from the last id
  // sent, up to the engine's position (the last message it delivered on
  // this node); once the replay reaches the position, the socket joins the
  // live stream in the same synchronous step, so nothing falls between them
  // and nothing comes twice.
  async #join(
    socket: Socket,
    topic: string,
    since: MessageId | undefined,
    resuming: Set<string>,
  ): Promise<void> {
    const memory = this.engine instanceof MemoryEngine ? this.engine : undefined;
    const active = () => socket.state === "open" && resuming.has(topic);
    let outcome: string | undefined;
    try {
      if (memory === undefined) await this.engine.watch(topic);
      let cursor = since ?? this.engine.position(topic);
      let gapSentFor: string | undefined;
      while (active()) {
        const recovery = memory?.recoverNow(topic, cursor) ??
          await this.engine.recover(topic, cursor);
        if (!active()) return;
        const position = this.engine.position(topic);
        if (recovery.last.epoch !== position.epoch) {
          // The store has a new epoch this node has not caught up with: its
          // live subscribers are about to get the gap; wait for it.
          await pause(EPOCH_POLL_MS);
          continue;
        }
        if (since !== undefined && recovery.kind === "gap") {
          outcome ??= recovery.reason;
          if (gapSentFor !== formatId(cursor)) {
            gapSentFor = formatId(cursor);
            sendEvent(socket, {
              type: "gap",
              topic,
              since: formatId(cursor),
              reason: recovery.reason,
            });
          }
        }
        outcome ??= "complete";
        // What can go now: up to the position, at most one part.
        const { messages } = recovery;
        let count = 0;
        let bytes = 0;
        while (count < messages.length) {
          const message = messages[count]!;
          if (message.id.epoch !== position.epoch || message.id.seq > position.seq) break;
          const size = this.#prepare(message).payload.length;
          if (count > 0 && bytes + size > this.#replayChunkBytes) break;
          bytes += size;
          count++;
        }
        for (let i = 0; i < count; i++) socket.sendPrepared(this.#prepare(messages[i]!));
        this.#replayed += count;
        const before = formatId(cursor);
        const tail = messages.at(-1)?.id ?? recovery.last;
        if (
          count === messages.length && formatId(tail) === formatId(recovery.last) &&
          sameOrBefore(recovery.last, position)
        ) {
          cursor = recovery.last;
        } else if (count > 0) {
          cursor = messages[count - 1]!.id;
        }
        if (cursor.epoch === position.epoch && cursor.seq === position.seq) {
          resuming.delete(topic);
          socket.subscribe(topic);
          this.#sendSubscribed(socket, topic);
          return;
        }
        if (count > 0) {
          await drained(socket, this.#replayChunkBytes / 2);
        } else if (formatId(cursor) === before) {
          // This node has not delivered up to the client's id yet: wait for it.
          await pause(DRAIN_POLL_MS);
        }
      }
    } catch {
      if (socket.state === "open") {
        socket.close(CLOSE_CODE.TryAgainLater, "topics unavailable, try again");
      }
    } finally {
      if (since !== undefined && outcome !== undefined) this.#resumes.add(outcome);
    }
  }

  #sendSubscribed(socket: Socket, topic: string): void {
    sendEvent(socket, { type: "subscribed", topic, last: formatId(this.engine.position(topic)) });
  }

  #resumingOf(socket: Socket): Set<string> {
    let set = this.#resuming.get(socket);
    if (set === undefined) {
      set = new Set();
      this.#resuming.set(socket, set);
    }
    return set;
  }

  /** Stops watching topics that no socket of this node needs. */
  #sweep(): void {
    const needed = new Set<string>();
    for (const topic of this.#joining.keys()) needed.add(topic);
    for (const topic of [...this.engine.watched()]) {
      if (topic === ROOM_TOPIC || needed.has(topic)) continue;
      const subscribers = this.#subscribers(topic);
      if (subscribers[Symbol.iterator]().next().done) this.engine.unwatch(topic);
    }
  }
}

/** Whether id `a` is at or before id `b` (ids of other epochs are not). */
function sameOrBefore(a: MessageId, b: MessageId): boolean {
  return a.epoch === b.epoch && a.seq <= b.seq;
}

/**
 * The part of a publication event after its time, as stored by the engine:
 * `"data":…` (and `,"encoding":"base64"` for bytes).
 */
function publicationPayload(p: Publication): string {
  if (p.type === "binary") return `"data":"${encodeBase64(p.bytes)}","encoding":"base64"`;
  if (p.type === "text") return `"data":${JSON.stringify(p.text)}`;
  return `"data":${JSON.stringify(p.value) ?? "null"}`;
}

/** The publication event's JSON: the same as `JSON.stringify` of a {@linkcode PublicationEvent}. */
function publicationJson(message: EngineMessage): string {
  return `{"type":"publication","topic":${JSON.stringify(message.topic)},"id":"${
    formatId(message.id)
  }","time":${message.time},${message.payload}}`;
}

function sendEvent(socket: Socket, event: PushEvent): void {
  socket.send(JSON.stringify(event));
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until a socket's outbox holds at most `bytes`, or it closed. */
async function drained(socket: Socket, bytes: number): Promise<void> {
  while (socket.state === "open" && socket.bufferedAmount > bytes) {
    await pause(DRAIN_POLL_MS);
  }
}

/** Options for {@linkcode servePush}: the server's, the hub's, and publishing. */
export interface ServePushOptions extends ServeOptions, PushHubOptions {
  /**
   * The bearer token `POST /publish` requires. Without one, only clients on
   * a loopback address may publish.
   */
  publishToken?: string;
  /**
   * The largest body `POST /publish` accepts, in bytes (larger ones get 413).
   *
   * @default {65536}
   */
  maxBodyBytes?: number;
  /**
   * Whether a client may subscribe to a topic, for topics in its URL (a
   * refusal answers the upgrade with 403) and in control messages (answered
   * with an error event). `data` is what `authorize` attached.
   *
   * @default {every topic}
   */
  allowTopic?: (topic: string, request: UpgradeRequest, data: unknown) => boolean;
}

/** A running push server, made by {@linkcode servePush}. */
export interface PushServer {
  /** The server: its address, sockets, metrics and shutdown. */
  readonly server: Server;
  /** The topics, their ids and history. */
  readonly hub: PushHub;
  /**
   * Resolves once the engine is open and the chat room is shared through it
   * (at once for the memory engine); rejects when the engine cannot open.
   */
  readonly ready: Promise<void>;
  /**
   * Publishes a message to a topic's subscribers (on every node, with a
   * shared engine), as `POST /publish` does. With the memory engine it is
   * queued on every subscriber before this returns.
   *
   * @param topic A topic name.
   * @param publication The message.
   * @returns Its id, topic, and how many sockets of this node it was queued
   * for.
   * @throws {TypeError} For an invalid topic name.
   * @throws {Error} When the engine cannot publish (Redis unreachable).
   */
  publish(topic: string, publication: Publication): Promise<PublishResult>;
  /**
   * Sends a server message (`from: "server"`) to the chat room (on every
   * node, with a shared engine).
   *
   * @param text The message.
   * @returns How many sockets it was queued for (0 with a shared engine:
   * they get it as it comes back through the engine).
   */
  push(text: string): number;
}

/**
 * Starts the push server: `POST /publish` feeds topics (with ids and
 * history); clients that name topics in their URL subscribe to them (and
 * resume with `since`); clients that name none are in the chat room, exactly
 * as with {@linkcode serveChat}.
 *
 * What a client sends: a control message (`subscribe`, `unsubscribe`) is
 * handled for every client; anything else is chat for a client in the room,
 * and answered with an error event for one that named topics (topics are fed
 * by publishing only).
 *
 * @example
 * ```ts ignore
 * import { servePush } from "jsr:@pushwire/pushwire";
 *
 * const push = servePush({ port: 8080, publishToken: Deno.env.get("PUSHWIRE_TOKEN") });
 * // curl -H "Authorization: Bearer $PUSHWIRE_TOKEN" -d 'hello' localhost:8080/publish?topic=news
 * push.publish("news", { type: "json", value: { headline: "pushwire 1.0" } });
 * ```
 *
 * @param options Where to listen, limits, access, history and publishing.
 * @returns The running push server.
 */
export function servePush(options: ServePushOptions = {}): PushServer {
  const room = new Room();
  const shared = options.engine !== undefined && !(options.engine instanceof MemoryEngine);
  const hub = new PushHub({
    ...options,
    subscribers: (topic) => server.topics.subscribers(topic),
    room: (payload) => receiveRoom(room, payload),
  });
  const maxSubscriptions = options.maxSubscriptions ?? 100;
  const chat: Chat = shared
    ? (from, message) => hub.publishRoom(roomPayload(from, message))
    : (from, message) => {
      if (typeof message === "string") room.say(from, message);
      else room.relay(message);
      return Promise.resolve();
    };
  const server: Server = serve({
    ...options,
    routes: {
      "/publish": publishRoute({
        ...(options.publishToken === undefined ? {} : { token: options.publishToken }),
        maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
        publish: (topic, publication) =>
          hub.publish(topic, publication).catch((error) => {
            throw new HandshakeError(503, `Cannot publish: ${(error as Error).message}`, {
              "Retry-After": "1",
            });
          }),
      }),
      ...options.routes,
    },
    authorize: (request, info) => authorizeUpgrade(request, info, options, maxSubscriptions),
  }, (socket) => attend(socket, server, hub, room, chat, options.allowTopic, maxSubscriptions));
  server.metrics.register(() => [...room.metrics(), ...hub.metrics()]);
  server.finished.then(() => hub.close());
  const ready = shared
    ? hub.engine.open().then(() => hub.engine.watch(ROOM_TOPIC))
    : Promise.resolve();
  ready.catch(() => {}); // Reported to whoever awaits it.
  return {
    server,
    hub,
    ready,
    publish: (topic, publication) => hub.publish(topic, publication),
    push: (text) => {
      if (!shared) return room.say("server", text);
      chat("server", text).catch(() => {});
      return 0;
    },
  };
}

/** Sends a chat message (text or bytes) from a socket id, or `"server"`. */
type Chat = (from: string, message: string | Uint8Array) => Promise<void>;

/** A chat message as it travels through a shared engine. */
function roomPayload(from: string, message: string | Uint8Array): string {
  return JSON.stringify(
    typeof message === "string" ? { from, text: message } : { from, bytes: encodeBase64(message) },
  );
}

/** A chat message that came through the engine: to this node's room. */
function receiveRoom(room: Room, payload: string): void {
  let message: { from?: unknown; text?: unknown; bytes?: unknown };
  try {
    message = JSON.parse(payload);
  } catch {
    return;
  }
  if (typeof message.from !== "string") return;
  if (typeof message.text === "string") room.say(message.from, message.text);
  else if (typeof message.bytes === "string") room.relay(decodeBase64(message.bytes));
}

/** Checks the URL's topics and `since`, then the application's hook and topic rule. */
async function authorizeUpgrade(
  request: UpgradeRequest,
  info: { remoteAddr: Deno.NetAddr },
  options: ServePushOptions,
  maxSubscriptions: number,
): Promise<Authorization> {
  let topics: string[];
  try {
    topics = parseSubscriptions(request.query, maxSubscriptions).topics;
  } catch (error) {
    return { accept: false, status: 400, message: (error as Error).message };
  }
  let data: unknown;
  if (options.authorize !== undefined) {
    const answer = await options.authorize(request, info);
    if (!answer.accept) return answer;
    data = answer.data;
  }
  const refused = topics.find((topic) => options.allowTopic?.(topic, request, data) === false);
  if (refused !== undefined) {
    return { accept: false, status: 403, message: `Not allowed to subscribe to "${refused}"` };
  }
  return data === undefined ? { accept: true } : { accept: true, data };
}

/** One socket's stay: its topics (or the room), its control messages, its leave. */
async function attend(
  socket: Socket,
  server: Server,
  hub: PushHub,
  room: Room,
  chat: Chat,
  allowTopic: ServePushOptions["allowTopic"],
  maxSubscriptions: number,
): Promise<void> {
  // Checked at the handshake already; parsing again is cheap and pure.
  const { topics, since } = parseSubscriptions(socket.request.query, maxSubscriptions);
  if (topics.length === 0) room.join(socket);
  for (const topic of topics) hub.subscribe(socket, topic, since.get(topic));
  const fail = (message: string) => sendEvent(socket, { type: "error", message });
  const say = (message: string | Uint8Array) =>
    chat(socket.id, message).catch((error) => fail(`Cannot send: ${(error as Error).message}`));
  for await (const message of socket) {
    if (typeof message !== "string") {
      if (room.has(socket)) say(message);
      else fail("Binary messages are not accepted here: publish with POST /publish");
      continue;
    }
    let control: ControlMessage | undefined;
    try {
      control = parseControl(message);
    } catch (error) {
      fail((error as Error).message);
      continue;
    }
    if (control === undefined) {
      if (room.has(socket)) say(message);
      else fail("Only subscribe and unsubscribe messages are accepted: publish with POST /publish");
    } else if (control.type === "unsubscribe") {
      hub.unsubscribe(socket, control.topic);
      sendEvent(socket, { type: "unsubscribed", topic: control.topic });
    } else if (allowTopic?.(control.topic, socket.request, server.dataOf(socket)) === false) {
      fail(`Not allowed to subscribe to "${control.topic}"`);
    } else {
      try {
        hub.subscribe(socket, control.topic, control.since);
      } catch (error) {
        fail((error as Error).message);
      }
    }
  }
  await socket.closed;
  room.leave(socket);
}
