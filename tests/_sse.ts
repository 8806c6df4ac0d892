/**
 * Test helper: an event stream client over `fetch` or a raw (TCP or TLS)
 * connection, parsing Server-Sent Events as `EventSource` does (fields, the
 * last event id, comments, `retry:`), with waits under a deadline.
 *
 * @module
 */

/** One event as `EventSource` dispatches it. */
export interface SseEvent {
  /** Its name (`message` without an `event:` field). */
  event: string;
  /** Its data lines, joined with `\n`. */
  data: string;
  /** The stream's last event id when it was dispatched. */
  lastEventId: string;
  /** Whether this event carried an `id:` field itself. */
  hasId: boolean;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** An event stream being read; events are parsed as they arrive. */
export class SseClient {
  /** Every event so far. */
  readonly events: SseEvent[] = [];
  /** Comment lines so far (heartbeats). */
  comments = 0;
  /** The last `retry:` value. */
  retry: number | undefined;
  /** The last event id (what a reconnect sends as `Last-Event-ID`). */
  lastEventId = "";
  /** Whether the stream ended. */
  ended = false;
  /** Resolves when the stream has ended. */
  readonly done: Promise<void>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #text = "";
  #data: string[] = [];
  #event = "";
  #hasId = false;
  #waiters: (() => void)[] = [];
  #read = 0;

  constructor(body: ReadableStream<Uint8Array>, first = "") {
    this.#reader = body.getReader();
    this.#feed(first);
    this.done = this.#pump();
  }

  /** Opens a stream with `fetch`; returns the response too (its status and headers). */
  static async fetch(
    url: string,
    init: RequestInit = {},
  ): Promise<{ response: Response; client: SseClient | undefined }> {
    const response = await fetch(url, init);
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel();
      return { response, client: undefined };
    }
    return { response, client: new SseClient(response.body) };
  }

  /**
   * Sends `request` on a raw connection and reads the response head; the
   * body is the stream.
   */
  static async raw(
    conn: Deno.Conn,
    request: string,
  ): Promise<{ head: string; client: SseClient }> {
    await conn.write(encoder.encode(request));
    const reader = conn.readable.getReader();
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended in its head: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    reader.releaseLock();
    const end = text.indexOf("\r\n\r\n");
    return { head: text.slice(0, end), client: new SseClient(conn.readable, text.slice(end + 4)) };
  }

  /** The next event not yet taken by `next`, waiting up to `timeout` ms. */
  async next(timeout = 5000): Promise<SseEvent> {
    await this.#wait(() => this.events.length > this.#read || this.ended, timeout, "an event");
    const event = this.events[this.#read];
    if (event === undefined) throw new Error("the stream ended");
    this.#read++;
    return event;
  }

  /** The next events' parsed JSON data, skipping none, `count` of them. */
  async json(count: number, timeout = 5000): Promise<Record<string, unknown>[]> {
    const events: Record<string, unknown>[] = [];
    for (let i = 0; i < count; i++) events.push(JSON.parse((await this.next(timeout)).data));
    return events;
  }

  /** Waits until `condition` holds (checked as bytes arrive). */
  async waitUntil(condition: () => boolean, timeout = 5000, what = "a condition"): Promise<void> {
    await this.#wait(condition, timeout, what);
  }

  /** Waits for the end of the stream; returns the events not yet taken. */
  async end(timeout = 5000): Promise<SseEvent[]> {
    await this.#wait(() => this.ended, timeout, "the end of the stream");
    const rest = this.events.slice(this.#read);
    this.#read = this.events.length;
    return rest;
  }

  /** Stops reading (the connection closes). */
  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.done;
  }

  async #pump(): Promise<void> {
    const text = new TextDecoder();
    try {
      while (true) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.#feed(text.decode(value, { stream: true }));
      }
    } catch {
      // Reset, or cancelled.
    }
    this.ended = true;
    this.#wake();
  }

  #feed(chunk: string): void {
    this.#text += chunk;
    let newline: number;
    while ((newline = this.#text.indexOf("\n")) !== -1) {
      this.#line(this.#text.slice(0, newline).replace(/\r$/, ""));
      this.#text = this.#text.slice(newline + 1);
    }
    this.#wake();
  }

  // One line, as the HTML standard's event stream interpretation reads it.
  #line(line: string): void {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "event") this.#event = value;
    else if (field === "id" && !value.includes("\0")) {
      this.lastEventId = value;
      this.#hasId = true;
    } else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }

  #dispatch(): void {
    const hasId = this.#hasId;
    this.#hasId = false;
    if (this.#data.length === 0) {
      this.#event = "";
      return;
    }
    this.events.push({
      event: this.#event || "message",
      data: this.#data.join("\n"),
      lastEventId: this.lastEventId,
      hasId,
    });
    this.#data = [];
    this.#event = "";
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async #wait(condition: () => boolean, timeout: number, what: string): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!condition()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** A `GET` of an event stream for a raw connection. */
export function streamRequest(
  host: string,
  path: string,
  headers: Record<string, string> = {},
): string {
  let request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/event-stream\r\n`;
  for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
  return request + "\r\n";
}

/** A parsed event's JSON data. */
export type EventJson = Record<string, unknown>;

/** Opens a stream on 127.0.0.1 with `fetch` that must be accepted. */
export async function openStream(
  port: number,
  path: string,
  headers: HeadersInit = {},
): Promise<SseClient> {
  const { response, client } = await SseClient.fetch(`http://127.0.0.1:${port}${path}`, {
    headers,
  });
  if (client === undefined) {
    throw new Error(`${path}: ${response.status} ${await response.text().catch(() => "")}`);
  }
  return client;
}

/** Reads events (as JSON) until `count` named `type` arrived; returns all of them. */
export async function readUntil(client: SseClient, type: string, count = 1): Promise<EventJson[]> {
  const events: EventJson[] = [];
  let seen = 0;
  while (seen < count) {
    const event = JSON.parse((await client.next()).data) as EventJson;
    events.push(event);
    if (event.type === type) seen++;
  }
  return events;
}

/** The `data` of the publications of one topic among events, in order. */
export function publicationTexts(events: EventJson[], topic: string): unknown[] {
  return events.filter((event) => event.type === "publication" && event.topic === topic)
    .map((event) => event.data);
}
