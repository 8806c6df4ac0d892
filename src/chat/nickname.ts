/**
 * The nickname a client chooses in its connection URL (`?name=Ada`): how
 * the chat room and presence show a client that has no token.
 *
 * @module
 */

/** The longest nickname (`?name=`), in characters. */
export const MAX_NICKNAME_LENGTH = 32;

// Characters a nickname may not hold: controls (C0, DEL, C1), line and
// paragraph separators, bidirectional formatting (which reorders what follows
// the name where pages show it: "(you)", "joined") and invisible ones (a name
// that looks empty or like another). The joiners emoji use (U+200C, U+200D)
// are allowed.
const NOT_IN_NICKNAME =
  /[\p{Cc}\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;

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
 * @throws {TypeError} For one longer than 32 characters, or with control,
 * bidirectional formatting or invisible characters.
 */
export function nicknameOf(query: URLSearchParams): string | undefined {
  const name = query.get("name")?.trim();
  if (name === undefined || name === "") return undefined;
  if (name.length > MAX_NICKNAME_LENGTH || NOT_IN_NICKNAME.test(name)) {
    throw new TypeError(
      `Invalid name: at most ${MAX_NICKNAME_LENGTH} characters, ` +
        "no control, bidirectional or invisible formatting characters",
    );
  }
  return name;
}
