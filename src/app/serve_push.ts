/**
 * The push server, wired: a server ({@linkcode serve}) with the chat page,
 * `POST /publish` feeding the hub's topics, clients that name topics
 * subscribed to them, and clients that name none in the chat room. It is
 * what the `pushwire` CLI runs.
 *
 * @module
 */

import { CHAT_PAGE } from "../chat/page.ts";
import { Room } from "../chat/room.ts";
import { clientRate, DEFAULTS } from "../defaults.ts";
import { HttpError } from "../protocol/errors.ts";
import { EngineUnavailableError } from "../push/engine.ts";
import { SILENT } from "../server/log.ts";
import type { UpgradeRequest } from "../protocol/handshake.ts";
import { serve, type Server } from "../server/server.ts";
import type { ServeOptions } from "../server/options.ts";
import { PushHub, type PushHubOptions } from "../push/hub.ts";
import { type Publication, type PublishResult, publishRoute } from "../push/publish.ts";
import { TopicGrant } from "../auth/grants.ts";
import { isJwtAuthorizer } from "../auth/jwt.ts";
import { authorizeUpgrade } from "./authorize.ts";
import { engineRelay, localRelay, receiveRoom, ROOM_TOPIC } from "./room_relay.ts";
import { attend, type PushSession } from "./session.ts";
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
  const room = new Room();
  const logger = options.logger ?? SILENT;
  const hub = new PushHub({
    ...options,
    subscribers: (topic) => server.topics.subscribers(topic),
    internal: (message) => {
      if (message.topic === ROOM_TOPIC) receiveRoom(room, message);
    },
  });
  const shared = hub.engine.shared;
  const maxSubscriptions = options.maxSubscriptions ?? DEFAULTS.maxSubscriptions;
  const session: PushSession = {
    hub,
    room,
    chat: shared ? engineRelay(hub.engine) : localRelay(room),
    maxSubscriptions,
    maxChatBytes: options.maxChatBytes ?? DEFAULTS.maxChatBytes,
    maxPublishBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    anonymousPublish: new TopicGrant(options.anonymousPublish ?? DEFAULTS.anonymousPublish),
    users: new UserIndex(),
    clientId: (socket) => socket.id,
    ...(options.allowTopic === undefined ? {} : { allowTopic: options.allowTopic }),
    ...(isJwtAuthorizer(options.authorize) ? { verify: options.authorize.verify } : {}),
  };
  const server: Server = serve({
    page: CHAT_PAGE,
    ...clientRate(options),
    ...options,
    routes: {
      "/publish": publishRoute({
        ...(options.publishToken === undefined ? {} : { token: options.publishToken }),
        ...(options.origins === undefined ? {} : { origins: [...options.origins] }),
        maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
        publish: (topic, publication, context) =>
          hub.publish(topic, publication, context).catch(publishRefusal),
      }),
      ...options.routes,
    },
    authorize: (request, info) => authorizeUpgrade(request, info, options, maxSubscriptions),
  }, (socket) => attend(socket, server, session));
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
      session.chat("server", text).catch((error) => logger.warn("push-failed", { error }));
      return 0;
    },
  };
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
