/**
 * The per-address connection limit, pure: how many connections each remote
 * address holds (open sockets and pending handshakes), and what to do with
 * one more.
 *
 * @module
 */

/**
 * What to do with a connection just accepted from an address:
 *
 * - `"admit"`: read its request (it now counts for its address).
 * - `"refuse"`: the address is at its limit: answer 429 at once, then close
 *   (call {@linkcode AddressLimit.refused} once done).
 * - `"drop"`: the address is at its limit and as many refusals are being
 *   answered already: close at once, writing nothing.
 */
export type AddressVerdict = "admit" | "refuse" | "drop";

/** The connections one address holds. */
export interface AddressCounts {
  /** Admitted and not yet released. */
  admitted: number;
  /** Refusals being answered. */
  refusing: number;
}

/**
 * Counts the connections of each remote address against a limit. An address
 * at the limit gets as many refusals again (answered with a status), then
 * its connections are dropped, so that one address can hold at most twice
 * the limit, refusals included.
 *
 * @example
 * ```ts
 * import { AddressLimit } from "./address_limit.ts";
 *
 * const limit = new AddressLimit(1);
 * console.log(limit.admit("10.0.0.7"), limit.admit("10.0.0.7"), limit.admit("10.0.0.7")); // "admit" "refuse" "drop"
 * limit.release("10.0.0.7");
 * console.log(limit.admit("10.0.0.7")); // "admit"
 * ```
 */
export class AddressLimit {
  readonly #max: number;
  readonly #held = new Map<string, AddressCounts>();

  /**
   * Makes a limit.
   *
   * @param max The most connections per address; `0` for no limit.
   */
  constructor(max: number) {
    this.#max = max;
  }

  /** Addresses holding connections now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Decides about one more connection from `address`, and counts it.
   *
   * @param address The remote address (an IP address).
   * @returns The verdict.
   */
  admit(address: string): AddressVerdict {
    if (this.#max <= 0) return "admit";
    let held = this.#held.get(address);
    if (held === undefined) {
      held = { admitted: 0, refusing: 0 };
      this.#held.set(address, held);
    }
    if (held.admitted < this.#max) {
      held.admitted++;
      return "admit";
    }
    if (held.refusing < this.#max) {
      held.refusing++;
      return "refuse";
    }
    return "drop";
  }

  /**
   * An admitted connection ended (its handshake failed, or its socket
   * closed).
   *
   * @param address Its remote address.
   */
  release(address: string): void {
    this.#update(address, (held) => held.admitted--);
  }

  /**
   * A refusal was answered and its connection closed.
   *
   * @param address Its remote address.
   */
  refused(address: string): void {
    this.#update(address, (held) => held.refusing--);
  }

  /**
   * The connections an address holds now.
   *
   * @param address A remote address.
   * @returns Admitted connections, and refusals being answered.
   */
  held(address: string): Readonly<AddressCounts> {
    return { ...(this.#held.get(address) ?? { admitted: 0, refusing: 0 }) };
  }

  #update(address: string, change: (held: AddressCounts) => void): void {
    if (this.#max <= 0) return;
    const held = this.#held.get(address);
    if (held === undefined) return;
    change(held);
    if (held.admitted <= 0 && held.refusing <= 0) this.#held.delete(address);
  }
}
