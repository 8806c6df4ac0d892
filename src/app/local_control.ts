/**
 * What the server API does on this node: close a user's sockets, take a
 * user's sockets out of a topic, count each topic's subscribers.
 *
 * @module
 */

import type { Server } from "../server/server.ts";
import { sendEvent } from "../push/events.ts";
import type { PushHub } from "../push/hub.ts";
import type { LocalControl } from "./cluster_control.ts";
import type { PresenceHooks } from "./session.ts";
import { PUSH_CLOSE_CODE } from "./token_clock.ts";
import type { UserIndex } from "./users.ts";

/**
 * The server API's operations on this node's sockets.
 *
 * @param server The server (its topics).
 * @param hub The hub (to unsubscribe).
 * @param users The sockets by user.
 * @param presence The presence hooks, to announce a leave.
 * @returns The local operations.
 */
export function localControl(
  server: () => Server,
  hub: PushHub,
  users: UserIndex,
  presence: PresenceHooks,
): LocalControl {
  return {
    disconnect: (user, reason) => {
      const sockets = [...users.socketsOf(user)].filter((socket) => socket.state === "open");
      for (const socket of sockets) socket.close(PUSH_CLOSE_CODE.Disconnected, reason);
      return sockets.length;
    },
    unsubscribe: (user, topic) => {
      let count = 0;
      for (const socket of users.socketsOf(user)) {
        presence.exit(socket, topic);
        if (!hub.unsubscribe(socket, topic)) continue;
        sendEvent(socket, { type: "unsubscribed", topic, reason: "server" });
        count++;
      }
      return count;
    },
    topics: () => {
      const { topics } = server();
      return new Map([...topics.names()].map((topic) => [topic, topics.count(topic)]));
    },
  };
}
