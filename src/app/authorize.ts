/**
 * Who may open a push socket, and to which topics: the check the push
 * server runs on every upgrade request before it answers 101.
 *
 * @module
 */

import type { UpgradeRequest } from "../protocol/handshake.ts";
import type { Authorization, Authorize, AuthorizeInfo } from "../server/options.ts";
import { Identity } from "../auth/identity.ts";
import { requestSubscriptions } from "../push/subscriptions.ts";
import { nicknameOf } from "../chat/nickname.ts";

/** The application's rules for upgrades and topics. */
export interface TopicAccess {
  /** Decides whether an upgrade is accepted, and attaches `data` to it. */
  authorize?: Authorize;
  /**
   * Whether a client may subscribe to a topic; `data` is what `authorize`
   * attached.
   */
  allowTopic?: (topic: string, request: UpgradeRequest, data: unknown) => boolean;
}

/**
 * Decides an upgrade (or an event stream) of the push server: the URL's
 * topics, `since` and `name` must parse, and an event stream's
 * `Last-Event-ID` (else 400), the application's `authorize` hook must
 * accept, and the identity it attached (when it is an `Identity`) and its
 * `allowTopic` rule must allow every topic in the URL (else 403).
 *
 * @param request The upgrade request.
 * @param info Where it comes from.
 * @param options The application's hook and topic rule.
 * @param maxSubscriptions The most topics one socket may name.
 * @returns The answer, with what the hook attached as `data`.
 */
export async function authorizeUpgrade(
  request: UpgradeRequest,
  info: AuthorizeInfo,
  options: TopicAccess,
  maxSubscriptions: number,
): Promise<Authorization> {
  let topics: string[];
  try {
    topics = requestSubscriptions(request, info.wire, maxSubscriptions).topics;
    nicknameOf(request.query);
  } catch (error) {
    return { accept: false, status: 400, message: (error as Error).message };
  }
  let data: unknown;
  if (options.authorize !== undefined) {
    const answer = await options.authorize(request, info);
    if (!answer.accept) return answer;
    data = answer.data;
  }
  const grant = data instanceof Identity ? data.subscribe : undefined;
  const refused = topics.find((topic) =>
    grant?.allows(topic) === false || options.allowTopic?.(topic, request, data) === false
  );
  if (refused !== undefined) {
    return { accept: false, status: 403, message: `Not allowed to subscribe to "${refused}"` };
  }
  return data === undefined ? { accept: true } : { accept: true, data };
}
