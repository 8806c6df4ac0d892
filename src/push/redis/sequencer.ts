/**
 * The per-topic sequencer of the Redis engine, pure: no I/O and no timer.
 * Messages reach a node from Pub/Sub and from its own publishes, in any
 * order; seqs go up by one, so the sequencer delivers them by consecutive
 * seq, holds those that come ahead of their turn, and says when the topic's
 * stream must be read to fill a hole or to catch up. It then turns what such
 * a read answers into deliveries, or a gap (`restart`, `unknown`,
 * `expired`) followed by what the window still holds.
 *
 * The engine does the I/O: it arms a timer when asked through
 * {@linkcode SequencerHooks.schedule}, and when it fires, reads the stream
 * between {@linkcode Sequencer.beginRead} and {@linkcode Sequencer.endRead}
 * (or {@linkcode Sequencer.failRead}).
 *
 * A topic's seqs go up by one within one stream, but a topic's first
 * message comes one above a floor (see `redis_engine.ts`), which may have
 * moved since the node learnt the topic's place. Such a message is marked
 * *fresh* (the first its stream ever held), and while live delivery is
 * *continuous* (no Pub/Sub connection lost since the position was read) a
 * fresh message past the position is next: nothing of the topic can lie
 * between. Likewise a read that finds the topic holding nothing moves the
 * position up without a gap. After a lost connection both wait for a read
 * made once it is back.
 *
 * @module
 */

import { DEFAULTS } from "../../defaults.ts";
import type { EngineMessage, EngineRecovery, EngineSink } from "../engine.ts";
import { classifyGap, type GapReason } from "../gap.ts";
import type { MessageId } from "../history.ts";
import { backoff } from "./backoff.ts";
import type { StreamRead } from "./stream_read.ts";

export { readRecovery, type StreamRead } from "./stream_read.ts";

/**
 * Where a sequencer's catch-up read stands:
 *
 * - `idle`: none due, none under way;
 * - `due`: one is scheduled (the engine's timer is armed);
 * - `reading`: one is under way;
 * - `again`: one is under way, and another is due once it ends.
 */
export type CatchUp = "idle" | "due" | "reading" | "again";

/**
 * What a message did on arrival (see {@linkcode Sequencer.receive}):
 *
 * - `delivered`: it was next (or fresh, past the position, with delivery
 *   continuous), and went out with any held messages it unblocked;
 * - `duplicate`: at or before the position, dropped;
 * - `hole`: ahead of its turn, held, a read scheduled in case Pub/Sub does
 *   not fill the hole;
 * - `early`: the position is not known yet, held;
 * - `epoch`: from another dataset, a read scheduled to learn what it holds.
 */
export type Arrival = "delivered" | "duplicate" | "hole" | "early" | "epoch";

/** How a {@linkcode Sequencer} reaches its engine. */
export interface SequencerHooks {
  /** Receives the topic's messages, in order, and its gaps. */
  readonly sink: EngineSink;
  /**
   * Asks for a catch-up read in `delay` milliseconds, replacing one asked
   * for earlier that has not started. When the time comes, the engine calls
   * {@linkcode Sequencer.beginRead}.
   */
  readonly schedule: (delay: number) => void;
}

/** Options for {@linkcode Sequencer}. */
export interface SequencerOptions {
  /**
   * Messages kept after delivery, for quick resumes (the window's size).
   *
   * @default {100}
   */
  size?: number;
  /**
   * Messages held ahead of their turn; past it they are dropped and the
   * stream is read at once (it has them all).
   *
   * @default {10000}
   */
  maxHeld?: number;
  /**
   * Milliseconds a hole may wait for Pub/Sub to fill it before the stream
   * is read.
   *
   * @default {50}
   */
  holeWait?: number;
  /**
   * The delay before the next read after `attempt` failed reads in a row.
   *
   * @default {backoff}
   */
  retryDelay?: (attempt: number) => number;
}

