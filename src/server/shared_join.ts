/**
 * Joined writes shared between outboxes. A broadcast queues the same frame
 * objects on many sockets, so when their writes are joined, the sockets
 * whose queues hold the same run of frames can write the same bytes: the
 * join is made once and every later outbox gets a view into it.
 *
 * @module
 */

import { concatBytes } from "../protocol/bytes.ts";

const EMPTY = new Uint8Array(0);

/**
 * Remembers the last join it made. A later join of frames that are a
 * contiguous run of those frames (the very same objects, in the same order)
 * gets a view into those bytes instead of a copy of its own; any other join
 * is made afresh and remembered instead. The bytes returned are never
 * changed, so they may be written to many connections at once. It keeps
 * one joined write alive (at most an outbox's cap) until the next join.
 *
 * @example Two sockets with the same queue share one joined write
 * ```ts
 * import { SharedJoin } from "./shared_join.ts";
 *
 * const a = new Uint8Array([0x81, 0x01, 0x61]);
 * const b = new Uint8Array([0x81, 0x01, 0x62]);
 * const joins = new SharedJoin();
 * const first = joins.join([a, b], 2, 6);
 * const second = joins.join([a, b], 2, 6);
 * console.log(first.buffer === second.buffer); // true: joined once
 * console.log(joins.join([b], 1, 3)); // Uint8Array(3) [ 129, 1, 98 ], a view too
 * ```
 */
export class SharedJoin {
  #frames: readonly Uint8Array[] = [];
  #bytes: Uint8Array = EMPTY;

  /**
   * Joins the first `count` of `frames` into one array.
   *
   * @param frames Queued frames, not changed.
   * @param count How many of them to join, at least 1.
   * @param length Their total length in bytes.
   * @returns Their bytes, in order: a view shared with other callers, never
   * to be changed.
   */
  join(frames: readonly Uint8Array[], count: number, length: number): Uint8Array {
    const shared = this.#find(frames, count, length);
    if (shared !== undefined) return shared;
    const parts = count === frames.length ? frames.slice() : frames.slice(0, count);
    this.#bytes = concatBytes(parts, length);
    this.#frames = parts;
    return this.#bytes;
  }

  // A view into the last join when it holds the same run of frames.
  #find(frames: readonly Uint8Array[], count: number, length: number): Uint8Array | undefined {
    const known = this.#frames;
    const start = known.indexOf(frames[0]!);
    if (start === -1 || start + count > known.length) return undefined;
    for (let i = 1; i < count; i++) {
      if (known[start + i] !== frames[i]) return undefined;
    }
    let offset = 0;
    for (let i = 0; i < start; i++) offset += known[i]!.length;
    return this.#bytes.subarray(offset, offset + length);
  }
}
