/**
 * The presence events a subscriber of a topic with presence receives, as
 * JSON in a text frame, told apart by `type` like the push events:
 *
 * ```text
 * → {"type":"presence","topic":"room:1","clients":[{"client":"a1.7","user":"ada","info":{"name":"Ada"}}]}
 * → {"type":"join","topic":"room:1","client":"b2.3","user":"bob","info":{"name":"Bob"}}
 * → {"type":"leave","topic":"room:1","client":"b2.3","user":"bob"}
 * ```
 *
 * `presence` is the snapshot of who is there (on every node), sent once as
 * a socket subscribes; `join` and `leave` follow as clients come and go.
 * `user` and `info` are absent for a client without an identity. The same
 * `join` and `leave` JSON travels between nodes (the engine topic
 * `#presence`), so {@linkcode parsePresenceEvent} reads what another node
 * sent, and ignores anything else.
 *
 * @example
 * ```ts
 * import { encodePresenceEvent, joinEvent, parsePresenceEvent } from "./presence_events.ts";
 *
 * const json = encodePresenceEvent(joinEvent("room:1", { client: "a1.7", user: "ada" }));
 * console.log(json); // {"type":"join","topic":"room:1","client":"a1.7","user":"ada"}
 * console.log(parsePresenceEvent(json)?.type); // "join"
 * console.log(parsePresenceEvent('{"type":"join"}')); // undefined
 * ```
 *
 * @module
 */

import { PRESENCE_LIST_LIMIT, type PresenceEntry, presenceEntry } from "../push/presence.ts";
import { isInternalTopic } from "../push/hub.ts";
import { validateTopic } from "../server/topics.ts";

/** A client subscribed to a topic with presence. */
export interface PresenceJoinEvent {
  /** Always `"join"`. */
  type: "join";
  /** The topic. */
  topic: string;
  /** The client's id, unique across nodes. */
  client: string;
  /** The user it authenticated as, if any. */
  user?: string;
  /** The user's public info, if any. */
  info?: unknown;
}

/** A client left a topic with presence: it unsubscribed, was closed, or its node died. */
export interface PresenceLeaveEvent {
  /** Always `"leave"`. */
  type: "leave";
  /** The topic. */
  topic: string;
  /** The client's id. */
  client: string;
  /** The user it authenticated as, if any. */
  user?: string;
}

/** Who is in a topic, on every node: sent to a socket as it subscribes. */
export interface PresenceSnapshotEvent {
  /** Always `"presence"`. */
  type: "presence";
  /** The topic. */
  topic: string;
  /** The clients present (at most the store's list limit, 1000 by default). */
  clients: PresenceEntry[];
  /** The client id of the socket it is sent to, to tell itself in the list. */
  you?: string;
}

/**
 * Every presence event; `type` tells them apart.
 *
 * @example
 * ```ts
 * import type { PresenceEvent } from "./presence_events.ts";
 *
 * const here = new Map<string, string | undefined>();
 * function receive(event: PresenceEvent): void {
 *   if (event.type === "presence") for (const c of event.clients) here.set(c.client, c.user);
 *   else if (event.type === "join") here.set(event.client, event.user);
 *   else here.delete(event.client);
 * }
 * receive({ type: "join", topic: "room:1", client: "a1.7", user: "ada" });
 * console.log(here.size); // 1
 * ```
 */
export type PresenceEvent = PresenceJoinEvent | PresenceLeaveEvent | PresenceSnapshotEvent;

/**
 * The `join` event of an entry.
 *
 * @param topic The topic.
 * @param entry The client, its user and info.
 * @returns The event (absent fields left out).
 */
export function joinEvent(topic: string, entry: PresenceEntry): PresenceJoinEvent {
  return { type: "join", topic, ...fields(entry, true) };
}

/**
 * The `leave` event of an entry: its client and user, not its info.
 *
 * @param topic The topic.
 * @param entry The client and its user.
 * @returns The event (absent fields left out).
 */
export function leaveEvent(topic: string, entry: PresenceEntry): PresenceLeaveEvent {
  return { type: "leave", topic, ...fields(entry, false) };
}

/**
 * The `presence` snapshot of a topic.
 *
 * @example
 * ```ts
 * import { encodePresenceEvent, snapshotEvent } from "./presence_events.ts";
 *
 * console.log(encodePresenceEvent(snapshotEvent("room:1", [{ client: "a1.7" }])));
 * // {"type":"presence","topic":"room:1","clients":[{"client":"a1.7"}]}
 * ```
 *
 * @param topic The topic.
 * @param entries Who is there.
 * @param you The client id of the socket it goes to, if any.
 * @returns The event.
 */
export function snapshotEvent(
  topic: string,
  entries: PresenceEntry[],
  you?: string,
): PresenceSnapshotEvent {
  const event: PresenceSnapshotEvent = {
    type: "presence",
    topic,
    clients: entries.map((entry) => fields(entry, true)),
  };
  if (you !== undefined) event.you = you;
  return event;
}

/**
 * A presence event as the JSON sent to sockets (and between nodes).
 *
 * @param event The event.
 * @returns Its JSON text.
 */
export function encodePresenceEvent(event: PresenceEvent): string {
  return JSON.stringify(event);
}

/**
 * Reads a presence event from JSON: a `join`, `leave` or `presence` with a
 * valid topic name and client ids; anything else is `undefined`. Only the
 * fields of the event are kept.
 *
 * @param json The JSON text.
 * @returns The event, or `undefined` when it is not one.
 */
export function parsePresenceEvent(json: string): PresenceEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { type, topic, clients } = value as Record<string, unknown>;
  if (typeof topic !== "string" || !isTopic(topic)) return undefined;
  if (type === "presence") {
    if (!Array.isArray(clients) || clients.length > PRESENCE_LIST_LIMIT) return undefined;
    const entries = clients.map(presenceEntry);
    if (entries.some((entry) => entry === undefined)) return undefined;
    return snapshotEvent(topic, entries as PresenceEntry[]);
  }
  const entry = presenceEntry(value);
  if (entry === undefined) return undefined;
  if (type === "join") return joinEvent(topic, entry);
  if (type === "leave") return leaveEvent(topic, entry);
  return undefined;
}

/** An entry's client, user and (with `info`) info, absent ones left out. */
function fields(entry: PresenceEntry, info: boolean): PresenceEntry {
  const copy: PresenceEntry = { client: entry.client };
  if (entry.user !== undefined) copy.user = entry.user;
  if (info && entry.info !== undefined) copy.info = entry.info;
  return copy;
}

function isTopic(topic: string): boolean {
  try {
    // An internal topic (the chat room's) is a topic name after its `#`.
    validateTopic(isInternalTopic(topic) ? topic.slice(1) : topic);
    return true;
  } catch {
    return false;
  }
}
