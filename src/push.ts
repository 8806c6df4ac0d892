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

import { encodeBase64 } from "@std/encoding";
import { Room } from "./chat.ts";
import { PreparedMessage } from "./deflate.ts";
import type { UpgradeRequest } from "./handshake.ts";
import { formatId, type GapReason, History, type MessageId } from "./history.ts";
import { LabeledCounter, type Metric } from "./metrics.ts";
import { type Publication, type PublishResult, publishRoute } from "./publish.ts";
import { type Authorization, serve, type ServeOptions, type Server } from "./server.ts";
import { fanoutMetrics } from "./server_metrics.ts";
import type { Socket } from "./socket.ts";
import { type ControlMessage, parseControl, parseSubscriptions } from "./subscriptions.ts";
import { validateTopic } from "./topics.ts";

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
 * import type { PushEvent } from "./push.ts";
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
}

const DRAIN_POLL_MS = 5;

/**
 * Topics with ids and history: a publish prepares its message once and keeps
 * it in the window; a subscriber that resumes gets the stored messages it
 * missed (the same frames), then the live ones, with no duplicate and no hole
 * between them.
 *
 * @example
 * ```ts ignore
 * import { PushHub, serve } from "jsr:@pushwire/pushwire";
 *
 * const hub = new PushHub();
 * const server = serve({ port: 8080 }, (socket) => hub.subscribe(socket, "news"));
 * setInterval(() => hub.publish("news", { type: "text", text: new Date().toISOString() }), 1000);
 * ```
 */
export class PushHub {
  /** The ids and the window of every topic (each message prepared once for every socket). */
  readonly history: History<PreparedMessage>;
  readonly #maxSubscriptions: number;
  readonly #replayChunkBytes: number;
  // Topics a socket is catching up on (subscribed once caught up).
  readonly #resuming = new WeakMap<Socket, Set<string>>();
  readonly #resumes = new LabeledCounter("outcome");
  #published = 0;
  #deliveries = 0;
  #replayed = 0;

  /**
   * Makes a hub with an empty history and a new epoch.
   *
   * @param options History size and age, subscription and replay limits.
   */
  constructor(options: PushHubOptions = {}) {
    this.history = new History({
      size: options.historySize ?? 100,
      ttl: options.historyTtl ?? 3_600_000,
      maxTopics: options.historyTopics ?? 10_000,
      sizeOf: (message) => message.payload.length,
    });
    this.#maxSubscriptions = options.maxSubscriptions ?? 100;
    this.#replayChunkBytes = Math.max(1, options.replayChunkBytes ?? 1024 * 1024);
  }

  /**
   * Publishes a message to a topic: assigns its id, prepares the message
   * once (one frame, and one compressed frame per permessage-deflate
   * parameter set), keeps it in the window and queues it on every subscriber.
   *
   * @param topic A topic name.
   * @param publication The message.
   * @param subscribers The topic's subscribers (a server's `topics`).
   * @returns Its id, topic, and how many sockets it was queued for.
   * @throws {TypeError} For an invalid topic name.
   */
  publish(
    topic: string,
    publication: Publication,
    subscribers: Iterable<Socket> = [],
  ): PublishResult {
    validateTopic(topic);
    const entry = this.history.append(topic, (seq, time) => {
      const id = formatId({ epoch: this.history.epoch, seq });
      return new PreparedMessage(publicationJson(topic, id, time, publication));
    });
    let delivered = 0;
    for (const socket of subscribers) if (socket.sendPrepared(entry.value)) delivered++;
    this.#published++;
    this.#deliveries += delivered;
    return { id: formatId({ epoch: this.history.epoch, seq: entry.seq }), topic, delivered };
  }

