/**
 * The identities of this node's sockets, and their sockets by user: what the
 * server API acts on (disconnect a user, unsubscribe a user from a topic).
 *
 * @module
 */

import type { Identity } from "../auth/identity.ts";
import type { Socket } from "../server/socket.ts";

/**
 * Each open socket's identity, and the sockets of each user.
 *
 * @example
 * ```ts ignore
 * const users = new UserIndex();
 * users.set(socket, new Identity({ user: "alice" }));
 * console.log(users.socketsOf("alice").size); // 1
 * ```
 */
export class UserIndex {
  readonly #identities = new Map<Socket, Identity>();
  readonly #byUser = new Map<string, Set<Socket>>();

  /** How many users have a socket open. */
  get size(): number {
    return this.#byUser.size;
  }

  /**
   * Sets a socket's identity (again, after a fresh token: for the same user).
   *
   * @param socket An open socket.
   * @param identity Its identity.
   */
  set(socket: Socket, identity: Identity): void {
    const before = this.#identities.get(socket);
    if (before?.user !== undefined && before.user !== identity.user) this.#forget(socket, before);
    this.#identities.set(socket, identity);
    if (identity.user === undefined) return;
    let sockets = this.#byUser.get(identity.user);
    if (sockets === undefined) this.#byUser.set(identity.user, sockets = new Set());
    sockets.add(socket);
  }

  /**
   * A socket's identity.
   *
   * @param socket A socket.
   * @returns Its identity, or `undefined` once it was deleted.
   */
  get(socket: Socket): Identity | undefined {
    return this.#identities.get(socket);
  }

  /**
   * Forgets a closed socket.
   *
   * @param socket The socket.
   */
  delete(socket: Socket): void {
    const identity = this.#identities.get(socket);
    if (identity === undefined) return;
    this.#identities.delete(socket);
    this.#forget(socket, identity);
  }

  /**
   * The open sockets of a user on this node.
   *
   * @param user A user (a token's `sub`).
   * @returns Its sockets (empty for none).
   */
  socketsOf(user: string): ReadonlySet<Socket> {
    return this.#byUser.get(user) ?? NO_SOCKETS;
  }

  #forget(socket: Socket, identity: Identity): void {
    if (identity.user === undefined) return;
    const sockets = this.#byUser.get(identity.user);
    sockets?.delete(socket);
    if (sockets?.size === 0) this.#byUser.delete(identity.user);
  }
}

const NO_SOCKETS: ReadonlySet<Socket> = new Set();