/** Options for {@linkcode Sequencer.recover}. */
export interface RecentOptions {
  /**
   * Messages returned at most.
   *
   * @default {Infinity}
   */
  limit?: number;
  /**
   * Messages published at or before this time (milliseconds) have expired.
   *
   * @default {-Infinity}
   */
  cutoff?: number;
}

/** A message held ahead of its turn, and whether it is fresh. */
interface Held {
  readonly message: EngineMessage;
  readonly fresh: boolean;
}

/**
 * One watched topic's delivery on one node: its position (epoch and last
 * seq delivered), messages held ahead of their turn, the recent messages,
 * the state of its catch-up read, and whether live delivery has been
 * continuous since the position was read.
 *
 * @example A hole filled by Pub/Sub before any read
 * ```ts
 * import { Sequencer } from "./sequencer.ts";
 * import type { EngineEvent } from "../engine.ts";
 *
 * const events: EngineEvent[] = [];
 * const delays: number[] = [];
 * const sequencer = new Sequencer("news", {
 *   sink: (event) => events.push(event),
 *   schedule: (delay) => delays.push(delay),
 * });
 * sequencer.start({ epoch: "e1", seq: 0 });
 * const message = (seq: number) => ({
 *   topic: "news",
 *   id: { epoch: "e1", seq },
 *   time: 0,
 *   payload: `m${seq}`,
 * });
 * console.log(sequencer.receive(message(2))); // "hole"
 * console.log(delays); // [50]: read the stream unless Pub/Sub fills the hole first
 * console.log(sequencer.receive(message(1))); // "delivered": m1, then m2
 * console.log(events.length, sequencer.position); // 2 { epoch: "e1", seq: 2 }
 * ```
 */
export class Sequencer {
  /** The topic. */
  readonly topic: string;
  readonly #hooks: SequencerHooks;
  readonly #size: number;
  readonly #maxHeld: number;
  readonly #holeWait: number;
  readonly #retryDelay: (attempt: number) => number;
  #known = false;
  #epoch = "";
  #last = 0;
  readonly #held = new Map<number, Held>();
  #recent: EngineMessage[] = [];
  #catchUp: CatchUp = "idle";
  #failures = 0;
  // Live delivery lost nothing since the position was read.
  #continuous = true;
  // A read that begins now makes delivery continuous again once it ends.
  #restoring = false;
  #readRestores = false;

  /**
   * Makes a sequencer whose position is not known yet: messages are held
   * until {@linkcode Sequencer.start}.
   *
   * @param topic The topic.
   * @param hooks Where events go, and how to ask for a read.
   * @param options The recent window, the held cap and the delays.
   */
  constructor(topic: string, hooks: SequencerHooks, options: SequencerOptions = {}) {
    this.topic = topic;
    this.#hooks = hooks;
    this.#size = options.size ?? DEFAULTS.historySize;
    this.#maxHeld = options.maxHeld ?? 10_000;
    this.#holeWait = options.holeWait ?? 50;
    this.#retryDelay = options.retryDelay ?? backoff;
  }

  /** Whether the position is known. */
  get known(): boolean {
    return this.#known;
  }

