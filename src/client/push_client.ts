/**
 * The push client: subscriptions that survive reconnects (each topic resumed
 * from its last id), publishing with the server's answer, the chat room,
 * token renewal, and its state as events. Runs on the platform's `WebSocket`
 * and `fetch` only.
 *
 * @module
 */

import { Backoff } from "./backoff.ts";
import { emit, type EventDetail, PushClientEventTarget } from "./client_events.ts";
import {
  type ConnectParams,
  eventStreamRequest,
  eventsUrl,
  socketUrl,
  webSocketRequest,
} from "./connect_url.ts";
import { parseServerEvent, publicationOf } from "./events.ts";
import type { ClientState, PushClientOptions, StateDetail } from "./options.ts";
import { PendingPublishes, type PublishResult, sendRefusal } from "./publishes.ts";
import { FollowedTopics } from "./followed_topics.ts";
import { validateId, validateTopic } from "./resume.ts";
import { sayRefusal } from "./room_events.ts";
import { DEFAULT_QUEUE_LIMIT, type Subscription, SubscriptionQueue } from "./subscription.ts";
import {
  messageOf,
  openEventStream,
  openWebSocket,
  type Transport,
  type TransportEnd,
  type TransportHandlers,
  type TransportKind,
} from "./transport.ts";

/**
 * The least time between two token renewals, in milliseconds: a token that
 * expires within the server's 30 s warning is told `expiring` at once.
 */
const MIN_RENEWAL_INTERVAL = 5000;

/** One connection: its transport and the topics it was asked for. */
interface Connection {
  transport: Transport;
  opened: boolean;
  openedAt: number;
  sent: Set<string>;
}

/**
 * A client of a pushwire server. It connects at once, reconnects by itself
 * with backoff, resumes every topic from its last id, and renews its token
 * when the server says it expires soon.
 *
 * @example
 * ```ts ignore
 * import { PushClient } from "jsr:@pushwire/pushwire/client";
 *
 * const client = new PushClient("wss://push.example.com/", { token: () => getToken() });
 * client.addEventListener("gap", (event) => console.log("reload", event.detail.topic));
 * for await (const publication of client.subscribe("news")) {
 *   console.log(publication.id, publication.data);
 * }
 * ```
 */
export class PushClient extends PushClientEventTarget {
  readonly #url: URL;
  readonly #eventsUrl: URL;
  readonly #options: PushClientOptions;
  readonly #backoff: Backoff;
  readonly #topics = new FollowedTopics();
  readonly #publishes: PendingPublishes;
  #state: ClientState = "connecting";
  #kind: TransportKind;
  #webSocketFailures = 0;
  #everOpened = false;
  #connection: Connection | undefined;
  #connecting = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #restartQueued = false;
  #renewedAt = Number.NEGATIVE_INFINITY;

  /**
   * Creates the client and starts connecting (after the current task, so
   * that subscriptions made right away are named in the first connection).
   *
   * @param url The server: `wss://host/` (`https://host/` works too; in a
   * browser, a path such as `/` is read against the page's address).
   * @param options The token, transport, backoff and limits.
   * @throws {TypeError} For a URL that is not `ws:`, `wss:`, `http:` or `https:`.
   */
  constructor(url: string | URL, options: PushClientOptions = {}) {
    super();
    this.#url = socketUrl(url);
    this.#eventsUrl = eventsUrl(this.#url, options.eventsUrl);
    this.#options = options;
    this.#backoff = new Backoff(options.backoff);
    this.#publishes = new PendingPublishes(options.publishTimeout ?? 10_000);
    this.#kind = options.transport === "sse" ? "sse" : "websocket";
    this.#timer = setTimeout(() => this.#connect(), 0);
  }

  /** Where the client stands. */
  get state(): ClientState {
    return this.#state;
  }

  /** The transport in use, or to be tried next. */
  get transport(): TransportKind {
    return this.#kind;
  }

