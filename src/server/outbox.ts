/**
 * The write side of a connection: frames queue here, at most one write is in
 * flight, and everything queued meanwhile goes out in the next write.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { concatBytes } from "../protocol/bytes.ts";

/** The writer an {@linkcode Outbox} drains into (a `Deno.Conn` is one). */
export interface Writer {
  /** Writes some of `bytes`, resolving with how many were written. */
  write(bytes: Uint8Array): Promise<number>;
}

/** Callbacks of an {@linkcode Outbox}. */
export interface OutboxEvents {
  /** A write failed; the outbox stops. */
  onError(error: unknown): void;
  /** Everything queued has been written. */
  onDrain(): void;
}

// Outboxes that have frames to write. They are flushed together once the
// current task (and every microtask it queued) ends, so a burst of sends, for
// example all the messages of one read, costs one write per socket.
// `setImmediate` runs right after; `setTimeout(0)` would wait a millisecond.
let pending: Outbox[] = [];
let flushScheduled = false;

function flushPending(): void {
  const outboxes = pending;
  pending = [];
  flushScheduled = false;
  for (const outbox of outboxes) outbox.flush();
}

/**
 * A queue of frames for one connection. {@linkcode Outbox.push} is cheap (a
 * reference into an array); a write starts once the current task ends, at
 * most one is in flight, and each carries every frame queued so far.
 *
 * @example
 * ```ts
 * import { Outbox } from "./outbox.ts";
 *
 * const written: Uint8Array[] = [];
 * const outbox = new Outbox(
 *   { write: (bytes) => { written.push(bytes.slice()); return Promise.resolve(bytes.length); } },
 *   { onError: () => {}, onDrain: () => {} },
 * );
 * outbox.push(new Uint8Array([0x81, 0x01, 0x61]));
 * outbox.push(new Uint8Array([0x81, 0x01, 0x62]));
 * console.log(outbox.queuedBytes); // 6
 * ```
 */
export class Outbox {
  readonly #writer: Writer;
  readonly #events: OutboxEvents;
  #frames: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #scheduled = false;
  #stopped = false;

  /**
   * Makes an empty outbox for one writer.
   *
   * @param writer Where the bytes go.
   * @param events What to call on a write error and when drained.
   */
  constructor(writer: Writer, events: OutboxEvents) {
    this.#writer = writer;
    this.#events = events;
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
   * Queues frame bytes. The bytes are written as they are and must not be
   * changed afterwards (the same frame may be queued on many outboxes).
   *
   * @param frame Encoded frame bytes.
   */
  push(frame: Uint8Array): void {
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

  /** Drops everything queued and writes nothing more. */
  stop(): void {
    this.#stopped = true;
    this.#frames = [];
    this.#queuedBytes = 0;
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

  #writeQueued(): void {
    // The queue array is kept and emptied, not replaced: one allocation fewer per write.
    const frames = this.#frames;
    this.#bytes = frames.length === 1 ? frames[0]! : concatBytes(frames);
    frames.length = 0;
    this.#written = 0;
    this.#write(this.#bytes);
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
    this.#events.onDrain();
  }

  #fail(error: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#frames = [];
    this.#bytes = EMPTY;
    this.#events.onError(error);
  }
}

const EMPTY = new Uint8Array(0);
