/**
 * Where a server listens: TCP, or TLS with a certificate and key; and its
 * address as a log line shows it.
 *
 * @module
 */

import { DEFAULTS } from "../defaults.ts";

/** A listener of TCP (or TLS) connections. */
export type Listener = Deno.Listener<Deno.Conn<Deno.NetAddr>, Deno.NetAddr>;

/** Where and how to listen. */
export interface ListenOptions {
  /** The port; `0` picks a free one. @default {8080} */
  port?: number;
  /** The address. @default {"0.0.0.0"} */
  hostname?: string;
  /** A PEM certificate chain, for TLS with `key`. */
  cert?: string;
  /** Its PEM private key. */
  key?: string;
  /**
   * Lets several listeners (a server's workers) share the port, the kernel
   * spreading connections between them (`SO_REUSEPORT`, Linux; Deno's
   * `--unstable-net`).
   *
   * @default {false}
   */
  reusePort?: boolean;
}

/**
 * Listens on TCP, or on TLS when a certificate and key are given.
 *
 * @param options The port, address, certificate and key.
 * @returns The listener.
 * @throws {TypeError} For `cert` without `key`, or the reverse.
 */
export function listen(options: ListenOptions): Listener {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("Cannot serve TLS: cert and key must be given together");
  }
  const where = {
    port: options.port ?? DEFAULTS.port,
    hostname: options.hostname ?? DEFAULTS.hostname,
    ...(options.reusePort === true ? { reusePort: true } : {}),
  };
  return options.cert !== undefined && options.key !== undefined
    ? Deno.listenTls({ ...where, cert: options.cert, key: options.key })
    : Deno.listen(where);
}

/**
 * An address as `host:port`, with an IPv6 address in brackets.
 *
 * @example
 * ```ts
 * import { hostPort } from "./listen.ts";
 *
 * console.log(hostPort({ transport: "tcp", hostname: "::1", port: 8080 })); // "[::1]:8080"
 * ```
 *
 * @param addr The address.
 * @returns The text.
 */
export function hostPort(addr: Deno.NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
