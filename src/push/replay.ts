/**
 * The replay planner, pure: from what the engine answered for a client's
 * resume point (its window after `cursor`) and this node's position in the
 * topic, what to send now, where the replay stands after it, and what to do
 * next. The hub runs it in a loop: send, then drain, wait or join the live
 * stream.
 *
 * A replay never passes the node's position: messages after it have not
 * been delivered to this node's live subscribers yet, and will reach the
 * socket live once it joins. When the replay reaches the position, the
 * socket joins in the same synchronous step, so nothing falls between the
 * replay and the live stream, and nothing comes twice.
 *
 * @module
 */

import type { EngineMessage, EngineRecovery } from "./engine.ts";
import type { GapReason, MessageId } from "./history.ts";

/** What the hub does after sending a step's messages. */
export type ReplayNext =
  /** The replay reached the node's position: subscribe the socket now. */
  | "join"
  /** A part went out: wait until the socket drains, then ask again. */
  | "drain"
  /** The cursor moved without a message to send: ask again at once. */
  | "again"
  /** The node has not delivered up to the cursor yet: ask again shortly. */
  | "behind"
  /**
   * The store has an epoch this node has not caught up with: its live
   * subscribers are about to get the gap; ask again shortly.
   */
  | "epoch";

/** One step of a replay. */
export interface ReplayStep {
  /** A gap to announce (from the old cursor) before the messages, if any. */
  gap: GapReason | undefined;
  /** The messages to send now, in order. */
  messages: EngineMessage[];
  /** Where the replay stands once they are sent. */
  cursor: MessageId;
  /** What comes next. */
  next: ReplayNext;
}

/** The limits of one replay step. */
export interface ReplayBudget {
  /**
   * Bytes of messages in one step; the first message always goes, however
   * large.
   */
  bytes: number;
  /** The size of a message as it goes out. */
  sizeOf: (message: EngineMessage) => number;
}

/**
 * Plans one step of a replay.
 *
 * @example A replay that fits in one step joins the live stream
 * ```ts
 * import { planReplay } from "./replay.ts";
 *
 * const message = (seq: number) => ({
 *   topic: "t",
 *   id: { epoch: "e", seq },
 *   time: 0,
 *   payload: `"data":${seq}`,
 * });
 * const step = planReplay(
 *   { kind: "complete", messages: [message(2), message(3)], last: { epoch: "e", seq: 3 } },
 *   { epoch: "e", seq: 1 },
 *   { epoch: "e", seq: 3 },
 *   { bytes: 1024, sizeOf: (m) => m.payload.length },
 * );
 * console.log(step.messages.length, step.next); // 2 "join"
 * ```
 *
 * @param recovery What the engine answered for `cursor`.
 * @param cursor The last id the socket has (or was resumed from).
 * @param position The id of the last message this node delivered live.
 * @param budget How much one step may send.
 * @returns What to send, the new cursor, and what comes next.
 */
export function planReplay(
  recovery: EngineRecovery,
  cursor: MessageId,
  position: MessageId,
  budget: ReplayBudget,
): ReplayStep {
  if (recovery.last.epoch !== position.epoch) {
    return { gap: undefined, messages: [], cursor, next: "epoch" };
  }
  const gap = recovery.kind === "gap" ? recovery.reason : undefined;
  const { messages } = recovery;
  let count = 0;
  let bytes = 0;
  while (count < messages.length) {
    const message = messages[count]!;
    if (!sameOrBefore(message.id, position)) break;
    const size = budget.sizeOf(message);
    if (count > 0 && bytes + size > budget.bytes) break;
    bytes += size;
    count++;
  }
  const sent = messages.slice(0, count);
  const tail = messages.at(-1)?.id ?? recovery.last;
  let next = cursor;
  if (count === messages.length && sameId(tail, recovery.last) && sameOrBefore(tail, position)) {
    next = recovery.last;
  } else if (count > 0) {
    next = messages[count - 1]!.id;
  }
  if (sameId(next, position)) return { gap, messages: sent, cursor: next, next: "join" };
  const then = count > 0 ? "drain" : sameId(next, cursor) ? "behind" : "again";
  return { gap, messages: sent, cursor: next, next: then };
}

/** Whether two ids are the same. */
export function sameId(a: MessageId, b: MessageId): boolean {
  return a.epoch === b.epoch && a.seq === b.seq;
}

/** Whether id `a` is at or before id `b` (ids of other epochs are not). */
function sameOrBefore(a: MessageId, b: MessageId): boolean {
  return a.epoch === b.epoch && a.seq <= b.seq;
}
