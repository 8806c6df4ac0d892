/**
 * Presence on the push server, wired: the relay over the store and the
 * engine, the session's hooks (a socket entering a presence topic is
 * stored, announced, and sent the topic's snapshot), and the default chat
 * room's members on other nodes (through the same relay, under the
 * internal topic {@linkcode ROOM_TOPIC}).
 *
 * @module
 */

import type { Room } from "../chat/room.ts";
import type { Engine } from "../push/engine.ts";
import type { PresenceEntry, PresenceStore } from "../push/presence.ts";
import type { Logger } from "../server/log.ts";
import type { Server } from "../server/server.ts";
import type { Socket } from "../server/socket.ts";
import type { TopicGrant } from "../auth/grants.ts";
import type { Identity } from "../auth/identity.ts";
import { parsePresenceEvent } from "./presence_events.ts";
import { PresenceRelay } from "./presence_relay.ts";
import { ROOM_TOPIC } from "./room_relay.ts";
import type { PresenceHooks } from "./session.ts";

/** What {@linkcode pushPresence} wires together. */
export interface PushPresenceOptions {
  /** Where entries live. */
  store: PresenceStore;
  /** The hub's engine. */
  engine: Engine;
  /** The server, whose subscribers get the events. */
  server: () => Server;
  /** This node's chat room. */
  room: Room;
  /** The topics with presence. */
  topics: TopicGrant;
  /** A socket's id as other clients see it. */
  clientId: (socket: Socket) => string;
  /** Where failures are logged. */
  logger: Logger;
}

/** The relay and the session's hooks. */
export interface PushPresence {
  /** The relay: `receive` takes the engine's `#presence` messages. */
  relay: PresenceRelay;
  /** What the session calls as sockets enter and leave topics. */
  hooks: PresenceHooks;
  /**
   * Learns the room's members on other nodes (at start, with a shared
   * engine).
   */
  loadRoom(): Promise<void>;
}

/**
 * Wires presence for a push server.
 *
 * @param options The store, engine, server, room, topics and ids.
 * @returns The relay and the hooks.
 */
export function pushPresence(options: PushPresenceOptions): PushPresence {
  const { store, room, clientId, logger } = options;
  const relay = new PresenceRelay({
    store,
    engine: options.engine,
    logger,
    topics: (topic) => topic === ROOM_TOPIC || options.topics.allows(topic),
    deliver: (topic, json) => {
      if (topic === ROOM_TOPIC) roomEvent(room, json);
      else options.server().topics.broadcast(topic, json);
    },
  });
  const failed = (what: string) => (error: unknown) => logger.warn(what, { error });
  const enter = (socket: Socket, topic: string, identity: Identity) => {
    const client = clientId(socket);
    relay.enter(topic, entryOf(client, identity)).catch(failed("presence-enter-failed"));
    if (topic === ROOM_TOPIC) return;
    relay.snapshot(topic, client).then((json) => {
      if (socket.topics.has(topic)) socket.send(json);
    }, failed("presence-snapshot-failed"));
  };
  const hooks: PresenceHooks = {
    enter: (socket, topic, identity) => {
      if (relay.tracks(topic)) enter(socket, topic, identity);
    },
    exit: (socket, topic) => {
      relay.exit(topic, clientId(socket)).catch(failed("presence-exit-failed"));
    },
    exitAll: (socket) => {
      relay.exitAll(clientId(socket)).catch(failed("presence-exit-failed"));
    },
  };
  const loadRoom = async () => {
    for (const entry of await store.list(ROOM_TOPIC)) room.joinRemote(entry.client, nameOf(entry));
  };
  return { relay, hooks, loadRoom };
}

/** A socket's presence entry: its client id, user and info. */
function entryOf(client: string, identity: Identity): PresenceEntry {
  const entry: PresenceEntry = { client };
  if (identity.user !== undefined) entry.user = identity.user;
  if (identity.info !== undefined) entry.info = identity.info;
  return entry;
}

/** The name to show for an entry: `info.name`, else its user. */
function nameOf(entry: PresenceEntry): string | undefined {
  const name = (entry.info as { name?: unknown } | null | undefined)?.name;
  return typeof name === "string" && name.length <= 64 ? name : entry.user;
}

/** A join or leave of the chat room, from any node, for this node's room. */
function roomEvent(room: Room, json: string): void {
  const event = parsePresenceEvent(json);
  if (event?.type === "join") room.joinRemote(event.client, nameOf(event));
  else if (event?.type === "leave") room.leaveRemote(event.client);
}
