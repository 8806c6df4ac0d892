/**
 * The registry of live sockets: lookup, async iteration over joining
 * sockets, and broadcast.
 *
 * @module
 */

import { PreparedMessage } from "../protocol/deflate.ts";
import type { Socket } from "./socket.ts";

/** Options for {@linkcode Registry.broadcast}. */
export interface BroadcastOptions {
  /** A socket to leave out, typically the sender. */
  except?: Socket;
}

/** Options for {@linkcode Registry.add}. */
export interface RegistryAddOptions {
  /**
   * Whether the socket leaves the registry by itself when it closes. A
   * server passes `false` and deletes its sockets as it learns of their
   * close, so that no socket holds a listener for it.
   *
   * @default {true}
   */
  leaveOnClose?: boolean;
}

// One link of the chain of joins: each resolves with the socket that joined
// and the next link, or with `undefined` once the registry has ended.
type Join = Promise<{ socket: Socket; next: Join } | undefined>;

/**
 * The set of live sockets of a server. Iterate it with `for await` to receive
 * sockets as they join: each iterator sees the sockets that join after it
 * starts, several iterators may run at once, and all end when the server
 * shuts down. Iterate it with `for...of` (or {@linkcode Registry.values}) for
 * the sockets open now.
 *
 * @example A chat room
 * ```ts ignore
 * import { serve } from "jsr:@pushwire/pushwire";
 *
 * const server = serve({ port: 8080 });
 * for await (const socket of server.sockets) {
 *   (async () => {
 *     for await (const message of socket) server.sockets.broadcast(message);
 *   })();
 * }
 * ```
 */
export class Registry implements AsyncIterable<Socket>, Iterable<Socket> {
  readonly #sockets = new Map<string, Socket>();
  #resolveJoin: (value: { socket: Socket; next: Join } | undefined) => void = () => {};
  #join: Join = this.#nextJoin();
  #ended = false;

  /** How many sockets are open. */
  get size(): number {
    return this.#sockets.size;
  }

  /**
   * Adds a socket and announces it to every running iterator. It leaves the
   * registry by itself when it closes, unless `options.leaveOnClose` is
   * `false`.
   *
   * @param socket An open socket.
   * @param options Whether the registry watches the socket's close.
   */
  add(socket: Socket, options: RegistryAddOptions = {}): void {
    if (this.#ended) throw new Error("Cannot add a socket: the registry has ended");
    this.#sockets.set(socket.id, socket);
    if (options.leaveOnClose ?? true) socket.closed.then(() => this.delete(socket));
    const resolve = this.#resolveJoin;
    const next = this.#nextJoin();
    resolve({ socket, next });
    this.#join = next;
  }

  /**
   * Removes a socket (it is not closed).
   *
   * @param socket The socket to remove.
   * @returns Whether it was present.
   */
  delete(socket: Socket): boolean {
    if (this.#sockets.get(socket.id) !== socket) return false;
    return this.#sockets.delete(socket.id);
  }

  /**
   * Looks a socket up by its id.
   *
   * @param id A socket id.
   * @returns The socket, or `undefined`.
   */
  get(id: string): Socket | undefined {
    return this.#sockets.get(id);
  }

  /** Whether a socket with this id is open. */
  has(id: string): boolean {
    return this.#sockets.has(id);
  }

  /** The sockets open now. */
  values(): IterableIterator<Socket> {
    return this.#sockets.values();
  }

  /** The sockets open now. */
  [Symbol.iterator](): IterableIterator<Socket> {
    return this.#sockets.values();
  }

  /**
   * Sockets as they join, from now until the registry ends.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Socket> {
    let join = this.#join;
    while (true) {
      const joined = await join;
      if (joined === undefined) return;
      yield joined.socket;
      join = joined.next;
    }
  }

  /**
   * Sends a message to every open socket. The frame is encoded once (and
   * compressed once per permessage-deflate parameter set) and the same bytes
   * are queued on every socket.
   *
   * @param data A string (text frame) or bytes (binary frame).
   * @param options A socket to leave out.
   * @returns How many sockets the frame was queued for.
   */
  broadcast(data: string | Uint8Array, options: BroadcastOptions = {}): number {
    const message = new PreparedMessage(data);
    const except = options.except;
    let count = 0;
    for (const socket of this.#sockets.values()) {
      if (socket !== except && socket.sendPrepared(message)) count++;
    }
    return count;
  }

  /** Ends every iterator over joining sockets; nothing may join after. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#resolveJoin(undefined);
  }

  #nextJoin(): Join {
    const { promise, resolve } = Promise.withResolvers<
      { socket: Socket; next: Join } | undefined
    >();
    this.#resolveJoin = resolve;
    return promise;
  }
}
