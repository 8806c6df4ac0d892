/**
 * A request's header fields as a read-only map kept in one flat array, names
 * and values in turn. A socket keeps its request for its whole life, and a
 * `Map` of a handful of fields costs several times the array; a head has at
 * most a bounded number of fields (`maxHeaders`), so a lookup scans.
 *
 * @module
 */

// Names most requests carry, lower-cased once here: a parsed name equal to
// one of them is replaced by it, so that sockets share these strings.
const COMMON_NAMES = new Map(
  [
    "host",
    "upgrade",
    "connection",
    "origin",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "pragma",
    "cookie",
    "authorization",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "content-type",
    "content-length",
    "last-event-id",
  ].map((name) => [name, name]),
);

/**
 * The shared copy of a lower-cased header name, when it is a common one.
 *
 * @example
 * ```ts
 * import { commonName } from "./header_fields.ts";
 *
 * console.log(commonName("Host".toLowerCase())); // "host", the shared string
 * ```
 *
 * @param name A lower-cased header name.
 * @returns The shared string equal to it, or `name`.
 */
export function commonName(name: string): string {
  return COMMON_NAMES.get(name) ?? name;
}

/**
 * Header fields, names in lower case, as a `ReadonlyMap` over one array.
 *
 * @example
 * ```ts
 * import { HeaderFields } from "./header_fields.ts";
 *
 * const headers = new HeaderFields(new Map([["host", "a.example"], ["upgrade", "websocket"]]));
 * console.log(headers.get("upgrade"), headers.size); // "websocket" 2
 * console.log([...headers.keys()]); // ["host", "upgrade"]
 * ```
 */
export class HeaderFields implements ReadonlyMap<string, string> {
  readonly #fields: string[];

  /**
   * Copies fields into the flat array.
   *
   * @param fields The fields, each name once (repeated fields already joined).
   */
  constructor(fields: ReadonlyMap<string, string>) {
    // Sized once: an array grown by pushes keeps spare room.
    const flat = new Array<string>(fields.size * 2);
    let at = 0;
    for (const [name, value] of fields) {
      flat[at++] = name;
      flat[at++] = value;
    }
    this.#fields = flat;
  }

  /** How many fields there are. */
  get size(): number {
    return this.#fields.length >>> 1;
  }

  /**
   * A field's value.
   *
   * @param name A lower-case name.
   * @returns Its value, or `undefined`.
   */
  get(name: string): string | undefined {
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === name) return fields[i + 1];
    }
    return undefined;
  }

  /**
   * Whether a field is present.
   *
   * @param name A lower-case name.
   * @returns `true` when it is.
   */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * Calls `callback` with each field, in the request's order.
   *
   * @param callback Called with the value, the name and this map.
   * @param thisArg `this` for `callback`.
   */
  forEach(
    callback: (value: string, name: string, map: ReadonlyMap<string, string>) => void,
    thisArg?: unknown,
  ): void {
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i += 2) {
      callback.call(thisArg, fields[i + 1]!, fields[i]!, this);
    }
  }

  /**
   * The fields as `[name, value]` pairs, in the request's order.
   *
   * @returns An iterator over them.
   */
  entries(): MapIterator<[string, string]> {
    return this.#map().entries();
  }

  /**
   * The names, in the request's order.
   *
   * @returns An iterator over them.
   */
  keys(): MapIterator<string> {
    return this.#map().keys();
  }

  /**
   * The values, in the request's order.
   *
   * @returns An iterator over them.
   */
  values(): MapIterator<string> {
    return this.#map().values();
  }

  /**
   * The fields as `[name, value]` pairs, as {@linkcode HeaderFields.entries}.
   *
   * @returns An iterator over them.
   */
  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }

  // A Map of the fields, made for an iteration (rare: lookups are the use).
  #map(): Map<string, string> {
    const map = new Map<string, string>();
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
    return map;
  }
}
