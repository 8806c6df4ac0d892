/**
 * `Sec-WebSocket-Extensions` parsing (RFC 6455 §9.1) and the negotiation of
 * permessage-deflate (RFC 7692 §7.1): which offer the server accepts, with
 * which parameters, and the response header that says so.
 *
 * The server's policy, chosen so that compression costs one deflate per
 * broadcast and no memory per idle connection:
 *
 * - It always answers `server_no_context_takeover`: every message is
 *   compressed on its own, so one compressed frame is valid for every socket
 *   with the same window size (compress once, fan out), and no deflate state
 *   lives between messages.
 * - By default it also answers `client_no_context_takeover`, which RFC 7692
 *   §7.1.1.2 lets a server do whether or not the client offered it: then no
 *   inflate history lives between messages either. With
 *   {@linkcode DeflateOptions.clientNoContextTakeover} set to `false`, a
 *   client that keeps its context costs up to 2^`clientMaxWindowBits` bytes
 *   of history per connection.
 * - `server_max_window_bits=N` from the client is honoured (answered with N,
 *   or less when the server is configured lower); the server can always
 *   compress with a smaller window.
 * - `client_max_window_bits` is answered only when the client sent it, never
 *   otherwise (RFC 7692 §7.1.2.2).
 * - An offer with an unknown parameter, a repeated parameter or an invalid
 *   value is declined and the next offer is tried; when none is left, the
 *   connection goes on without compression.
 *
 * @module
 */

/** A window size as RFC 7692 §7.1.2 counts it: the base-2 logarithm, 8 to 15. */
export type WindowBits = 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15;

/** One parameter of an extension offer. */
export interface ExtensionParam {
  /** The parameter's name, in lower case. */
  name: string;
  /** Its value, unquoted, or `undefined` when the parameter has none. */
  value: string | undefined;
}

/** One element of a `Sec-WebSocket-Extensions` header. */
export interface ExtensionOffer {
  /** The extension's name, in lower case. */
  name: string;
  /** Its parameters in the order sent, repeats included. */
  params: ExtensionParam[];
}

/** The permessage-deflate parameters both sides agreed on. */
export interface DeflateParams {
  /**
   * The server compresses every message with a fresh context. Always `true`:
   * that is what lets one compressed frame serve every socket.
   */
  serverNoContextTakeover: true;
  /** The client compresses every message with a fresh context. */
  clientNoContextTakeover: boolean;
  /** The largest window the server compresses with. */
  serverMaxWindowBits: WindowBits;
  /** The largest window the client may compress with. */
  clientMaxWindowBits: WindowBits;
}

/** The server's side of the negotiation, for {@linkcode negotiateDeflate}. */
export interface DeflateOptions {
  /**
   * Ask every client to compress each message on its own, even one that did
   * not offer to (RFC 7692 §7.1.1.2). The server then keeps nothing between
   * messages; a client's messages compress a little less well. With `false`,
   * a client that keeps its context across messages costs up to
   * 2^{@linkcode DeflateOptions.clientMaxWindowBits} bytes per connection.
   *
   * @default {true}
   */
  clientNoContextTakeover?: boolean;
  /**
   * The largest window the server compresses with. Below 15 it is announced
   * as `server_max_window_bits`; a client may ask for less.
   *
   * @default {15}
   */
  serverMaxWindowBits?: WindowBits;
  /**
   * The largest window asked of a client that allows a limit (it sent
   * `client_max_window_bits`). A client that did not may use 15.
   *
   * @default {15}
   */
  clientMaxWindowBits?: WindowBits;
}

/** An accepted permessage-deflate offer. */
export interface DeflateNegotiation {
  /** The `Sec-WebSocket-Extensions` value for the 101 response. */
  response: string;
  /** The parameters in force for the connection. */
  params: DeflateParams;
}

