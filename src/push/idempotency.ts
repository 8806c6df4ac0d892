/**
 * Idempotency keys of appends, in one place: what a key may be, and the
 * options of an append that carry one. An append that names a key a
 * previous append to the same topic named, while that message is still in
 * the window, gets the first message back instead of a second one.
 *
 * @module
 */

/** The longest idempotency key, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

// Visible ASCII: "!" to "~", no space, no control character.
const KEY = /^[\x21-\x7e]{1,128}$/;

/** Options of one append (`Engine.append`). */
export interface AppendOptions {
  /**
   * Makes the append idempotent: a later append to the same topic with the
   * same key, while the first message is still held (in the window; for
   * Redis, within the window's ttl), returns that message, marked
   * `repeated`, instead of appending again. 1 to 128 visible ASCII
   * characters.
   *
   * @default {undefined}
   */
  idempotencyKey?: string | undefined;
}

/**
 * Checks an idempotency key: 1 to 128 visible ASCII characters (`!` to
 * `~`).
 *
 * @example
 * ```ts
 * import { validateIdempotencyKey } from "./idempotency.ts";
 *
 * validateIdempotencyKey("order-42/attempt"); // fine
 * try {
 *   validateIdempotencyKey("with space");
 * } catch (error) {
 *   console.log((error as TypeError).message);
 *   // Invalid idempotency key "with space": use 1 to 128 visible ASCII characters
 * }
 * ```
 *
 * @param key The key.
 * @throws {TypeError} For anything else.
 */
export function validateIdempotencyKey(key: string): void {
  if (typeof key !== "string" || !KEY.test(key)) {
    const shown = typeof key === "string" ? JSON.stringify(key.slice(0, 64)) : typeof key;
    throw new TypeError(
      `Invalid idempotency key ${shown}: use 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters`,
    );
  }
}
