/**
 * Topics and resume points as the client sends them: topic names and ids
 * checked as the server checks them, the `topic` and `since` parameters of
 * a connection URL, the SSE `Last-Event-ID`, and which of two ids of a
 * topic comes later.
 *
 * @module
 */

const TOPIC_NAME = /^[A-Za-z0-9_.:@\/-]{1,128}$/;
const ID = /^([0-9a-z]{1,16}):(0|[1-9][0-9]{0,15})$/;

/**
 * Checks a topic name: 1 to 128 letters, digits and `_ . : @ / -`.
 *
 * @param topic The name.
 * @throws {TypeError} For another name.
 */
export function validateTopic(topic: string): void {
  if (typeof topic !== "string" || !TOPIC_NAME.test(topic)) {
    throw new TypeError(
      `Invalid topic ${JSON.stringify(topic)}: 1 to 128 letters, digits and _ . : @ / -`,
    );
  }
}

/**
 * Checks a message id, `<epoch>:<seq>`.
 *
 * @param id The id.
 * @throws {TypeError} For anything else.
 */
export function validateId(id: string): void {
  if (typeof id !== "string" || !ID.test(id)) {
    throw new TypeError(`Invalid id ${JSON.stringify(id)}: expected <epoch>:<seq>`);
  }
}

/**
 * Whether `id` comes after `last` in a topic: a later `seq` of the same
 * epoch, or any id of another epoch (a gap event tells about those).
 *
 * @example
 * ```ts
 * import { isAfter } from "./resume.ts";
 *
 * console.log(isAfter("e1:3", "e1:2"), isAfter("e1:2", "e1:2"), isAfter("e2:1", "e1:9"));
 * // true false true
 * ```
 *
 * @param id An id received.
 * @param last The last id seen in the topic, if any.
 * @returns Whether `id` is new.
 */
export function isAfter(id: string, last: string | undefined): boolean {
  if (last === undefined) return true;
  const a = ID.exec(id);
  const b = ID.exec(last);
  if (a === null || b === null || a[1] !== b[1]) return true;
  return Number(a[2]) > Number(b[2]);
}

/**
 * Adds the `topic` and `since` parameters of a connection: every topic,
 * and `<topic>:<epoch>:<seq>` for each one with a last id.
 *
 * @example
 * ```ts
 * import { addResumeParams } from "./resume.ts";
 *
 * const query = new URLSearchParams();
 * addResumeParams(query, new Map([["news", "e1:12"], ["room:1", undefined]]));
 * console.log(query.toString()); // "topic=news&topic=room%3A1&since=news%3Ae1%3A12"
 * ```
 *
 * @param query Where to add them.
 * @param topics Each topic and its last id.
 */
export function addResumeParams(
  query: URLSearchParams,
  topics: ReadonlyMap<string, string | undefined>,
): void {
  for (const topic of topics.keys()) query.append("topic", topic);
  for (const [topic, last] of topics) {
    if (last !== undefined) query.append("since", `${topic}:${last}`);
  }
}

/**
 * The `Last-Event-ID` an SSE reconnect sends: the `since` values joined with
 * commas, or `undefined` when no topic has a last id.
 *
 * @example
 * ```ts
 * import { lastEventId } from "./resume.ts";
 *
 * console.log(lastEventId(new Map([["a", "e1:2"], ["b", "e1:5"]]))); // "a:e1:2,b:e1:5"
 * ```
 *
 * @param topics Each topic and its last id.
 * @returns The header's value.
 */
export function lastEventId(topics: ReadonlyMap<string, string | undefined>): string | undefined {
  const since: string[] = [];
  for (const [topic, last] of topics) if (last !== undefined) since.push(`${topic}:${last}`);
  return since.length === 0 ? undefined : since.join(",");
}
