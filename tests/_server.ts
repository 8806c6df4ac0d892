/**
 * Test helpers: a server on an ephemeral loopback port, Deno WebSocket
 * clients, and waiting with a deadline.
 *
 * @module
 */

import { serve, type Server } from "../src/server/server.ts";
import type { ServeOptions, SocketHandler } from "../src/server/options.ts";

/** Runs `fn` with a server on 127.0.0.1 and an ephemeral port, then shuts it down. */
export async function withServer(
  options: ServeOptions,
  handler: SocketHandler | undefined,
  fn: (server: Server, port: number) => Promise<void>,
): Promise<void> {
  const server = serve({ port: 0, hostname: "127.0.0.1", ...options }, handler);
  try {
    await fn(server, server.addr.port);
  } finally {
    await server.shutdown();
  }
}

/** A relay handler: every message to every socket. */
export function relay(server: () => Server): SocketHandler {
  return async (socket) => {
    for await (const message of socket) server().sockets.broadcast(message);
  };
}

/** An echo handler: every message back to its sender. */
export const echo: SocketHandler = async (socket) => {
  for await (const message of socket) socket.send(message);
};

/** A Deno WebSocket client that records what it receives. */
export class TestClient {
  readonly ws: WebSocket;
  readonly messages: (string | ArrayBuffer)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #waiters: (() => void)[] = [];

  constructor(port: number, path = "/") {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("websocket error before open"));
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (event) => resolve(event));
    });
    this.ws.onmessage = (event) => {
      this.messages.push(event.data);
      for (const wake of this.#waiters.splice(0)) wake();
    };
  }

  /** Opens `count` clients and waits until all are open. */
  static async open(port: number, count: number, path = "/"): Promise<TestClient[]> {
    const clients = Array.from({ length: count }, () => new TestClient(port, path));
    await Promise.all(clients.map((client) => client.opened));
    return clients;
  }

  /** Waits until at least `count` messages have arrived. */
  async waitFor(count: number, timeout = 5000): Promise<(string | ArrayBuffer)[]> {
    const deadline = Date.now() + timeout;
    while (this.messages.length < count) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`timed out with ${this.messages.length} of ${count} messages`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages;
  }

  /** Closes (if open) and waits for the close event. */
  async close(code?: number, reason?: string): Promise<CloseEvent> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code, reason);
    }
    return await this.closed;
  }
}

/** Polls `condition` until it holds or `timeout` ms pass. */
export async function until(
  condition: () => boolean,
  timeout = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A JSON event a client received. */
export type JsonEvent = Record<string, unknown>;

/** Every message a client received so far, parsed as JSON. */
export function eventsOf(client: TestClient): JsonEvent[] {
  return client.messages.map((message) => JSON.parse(message as string));
}

/** Waits for the first event that matches (from the start of the client's messages). */
export async function waitForEvent(
  client: TestClient,
  match: (event: JsonEvent) => boolean,
  timeout = 5000,
): Promise<JsonEvent> {
  for (let count = 1;; count++) {
    await client.waitFor(count, timeout);
    const found = eventsOf(client).find(match);
    if (found !== undefined) return found;
  }
}
