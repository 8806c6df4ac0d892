/**
 * Gap classification, pure and in one place: given the last id a reader saw
 * in a topic and what a store holds of that topic (its epoch, its last seq,
 * the oldest seq its window still holds), either nothing was lost, or there
 * is a gap and a reason for it. The memory history, the Redis engine's
 * recovery and the Redis engine's live delivery all ask this one function.
 *
 * @module
 */

/** Why a reader cannot get everything after the id it names. */
export type GapReason =
  /** The id comes from another server run: history does not survive a restart. */
  | "restart"
  /** Messages after the id have left the window (count or age). */
  | "expired"
  /** The id is ahead of the topic: it was never assigned in this run. */
  | "unknown";

/** What a store holds of one topic, as far as a gap depends on it. */
export interface GapBounds {
  /** The epoch of the store's dataset. */
  readonly epoch: string;
  /** The seq of the topic's last message: 0 (or a floor) before any. */
  readonly last: number;
  /**
   * The seq of the oldest message the window still holds, or of the oldest
   * it holds after the reader's id: only whether it is past the seq right
   * after that id matters. `undefined` when the window holds none.
   *
   * @default {last + 1}
   */
  readonly first?: number | undefined;
}

/**
 * The verdict on a reader's id: `complete` (the store holds every message
 * after it) or a `gap` with its reason.
 */
export type GapVerdict =
  | {
    /** Nothing was lost. */
    readonly kind: "complete";
  }
  | {
    /** Something was lost. */
    readonly kind: "gap";
    /** Why. */
    readonly reason: GapReason;
  };

const COMPLETE: GapVerdict = { kind: "complete" };
const RESTART: GapVerdict = { kind: "gap", reason: "restart" };
const UNKNOWN: GapVerdict = { kind: "gap", reason: "unknown" };
const EXPIRED: GapVerdict = { kind: "gap", reason: "expired" };

/**
 * Whether a reader that saw `since` last can get every message after it
 * from a store that holds `bounds`. The checks run in this order: an id of
 * another epoch is a `restart`; an id past the last seq is `unknown`; an
 * id whose next message is no longer held is `expired`; otherwise
 * `complete`.
 *
 * @example
 * ```ts
 * import { classifyGap } from "./gap.ts";
 *
 * const bounds = { epoch: "e1", last: 10, first: 6 };
 * console.log(classifyGap({ epoch: "e1", seq: 5 }, bounds)); // { kind: "complete" }
 * console.log(classifyGap({ epoch: "e1", seq: 4 }, bounds)); // { kind: "gap", reason: "expired" }
 * console.log(classifyGap({ epoch: "e1", seq: 11 }, bounds)); // { kind: "gap", reason: "unknown" }
 * console.log(classifyGap({ epoch: "e0", seq: 5 }, bounds)); // { kind: "gap", reason: "restart" }
 * ```
 *
 * @param since The last id the reader saw: its epoch and seq.
 * @param bounds What the store holds of the topic.
 * @returns `complete`, or a gap and its reason.
 */
export function classifyGap(
  since: { readonly epoch: string; readonly seq: number },
  bounds: GapBounds,
): GapVerdict {
  if (since.epoch !== bounds.epoch) return RESTART;
  if (since.seq > bounds.last) return UNKNOWN;
  if (since.seq + 1 < (bounds.first ?? bounds.last + 1)) return EXPIRED;
  return COMPLETE;
}