/** The registered name of the extension (RFC 7692 §7). */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 7692 §7.1.2.1: 1*DIGIT from 8 to 15, without leading zeros.
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1): offers
 * separated by commas, parameters by semicolons, values as tokens or quoted
 * strings. Names are lower-cased, quoted values unescaped, empty list
 * elements skipped (RFC 9110 §5.6.1). Repeated header fields, which the
 * request parser joins with `", "`, parse as one list.
 *
 * @example
 * ```ts
 * import { parseExtensions } from "./extensions.ts";
 *
 * const offers = parseExtensions(
 *   'permessage-deflate; server_max_window_bits="10", permessage-deflate',
 * );
 * console.log(offers[0]); // { name: "permessage-deflate", params: [{ name: "server_max_window_bits", value: "10" }] }
 * console.log(offers.length); // 2
 * ```
 *
 * @param header The header value; `""` for none.
 * @returns The offers, in the client's order of preference.
 * @throws {SyntaxError} When the value does not follow the grammar.
 */
export function parseExtensions(header: string): ExtensionOffer[] {
  return new ExtensionsParser(header).parse();
}

/**
 * Chooses the first permessage-deflate offer the server can honour (RFC 7692
 * §7.1) and builds the response. Offers of other extensions are ignored; a
 * permessage-deflate offer with an unknown, repeated or invalid parameter is
 * declined. A header that does not parse declines them all: the connection
 * goes on uncompressed.
 *
 * @example What Chromium and Node's `ws` offer
 * ```ts
 * import { negotiateDeflate } from "./extensions.ts";
 *
 * const accepted = negotiateDeflate("permessage-deflate; client_max_window_bits");
 * console.log(accepted?.response);
 * // "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
 * console.log(accepted?.params.clientMaxWindowBits); // 15
 * console.log(negotiateDeflate("x-webkit-deflate-frame")); // undefined
 * ```
 *
 * @param offerHeader The request's `Sec-WebSocket-Extensions` value.
 * @param options The server's limits.
 * @returns The response and the agreed parameters, or `undefined` when no
 * offer can be accepted.
 * @throws {RangeError} When an option's window size is not 8 to 15.
 */
export function negotiateDeflate(
  offerHeader: string,
  options: DeflateOptions = {},
): DeflateNegotiation | undefined {
  const serverLimit = checkWindowBits(options.serverMaxWindowBits ?? 15, "serverMaxWindowBits");
  const clientLimit = checkWindowBits(options.clientMaxWindowBits ?? 15, "clientMaxWindowBits");
  const forceClientNoContext = options.clientNoContextTakeover ?? true;
  let offers: ExtensionOffer[];
  try {
    offers = parseExtensions(offerHeader);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const requested = readDeflateOffer(offer);
    if (requested === undefined) continue;
    return accept(requested, serverLimit, clientLimit, forceClientNoContext);
  }
  return undefined;
}

// What a valid permessage-deflate offer asks for. For client_max_window_bits,
// `true` means sent without a value and `undefined` not sent.
interface DeflateOffer {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: WindowBits | undefined;
  clientMaxWindowBits: WindowBits | true | undefined;
}

// Reads an offer's parameters, or returns `undefined` when RFC 7692 §7.1
// says to decline it: an unknown parameter, a repeated one, a bad value.
function readDeflateOffer(offer: ExtensionOffer): DeflateOffer | undefined {
  const seen = new Set<string>();
  const result: DeflateOffer = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  for (const { name, value } of offer.params) {
    if (seen.has(name)) return undefined;
    seen.add(name);
    switch (name) {
      case "server_no_context_takeover":
        if (value !== undefined) return undefined;
        result.serverNoContextTakeover = true;
        break;
      case "client_no_context_takeover":
        if (value !== undefined) return undefined;
        result.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits":
        if (value === undefined || !WINDOW_BITS.test(value)) return undefined;
        result.serverMaxWindowBits = Number(value) as WindowBits;
        break;
      case "client_max_window_bits":
        if (value !== undefined && !WINDOW_BITS.test(value)) return undefined;
        result.clientMaxWindowBits = value === undefined ? true : Number(value) as WindowBits;
        break;
      default:
        return undefined;
    }
  }
  return result;
}

