/**
 * The write side of a connection: frames queue here, at most one write is in
 * flight, and everything queued meanwhile goes out in the next write. The
 * bytes queued, and every joined write, stay within a cap; however many
 * pings arrive, only a few pongs wait to be written. Outboxes whose queues
 * hold the same frames (a broadcast burst) share one joined write.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { SharedJoin } from "./shared_join.ts";

/** The writer an {@linkcode Outbox} drains into (a `Deno.Conn` is one). */
export interface Writer {
  /** Writes some of `bytes`, resolving with how many were written. */
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Callbacks of an {@linkcode Outbox}, called with its owner: one object may
 * serve many outboxes.
 *
 * @typeParam O The outboxes' owner.
 */
export interface OutboxEvents<O> {
  /** A write failed; the outbox stops. */
  onError(owner: O, error: unknown): void;
  /** Everything queued has been written. */
  onDrain(owner: O): void;
}

// Outboxes that have frames to write. They are flushed together once the
// current task (and every microtask it queued) ends, so a burst of sends, for
// example all the messages of one read, costs one write per socket.
// `setImmediate` runs right after; `setTimeout(0)` would wait a millisecond.
let pending: Outbox[] = [];

// The most pongs waiting to be written; past it the newest waiting one is
// replaced. Enough for a burst of pings each to be answered (Autobahn 2.10
// sends ten at once), few enough that a flood of them costs nothing.
const MAX_WAITING_PONGS = 16;
let flushScheduled = false;

// The joins of every outbox: a broadcast queues the same frames on many
// sockets, whose joined writes are then made once and shared (it keeps the
// last joined write alive until the next join).
const joins = new SharedJoin();

function flushPending(): void {
  const outboxes = pending;
  pending = [];
  flushScheduled = false;
  for (const outbox of outboxes) outbox.flush();
}

/**
 * A queue of frames for one connection. {@linkcode Outbox.push} is cheap (a
 * reference into an array); a write starts once the current task ends, at
 * most one is in flight, and each carries every frame queued so far, up to
 * the cap.
 *
 * @example
 * ```ts
 * import { Outbox } from "./outbox.ts";
 *
 * const written: Uint8Array[] = [];
 * const outbox = new Outbox(
 *   { write: (bytes) => { written.push(bytes.slice()); return Promise.resolve(bytes.length); } },
 *   Infinity,
 *   { onError: () => {}, onDrain: () => {} },
 *   "an owner",
 * );
 * outbox.push(new Uint8Array([0x81, 0x01, 0x61]));
 * outbox.push(new Uint8Array([0x81, 0x01, 0x62]));
 * console.log(outbox.queuedBytes); // 6
 * ```
 */
export class Outbox<O = unknown> {
  readonly #writer: Writer;
  // Events shared by many outboxes, called with this one's owner.
  readonly #events: OutboxEvents<O>;
  readonly #owner: O;
  readonly #maxBytes: number;
  #frames: Uint8Array[] = [];
  #queuedBytes = 0;
  // How many pongs wait in #frames (at most; exact while none is being
  // written), and where the newest waits, or -1.
  #pongs = 0;
  #pongAt = -1;
  #writing = false;
  #scheduled = false;
  #stopped = false;

  /**
   * Makes an empty outbox for one writer.
   *
   * @param writer Where the bytes go.
   * @param maxBytes The cap: the most bytes queued or being written (a
   * single frame larger than it is still taken when nothing else waits), and
   * the largest write the queued frames are joined into; `Infinity` for none.
   * @param events What to call on a write error and when drained.
   * @param owner What the events are called with.
   */
  constructor(writer: Writer, maxBytes: number, events: OutboxEvents<O>, owner: O) {
    this.#writer = writer;
    this.#events = events;
    this.#owner = owner;
    this.#maxBytes = maxBytes;
  }

  /** Bytes queued or being written. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Whether nothing is queued or being written. */
  get idle(): boolean {
    return this.#queuedBytes === 0 && !this.#writing;
  }

  /**
   * Queues frame bytes, unless they would take the bytes queued past the cap
   * (a frame alone is always taken). The bytes are written as they are and
   * must not be changed afterwards (the same frame may be queued on many
   * outboxes).
   *
   * @param frame Encoded frame bytes.
   * @returns `false` when the frame was refused for the cap (nothing is
   * queued); `true` otherwise, also once the outbox has stopped.
   */
  push(frame: Uint8Array): boolean {
    if (this.#queuedBytes > 0 && this.#queuedBytes + frame.length > this.#maxBytes) {
      return this.#stopped;
    }
    this.#enqueue(frame);
    return true;
  }

  /**
   * Queues the parts of one message (an event of an event stream: its id
   * line, shared bytes, its end) together, or none of them: the cap applies
   * to their sum as {@linkcode Outbox.push} applies it to one frame.
   *
   * @param parts Encoded bytes, in order; not changed afterwards.
   * @returns As {@linkcode Outbox.push}.
   */
  pushAll(parts: readonly Uint8Array[]): boolean {
    let length = 0;
    for (const part of parts) length += part.length;
    if (this.#queuedBytes > 0 && this.#queuedBytes + length > this.#maxBytes) {
      return this.#stopped;
    }
    for (const part of parts) this.#enqueue(part);
    return true;
  }

