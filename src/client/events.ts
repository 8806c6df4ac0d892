/**
 * What a push server sends, as the client reads it: the JSON events of
 * docs/push-api.md and docs/presence-and-api.md, told apart by `type`, and
 * the chat room's envelopes (docs/chat.md, `room_events.ts`). The
 * client imports nothing from the server (it runs in browsers), so these
 * types repeat the server's, reduced to what a client needs; {@linkcode parseServerEvent} checks each event's
 * shape before the client trusts it.
 *
 * @module
 */

import { type RoomEvent, roomEventOf } from "./room_events.ts";

/** Who published a message from a socket; the server sets it. */
export interface Sender {
  /** The publishing connection's client id. */
  client: string;
  /** Its user (a token's `sub`), when it has one. */
  user?: string;
  /** The name to show, when it has one. */
  name?: string;
}

/** A message of a topic, as a subscription yields it. */
export interface Publication {
  /** The topic. */
  topic: string;
  /** Its id, `<epoch>:<seq>`: where to resume after it. */
  id: string;
  /** When it was published, in milliseconds since the epoch. */
  time: number;
  /** Text as a string, JSON as its value, bytes as base64 (see `encoding`). */
  data: unknown;
  /** `"base64"` when `data` holds bytes. */
  encoding?: "base64";
  /** Who published it from a socket; absent for a server publish. */
  from?: Sender;
}

/** Messages of a topic were missed and cannot all be replayed. */
export interface GapDetail {
  /** The topic. */
  topic: string;
  /** The id the client resumed from. */
  since: string;
  /**
   * `restart` (the id is from an earlier server run), `expired` (messages
   * left the window) or `unknown` (an id the server never assigned).
   */
  reason: string;
}

/** A subscription is live: everything after `last` arrives as published. */
export interface SubscribedDetail {
  /** The topic. */
  topic: string;
  /** The topic's latest id (`<epoch>:0` before its first message). */
  last: string;
}

/** The server left a topic for the client. */
export interface UnsubscribedDetail {
  /** The topic. */
  topic: string;
  /** `"server"` (the application's API) or `"grant"` (a fresh token no longer grants it). */
  reason: string;
}

/** A client present in a topic. */
export interface PresenceClient {
  /** The connection's id, unique across nodes. */
  client: string;
  /** Its user, when it has one. */
  user?: string;
  /** The user's public info, when it has some. */
  info?: unknown;
}

/** Who is in a topic with presence, sent once as the subscription goes live. */
export interface PresenceDetail {
  /** The topic. */
  topic: string;
  /** This connection's own client id, to find itself in `clients`. */
  you?: string;
  /** The clients present. */
  clients: PresenceClient[];
}

/** A client joined a topic with presence. */
export interface JoinDetail extends PresenceClient {
  /** The topic. */
  topic: string;
}

/** A client left a topic with presence (`info` is absent). */
export interface LeaveDetail extends PresenceClient {
  /** The topic. */
  topic: string;
}

/** Every event the client handles, as received; `type` tells them apart. */
export type ServerEvent =
  | ({ type: "publication" } & Publication)
  | ({ type: "subscribed" } & SubscribedDetail)
  | ({ type: "gap" } & GapDetail)
  | { type: "unsubscribed"; topic: string; reason?: string }
  | { type: "published"; topic: string; id: string; ref?: string | number }
  | { type: "error"; message: string; ref?: string | number }
  | { type: "expiring"; expires: number }
  | { type: "token"; expires: number | null }
  | ({ type: "presence" } & PresenceDetail)
  | ({ type: "join" } & JoinDetail)
  | ({ type: "leave" } & LeaveDetail)
  | { type: "room"; event: RoomEvent };

type Field = "string" | "number" | "array";

/** The fields each event must have, and their types (the room's are checked apart). */
const SHAPES: Readonly<
  Record<Exclude<ServerEvent["type"], "room">, Readonly<Record<string, Field>>>
> = {
  publication: { topic: "string", id: "string", time: "number" },
  subscribed: { topic: "string", last: "string" },
  gap: { topic: "string", since: "string", reason: "string" },
  unsubscribed: { topic: "string" },
  published: { topic: "string", id: "string" },
  error: { message: "string" },
  expiring: { expires: "number" },
  token: {},
  presence: { topic: "string", clients: "array" },
  join: { topic: "string", client: "string" },
  leave: { topic: "string", client: "string" },
};

/**
 * Reads one event sent by the server. The chat room's envelopes come back
 * as `{ type: "room", event }`. Anything else (an event type this client
 * does not know, a field of the wrong type, malformed JSON) is not an event
 * for the client.
 *
 * @example
 * ```ts
 * import { parseServerEvent } from "./events.ts";
 *
 * console.log(parseServerEvent('{"type":"subscribed","topic":"news","last":"e1:0"}'));
 * // { type: "subscribed", topic: "news", last: "e1:0" }
 * console.log(parseServerEvent('{"type":"join","id":"7","time":0,"peers":2}'));
 * // { type: "room", event: { type: "join", id: "7", time: 0, peers: 2 } }
 * console.log(parseServerEvent('{"type":"join","topic":"room:1"}')); // undefined: no client
 * ```
 *
 * @param text A text message or an SSE event's data.
 * @returns The event, or `undefined`.
 */
export function parseServerEvent(text: string): ServerEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const fields = value as Record<string, unknown>;
  const room = roomEventOf(fields);
  if (room !== undefined) return { type: "room", event: room };
  const type = fields.type;
  if (typeof type !== "string" || !Object.hasOwn(SHAPES, type)) return undefined;
  const shape = SHAPES[type as keyof typeof SHAPES];
  for (const [name, kind] of Object.entries(shape)) {
    const field = fields[name];
    const ok = kind === "array"
      ? Array.isArray(field)
      : kind === "number"
      ? typeof field === "number"
      : typeof field === "string";
    if (!ok) return undefined;
  }
  return fields as ServerEvent;
}

/**
 * The publication a subscription yields: the event without its `type`.
 *
 * @param event A publication event.
 * @returns The publication.
 */
export function publicationOf(event: { type: "publication" } & Publication): Publication {
  const publication: Publication = {
    topic: event.topic,
    id: event.id,
    time: event.time,
    data: event.data,
  };
  if (event.encoding === "base64") publication.encoding = "base64";
  if (typeof event.from === "object" && event.from !== null) publication.from = event.from;
  return publication;
}
