/**
 * Which connections a server takes on: the limits met as a connection is
 * accepted, before anything is read (pending handshakes, connections per
 * address), the pending handshakes themselves, the refusals being
 * answered, and the places held within `maxConnections` while a request
 * becomes a socket.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";
import { HttpError } from "../protocol/errors.ts";
import { errorResponse } from "../protocol/http_head.ts";
import { AddressLimit } from "./address_limit.ts";
import { answerAndClose, closeQuietly } from "./conn_io.ts";
import { type Logger, SILENT } from "./log.ts";
import type { ServerMetrics } from "./server_metrics.ts";

type Conn = Deno.Conn<Deno.NetAddr>;

const TOO_MANY_FROM_ADDRESS = errorResponse(
  new HttpError(429, "Too many connections from this address"),
);

/** Options for {@linkcode Admission}. */
export interface AdmissionOptions {
  /**
   * The most pending handshakes.
   *
   * @default {2048}
   */
  maxPendingHandshakes?: number;
  /**
   * The most connections per remote address; `0` for no limit.
   *
   * @default {1024}
   */
  maxConnectionsPerAddress?: number;
  /**
   * The most sockets, open or being opened.
   *
   * @default {10000}
   */
  maxConnections?: number;
  /** Where refusals are counted. */
  stats: ServerMetrics;
  /**
   * Where refusals are logged (`connection-refused`, warn level).
   *
   * @default {silent}
   */
  logger?: Logger;
}

/**
 * Admits connections within the limits and keeps the pending ones. A
 * connection past `maxPendingHandshakes` is closed at once; one past
 * `maxConnectionsPerAddress` is answered 429 and closed within 2 seconds
 * (or, past twice the limit, closed at once). An admitted connection counts
 * for its address until its handshake fails or, once it is a socket, until
 * {@linkcode Admission.release} says it closed.
 */
export class Admission {
  readonly #pending = new Set<Conn>();
  readonly #refusing = new Set<Conn>();
  readonly #addresses: AddressLimit;
  readonly #maxPending: number;
  readonly #maxPerAddress: number;
  readonly #maxConnections: number;
  readonly #stats: ServerMetrics;
  readonly #log: Logger;
  #reserved = 0;

  /**
   * Makes the admission of one server.
   *
   * @param options The limits, and where refusals are counted and logged.
   */
  constructor(options: AdmissionOptions) {
    this.#maxPending = options.maxPendingHandshakes ?? DEFAULTS.maxPendingHandshakes;
    this.#maxPerAddress = options.maxConnectionsPerAddress ?? DEFAULTS.maxConnectionsPerAddress;
    this.#addresses = new AddressLimit(this.#maxPerAddress);
    this.#maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
    this.#stats = options.stats;
    this.#log = options.logger ?? SILENT;
  }

  /** Connections admitted and neither a socket yet nor done. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Decides about a connection just accepted: admitted, it is pending;
   * refused, it is closed (or answered 429, then closed) here.
   *
   * @param conn The connection.
   * @returns Whether it was admitted.
   */
  admit(conn: Conn): boolean {
    const address = addressOf(conn);
    if (this.#pending.size >= this.#maxPending) {
      closeQuietly(conn);
      this.#refused("pending-handshakes", address, this.#maxPending, false);
      return false;
    }
    const verdict = this.#addresses.admit(address);
    if (verdict === "admit") {
      this.#pending.add(conn);
      return true;
    }
    this.#refused("per-address", address, this.#maxPerAddress, verdict === "refuse");
    if (verdict === "drop") {
      closeQuietly(conn);
      return false;
    }
    this.#refusing.add(conn);
    answerAndClose(conn, TOO_MANY_FROM_ADDRESS).finally(() => {
      this.#refusing.delete(conn);
      this.#addresses.refused(address);
    });
    return false;
  }

  /**
   * Holds a place within `maxConnections` while a request becomes a socket
   * (its checks, its answer), so that concurrent ones cannot overshoot the
   * limit.
   *
   * @param conn The connection.
   * @param open How many sockets are open.
   * @returns A function that gives the place back (once the socket is open
   * and counted, or the request refused).
   * @throws {HttpError} 503 past the limit, logged as `connection-refused`
   * (`max-connections`).
   */
  reserve(conn: Conn, open: number): () => void {
    if (open + this.#reserved >= this.#maxConnections) {
      this.#log.warn("connection-refused", {
        reason: "max-connections",
        remote: addressOf(conn),
        limit: this.#maxConnections,
      });
      throw new HttpError(503, "Too many connections");
    }
    this.#reserved++;
    let held = true;
    return () => {
      if (held) this.#reserved--;
      held = false;
    };
  }

  /**
   * A pending connection became a socket: no longer pending, still counted
   * for its address until {@linkcode Admission.release}.
   *
   * @param conn The connection.
   */
  upgraded(conn: Conn): void {
    this.#pending.delete(conn);
  }

  /**
   * A pending connection is done without becoming a socket (answered,
   * refused, timed out, gone).
   *
   * @param conn The connection.
   */
  done(conn: Conn): void {
    if (this.#pending.delete(conn)) this.#addresses.release(addressOf(conn));
  }

  /**
   * A socket's connection closed.
   *
   * @param address Its remote address, as {@linkcode addressOf} gives it.
   */
  release(address: string): void {
    this.#addresses.release(address);
  }

  /**
   * Closes every pending connection and every refusal being answered (at
   * shutdown).
   *
   * @returns How many were closed.
   */
  closeAll(): number {
    const count = this.#pending.size + this.#refusing.size;
    for (const conn of this.#pending) closeQuietly(conn);
    for (const conn of this.#refusing) closeQuietly(conn);
    return count;
  }

  #refused(
    reason: "pending-handshakes" | "per-address",
    remote: string,
    limit: number,
    answered: boolean,
  ): void {
    this.#stats.recordRefusal(reason);
    this.#log.warn("connection-refused", { reason, remote, limit, answered });
  }
}

/**
 * The remote address of a connection, as the per-address limit counts it.
 *
 * @param conn A connection.
 * @returns Its remote IP address, in lower case.
 */
export function addressOf(conn: { readonly remoteAddr: Deno.NetAddr }): string {
  return conn.remoteAddr.hostname.toLowerCase();
}