  /**
   * Queues a pong. Once 16 pongs wait to be written, a new one replaces the
   * newest of them, in its place, so that however many pings arrive few
   * pongs wait and the latest ping is answered (RFC 6455 §5.5.3 lets an
   * endpoint answer only the latest). The cap applies as for
   * {@linkcode Outbox.push}.
   *
   * @param frame An encoded pong frame.
   * @returns As {@linkcode Outbox.push}.
   */
  pong(frame: Uint8Array): boolean {
    const replace = this.#pongs >= MAX_WAITING_PONGS;
    const others = this.#queuedBytes - (replace ? this.#frames[this.#pongAt]!.length : 0);
    if (others > 0 && others + frame.length > this.#maxBytes) return this.#stopped;
    if (replace) {
      this.#frames[this.#pongAt] = frame;
      this.#queuedBytes = others + frame.length;
    } else if (!this.#stopped) {
      this.#pongs++;
      this.#pongAt = this.#frames.length;
      this.#enqueue(frame);
    }
    return true;
  }

  /**
   * Queues frame bytes past the cap: for the last frame of a connection (its
   * close frame), after which nothing more is queued.
   *
   * @param frame Encoded frame bytes.
   */
  pushPastCap(frame: Uint8Array): void {
    this.#enqueue(frame);
  }

  /** Drops everything queued and writes nothing more. */
  stop(): void {
    this.#stopped = true;
    this.#frames = [];
    this.#queuedBytes = 0;
    this.#forgetPongs();
  }

  /** Starts writing what is queued now, unless a write is in flight. */
  flush(): void {
    this.#scheduled = false;
    if (this.#writing || this.#stopped || this.#frames.length === 0) return;
    this.#writing = true;
    this.#writeQueued();
  }

  // The write in flight, how much of it is done, and its completion
  // handlers (made once per outbox, not per write).
  #bytes: Uint8Array = EMPTY;
  #written = 0;
  #onWritten: ((n: number) => void) | undefined;
  #onFailed: ((error: unknown) => void) | undefined;

  #enqueue(frame: Uint8Array): void {
    if (this.#stopped) return;
    this.#frames.push(frame);
    this.#queuedBytes += frame.length;
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      pending.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushPending);
      }
    }
  }

  #writeQueued(): void {
    const frames = this.#frames;
    if (frames.length === 1) {
      this.#bytes = frames[0]!;
      // The queue array is kept and emptied, not replaced: one allocation fewer per write.
      frames.length = 0;
      this.#forgetPongs();
    } else {
      try {
        this.#bytes = this.#join(frames);
      } catch (error) {
        // Runs in a promise callback or a timer: a failed allocation must
        // end this connection, not escape.
        this.#fail(error);
        return;
      }
    }
    this.#written = 0;
    this.#write(this.#bytes);
  }

  // Joins the queued frames that fit within the cap (at least the first)
  // into one write and leaves the rest queued for the next.
  #join(frames: Uint8Array[]): Uint8Array {
    let count = 0;
    let length = 0;
    for (; count < frames.length; count++) {
      const next = length + frames[count]!.length;
      if (count > 0 && next > this.#maxBytes) break;
      length = next;
    }
    // Pongs are queued in order, the newest last: when it is taken, all are;
    // otherwise the count stays an upper bound.
    if (this.#pongAt < count) this.#forgetPongs();
    else this.#pongAt -= count;
    const joined = joins.join(frames, count, length);
    if (count === frames.length) frames.length = 0;
    else frames.splice(0, count);
    return joined;
  }

  #write(bytes: Uint8Array): void {
    this.#onWritten ??= (n) => this.#afterWrite(n);
    this.#onFailed ??= (error) => this.#fail(error);
    let promise: Promise<number>;
    try {
      promise = this.#writer.write(bytes);
    } catch (error) {
      this.#fail(error);
      return;
    }
    promise.then(this.#onWritten, this.#onFailed);
  }

  #afterWrite(n: number): void {
    if (this.#stopped) return;
    this.#written += n;
    if (this.#written < this.#bytes.length) {
      this.#write(this.#bytes.subarray(this.#written));
      return;
    }
    this.#queuedBytes -= this.#bytes.length;
    this.#bytes = EMPTY;
    if (this.#frames.length > 0) {
      this.#writeQueued();
      return;
    }
    this.#writing = false;
    this.#events.onDrain(this.#owner);
  }

  #forgetPongs(): void {
    this.#pongs = 0;
    this.#pongAt = -1;
  }

  #fail(error: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#frames = [];
    this.#forgetPongs();
    this.#bytes = EMPTY;
    this.#events.onError(this.#owner, error);
  }
}

const EMPTY = new Uint8Array(0);
