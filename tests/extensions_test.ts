import { assert, assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import {
  type DeflateOptions,
  type DeflateParams,
  type ExtensionOffer,
  negotiateDeflate,
  parseExtensions,
  PERMESSAGE_DEFLATE,
  type WindowBits,
} from "../src/protocol/extensions.ts";

function offer(name: string, ...params: [string, string?][]): ExtensionOffer {
  return { name, params: params.map(([name, value]) => ({ name, value })) };
}

const PARSE_VECTORS: { header: string; offers: ExtensionOffer[] }[] = [
  { header: "", offers: [] },
  { header: "permessage-deflate", offers: [offer("permessage-deflate")] },
  {
    header: "permessage-deflate; client_max_window_bits",
    offers: [offer("permessage-deflate", ["client_max_window_bits"])],
  },
  {
    header: "Permessage-Deflate; Server_Max_Window_Bits=10",
    offers: [offer("permessage-deflate", ["server_max_window_bits", "10"])],
  },
  {
    header: 'permessage-deflate; server_max_window_bits="10"',
    offers: [offer("permessage-deflate", ["server_max_window_bits", "10"])],
  },
  {
    header: 'x; a="1\\0"',
    offers: [offer("x", ["a", "10"])],
  },
  {
    header: " permessage-deflate ;\tclient_no_context_takeover , x-foo ; a = b ;c",
    offers: [
      offer("permessage-deflate", ["client_no_context_takeover"]),
      offer("x-foo", ["a", "b"], ["c"]),
    ],
  },
  {
    header: ", permessage-deflate,, ,",
    offers: [offer("permessage-deflate")],
  },
  {
    // Two header fields, joined by the request parser.
    header: "permessage-deflate; server_no_context_takeover, permessage-deflate",
    offers: [
      offer("permessage-deflate", ["server_no_context_takeover"]),
      offer("permessage-deflate"),
    ],
  },
  {
    header: "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    offers: [
      offer("permessage-deflate", ["client_no_context_takeover"], ["client_no_context_takeover"]),
    ],
  },
];

const MALFORMED = [
  "permessage-deflate;",
  "; a",
  "permessage-deflate; a=",
  "permessage-deflate; =1",
  'a; b="c',
  'a; b="c\\',
  'a; b="c d"',
  'a; b=""',
  "a b",
  "a; b=c d",
  "a; b=c=d",
  "a; b=@",
  "a, ;",
  "permessage-deflate\x00",
];

Deno.test("parseExtensions() reads offers, parameters and quoted values", async (t) => {
  for (const { header, offers } of PARSE_VECTORS) {
    await t.step(JSON.stringify(header), () => {
      assertEquals(parseExtensions(header), offers);
    });
  }
});

Deno.test("parseExtensions() throws a SyntaxError for a malformed header", async (t) => {
  for (const header of MALFORMED) {
    await t.step(JSON.stringify(header), () => {
      assertThrows(() => parseExtensions(header), SyntaxError, "Cannot parse");
    });
  }
});

const DEFAULT_PARAMS: DeflateParams = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

interface NegotiationVector {
  name: string;
  offer: string;
  options?: DeflateOptions;
  /** The response, or `undefined` when every offer is declined. */
  response: string | undefined;
  params?: Partial<DeflateParams>;
}

const BASE = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

