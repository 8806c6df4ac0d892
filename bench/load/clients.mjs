/**
 * Raw-TCP WebSocket clients for Node's `net`: every connection reads into one
 * shared buffer (`onread`), so holding thousands of them costs no allocation
 * per read. Frames go to a callback; nothing is queued in JavaScript.
 *
 * @module
 */
import net from "node:net";
import { FrameReader, upgradeRequest, UpgradeResponse } from "./wire.mjs";
import { nowMicros, STAMP_LENGTH } from "./stamp.mjs";

const shared = Buffer.allocUnsafe(256 * 1024);

/** One open WebSocket connection. `index` is its position among the generator's clients. */
export class Client {
  closed = false;
  #socket;

  constructor(socket, index) {
    this.#socket = socket;
    this.index = index;
  }

  send(frame) {
    if (!this.closed) this.#socket.write(frame);
  }

  close() {
    this.closed = true;
    this.#socket.destroy();
  }
}

/**
 * Opens one connection to 127.0.0.1:`port` and completes the upgrade.
 * `onFrame(client, opcode, bytes, at, prefixLength, payloadLength, micros, compressed)`
 * sees every server frame, with the time its chunk was read (one clock read
 * per chunk, not per frame); `onClose(client)` runs once if the connection ends.
 * Options: `deflate` offers permessage-deflate and requires it; `prefix` is
 * how many payload bytes `onFrame` sees at most (default STAMP_LENGTH); `path` is
 * the request target (default `/`).
 */
export function connect(port, index, handlers, timeoutMs, options = {}) {
  const { deflate = false, prefix = STAMP_LENGTH, path = "/" } = options;
  const request = upgradeRequest(port, deflate, path);
  return new Promise((resolve, reject) => {
    const response = new UpgradeResponse(deflate);
    let client;
    let reader;
    let micros = 0;
    const socket = net.connect({
      host: "127.0.0.1",
      port,
      noDelay: true,
      onread: {
        buffer: shared,
        callback(length, bytes) {
          try {
            micros = nowMicros();
            if (reader !== undefined) return void reader.push(bytes, 0, length);
            const at = response.push(bytes, 0, length);
            if (at < 0) return;
            client = new Client(socket, index);
            reader = new FrameReader(
              prefix,
              (op, b, p, pl, len, z) => handlers.onFrame(client, op, b, p, pl, len, micros, z),
            );
            clearTimeout(timer);
            resolve(client);
            reader.push(bytes, at, length);
          } catch (error) {
            socket.destroy();
            reject(error);
          }
        },
      },
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Cannot connect: no upgrade within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(request));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      reject(new Error("Cannot connect: closed before the upgrade"));
      if (client !== undefined && !client.closed) {
        client.closed = true;
        handlers.onClose?.(client);
      }
    });
  });
}

/**
 * Opens `count` connections, at most `concurrency` handshakes at a time;
 * their indexes start at `first`. On the first failure the others are closed.
 * `deflate` and `path` are passed to connect(); `prefixOf(index)` sets each one's prefix.
 */
export async function connectMany(
  port,
  { count, concurrency, first = 0, deflate = false, path = "/", prefixOf = () => STAMP_LENGTH },
  handlers,
  timeoutMs,
) {
  const clients = new Array(count);
  let next = 0;
  let failed = false;
  async function worker() {
    while (next < count && !failed) {
      const slot = next++;
      try {
        const index = first + slot;
        clients[slot] = await connect(port, index, handlers, timeoutMs, {
          deflate,
          path,
          prefix: prefixOf(index),
        });
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  }
  const workers = [];
  for (let i = 0; i < Math.min(concurrency, count); i++) workers.push(worker());
  const outcomes = await Promise.allSettled(workers);
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure !== undefined) {
    closeAll(clients);
    throw failure.reason;
  }
  return clients;
}

/** Closes every client. */
export function closeAll(clients) {
  for (const client of clients) client?.close();
}
