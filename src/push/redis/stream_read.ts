/**
 * What a read of a topic's stream answers, and what it means for a reader
 * that names the last id it saw: the pure half of a resume from Redis (the
 * Lua script that reads is in `scripts.ts`).
 *
 * @module
 */

import type { EngineMessage, EngineRecovery } from "../engine.ts";
import { classifyGap } from "../gap.ts";
import type { MessageId } from "../history.ts";

/** What a read of a topic's stream answered. */
export interface StreamRead {
  /** The epoch of the dataset. */
  readonly epoch: string;
  /**
   * The seq of the topic's last message, or, when it holds none, the seq its
   * first message will come after (its pin).
   */
  readonly last: number;
  /** The window's messages after the id asked for (or from its start), a batch at most. */
  readonly messages: EngineMessage[];
  /**
   * The topic holds no message at all (it has no stream).
   *
   * @default {false}
   */
  readonly empty?: boolean;
  /**
   * The first of `messages` is the first its stream ever held: nothing of
   * the topic in this epoch came between the seq it followed and it.
   *
   * @default {false}
   */
  readonly fresh?: boolean;
}

/**
 * What a read of the stream after `since` means for a reader that saw
 * `since` last: the messages after it (`complete`), or a gap, its reason,
 * and what the window holds.
 *
 * @example
 * ```ts
 * import { readRecovery } from "./stream_read.ts";
 *
 * const read = { epoch: "e2", last: 1, messages: [] };
 * const recovery = readRecovery({ epoch: "e1", seq: 4 }, read);
 * console.log(recovery.kind === "gap" && recovery.reason); // "restart"
 * ```
 *
 * @param since The last id the reader saw, as the read was asked for.
 * @param read What the read answered.
 * @returns The recovery, with the topic's last id.
 */
export function readRecovery(since: MessageId, read: StreamRead): EngineRecovery {
  const { messages } = read;
  const last = { epoch: read.epoch, seq: read.last };
  const verdict = classifyGap(since, {
    epoch: read.epoch,
    last: read.last,
    first: messages[0]?.id.seq,
  });
  return { ...verdict, messages, last };
}