const NEGOTIATION_VECTORS: NegotiationVector[] = [
  // What real clients send.
  {
    name: "Chromium, Node ws 8 and Python websockets 10.4",
    offer: "permessage-deflate; client_max_window_bits",
    response: BASE,
  },
  { name: "Firefox and Safari", offer: "permessage-deflate", response: BASE },
  {
    name: "Autobahn's default offer",
    offer: "permessage-deflate; client_no_context_takeover; client_max_window_bits",
    response: BASE,
  },
  {
    name: "Autobahn 13.3: server_max_window_bits=8",
    offer:
      "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8",
    response: `${BASE}; server_max_window_bits=8`,
    params: { serverMaxWindowBits: 8 },
  },
  {
    name: "Autobahn 13.4: server_max_window_bits=15",
    offer:
      "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15",
    response: `${BASE}; server_max_window_bits=15`,
  },
  {
    name: "Autobahn 13.5: server_no_context_takeover and server_max_window_bits=8",
    offer: "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
      "server_no_context_takeover; server_max_window_bits=8",
    response: `${BASE}; server_max_window_bits=8`,
    params: { serverMaxWindowBits: 8 },
  },
  {
    name: "Autobahn 13.6: server_no_context_takeover and server_max_window_bits=15",
    offer: "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
      "server_no_context_takeover; server_max_window_bits=15",
    response: `${BASE}; server_max_window_bits=15`,
  },
  {
    name: "Autobahn 13.7: three offers, the first is accepted",
    offer: "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
      "server_no_context_takeover; server_max_window_bits=8, " +
      "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
      "server_no_context_takeover, " +
      "permessage-deflate; client_no_context_takeover; client_max_window_bits",
    response: `${BASE}; server_max_window_bits=8`,
    params: { serverMaxWindowBits: 8 },
  },
  {
    name: "Python websockets as a client with explicit window sizes",
    offer: "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    response: `${BASE}; server_max_window_bits=12; client_max_window_bits=12`,
    params: { serverMaxWindowBits: 12, clientMaxWindowBits: 12 },
  },
  {
    name: "a quoted value",
    offer: 'permessage-deflate; server_max_window_bits="10"',
    response: `${BASE}; server_max_window_bits=10`,
    params: { serverMaxWindowBits: 10 },
  },
  {
    name: "names in any case",
    offer: "PERMESSAGE-DEFLATE; Client_Max_Window_Bits=9",
    response: `${BASE}; client_max_window_bits=9`,
    params: { clientMaxWindowBits: 9 },
  },
  // Declined offers: the next one, or none.
  {
    name: "server_max_window_bits without a value",
    offer: "permessage-deflate; server_max_window_bits",
    response: undefined,
  },
  ...["7", "16", "08", "010", "1e1", "-9", "ten"].map((value) => ({
    name: `server_max_window_bits=${value}`,
    offer: `permessage-deflate; server_max_window_bits=${value}`,
    response: undefined,
  })),
  ...["7", "16", "08"].map((value) => ({
    name: `client_max_window_bits=${value}`,
    offer: `permessage-deflate; client_max_window_bits=${value}`,
    response: undefined,
  })),
  {
    name: "server_no_context_takeover with a value",
    offer: "permessage-deflate; server_no_context_takeover=true",
    response: undefined,
  },
  {
    name: "client_no_context_takeover with a value",
    offer: 'permessage-deflate; client_no_context_takeover="1"',
    response: undefined,
  },
  {
    name: "a repeated parameter",
    offer: "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    response: undefined,
  },
  {
    name: "a repeated window size, even with the same value",
    offer: "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
    response: undefined,
  },
  {
    name: "an unknown parameter",
    offer: "permessage-deflate; mux",
    response: undefined,
  },
  {
    name: "a declined offer, then an acceptable one",
    offer:
      "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits",
    response: BASE,
  },
  {
    name: "other extensions before permessage-deflate",
    offer: "x-webkit-deflate-frame, permessage-bzip2; level=1, permessage-deflate",
    response: BASE,
  },
  { name: "other extensions only", offer: "x-webkit-deflate-frame", response: undefined },
  { name: "no header", offer: "", response: undefined },
  {
    name: "a malformed header declines everything",
    offer: "permessage-deflate, permessage-deflate; a=",
    response: undefined,
  },
  // The server's options.
  {
    name: "client context takeover allowed",
    offer: "permessage-deflate; client_max_window_bits",
    options: { clientNoContextTakeover: false },
    response: "permessage-deflate; server_no_context_takeover",
    params: { clientNoContextTakeover: false },
  },
  {
    name: "client context takeover allowed, but the client gives it up",
    offer: "permessage-deflate; client_no_context_takeover",
    options: { clientNoContextTakeover: false },
    response: BASE,
  },
  {
    name: "a smaller server window is announced unasked",
    offer: "permessage-deflate",
    options: { serverMaxWindowBits: 10 },
    response: `${BASE}; server_max_window_bits=10`,
    params: { serverMaxWindowBits: 10 },
  },
  {
    name: "the smaller of the client's and the server's server window",
    offer: "permessage-deflate; server_max_window_bits=12",
    options: { serverMaxWindowBits: 10 },
    response: `${BASE}; server_max_window_bits=10`,
    params: { serverMaxWindowBits: 10 },
  },
  {
    name: "a client window limit, when the client allows one",
    offer: "permessage-deflate; client_max_window_bits",
    options: { clientNoContextTakeover: false, clientMaxWindowBits: 10 },
    response: "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
    params: { clientNoContextTakeover: false, clientMaxWindowBits: 10 },
  },
  {
    name: "no client window limit when the client does not allow one",
    offer: "permessage-deflate",
    options: { clientNoContextTakeover: false, clientMaxWindowBits: 10 },
    response: "permessage-deflate; server_no_context_takeover",
    params: { clientNoContextTakeover: false, clientMaxWindowBits: 15 },
  },
  {
    name: "the smaller of the client's and the server's client window",
    offer: "permessage-deflate; client_max_window_bits=9",
    options: { clientMaxWindowBits: 10 },
    response: `${BASE}; client_max_window_bits=9`,
    params: { clientMaxWindowBits: 9 },
  },
];