  /** The id of the last message delivered (meaningful once known). */
  get position(): MessageId {
    return { epoch: this.#epoch, seq: this.#last };
  }

  /** Where the catch-up read stands. */
  get catchUp(): CatchUp {
    return this.#catchUp;
  }

  /**
   * Whether the position answers for the store: known, with no catch-up read
   * due or under way (after a hole, a reconnect or a message from a new
   * epoch, the node may be behind until that read ends).
   */
  get settled(): boolean {
    return this.#known && this.#catchUp === "idle";
  }

  /** Messages held ahead of their turn. */
  get held(): number {
    return this.#held.size;
  }

  /**
   * Whether live delivery has lost nothing since the position was read (no
   * Pub/Sub connection lost since, or a read made after it came back).
   */
  get continuous(): boolean {
    return this.#continuous;
  }

  /** The last messages delivered, oldest first, at most `size`. */
  get recent(): readonly EngineMessage[] {
    return this.#recent;
  }

  /**
   * The position is known (the stream was read once watching began):
   * delivers the held messages that follow it.
   *
   * @param position The topic's last id in the store.
   */
  start(position: MessageId): void {
    this.#epoch = position.epoch;
    this.#last = position.seq;
    this.#known = true;
    this.#drain();
  }

  /**
   * A message from Pub/Sub or from this node's own publish.
   *
   * @param message A message of this topic.
   * @param fresh Whether it is the first its stream ever held.
   * @returns What it did.
   */
  receive(message: EngineMessage, fresh = false): Arrival {
    if (!this.#known) {
      this.#hold(message, fresh);
      return "early";
    }
    if (message.id.epoch !== this.#epoch) {
      // A new dataset: the stream tells what the window holds.
      this.#request(0);
      return "epoch";
    }
    const seq = message.id.seq;
    if (seq <= this.#last) return "duplicate";
    if (seq === this.#last + 1 || (fresh && this.#continuous && this.#lowestHeld() > seq)) {
      this.#deliver(message);
      this.#drain();
      return "delivered";
    }
    this.#hold(message, fresh);
    this.#request(this.#holeWait);
    return "hole";
  }

  /**
   * The Pub/Sub connection was lost: live delivery may lose messages until
   * a read made after it comes back ({@linkcode Sequencer.recheck}).
   */
  interrupt(): void {
    this.#continuous = false;
    this.#restoring = false;
    this.#readRestores = false;
  }

  /** Live delivery may have lost messages (Pub/Sub came back): read at once. */
  recheck(): void {
    this.interrupt();
    this.#restoring = true;
    if (this.#known) this.#request(0);
  }

  /**
   * A read of the stream made for a reader (not a catch-up) found the topic
   * holding nothing, at a place past the position: with delivery settled and
   * continuous, nothing of the topic lies between, so the position moves
   * there without a gap (a later resume point from another node is then
   * this node's too).
   *
   * @param read The read's answer.
   * @returns Whether the position moved.
   */
  advance(read: StreamRead): boolean {
    if (read.empty !== true || !this.settled || !this.#continuous) return false;
    if (read.epoch !== this.#epoch || read.last <= this.#last) return false;
    this.#jump(read.last);
    return true;
  }

  /**
   * The scheduled read is due.
   *
   * @returns Whether to read: `false` while the position is unknown.
   */
  beginRead(): boolean {
    this.#catchUp = "idle";
    if (!this.#known) return false;
    this.#catchUp = "reading";
    this.#readRestores = this.#restoring;
    this.#restoring = false;
    return true;
  }

  /**
   * What a read of the stream after `since` answered: a gap when the store
   * lost messages this node did not deliver, then the messages that follow
   * the position.
   *
   * @param since What the read asked for: the position when it was sent.
   * @param read Its answer.
   * @returns Whether the node is still behind what the read saw (read on
   * from the position when the answer was a full batch).
   */
  applyRead(since: MessageId, read: StreamRead): boolean {
    const first = read.messages[0];
    const same = read.epoch === this.#epoch;
    if (this.#continuous && same && (read.empty === true || read.fresh === true)) {
      // Nothing of the topic lies between the position and the read's start.
      const start = first === undefined ? read.last : first.id.seq - 1;
      if (start > this.#last) this.#jump(start);
    }
    // Pub/Sub may have delivered past what the read saw: the store is behind
    // this node only when it is behind what was asked for.
    const last = read.last < since.seq ? read.last : Math.max(read.last, this.#last);
    const verdict = classifyGap(this.position, { epoch: read.epoch, last, first: first?.id.seq });
    if (verdict.kind === "gap") {
      this.#gap(verdict.reason);
      this.#epoch = read.epoch;
      this.#last = first === undefined ? read.last : first.id.seq - 1;
    }
    for (const message of read.messages) {
      if (message.id.seq === this.#last + 1) this.#deliver(message);
    }
    return this.#last < read.last;
  }

  /**
   * The read ended: delivers what it unblocked; reads again if asked
   * meanwhile. A read begun after Pub/Sub came back makes delivery
   * continuous again.
   */
  endRead(): void {
    const again = this.#catchUp === "again";
    if (this.#readRestores) this.#continuous = true;
    this.#readRestores = false;
    this.#failures = 0;
    this.#catchUp = "idle";
    this.#drain();
    if (again) this.#request(0);
  }

  /** The read failed (the store is away): reads again after a backoff. */
  failRead(): void {
    if (this.#readRestores) this.#restoring = true;
    this.#readRestores = false;
    this.#catchUp = "idle";
    this.#request(this.#retryDelay(++this.#failures));
  }

  /**
   * What a reader that saw `since` last missed, from the recent messages.
   *
   * @param since The last id the reader saw.
   * @param options The most messages to return, and the expiry time.
   * @returns The messages after `since` (`complete`), or `undefined` when
   * the recent messages cannot tell: read the stream.
   */
  recover(since: MessageId, options: RecentOptions = {}): EngineRecovery | undefined {
    const first = this.#recent[0];
    const bounds = { epoch: this.#epoch, last: this.#last, first: first?.id.seq };
    if (!this.#known || classifyGap(since, bounds).kind === "gap") return undefined;
    const last = this.position;
    if (since.seq === this.#last) return { kind: "complete", messages: [], last };
    if (first === undefined || first.time <= (options.cutoff ?? -Infinity)) return undefined;
    const from = since.seq + 1 - first.id.seq;
    const to = from + (options.limit ?? Infinity);
    return { kind: "complete", messages: this.#recent.slice(from, to), last };
  }

  /** Asks for a read in `delay` ms, unless one is due sooner or under way. */
  #request(delay: number): void {
    if (this.#catchUp === "reading" || this.#catchUp === "again") {
      this.#catchUp = "again";
      return;
    }
    if (this.#catchUp === "due" && delay > 0) return;
    this.#catchUp = "due";
    this.#hooks.schedule(delay);
  }

  #hold(message: EngineMessage, fresh: boolean): void {
    if (this.#held.size >= this.#maxHeld) {
      // Too far behind: the stream has them all.
      this.#held.clear();
      this.#request(0);
    }
    this.#held.set(message.id.seq, { message, fresh });
  }

  /** Delivers held messages that are next; drops those already delivered. */
  #drain(): void {
    for (const [seq, { message }] of this.#held) {
      if (message.id.epoch !== this.#epoch || seq <= this.#last) this.#held.delete(seq);
    }
    let next = this.#nextHeld();
    while (next !== undefined) {
      this.#held.delete(next.id.seq);
      this.#deliver(next);
      next = this.#nextHeld();
    }
    if (this.#held.size > 0) this.#request(this.#holeWait);
  }

  /** The held message that is next: the one after the position, or a fresh lowest one. */
  #nextHeld(): EngineMessage | undefined {
    const next = this.#held.get(this.#last + 1);
    if (next !== undefined || !this.#continuous) return next?.message;
    const lowest = this.#held.get(this.#lowestHeld());
    return lowest?.fresh === true ? lowest.message : undefined;
  }

  /** The lowest seq held, or `Infinity`. */
  #lowestHeld(): number {
    let lowest = Infinity;
    for (const seq of this.#held.keys()) lowest = Math.min(lowest, seq);
    return lowest;
  }

  /** Moves the position past seqs the topic never used (no message, no gap). */
  #jump(to: number): void {
    this.#last = to;
    this.#recent = []; // the recent messages must stay consecutive
  }

  #deliver(message: EngineMessage): void {
    if (message.id.seq !== this.#last + 1) this.#jump(message.id.seq - 1);
    this.#last = message.id.seq;
    if (this.#size > 0) {
      this.#recent.push(message);
      if (this.#recent.length > this.#size) {
        this.#recent.splice(0, this.#recent.length - this.#size);
      }
    }
    this.#hooks.sink({ type: "message", message });
  }

  #gap(reason: GapReason): void {
    this.#recent = [];
    const since = { epoch: this.#epoch, seq: this.#last };
    this.#hooks.sink({ type: "gap", topic: this.topic, since, reason });
  }
}