function accept(
  offer: DeflateOffer,
  serverLimit: WindowBits,
  clientLimit: WindowBits,
  forceClientNoContext: boolean,
): DeflateNegotiation {
  const clientNoContextTakeover = offer.clientNoContextTakeover || forceClientNoContext;
  const serverMaxWindowBits = offer.serverMaxWindowBits === undefined
    ? serverLimit
    : minBits(offer.serverMaxWindowBits, serverLimit);
  let clientMaxWindowBits: WindowBits = 15;
  const parts = [PERMESSAGE_DEFLATE, "server_no_context_takeover"];
  if (clientNoContextTakeover) parts.push("client_no_context_takeover");
  // Answered when the client sent it (the answer must then be there, §7.1.2.1)
  // or when a smaller window saves the client memory; allowed either way.
  if (offer.serverMaxWindowBits !== undefined || serverMaxWindowBits < 15) {
    parts.push(`server_max_window_bits=${serverMaxWindowBits}`);
  }
  if (offer.clientMaxWindowBits === true) {
    // The client allows a limit of our choosing; without one it uses 15.
    clientMaxWindowBits = clientLimit;
    if (clientLimit < 15) parts.push(`client_max_window_bits=${clientLimit}`);
  } else if (offer.clientMaxWindowBits !== undefined) {
    // The client will not exceed its own value; we may ask for less.
    clientMaxWindowBits = minBits(offer.clientMaxWindowBits, clientLimit);
    parts.push(`client_max_window_bits=${clientMaxWindowBits}`);
  }
  // Not sent: the client uses up to 15, and the response must not limit it.
  return {
    response: parts.join("; "),
    params: {
      serverNoContextTakeover: true,
      clientNoContextTakeover,
      serverMaxWindowBits,
      clientMaxWindowBits,
    },
  };
}

function minBits(a: WindowBits, b: WindowBits): WindowBits {
  return a < b ? a : b;
}

function checkWindowBits(bits: number, option: string): WindowBits {
  if (!Number.isInteger(bits) || bits < 8 || bits > 15) {
    throw new RangeError(`Cannot negotiate permessage-deflate: ${option} must be 8 to 15`);
  }
  return bits as WindowBits;
}

// A recursive-descent parser over one header value. Every method starts at
// `#at` and leaves it after what it read.
class ExtensionsParser {
  readonly #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parse(): ExtensionOffer[] {
    const offers: ExtensionOffer[] = [];
    while (true) {
      this.#skipSpace();
      if (this.#at === this.#text.length) return offers;
      if (this.#peek() !== ",") offers.push(this.#offer());
      this.#skipSpace();
      if (this.#at === this.#text.length) return offers;
      this.#expect(",");
    }
  }

  #offer(): ExtensionOffer {
    const name = this.#token("an extension name").toLowerCase();
    const params: ExtensionParam[] = [];
    while (true) {
      this.#skipSpace();
      if (this.#peek() !== ";") return { name, params };
      this.#at++;
      this.#skipSpace();
      const paramName = this.#token("a parameter name").toLowerCase();
      this.#skipSpace();
      let value: string | undefined;
      if (this.#peek() === "=") {
        this.#at++;
        this.#skipSpace();
        value = this.#peek() === '"' ? this.#quotedToken() : this.#token("a parameter value");
      }
      params.push({ name: paramName, value });
    }
  }

  #token(what: string): string {
    const start = this.#at;
    while (this.#at < this.#text.length && TOKEN_CHAR.test(this.#text[this.#at]!)) this.#at++;
    if (this.#at === start) this.#fail(`expected ${what}`);
    return this.#text.slice(start, this.#at);
  }

  // A quoted-string whose unescaped content must be a token (RFC 6455 §9.1).
  #quotedToken(): string {
    this.#at++; // the opening quote
    let value = "";
    while (true) {
      const char = this.#text[this.#at++];
      if (char === undefined) this.#fail("unterminated quoted string");
      if (char === '"') break;
      if (char === "\\") {
        const escaped = this.#text[this.#at++];
        if (escaped === undefined) this.#fail("unterminated quoted string");
        value += escaped;
      } else {
        value += char;
      }
    }
    if (!TOKEN.test(value)) this.#fail("a quoted parameter value must be a token");
    return value;
  }

  #skipSpace(): void {
    while (this.#peek() === " " || this.#peek() === "\t") this.#at++;
  }

  #peek(): string | undefined {
    return this.#text[this.#at];
  }

  #expect(char: string): void {
    if (this.#peek() !== char) this.#fail(`expected "${char}"`);
    this.#at++;
  }

  #fail(message: string): never {
    throw new SyntaxError(
      `Cannot parse Sec-WebSocket-Extensions: ${message} at offset ${this.#at}`,
    );
  }
}