Deno.test("negotiateDeflate() answers offers as RFC 7692 §7.1 says", async (t) => {
  for (const vector of NEGOTIATION_VECTORS) {
    await t.step(vector.name, () => {
      const result = negotiateDeflate(vector.offer, vector.options);
      if (vector.response === undefined) {
        assertEquals(result, undefined);
        return;
      }
      assertEquals(result?.response, vector.response);
      assertEquals(result?.params, { ...DEFAULT_PARAMS, ...vector.params });
    });
  }
});

Deno.test("negotiateDeflate() rejects window sizes outside 8..15 in its options", () => {
  for (const bits of [7, 16, 12.5, NaN]) {
    assertThrows(
      () => negotiateDeflate("permessage-deflate", { serverMaxWindowBits: bits as WindowBits }),
      RangeError,
      "serverMaxWindowBits",
    );
    assertThrows(
      () => negotiateDeflate("permessage-deflate", { clientMaxWindowBits: bits as WindowBits }),
      RangeError,
      "clientMaxWindowBits",
    );
  }
});

/** Every combination of the four parameters a client may offer. */
function* allOffers(): Generator<string> {
  const sizes = ["8", "9", "10", "11", "12", "13", "14", "15"];
  for (const serverNoContext of [false, true]) {
    for (const clientNoContext of [false, true]) {
      for (const server of [undefined, ...sizes]) {
        for (const client of [undefined, "", ...sizes]) {
          let offer = PERMESSAGE_DEFLATE;
          if (serverNoContext) offer += "; server_no_context_takeover";
          if (clientNoContext) offer += "; client_no_context_takeover";
          if (server !== undefined) offer += `; server_max_window_bits=${server}`;
          if (client === "") offer += "; client_max_window_bits";
          else if (client !== undefined) offer += `; client_max_window_bits=${client}`;
          yield offer;
        }
      }
    }
  }
}

function* allOptions(): Generator<DeflateOptions> {
  for (const clientNoContextTakeover of [true, false]) {
    for (const serverMaxWindowBits of [8, 11, 15] as WindowBits[]) {
      for (const clientMaxWindowBits of [8, 11, 15] as WindowBits[]) {
        yield { clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits };
      }
    }
  }
}

Deno.test("negotiateDeflate() never answers with a parameter the client did not allow", () => {
  let checked = 0;
  for (const offerHeader of allOffers()) {
    const [sent] = parseExtensions(offerHeader);
    const asked = new Map(sent!.params.map(({ name, value }) => [name, value]));
    for (const options of allOptions()) {
      const result = negotiateDeflate(offerHeader, options);
      assert(result !== undefined, `declined ${offerHeader}`);
      const [answer, ...more] = parseExtensions(result.response);
      assertEquals(more, []);
      assertEquals(answer!.name, PERMESSAGE_DEFLATE);
      const answered = new Map(answer!.params.map(({ name, value }) => [name, value]));
      assertEquals(answered.size, answer!.params.length, "no parameter twice");
      const { params } = result;
      // server_no_context_takeover: always answered; allowed unasked (§7.1.1.1).
      assertEquals(answered.get("server_no_context_takeover"), undefined);
      assert(answered.has("server_no_context_takeover"));
      // client_no_context_takeover: allowed unasked (§7.1.1.2); answered iff in force.
      assertEquals(answered.has("client_no_context_takeover"), params.clientNoContextTakeover);
      if (asked.has("client_no_context_takeover")) assert(params.clientNoContextTakeover);
      // server_max_window_bits: answered when asked, never above what was asked.
      const server = answered.get("server_max_window_bits");
      if (asked.has("server_max_window_bits")) {
        assertEquals(Number(server), params.serverMaxWindowBits);
        assert(params.serverMaxWindowBits <= Number(asked.get("server_max_window_bits")));
      }
      assert(params.serverMaxWindowBits <= (options.serverMaxWindowBits ?? 15));
      if (server === undefined) assertEquals(params.serverMaxWindowBits, 15);
      // client_max_window_bits: only when asked (§7.1.2.2), never above the client's value.
      const client = answered.get("client_max_window_bits");
      if (!asked.has("client_max_window_bits")) {
        assert(!answered.has("client_max_window_bits"), `${offerHeader} → ${result.response}`);
        assertEquals(params.clientMaxWindowBits, 15);
      } else if (client !== undefined) {
        assertEquals(Number(client), params.clientMaxWindowBits);
        const limit = asked.get("client_max_window_bits");
        if (limit !== undefined) assert(params.clientMaxWindowBits <= Number(limit));
      }
      checked++;
    }
  }
  assertEquals(checked, 4 * 9 * 10 * 18);
});

Deno.test("negotiateDeflate() lets other errors than syntax through", () => {
  // A syntax error declines; an option out of range is the caller's mistake.
  assertEquals(negotiateDeflate('permessage-deflate; a="'), undefined);
  const error = assertThrows(() =>
    negotiateDeflate('permessage-deflate; a="', { serverMaxWindowBits: 16 as WindowBits })
  );
  assertInstanceOf(error, RangeError);
});
