/**
 * The nickname a client chooses in its connection URL (`?name=Ada`): how
 * the chat room and presence show a client that has no token.
 *
 * @module
 */

/** The longest nickname (`?name=`), in characters. */
export const MAX_NICKNAME_LENGTH = 32;

/**
 * Reads the nickname of a connection URL.
 *
 * @example
 * ```ts
 * import { nicknameOf } from "./nickname.ts";
 *
 * console.log(nicknameOf(new URLSearchParams("name=%20Ada%20"))); // "Ada"
 * console.log(nicknameOf(new URLSearchParams(""))); // undefined
 * ```
 *
 * @param query The query of the upgrade request.
 * @returns The nickname, trimmed, or `undefined` for none.
 * @throws {TypeError} For one longer than 32 characters or with control
 * characters.
 */
export function nicknameOf(query: URLSearchParams): string | undefined {
  const name = query.get("name")?.trim();
  if (name === undefined || name === "") return undefined;
  // deno-lint-ignore no-control-regex
  if (name.length > MAX_NICKNAME_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new TypeError(
      `Invalid name: at most ${MAX_NICKNAME_LENGTH} characters, no control characters`,
    );
  }
  return name;
}
