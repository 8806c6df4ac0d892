/**
 * Topic grants, pure: which topics a user may subscribe or publish to, as a
 * list of patterns. A pattern is a topic name (that topic only), a prefix
 * ending in `*` (every topic that starts with the prefix), or `*` alone
 * (every topic).
 *
 * @module
 */

import { validateTopic } from "../server/topics.ts";

/** The most patterns one token claim holds (`topics` or `publish`). */
export const MAX_GRANT_PATTERNS = 256;

/**
 * Checks a grant pattern: a valid topic name, optionally ending in `*`, or
 * `*` alone.
 *
 * @example
 * ```ts
 * import { validatePattern } from "./grants.ts";
 *
 * validatePattern("room:*"); // fine
 * try {
 *   validatePattern("room:*:admin");
 * } catch (error) {
 *   console.log((error as Error).message);
 * }
 * ```
 *
 * @param pattern The pattern.
 * @throws {TypeError} When it is not a topic name, a prefix with a trailing
 * `*`, or `*`.
 */
export function validatePattern(pattern: string): void {
  if (typeof pattern !== "string") throw new TypeError("A topic pattern must be a string");
  if (pattern === "*") return;
  const name = pattern.endsWith("*") ? pattern.slice(0, -1) : pattern;
  try {
    validateTopic(name);
  } catch {
    throw new TypeError(
      `Invalid topic pattern "${pattern}": a topic name, a prefix ending in *, or *`,
    );
  }
}

/**
 * The topics a grant allows, from its patterns: exact names are looked up
 * in a set, prefixes are tried in turn.
 *
 * @example
 * ```ts
 * import { TopicGrant } from "./grants.ts";
 *
 * const grant = new TopicGrant(["news", "room:*"]);
 * console.log(grant.allows("news"), grant.allows("room:42"), grant.allows("admin")); // true true false
 * ```
 */
export class TopicGrant {
  /** A grant of no topic. */
  static readonly NONE: TopicGrant = new TopicGrant([]);
  /** A grant of every topic. */
  static readonly ALL: TopicGrant = new TopicGrant(["*"]);

  /** The patterns, as given. */
  readonly patterns: readonly string[];
  readonly #exact = new Set<string>();
  readonly #prefixes: string[] = [];

  /**
   * Makes a grant from patterns.
   *
   * @param patterns Topic names, prefixes ending in `*`, or `*`.
   * @throws {TypeError} For an invalid pattern.
   */
  constructor(patterns: Iterable<string>) {
    const list = [...patterns];
    for (const pattern of list) {
      validatePattern(pattern);
      if (pattern.endsWith("*")) this.#prefixes.push(pattern.slice(0, -1));
      else this.#exact.add(pattern);
    }
    this.patterns = Object.freeze(list);
  }

  /** Whether the grant allows no topic at all. */
  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /**
   * Whether the grant allows a topic.
   *
   * @param topic A topic name.
   * @returns `true` when an exact pattern names it or a prefix starts it.
   */
  allows(topic: string): boolean {
    if (this.#exact.has(topic)) return true;
    return this.#prefixes.some((prefix) => topic.startsWith(prefix));
  }

  /**
   * This grant and another together: a topic either allows.
   *
   * @param other Another grant.
   * @returns A grant with both grants' patterns.
   */
  with(other: TopicGrant): TopicGrant {
    if (other.empty) return this;
    if (this.empty) return other;
    return new TopicGrant(new Set([...this.patterns, ...other.patterns]));
  }
}

/**
 * Reads a grant from a token claim: absent is no topic; otherwise an array
 * of patterns (a single string is read as one pattern).
 *
 * @example
 * ```ts
 * import { grantFromClaim } from "./grants.ts";
 *
 * console.log(grantFromClaim(["room:*"], "topics").allows("room:1")); // true
 * console.log(grantFromClaim(undefined, "publish").empty); // true
 * ```
 *
 * @param claim The claim's value.
 * @param name The claim's name, for the error.
 * @returns The grant.
 * @throws {TypeError} For a claim that is not a pattern or an array of them,
 * or holds more than {@linkcode MAX_GRANT_PATTERNS}.
 */
export function grantFromClaim(claim: unknown, name: string): TopicGrant {
  if (claim === undefined || claim === null) return TopicGrant.NONE;
  const patterns = typeof claim === "string" ? [claim] : claim;
  if (!Array.isArray(patterns) || patterns.some((pattern) => typeof pattern !== "string")) {
    throw new TypeError(`Invalid "${name}" claim: expected an array of topic patterns`);
  }
  // Bounded here, on what a token says; a grant joined with the server's
  // public topics (`with`) may hold more.
  if (patterns.length > MAX_GRANT_PATTERNS) {
    throw new TypeError(`Invalid "${name}" claim: at most ${MAX_GRANT_PATTERNS} topic patterns`);
  }
  try {
    return new TopicGrant(patterns);
  } catch (error) {
    throw new TypeError(`Invalid "${name}" claim: ${(error as Error).message}`);
  }
}
