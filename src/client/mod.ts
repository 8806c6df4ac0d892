/**
 * The pushwire client, for browsers, Deno, Node ≥ 22 and Bun: it uses the
 * platform's `WebSocket` and `fetch` only, and has no dependencies. A push
 * server also serves it to browsers as a plain ES module at `/client.js`.
 *
 * - Subscriptions are async iterables of publications, in id order, each
 *   once: the client reconnects by itself (exponential backoff with full
 *   jitter) and resumes every topic from its last id.
 * - What could not be replayed is told, as a `gap` event; connection states,
 *   presence and errors are events too.
 * - `publish()` answers the message's id; a token function is asked for a
 *   fresh token before the server's deadline.
 * - A WebSocket connection that names no topic is in the server's chat
 *   room: `say()` chats there, and `room` events carry its envelopes.
 * - `transport: "auto"` falls back to SSE (`GET /events`, receive only) when
 *   WebSocket cannot connect.
 *
 * ```html
 * <script type="module">
 *   import { PushClient } from "/client.js";
 *   const client = new PushClient("/");
 *   for await (const publication of client.subscribe("news")) console.log(publication.data);
 * </script>
 * ```
 *
 * @example Subscribe, publish, close
 * ```ts ignore
 * import { PushClient } from "jsr:@pushwire/pushwire/client";
 *
 * const client = new PushClient("wss://push.example.com/", { token: () => fetchToken() });
 * client.addEventListener("state", (event) => console.log(event.detail.state));
 * (async () => {
 *   for await (const publication of client.subscribe("room:1")) {
 *     console.log(publication.id, publication.data);
 *   }
 * })();
 * const { id } = await client.publish("room:1", { text: "hi" });
 * console.log(`published as ${id}`);
 * client.close();
 * ```
 *
 * @example The state, with no network (a `fetch` that never answers)
 * ```ts
 * import { PushClient } from "./mod.ts";
 *
 * const client = new PushClient("ws://localhost:8080/", { transport: "sse", fetch: () => new Promise(() => {}) });
 * console.log(client.state, client.transport); // "connecting" "sse"
 * client.close();
 * console.log(client.state); // "closed"
 * ```
 *
 * @module
 */

export { PushClient } from "./push_client.ts";
export { PushClientEventTarget } from "./client_events.ts";
export { PublishError } from "./publishes.ts";
export type { PublishResult } from "./publishes.ts";
export type { Subscription } from "./subscription.ts";
export type { BackoffOptions } from "./backoff.ts";
export type {
  ClientState,
  CloseDetail,
  ErrorDetail,
  ExpiringDetail,
  PushClientEventMap,
  PushClientOptions,
  StateDetail,
  TokenSource,
} from "./options.ts";
export type {
  GapDetail,
  JoinDetail,
  LeaveDetail,
  PresenceClient,
  PresenceDetail,
  Publication,
  Sender,
  SubscribedDetail,
  UnsubscribedDetail,
} from "./events.ts";
export type {
  RoomBinaryMessage,
  RoomEvent,
  RoomMember,
  RoomMessage,
  RoomPresence,
  RoomWelcome,
} from "./room_events.ts";
export type {
  FetchFunction,
  TransportKind,
  WebSocketConstructor,
  WebSocketLike,
} from "./transport.ts";
