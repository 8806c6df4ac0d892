/**
 * The push server, wired: a server ({@linkcode serve}) with the chat page,
 * `POST /publish` feeding the hub's topics, clients that name topics
 * subscribed to them, and clients that name none in the chat room. It is
 * what the `pushwire` CLI runs.
 *
 * @module
 */

import { CHAT_PAGE, CHAT_PAGE_ROUTES } from "../chat/page.ts";
import { Room } from "../chat/room.ts";
import { clientRate, DEFAULTS } from "../defaults.ts";
import { HttpError } from "../protocol/errors.ts";
import { EngineUnavailableError } from "../push/engine.ts";
import { SILENT } from "../server/log.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import type { HttpRoutes } from "../server/routes.ts";
import { serve, type Server } from "../server/server.ts";
import type { Socket } from "../server/socket.ts";
import { validateTopic } from "../server/topics.ts";
import { MemoryPresence, type PresenceEntry, type PresenceStore } from "../push/presence.ts";
import type { ServeOptions } from "../server/options.ts";
import { PushHub, type PushHubOptions } from "../push/hub.ts";
import { type Publication, type PublishResult, publishRoute } from "../push/publish.ts";
import { TopicGrant } from "../auth/grants.ts";
import { isJwtAuthorizer } from "../auth/jwt.ts";
import { authorizeUpgrade } from "./authorize.ts";
import { engineRelay, localRelay, receiveRoom, ROOM_TOPIC } from "./room_relay.ts";
import { apiRoutes, DEFAULT_DISCONNECT_REASON } from "./api_routes.ts";
import { ClusterControl, CONTROL_TOPIC } from "./cluster_control.ts";
import { localControl } from "./local_control.ts";
import { PRESENCE_TOPIC, type PresenceRelay } from "./presence_relay.ts";
import { pushPresence } from "./push_presence.ts";
import { attend, type PresenceHooks, type PushSession } from "./session.ts";
import { UserIndex } from "./users.ts";

/** Options for {@linkcode servePush}: the server's, the hub's, and publishing. */
export interface ServePushOptions extends ServeOptions, Omit<PushHubOptions, "internal"> {
  /**
   * The bearer token `POST /publish` requires. Without one, only clients on
   * a loopback address may publish.
   */
  publishToken?: string;
  /**
   * The largest body `POST /publish` accepts, in bytes (larger ones get
   * 413), and the largest `data` of a client's publish message, as JSON.
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
  /**
   * The most bytes of one chat message (text as UTF-8, or binary); a longer
   * one is refused with an error event to its sender.
   *
   * @default {16384}
   */
  maxChatBytes?: number;
  /**
   * Topic patterns (`room:*`, `news`, `*`) a socket without an identity may
   * publish to with `{"type":"publish",…}`. A socket with one (from
   * `jwtAuthorizer`) publishes where its token's `publish` claim allows.
   *
   * @default {["room:*"]}
   */
  anonymousPublish?: readonly string[];
  /**
   * Topic patterns with presence: their subscribers get `join` and `leave`
   * events and, on subscribing, who is there (`{"type":"presence",…}`).
   *
   * @default {["room:*"]}
   */
  presence?: readonly string[];
  /**
   * Where presence lives: a `RedisPresence` (on the same Redis as the
   * engine) to share it between nodes.
   *
   * @default {a MemoryPresence: this node only}
   */
  presenceStore?: PresenceStore;
  /**
   * The bearer key of the server API (`/api/disconnect`, `/api/unsubscribe`,
   * `/api/presence`, `/api/topics`); without one the API answers 404.
   */
  apiKey?: string;
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
  /**
   * Closes every socket of a user, on every node, with 4403 and a reason.
   *
   * @param user The user (a token's `sub`).
   * @param reason The close reason.
   * @returns How many sockets were closed (summed over the nodes that
   * answered within 2 s).
   */
  disconnect(user: string, reason?: string): Promise<number>;
  /**
   * Unsubscribes every socket of a user from a topic, on every node.
   *
   * @param user The user.
   * @param topic The topic.
   * @returns How many sockets were unsubscribed.
   */
  unsubscribe(user: string, topic: string): Promise<number>;
  /**
   * Who is subscribed to a topic with presence, on every node.
   *
   * @param topic The topic.
   * @returns The clients, with their users and info.
   */
  presence(topic: string): Promise<PresenceEntry[]>;
}

/**
 * Starts the push server: `POST /publish` feeds topics (with ids and
 * history); clients that name topics in their URL subscribe to them (and
 * resume with `since`); clients that name none are in the chat room, exactly
 * as with {@linkcode serveChat}. `GET /events?topic=news` (the
 * `eventStream` option) streams the same events as Server-Sent Events.
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
 * const token = Deno.env.get("PUSHWIRE_TOKEN") ?? crypto.randomUUID();
 * const push = servePush({ port: 8080, publishToken: token });
 * // curl -H "Authorization: Bearer $PUSHWIRE_TOKEN" -H "Content-Type: text/plain" \
 * //   -d 'hello' 'localhost:8080/publish?topic=news'
 * push.publish("news", { type: "json", value: { headline: "pushwire 1.0" } });
 * ```
 *
 * @param options Where to listen, limits, access, history and publishing.
 * @returns The running push server.
 */
