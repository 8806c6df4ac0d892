/**
 * A socket's identity on the push server: the one its `authorize` hook
 * attached (a token's, from `jwtAuthorizer`), or an anonymous one that may
 * subscribe to every topic (as the application's `allowTopic` allows),
 * publish where the server lets anonymous clients publish, and be shown by
 * the nickname in its URL (`?name=`).
 *
 * @module
 */

import { TopicGrant } from "../auth/grants.ts";
import { Identity } from "../auth/identity.ts";
import { nicknameOf } from "../chat/nickname.ts";
import type { Socket } from "../server/socket.ts";

/**
 * The identity of a socket.
 *
 * @param socket The socket.
 * @param data What its `authorize` hook attached.
 * @param anonymousPublish What a socket without an identity may publish to.
 * @returns The attached identity, or an anonymous one.
 */
export function identityOf(socket: Socket, data: unknown, anonymousPublish: TopicGrant): Identity {
  if (data instanceof Identity) return data;
  let name: string | undefined;
  try {
    name = nicknameOf(socket.request.query);
  } catch {
    name = undefined; // Refused at the handshake already.
  }
  return new Identity({
    subscribe: TopicGrant.ALL,
    publish: anonymousPublish,
    ...(name === undefined ? {} : { info: { name } }),
  });
}
