/**
 * The two ways the client reaches a push server, behind one small
 * interface: a WebSocket (both ways), or an SSE stream read with `fetch`
 * (server to client only). A transport reports its opening, each text
 * message and its end once; the client decides what follows.
 *
 * @module
 */

import { readEventStream } from "./event_stream.ts";

/** The transports: `"websocket"`, or `"sse"` (`GET /events`, one way). */
export type TransportKind = "websocket" | "sse";

/** How a transport ended. */
export interface TransportEnd {
  /** The close code: the WebSocket's, the SSE `close` event's, or 1006. */
  code: number;
  /** The close reason, or what went wrong. */
  reason: string;
  /** The HTTP status of an SSE request the server refused. */
  status?: number;
}

/** What a transport tells the client. */
export interface TransportHandlers {
  /** It is open. */
  open(): void;
  /** A text message (a JSON event) arrived. */
  message(text: string): void;
  /** It ended, once, unless the client closed it. */
  end(info: TransportEnd): void;
}

/** An open or opening transport. */
export interface Transport {
  /** Which transport it is. */
  readonly kind: TransportKind;
  /**
   * Sends a text message.
   *
   * @returns `false` when it cannot (SSE, or not open).
   */
  send(text: string): boolean;
  /** Closes it; its `end` handler is not called. */
  close(): void;
}

/** The part of a `WebSocket` the client uses. */
export interface WebSocketLike {
  /** 1 when open. */
  readonly readyState: number;
  /** Sends a text message. */
  send(data: string): void;
  /** Closes the connection. */
  close(code?: number, reason?: string): void;
  /** Listens for `open`, `message`, `close`. */
  addEventListener(type: string, listener: (event: Event) => void): void;
}

/** A `WebSocket` constructor: the global one, or one given for tests. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A `fetch` function: the global one, or one given for tests. */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

/**
 * Opens a WebSocket.
 *
 * @param url The `ws:` or `wss:` URL, with its query.
 * @param WebSocketClass The constructor.
 * @param handlers What to tell.
 * @returns The transport.
 */
export function openWebSocket(
  url: string,
  WebSocketClass: WebSocketConstructor,
  handlers: TransportHandlers,
): Transport {
  let done = false;
  let socket: WebSocketLike;
  try {
    socket = new WebSocketClass(url);
  } catch (error) {
    queueMicrotask(() => handlers.end({ code: 1006, reason: messageOf(error) }));
    return { kind: "websocket", send: () => false, close: () => {} };
  }
  socket.addEventListener("open", () => done || handlers.open());
  socket.addEventListener("message", (event) => {
    const { data } = event as MessageEvent;
    if (!done && typeof data === "string") handlers.message(data);
  });
  socket.addEventListener("close", (event) => {
    if (done) return;
    done = true;
    const { code, reason } = event as CloseEvent;
    // A connection that failed is 1006 (Deno says 0).
    handlers.end({ code: code >= 1000 ? code : 1006, reason });
  });
  return {
    kind: "websocket",
    send(text) {
      if (done || socket.readyState !== 1) return false;
      socket.send(text);
      return true;
    },
    close() {
      if (done) return;
      done = true;
      socket.close(1000);
    },
  };
}

/**
 * Opens an SSE stream with `fetch`: a `text/event-stream` response is open,
 * each event's data is a message, and the final `event: close` (its data
 * `{"code":…,"reason":…}`) ends it with that code. Any other answer ends it
 * with its status and the start of its body as the reason.
 *
 * @param url The `http:` or `https:` URL of `/events`, with its query.
 * @param headers The request's headers.
 * @param fetchFunction The `fetch` to use.
 * @param handlers What to tell.
 * @returns The transport.
 */
export function openEventStream(
  url: string,
  headers: Record<string, string>,
  fetchFunction: FetchFunction,
  handlers: TransportHandlers,
): Transport {
  const controller = new AbortController();
  let done = false;
  const finish = (info: TransportEnd) => {
    if (done) return;
    done = true;
    controller.abort();
    handlers.end(info);
  };
  const read = async () => {
    const response = await fetchFunction(url, { headers, signal: controller.signal });
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !type.startsWith("text/event-stream") || response.body === null) {
      const text = (await response.text().catch(() => "")).trim().slice(0, 200);
      return finish({
        code: 1006,
        reason: text || `HTTP ${response.status}`,
        status: response.status,
      });
    }
    if (done) return;
    handlers.open();
    for await (const message of readEventStream(response.body)) {
      if (done) return;
      if (message.event === "close") return finish(closeOf(message.data));
      handlers.message(message.data);
    }
    finish({ code: 1006, reason: "The event stream ended" });
  };
  read().catch((error) => finish({ code: 1006, reason: messageOf(error) }));
  return {
    kind: "sse",
    send: () => false,
    close() {
      if (done) return;
      done = true;
      controller.abort();
    },
  };
}

/** The code and reason of an SSE `close` event's data. */
function closeOf(data: string): TransportEnd {
  try {
    const { code, reason } = JSON.parse(data);
    if (typeof code === "number") return { code, reason: typeof reason === "string" ? reason : "" };
  } catch {
    // Malformed: an abnormal end.
  }
  return { code: 1006, reason: "Malformed close event" };
}

/**
 * An error's message.
 *
 * @param error Anything thrown.
 * @returns Its message.
 */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
