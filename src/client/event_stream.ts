/**
 * A `text/event-stream` reader (the WHATWG "server-sent events" format):
 * {@linkcode EventStreamParser} turns text in any chunking into messages,
 * without I/O; {@linkcode readEventStream} runs it over a response body.
 * Read through `fetch` rather than `EventSource`, so that a request may carry
 * `Authorization` and `Last-Event-ID`, and the same code runs in browsers,
 * Deno, Node and Bun.
 *
 * @module
 */

/** One message of an event stream. */
export interface EventStreamMessage {
  /** The `event:` field, `"message"` when absent. */
  event: string;
  /** The `data:` lines, joined with newlines. */
  data: string;
  /** The last `id:` seen so far in the stream, if any. */
  id?: string;
  /** The reconnect delay the server asked for (`retry:`), in milliseconds. */
  retry?: number;
}

/** The longest line the parser holds, in characters. */
export const MAX_EVENT_STREAM_LINE = 1 << 20;

/** Text of an event stream in, messages out. */
export class EventStreamParser {
  #rest = "";
  #started = false;
  #event = "";
  #data: string[] = [];
  #id: string | undefined;
  #retry: number | undefined;
  #skipLf = false;

  /**
   * Reads more of the stream.
   *
   * @example
   * ```ts
   * import { EventStreamParser } from "./event_stream.ts";
   *
   * const parser = new EventStreamParser();
   * console.log(parser.push(": hi\nevent: publication\nid: e1:1\nda"));  // []
   * console.log(parser.push("ta: {}\n\n"));
   * // [{ event: "publication", data: "{}", id: "e1:1" }]
   * ```
   *
   * @param text The next chunk of text.
   * @returns The messages it completed.
   * @throws {RangeError} For a line longer than {@linkcode MAX_EVENT_STREAM_LINE}.
   */
  push(text: string): EventStreamMessage[] {
    let buffer = this.#rest + text;
    if (!this.#started && buffer.length > 0) {
      this.#started = true;
      if (buffer.startsWith("\ufeff")) buffer = buffer.slice(1);
    }
    const messages: EventStreamMessage[] = [];
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const char = buffer[i];
      if (char !== "\n" && char !== "\r") continue;
      if (char === "\n" && this.#skipLf && i === start) {
        this.#skipLf = false;
        start = i + 1;
        continue;
      }
      this.#skipLf = char === "\r";
      const message = this.#line(buffer.slice(start, i));
      if (message !== undefined) messages.push(message);
      start = i + 1;
    }
    this.#rest = buffer.slice(start);
    if (this.#rest.length > 0) this.#skipLf = false;
    if (this.#rest.length > MAX_EVENT_STREAM_LINE) {
      throw new RangeError(
        `Cannot read an event stream line over ${MAX_EVENT_STREAM_LINE} characters`,
      );
    }
    return messages;
  }

  /** Handles one line; a blank one completes a message. */
  #line(line: string): EventStreamMessage | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "event") this.#event = value;
    else if (name === "data") this.#data.push(value);
    else if (name === "id" && !value.includes("\0")) this.#id = value;
    else if (name === "retry" && /^\d+$/.test(value)) this.#retry = Number(value);
    return undefined;
  }

  #dispatch(): EventStreamMessage | undefined {
    const event = this.#event === "" ? "message" : this.#event;
    const data = this.#data;
    this.#event = "";
    this.#data = [];
    if (data.length === 0) return undefined;
    const message: EventStreamMessage = { event, data: data.join("\n") };
    if (this.#id !== undefined) message.id = this.#id;
    if (this.#retry !== undefined) message.retry = this.#retry;
    return message;
  }
}

/**
 * The messages of an event stream's body, as they arrive. Ends with the
 * body; a message cut off by the end is dropped.
 *
 * @example
 * ```ts
 * import { readEventStream } from "./event_stream.ts";
 *
 * const body = new Response("event: subscribed\ndata: {}\n\n").body!;
 * for await (const message of readEventStream(body)) console.log(message.event); // "subscribed"
 * ```
 *
 * @param body The response body.
 * @returns The messages.
 */
export async function* readEventStream(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<EventStreamMessage> {
  const parser = new EventStreamParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.cancel().catch(() => {}); // stops the download when the reader stops early
  }
}
