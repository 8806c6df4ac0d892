/**
 * Line-at-a-time reading of a child's output, with a deadline on each line.
 *
 * @module
 */

const MAX_BUFFERED_LINES = 1000;

/** Reads a byte stream to its end in the background, handing out lines on request. */
export class LineReader {
  #lines: string[] = [];
  #waiting: PromiseWithResolvers<void> | undefined;
  #ended = false;
  /** Settles when the stream has been read to its end. */
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        const parts = (partial + text).split("\n");
        partial = parts.pop() ?? "";
        this.#lines.push(...parts);
        if (this.#lines.length > MAX_BUFFERED_LINES) {
          this.#lines.splice(0, this.#lines.length - MAX_BUFFERED_LINES);
        }
        this.#waiting?.resolve();
      }
    } finally {
      if (partial !== "") this.#lines.push(partial);
      this.#ended = true;
      this.#waiting?.resolve();
    }
  }

  /** The next line; throws when the stream ends or nothing arrives within `timeoutMs`. */
  async next(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (this.#ended) {
        throw new Error("Cannot read line: the process closed its output");
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Cannot read line: nothing within ${timeoutMs} ms`);
      }
      this.#waiting = Promise.withResolvers();
      const timer = setTimeout(() => this.#waiting?.resolve(), left);
      await this.#waiting.promise;
      clearTimeout(timer);
    }
    return this.#lines.shift()!;
  }
}
