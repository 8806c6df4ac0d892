/**
 * What a socket may do besides subscribing: publish to a topic its grant
 * allows (with the same ids, history and resume as an HTTP publish, and its
 * sender stamped by the server), and replace its token with a fresh one
 * before it expires.
 *
 * @module
 */

import type { Socket } from "../server/socket.ts";
import { type Sender, sendEvent } from "../push/events.ts";
import type { ControlMessage } from "../push/subscriptions.ts";
import { fail, type PushSession } from "./session.ts";
import type { TokenClock } from "./token_clock.ts";

const encoder = new TextEncoder();

/**
 * Publishes a socket's message to a topic, as its grant allows, and answers
 * `published` with the message's id (or `error`), echoing its `ref`.
 *
 * @param socket The sender.
 * @param session The hub and the rules.
 * @param message The publish control message.
 */
export function publishFrom(
  socket: Socket,
  session: PushSession,
  message: Extract<ControlMessage, { type: "publish" }>,
): void {
  const { topic, data, ref } = message;
  const identity = session.users.get(socket);
  if (identity === undefined || !identity.publish.allows(topic)) {
    return fail(socket, `Not allowed to publish to "${topic}"`, ref);
  }
  const json = JSON.stringify(data) ?? "null";
  // A UTF-16 code unit is at most 3 bytes of UTF-8: encode only when that can matter.
  const max = session.maxPublishBytes;
  if (json.length > max || (json.length * 3 > max && encoder.encode(json).length > max)) {
    return fail(socket, `Cannot publish: data larger than ${max} bytes`, ref);
  }
  const from: Sender = { client: session.clientId(socket) };
  if (identity.user !== undefined) from.user = identity.user;
  if (identity.name !== undefined) from.name = identity.name;
  session.hub.publish(topic, { type: "json", value: data }, { from }).then(
    ({ id }) =>
      sendEvent(
        socket,
        ref === undefined
          ? { type: "published", topic, id }
          : { type: "published", topic, id, ref },
      ),
    (error) => fail(socket, `Cannot publish: ${(error as Error).message}`, ref),
  );
}

// Sockets whose fresh token is being verified: one at a time per socket, so
// that a flood of renewals costs one verification (not one per message) and
// renewals take effect in the order they were sent.
const renewing = new WeakSet<Socket>();

/**
 * Replaces a socket's identity with a fresh token's: it must be the same
 * user; topics the new token no longer grants are left (`unsubscribed`
 * with reason `grant`), and the expiry clock starts over. A token sent while
 * the socket's previous one is still being verified is refused.
 *
 * @param socket The socket.
 * @param session The verifier and the users.
 * @param token The fresh token.
 * @param clock The socket's expiry clock.
 */
export function renewToken(
  socket: Socket,
  session: PushSession,
  token: string,
  clock: TokenClock,
): void {
  const { verify, users } = session;
  if (verify === undefined) return fail(socket, "Cannot renew: this server does not use tokens");
  if (renewing.has(socket)) {
    return fail(socket, "Cannot renew: the previous token is being checked");
  }
  renewing.add(socket);
  verify(token).finally(() => renewing.delete(socket)).then((identity) => {
    const before = users.get(socket);
    if (before === undefined || socket.state !== "open") return;
    if (identity.user !== before.user) {
      return fail(socket, "Cannot renew: the fresh token is for another user");
    }
    users.set(socket, identity);
    clock.renew(identity.expiresAt);
    for (const topic of session.hub.topicsOf(socket)) {
      if (identity.subscribe.allows(topic)) continue;
      session.presence?.exit(socket, topic);
      session.hub.unsubscribe(socket, topic);
      sendEvent(socket, { type: "unsubscribed", topic, reason: "grant" });
    }
    sendEvent(socket, { type: "token", expires: identity.expiresAt ?? null });
  }, (error) => fail(socket, `Cannot renew: ${(error as Error).message}`));
}