export function servePush(options: ServePushOptions = {}): PushServer {
  const logger = options.logger ?? SILENT;
  const store = options.presenceStore ?? new MemoryPresence();
  const hub = new PushHub({
    ...options,
    subscribers: (topic) => server.topics.subscribers(topic),
    internal: (message) => {
      if (message.topic === ROOM_TOPIC) receiveRoom(room, message);
      presence.relay.receive(message);
      control.receive(message);
    },
  });
  const shared = hub.engine.shared;
  const clientId = (socket: Socket) => shared ? `${store.node}.${socket.id}` : socket.id;
  const room = new Room({ idOf: clientId });
  const presence = pushPresence({
    store,
    engine: hub.engine,
    server: () => server,
    room,
    topics: new TopicGrant(options.presence ?? DEFAULTS.presence),
    clientId,
    logger,
  });
  const session = pushSession(options, hub, room, clientId, presence.hooks);
  const control = new ClusterControl({
    engine: hub.engine,
    node: store.node,
    nodes: () => store.nodes(),
    local: localControl(() => server, hub, session.users, presence.hooks),
    logger,
  });
  const server: Server = serve({
    page: CHAT_PAGE,
    eventStream: DEFAULTS.eventStreamPath,
    ...clientRate(options),
    ...options,
    routes: { ...pushRoutes(options, hub, control, presence.relay, store), ...options.routes },
    authorize: (request, info) =>
      authorizeUpgrade(request, info, options, session.maxSubscriptions),
  }, (socket) => attend(socket, server, session));
  server.metrics.register(() => [...room.metrics(), ...hub.metrics()]);
  server.finished
    .then(() => presence.relay.close())
    .catch((error) => logger.warn("presence-close-failed", { error }))
    .finally(() => hub.close());
  const ready = open(hub, store, shared).then(() => shared ? presence.loadRoom() : undefined);
  ready.catch(() => {}); // Reported to whoever awaits it.
  return {
    server,
    hub,
    ready,
    publish: (topic, publication) => hub.publish(topic, publication),
    push: (text) => {
      if (!shared) return room.say("server", text);
      session.chat("server", text).catch((error) => logger.warn("push-failed", { error }));
      return 0;
    },
    disconnect: (user, reason = DEFAULT_DISCONNECT_REASON) => control.disconnect(user, reason),
    unsubscribe: (user, topic) => control.unsubscribe(user, topic),
    presence: (topic) => presenceOf(presence.relay, store, topic),
  };
}

/** `POST /publish`, the server API's routes and the client at `/client.js`. */
function pushRoutes(
  options: ServePushOptions,
  hub: PushHub,
  control: ClusterControl,
  relay: PresenceRelay,
  store: PresenceStore,
): HttpRoutes {
  return {
    ...CHAT_PAGE_ROUTES,
    "/publish": publishRoute({
      ...(options.publishToken === undefined ? {} : { token: options.publishToken }),
      ...(options.origins === undefined ? {} : { origins: [...options.origins] }),
      maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      publish: (topic, publication, context) =>
        hub.publish(topic, publication, context).catch(publishRefusal),
    }),
    ...apiRoutes({
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      control,
      presence: (topic) => presenceOf(relay, store, topic),
    }),
  };
}

/** What every socket of a push server shares: the hub, the room, the rules. */
function pushSession(
  options: ServePushOptions,
  hub: PushHub,
  room: Room,
  clientId: (socket: Socket) => string,
  presence: PresenceHooks,
): PushSession {
  return {
    hub,
    room,
    chat: hub.engine.shared ? engineRelay(hub.engine) : localRelay(room),
    maxSubscriptions: options.maxSubscriptions ?? DEFAULTS.maxSubscriptions,
    maxChatBytes: options.maxChatBytes ?? DEFAULTS.maxChatBytes,
    maxPublishBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    anonymousPublish: new TopicGrant(options.anonymousPublish ?? DEFAULTS.anonymousPublish),
    users: new UserIndex(),
    clientId,
    presence,
    ...(options.allowTopic === undefined ? {} : { allowTopic: options.allowTopic }),
    ...(isJwtAuthorizer(options.authorize) ? { verify: options.authorize.verify } : {}),
  };
}

/**
 * Opens the engine and the presence store; with a shared engine, watches
 * the internal topics (the room, presence, the server API's requests).
 */
async function open(hub: PushHub, store: PresenceStore, shared: boolean): Promise<void> {
  if (shared) await hub.engine.open();
  await store.open();
  if (!shared) return;
  for (const topic of [ROOM_TOPIC, PRESENCE_TOPIC, CONTROL_TOPIC]) await hub.engine.watch(topic);
}

/** Who is in a topic with presence; 400 for a bad name, 404 for a topic without presence. */
function presenceOf(
  relay: PresenceRelay,
  store: PresenceStore,
  topic: string,
): Promise<PresenceEntry[]> {
  try {
    validateTopic(topic);
  } catch (error) {
    return Promise.reject(new HttpError(400, (error as Error).message));
  }
  if (!relay.tracks(topic)) {
    return Promise.reject(new HttpError(404, `Topic "${topic}" has no presence`));
  }
  return store.list(topic);
}

/**
 * The answer to a publish the hub refused: 400 for a bad topic or key, and
 * 503 (retry in a second) when the engine is away, saying whether the
 * message may have been published all the same (retry with the same
 * `Idempotency-Key` to publish it once).
 */
function publishRefusal(error: unknown): never {
  if (error instanceof TypeError) throw new HttpError(400, error.message);
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EngineUnavailableError && error.outcomeUnknown) {
    throw new HttpError(
      503,
      `Outcome unknown: the message may have been published (${message}); ` +
        "retry with the same Idempotency-Key to publish it once",
      { "Retry-After": "1" },
    );
  }
  throw new HttpError(503, `Cannot publish: ${message}`, { "Retry-After": "1" });
}
