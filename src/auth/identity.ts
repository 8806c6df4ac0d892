/**
 * Who is on a socket, and what they may do: the user (a token's `sub`),
 * public information shown to others (`info`), the topics they may
 * subscribe and publish to, and when their token expires. An `authorize`
 * hook attaches one to a socket as its `data`; the push server reads it.
 *
 * @module
 */

import { TopicGrant } from "./grants.ts";

/** The most bytes of an identity's `info`, as JSON. */
export const MAX_INFO_BYTES = 1024;

/** The longest user name (`sub`), in characters. */
export const MAX_USER_LENGTH = 256;

/** What makes an {@linkcode Identity}. */
export interface IdentityInit {
  /** The user, such as a token's `sub`; absent for an anonymous client. */
  user?: string;
  /** Public JSON about the user (shown in presence), at most 1 KiB. */
  info?: unknown;
  /** The topics the user may subscribe to. @default {none} */
  subscribe?: TopicGrant;
  /** The topics the user may publish to from the socket. @default {none} */
  publish?: TopicGrant;
  /** When the identity's token expires, in milliseconds since the epoch. */
  expiresAt?: number;
}

/**
 * A socket's identity. Give one as the `data` of an `authorize` hook's
 * answer to have the push server apply its grants, show it in presence, and
 * close the socket when it expires.
 *
 * @example
 * ```ts
 * import { Identity } from "./identity.ts";
 * import { TopicGrant } from "./grants.ts";
 *
 * const identity = new Identity({
 *   user: "alice",
 *   info: { name: "Alice" },
 *   subscribe: new TopicGrant(["room:*"]),
 *   publish: new TopicGrant(["room:*"]),
 * });
 * console.log(identity.name, identity.subscribe.allows("room:1")); // "Alice" true
 * ```
 */
export class Identity {
  /** The user; `undefined` for an anonymous client. */
  readonly user: string | undefined;
  /** Public JSON about the user. */
  readonly info: unknown;
  /** The topics the user may subscribe to. */
  readonly subscribe: TopicGrant;
  /** The topics the user may publish to from the socket. */
  readonly publish: TopicGrant;
  /** When the token expires (ms since the epoch); `undefined` for never. */
  readonly expiresAt: number | undefined;

  /**
   * Makes an identity.
   *
   * @param init The user, info, grants and expiry.
   * @throws {TypeError} For a user name that is empty or longer than 256
   * characters, or info that is not JSON or over 1 KiB as JSON.
   */
  constructor(init: IdentityInit = {}) {
    if (
      init.user !== undefined &&
      (typeof init.user !== "string" || init.user.length === 0 ||
        init.user.length > MAX_USER_LENGTH)
    ) {
      throw new TypeError(`A user name has 1 to ${MAX_USER_LENGTH} characters`);
    }
    if (init.info !== undefined) checkInfo(init.info);
    this.user = init.user;
    this.info = init.info;
    this.subscribe = init.subscribe ?? TopicGrant.NONE;
    this.publish = init.publish ?? TopicGrant.NONE;
    this.expiresAt = init.expiresAt;
  }

  /**
   * The name to show for the user: `info.name` when it is a short string,
   * else the user; `undefined` for an anonymous client without a name.
   */
  get name(): string | undefined {
    const name = (this.info as { name?: unknown } | null | undefined)?.name;
    if (typeof name === "string" && name.length > 0 && name.length <= 64) return name;
    return this.user;
  }
}

/**
 * Checks that info is JSON of at most {@linkcode MAX_INFO_BYTES} bytes.
 *
 * @param info The value.
 * @throws {TypeError} When it is not.
 */
export function checkInfo(info: unknown): void {
  let json: string | undefined;
  try {
    json = JSON.stringify(info);
  } catch {
    json = undefined;
  }
  if (json === undefined) throw new TypeError('"info" must be JSON');
  if (new TextEncoder().encode(json).length > MAX_INFO_BYTES) {
    throw new TypeError(`"info" is larger than ${MAX_INFO_BYTES} bytes as JSON`);
  }
}