  /**
   * Subscribes to a topic. Several subscriptions to one topic share it: each
   * gets every publication from its start on.
   *
   * @example
   * ```ts ignore
   * const news = client.subscribe("news", { since: lastSeenId });
   * for await (const publication of news) show(publication);
   * ```
   *
   * @param topic The topic.
   * @param options `since`: the last id the application handled, to get
   * every later publication first (only for a topic the client does not
   * follow yet).
   * @returns The subscription: iterate it, and `unsubscribe()` (or `break`).
   * @throws {TypeError} For an invalid topic or id, a `since` for a topic
   * already followed, or a closed client.
   */
  subscribe(topic: string, options: { since?: string } = {}): Subscription {
    validateTopic(topic);
    const { since } = options;
    if (since !== undefined) validateId(since);
    if (this.#state === "closed") throw new TypeError("Cannot subscribe: the client is closed");
    if (since !== undefined && this.#topics.has(topic)) {
      throw new TypeError(`Cannot resume "${topic}" from ${since}: it is subscribed already`);
    }
    const limit = this.#options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    const queue = new SubscriptionQueue(topic, limit, (ended) => this.#release(topic, ended));
    if (this.#topics.add(topic, queue, since)) this.#request(topic);
    return queue;
  }

  /**
   * Publishes to a topic over the WebSocket, as the connection's grant
   * allows (docs/push-api.md). Waits for a connection when there is none.
   *
   * @param topic The topic.
   * @param data Any JSON value.
   * @returns The message's id, once the server answered.
   * @throws {PublishError} With `outcome: "refused"` when the server refused
   * it, the client is closed, or the transport is SSE; with `"unknown"` when
   * the connection dropped (or 10 s passed) after it was sent: it may have
   * been published.
   * @throws {TypeError} For an invalid topic, or data that is not JSON.
   */
  publish(topic: string, data: unknown): Promise<PublishResult> {
    let json: string | undefined;
    try {
      validateTopic(topic);
      json = JSON.stringify(data);
    } catch (error) {
      return Promise.reject(error);
    }
    if (json === undefined) {
      return Promise.reject(new TypeError("Cannot publish: data is not JSON"));
    }
    const refusal = sendRefusal("publish", this.#state, this.#kind);
    if (refusal !== undefined) return Promise.reject(refusal);
    return this.#publishes.add(topic, json, (text) => this.#sendNow(text));
  }

  /**
   * Says a text message in the server's chat room, where a WebSocket
   * connection that named no topic is: everyone there (this client too)
   * gets it as a `room` event of type `message`. Waits for a connection when
   * there is none, in line with publishes. The room answers nothing; a
   * message it refuses (too long) comes back as an `error` event.
   *
   * @example
   * ```ts ignore
   * const client = new PushClient("/", { name: "Ada" });
   * client.addEventListener("room", ({ detail }) => {
   *   if (detail.type === "message" && "text" in detail) console.log(detail.name, detail.text);
   * });
   * await client.say("hello");
   * ```
   *
   * @param text The message.
   * @returns Resolves once it is sent.
   * @throws {PublishError} With `outcome: "refused"` when the client is
   * closed or the transport is SSE.
   * @throws {TypeError} For text the server would read as a control message
   * (a JSON object whose `type` is `subscribe`, `publish`, …).
   */
  say(text: string): Promise<void> {
    const refusal = sayRefusal(text) ?? sendRefusal("say", this.#state, this.#kind);
    if (refusal !== undefined) return Promise.reject(refusal);
    return this.#publishes.addChat(text, (message) => this.#sendNow(message));
  }

  /**
   * Closes the client for good: the connection closes with 1000, the
   * subscriptions end after their queued publications, publishes waiting
   * are rejected.
   */
  close(): void {
    this.#finish({ code: 1000, reason: "Closed by the client" });
  }

  async #connect(): Promise<void> {
    this.#timer = undefined;
    const attempt = ++this.#attempt;
    this.#connecting = true;
    let token: string | undefined;
    try {
      const source = this.#options.token;
      token = typeof source === "function" ? await source() : source;
    } catch (error) {
      if (attempt !== this.#attempt) return;
      this.#connecting = false;
      emit(this, "error", { message: `Cannot get a token: ${messageOf(error)}` });
      return this.#retry({ code: 1006, reason: "No token" });
    }
    if (attempt !== this.#attempt) return;
    this.#connecting = false;
    if (this.#kind === "sse" && this.#topics.size === 0) return; // a subscribe connects
    const topics = this.#topics.reconnect();
    const connection: Connection = {
      transport: undefined as unknown as Transport,
      opened: false,
      openedAt: 0,
      sent: new Set(topics.keys()),
    };
    const handlers: TransportHandlers = {
      open: () => this.#connection === connection && this.#opened(connection),
      message: (text) => this.#connection === connection && this.#receive(connection, text),
      end: (info) => this.#connection === connection && this.#ended(connection, info),
    };
    this.#connection = connection;
    connection.transport = this.#open({ topics, name: this.#options.name, token }, handlers);
  }

  /** Opens the transport of the current kind. */
  #open(params: ConnectParams, handlers: TransportHandlers): Transport {
    if (this.#kind === "websocket") {
      const WebSocketClass = this.#options.WebSocket ?? globalThis.WebSocket;
      return openWebSocket(webSocketRequest(this.#url, params), WebSocketClass, handlers);
    }
    const { url, headers } = eventStreamRequest(this.#eventsUrl, params);
    const fetchFunction = this.#options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    return openEventStream(url, headers, fetchFunction, handlers);
  }

  #opened(connection: Connection): void {
    connection.opened = true;
    connection.openedAt = Date.now();
    this.#everOpened = true;
    if (connection.transport.kind === "websocket") this.#webSocketFailures = 0;
    this.#setState("open");
    if (connection.transport.kind === "sse") {
      const same = connection.sent.size === this.#topics.size &&
        [...connection.sent].every((topic) => this.#topics.has(topic));
      if (!same) this.#restartSoon();
      return;
    }
    for (const topic of this.#topics.names()) {
      if (!connection.sent.has(topic)) this.#sendSubscribe(connection, topic);
    }
    for (const topic of connection.sent) {
      if (!this.#topics.has(topic)) this.#sendUnsubscribe(connection, topic);
    }
    this.#publishes.flush((text) => connection.transport.send(text));
  }

  #receive(connection: Connection, text: string): void {
    const event = parseServerEvent(text);
    if (event === undefined) return;
    switch (event.type) {
      case "publication":
        return this.#topics.deliver(publicationOf(event));
      case "subscribed":
        return this.#subscribed(event.topic, event.last);
      case "gap":
        return emit(this, "gap", { topic: event.topic, since: event.since, reason: event.reason });
      case "unsubscribed":
        return this.#unsubscribed(connection, event.topic, event.reason);
      case "published":
        this.#publishes.answer(event.ref, { topic: event.topic, id: event.id });
        return;
      case "error":
        return this.#error(connection, event.message, event.ref);
      case "expiring":
        emit(this, "expiring", { expires: event.expires });
        return void this.#renew(connection);
      case "room":
        return emit(this, "room", event.event);
      case "presence":
      case "join":
      case "leave": {
        const { type, ...detail } = event;
        return emit(this, type, detail as EventDetail<typeof type>);
      }
    }
  }

  #subscribed(topic: string, last: string): void {
    if (this.#topics.live(topic, last)) emit(this, "subscribed", { topic, last });
  }

  /** The server left a topic (`reason` set) or confirmed an unsubscribe. */
  #unsubscribed(connection: Connection, topic: string, reason: string | undefined): void {
    if (reason === undefined) return;
    connection.sent.delete(topic);
    this.#topics.drop(topic, new Error(`Unsubscribed from "${topic}" by the server (${reason})`));
    emit(this, "unsubscribed", { topic, reason });
  }

  /** An error event: a publish's answer, a refused subscribe, or something else. */
  #error(connection: Connection, message: string, ref: unknown): void {
    if (this.#publishes.answer(ref, { error: message })) return;
    for (const topic of this.#topics.names()) {
      // A refused subscribe names its topic: `Not allowed to subscribe to "room:2"`.
      const named = message.includes(JSON.stringify(topic));
      if (named && this.#topics.waiting(topic) && connection.sent.has(topic)) {
        connection.sent.delete(topic);
        this.#topics.drop(topic, new Error(message));
      }
    }
    emit(this, "error", { message });
  }

  /**
   * The token expires soon: a fresh one, on this socket or by reconnecting
   * (SSE). At most one renewal per {@linkcode MIN_RENEWAL_INTERVAL}: tokens
   * that live under the server's 30 s warning would renew in a loop.
   */
  async #renew(connection: Connection): Promise<void> {
    const source = this.#options.token;
    if (typeof source !== "function") return; // 4401 follows, and the client closes
    if (Date.now() - this.#renewedAt < MIN_RENEWAL_INTERVAL) {
      return emit(this, "error", {
        message: "Cannot renew the token: the fresh one expires within 30 s too",
      });
    }
    this.#renewedAt = Date.now();
    if (connection.transport.kind === "sse") return this.#restartSoon();
    let token: string;
    try {
      token = await source();
    } catch (error) {
      return emit(this, "error", { message: `Cannot renew the token: ${messageOf(error)}` });
    }
    if (this.#connection === connection) {
      connection.transport.send(JSON.stringify({ type: "token", token }));
    }
  }

  #ended(connection: Connection, end: TransportEnd): void {
    this.#connection = undefined;
    this.#publishes.dropped();
    if (connection.opened && Date.now() - connection.openedAt >= this.#backoff.resetAfter) {
      this.#backoff.reset();
    }
    if (!connection.opened && connection.transport.kind === "websocket") this.#webSocketFailed();
    const expired = end.code === 4401 || end.status === 401;
    const renewable = typeof this.#options.token === "function";
    if (end.code === 4403 || end.status === 403 || (expired && !renewable)) {
      return this.#finish(end);
    }
    this.#retry(end);
  }

  /** A WebSocket attempt could not connect: maybe fall back to SSE. */
  #webSocketFailed(): void {
    this.#webSocketFailures++;
    const after = this.#options.fallbackAfter ?? 2;
    if (this.#options.transport !== "auto" || this.#webSocketFailures < after) return;
    if (this.#kind === "sse") return;
    this.#kind = "sse";
    this.#publishes.failAll("The client fell back to SSE, which cannot publish");
    emit(this, "error", {
      message: `WebSocket could not connect ${this.#webSocketFailures} times: falling back to SSE`,
    });
  }

  #retry(end: TransportEnd): void {
    const delay = this.#backoff.next();
    this.#setState(this.#everOpened ? "reconnecting" : "connecting", {
      code: end.code,
      reason: end.reason,
      delay,
    });
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  /** Reconnects at once (SSE: the topics changed, or the token is renewed). */
  #restartSoon(): void {
    if (this.#restartQueued) return;
    this.#restartQueued = true;
    queueMicrotask(() => {
      this.#restartQueued = false;
      const connection = this.#connection;
      if (this.#state === "closed" || this.#connecting || this.#timer !== undefined) return;
      connection?.transport.close();
      this.#connection = undefined;
      if (connection?.opened === true) {
        this.#setState("reconnecting", { code: 1000, reason: "Reconnecting with new topics" });
      }
      this.#connect();
    });
  }

  /** Closes for good. */
  #finish(end: TransportEnd): void {
    if (this.#state === "closed") return;
    const byClient = end.code === 1000 && end.status === undefined;
    this.#state = "closed";
    this.#attempt++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#connection?.transport.close();
    this.#connection = undefined;
    const error = byClient ? undefined : new Error(`Connection closed: ${end.code} ${end.reason}`);
    this.#topics.dropAll(error);
    this.#publishes.failAll(byClient ? "The client was closed" : `Connection closed (${end.code})`);
    emit(this, "state", {
      state: "closed",
      transport: this.#kind,
      code: end.code,
      reason: end.reason,
    });
    emit(this, "close", {
      code: end.code,
      reason: end.reason,
      ...(end.status === undefined ? {} : { status: end.status }),
    });
  }

  /** A subscription ended: the topic is left when it was the last one. */
  #release(topic: string, queue: SubscriptionQueue): void {
    if (!this.#topics.release(topic, queue)) return;
    const connection = this.#connection;
    if (connection === undefined || !connection.sent.has(topic)) return;
    if (connection.transport.kind === "sse") return this.#restartSoon();
    if (connection.opened) this.#sendUnsubscribe(connection, topic);
  }

  /** A new topic: subscribe on the open socket, or let the next connection name it. */
  #request(topic: string): void {
    const connection = this.#connection;
    if (connection === undefined) {
      // Over SSE with no topic there was no connection: this one starts it.
      const idle = !this.#connecting && this.#timer === undefined && this.#state !== "closed";
      if (idle && this.#attempt > 0) this.#connect();
      return;
    }
    if (connection.transport.kind === "sse") return this.#restartSoon();
    if (connection.opened) this.#sendSubscribe(connection, topic);
  }

  #sendSubscribe(connection: Connection, topic: string): void {
    const since = this.#topics.last(topic);
    const message = since === undefined
      ? { type: "subscribe", topic }
      : { type: "subscribe", topic, since };
    if (connection.transport.send(JSON.stringify(message))) connection.sent.add(topic);
  }

  #sendUnsubscribe(connection: Connection, topic: string): void {
    connection.transport.send(JSON.stringify({ type: "unsubscribe", topic }));
    connection.sent.delete(topic);
  }

  #sendNow(text: string): boolean {
    const connection = this.#connection;
    return connection !== undefined && connection.opened && connection.transport.send(text);
  }

  #setState(state: ClientState, detail: Omit<StateDetail, "state" | "transport"> = {}): void {
    this.#state = state;
    emit(this, "state", { state, transport: this.#kind, ...detail });
  }
}