  /**
   * Subscribes a socket to a topic. With `since`, the socket first gets what
   * it missed after that id (or a gap notice and what the window holds),
   * then `subscribed`, then live messages. When the replay fits in one part,
   * all of it happens before this returns; a longer one goes out in parts as
   * the socket drains, and the subscription starts once it has caught up.
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
    if (since === undefined) {
      socket.subscribe(topic);
      this.#sendSubscribed(socket, topic);
      return Promise.resolve();
    }
    resuming.add(topic);
    return this.#resume(socket, topic, since, resuming);
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

  /** The hub's numbers, for `GET /metrics`. */
  metrics(): Metric[] {
    const stats = this.history.stats();
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
    ];
  }

  // Replays in parts of at most replayChunkBytes; each part starts from the
  // last id sent, so messages published (or expired) meanwhile are accounted
  // for. The last part and the subscription happen in one synchronous step:
  // nothing published can fall between them.
  async #resume(socket: Socket, topic: string, since: MessageId, resuming: Set<string>) {
    let cursor = since;
    let outcome: string | undefined;
    try {
      while (socket.state === "open" && resuming.has(topic)) {
        const recovery = this.history.recover(topic, cursor);
        if (recovery.kind === "gap") {
          outcome ??= recovery.reason;
          sendEvent(socket, {
            type: "gap",
            topic,
            since: formatId(cursor),
            reason: recovery.reason,
          });
        }
        outcome ??= "complete";
        const { entries } = recovery;
        let count = 0;
        let bytes = 0;
        while (count < entries.length) {
          const size = entries[count]!.value.payload.length;
          if (count > 0 && bytes + size > this.#replayChunkBytes) break;
          bytes += size;
          count++;
        }
        for (let i = 0; i < count; i++) socket.sendPrepared(entries[i]!.value);
        this.#replayed += count;
        if (count === entries.length) {
          resuming.delete(topic);
          if (socket.state !== "open") return;
          socket.subscribe(topic);
          this.#sendSubscribed(socket, topic);
          return;
        }
        cursor = { epoch: this.history.epoch, seq: entries[count - 1]!.seq };
        await drained(socket, this.#replayChunkBytes / 2);
      }
    } finally {
      resuming.delete(topic);
      if (outcome !== undefined) this.#resumes.add(outcome);
    }
  }

  #sendSubscribed(socket: Socket, topic: string): void {
    sendEvent(socket, { type: "subscribed", topic, last: formatId(this.history.last(topic)) });
  }

  #resumingOf(socket: Socket): Set<string> {
    let set = this.#resuming.get(socket);
    if (set === undefined) {
      set = new Set();
      this.#resuming.set(socket, set);
    }
    return set;
  }
}

function publicationJson(topic: string, id: string, time: number, p: Publication): string {
  const event: PublicationEvent = p.type === "binary"
    ? { type: "publication", topic, id, time, data: encodeBase64(p.bytes), encoding: "base64" }
    : { type: "publication", topic, id, time, data: p.type === "text" ? p.text : p.value };
  return JSON.stringify(event);
}

function sendEvent(socket: Socket, event: PushEvent): void {
  socket.send(JSON.stringify(event));
}

/** Waits until a socket's outbox holds at most `bytes`, or it closed. */
async function drained(socket: Socket, bytes: number): Promise<void> {
  while (socket.state === "open" && socket.bufferedAmount > bytes) {
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
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
   * Publishes a message to a topic's subscribers, as `POST /publish` does.
   *
   * @param topic A topic name.
   * @param publication The message.
   * @returns Its id, topic, and how many sockets it was queued for.
   */
  publish(topic: string, publication: Publication): PublishResult;
  /**
   * Sends a server message (`from: "server"`) to the chat room.
   *
   * @param text The message.
   * @returns How many sockets it was queued for.
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
  const hub = new PushHub(options);
  const room = new Room();
  const maxSubscriptions = options.maxSubscriptions ?? 100;
  const publish = (topic: string, publication: Publication) =>
    hub.publish(topic, publication, server.topics.subscribers(topic));
  const server: Server = serve({
    ...options,
    routes: {
      "/publish": publishRoute({
        ...(options.publishToken === undefined ? {} : { token: options.publishToken }),
        maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
        publish: (topic, publication) => publish(topic, publication),
      }),
      ...options.routes,
    },
    authorize: (request, info) => authorizeUpgrade(request, info, options, maxSubscriptions),
  }, (socket) => attend(socket, server, hub, room, options.allowTopic, maxSubscriptions));
  server.metrics.register(() => [...room.metrics(), ...hub.metrics()]);
  return { server, hub, publish, push: (text) => room.say("server", text) };
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
  allowTopic: ServePushOptions["allowTopic"],
  maxSubscriptions: number,
): Promise<void> {
  // Checked at the handshake already; parsing again is cheap and pure.
  const { topics, since } = parseSubscriptions(socket.request.query, maxSubscriptions);
  if (topics.length === 0) room.join(socket);
  for (const topic of topics) hub.subscribe(socket, topic, since.get(topic));
  const fail = (message: string) => sendEvent(socket, { type: "error", message });
  for await (const message of socket) {
    if (typeof message !== "string") {
      if (room.has(socket)) room.relay(message);
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
      if (room.has(socket)) room.say(socket.id, message);
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
