import {
  assert,
  assertEquals,
  assertExists,
  assertInstanceOf,
  assertStrictEquals,
  assertThrows,
  fail,
} from "@std/assert";
import { HttpError } from "../src/protocol/errors.ts";
import {
  acceptKey,
  isUpgradeRequest,
  type UpgradeRequest,
  upgradeResponse,
  validateUpgrade,
  WEBSOCKET_GUID,
} from "../src/protocol/handshake.ts";
import {
  errorResponse,
  httpResponse,
  type RequestHead,
  RequestHeadParser,
  type RequestHeadParserOptions,
} from "../src/protocol/http_head.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** The request head of RFC 6455 §1.2 with the version the RFC settled on. */
const RFC_LINES = [
  "GET /chat HTTP/1.1",
  "Host: server.example.com",
  "Upgrade: websocket",
  "Connection: Upgrade",
  `Sec-WebSocket-Key: ${KEY}`,
  "Origin: http://example.com",
  "Sec-WebSocket-Protocol: chat, superchat",
  "Sec-WebSocket-Version: 13",
];

function head(lines: string[]): string {
  return lines.join("\r\n") + "\r\n\r\n";
}

/** The RFC request with `name`'s line replaced by `line`, or removed when `line` is null. */
function withLine(name: string, line: string | null): string {
  const lines = RFC_LINES.flatMap((l) =>
    l.toLowerCase().startsWith(name.toLowerCase() + ":") ? (line === null ? [] : [line]) : [l]
  );
  return head(lines);
}

/** The RFC request with another request line. */
function withRequestLine(line: string): string {
  return head([line, ...RFC_LINES.slice(1)]);
}

/** Feeds chunks until the head completes; `rest` is what the parser kept after it. */
function parse(
  chunks: (string | Uint8Array)[],
  options?: RequestHeadParserOptions,
): { head: RequestHead; rest: Uint8Array } {
  const parser = new RequestHeadParser(options);
  for (const chunk of chunks) {
    const result = parser.push(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
    if (result !== undefined) return { head: result, rest: parser.rest };
  }
  return fail("the head never completed");
}

function upgrade(text: string, options?: RequestHeadParserOptions): UpgradeRequest {
  return validateUpgrade(parse([text], options).head);
}

/** The refusal of a request, from the parser or from validateUpgrade(). */
function refusal(chunks: string[], options?: RequestHeadParserOptions): HttpError {
  try {
    const parser = new RequestHeadParser(options);
    let result: RequestHead | undefined;
    for (const chunk of chunks) result = parser.push(encoder.encode(chunk));
    if (result === undefined) return fail("the head never completed");
    validateUpgrade(result);
  } catch (error) {
    assertInstanceOf(error, HttpError);
    return error;
  }
  return fail("the request was accepted");
}

Deno.test("acceptKey() computes the RFC 6455 §1.3 vector", async () => {
  assertEquals(WEBSOCKET_GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  assertEquals(await acceptKey(KEY), ACCEPT);
});

Deno.test("validateUpgrade() accepts the RFC 6455 §1.2 request", () => {
  const request = upgrade(head(RFC_LINES));
  assertEquals(request.method, "GET");
  assertEquals(request.target, "/chat");
  assertEquals(request.path, "/chat");
  assertEquals(request.version, "HTTP/1.1");
  assertEquals(request.key, KEY);
  assertEquals(request.origin, "http://example.com");
  assertEquals(request.protocols, ["chat", "superchat"]);
  assertEquals(request.extensions, "");
  assertEquals(request.headers.get("host"), "server.example.com");
  assert(isUpgradeRequest(request));
});

Deno.test("validateUpgrade() accepts valid requests in any form", async (t) => {
  const cases: { name: string; text: string }[] = [
    {
      name: "mixed-case header names",
      text: head([
        "GET /chat HTTP/1.1",
        "hOST: server.example.com",
        "UPGRADE: websocket",
        "connection: Upgrade",
        `sec-websocket-KEY: ${KEY}`,
        "SEC-WEBSOCKET-VERSION: 13",
      ]),
    },
    {
      name: "odd whitespace around values",
      text: head([
        "GET /chat HTTP/1.1",
        "Host:server.example.com",
        "Upgrade: \t websocket \t",
        "Connection:\tUpgrade   ",
        `Sec-WebSocket-Key:    ${KEY}\t`,
        "Sec-WebSocket-Version:13 ",
      ]),
    },
    {
      name: "Connection: keep-alive, Upgrade",
      text: withLine("connection", "Connection: keep-alive, Upgrade"),
    },
    {
      name: "Connection: upgrade in lower case",
      text: withLine("connection", "Connection: upgrade"),
    },
    { name: "Upgrade: WebSocket", text: withLine("upgrade", "Upgrade: WebSocket") },
    {
      name: "Upgrade with another protocol first",
      text: withLine("upgrade", "Upgrade: h2c, websocket"),
    },
    {
      name: "Connection split over two header lines",
      text: withLine("connection", "Connection: keep-alive\r\nConnection: Upgrade"),
    },
    { name: "bare LF line endings", text: RFC_LINES.join("\n") + "\n\n" },
    { name: "a target with a query", text: withRequestLine("GET /chat?topic=news&x=1 HTTP/1.1") },
  ];
  for (const { name, text } of cases) {
    await t.step(name, () => {
      const request = upgrade(text);
      assertEquals(request.key, KEY);
      assertEquals(request.path, "/chat");
    });
  }
});

Deno.test("RequestHeadParser splits the target into path and query", () => {
  const { head: parsed } = parse([
    "GET /chat/room%201?topic=news&x=1&x=2 HTTP/1.1\r\nHost: a\r\n\r\n",
  ]);
  assertEquals(parsed.target, "/chat/room%201?topic=news&x=1&x=2");
  assertEquals(parsed.path, "/chat/room%201");
  assertEquals(parsed.query.get("topic"), "news");
  assertEquals(parsed.query.getAll("x"), ["1", "2"]);
});

Deno.test({
  name: "RequestHeadParser keeps a path that starts with two slashes",
  fn() {
    const { head: parsed } = parse(["GET //evil.com/healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assertEquals(parsed.path, "//evil.com/healthz");
    assertEquals(parsed.query.get("x"), "1");
  },
});

Deno.test({
  name: "RequestHeadParser trims only spaces and tabs around a field value",
  fn() {
    const withVt = new RequestHeadParser();
    const vt = encoder.encode("GET / HTTP/1.1\r\nHost: a\r\nX: \x0bb\r\n\r\n");
    assertEquals(assertThrows(() => withVt.push(vt), HttpError).status, 400);
    const nbsp = new Uint8Array([...encoder.encode("GET / HTTP/1.1\r\nHost: a\r\nX: b"), 0xa0]);
    const parsed = new RequestHeadParser().push(new Uint8Array([...nbsp, 13, 10, 13, 10]));
    assertEquals(parsed?.headers.get("x"), "b\xa0");
  },
});

Deno.test("RequestHeadParser accepts a head in chunks of any size", async (t) => {
  const text = head(RFC_LINES);
  await t.step("one byte at a time", () => {
    const { head: parsed, rest } = parse(Array.from(text));
    assertEquals(validateUpgrade(parsed).key, KEY);
    assertEquals(rest, new Uint8Array(0));
  });
  await t.step("split at every position", () => {
    for (let split = 0; split <= text.length; split++) {
      const { head: parsed } = parse([text.slice(0, split), text.slice(split)]);
      assertEquals(parsed.headers.get("sec-websocket-key"), KEY, `split at ${split}`);
    }
  });
  await t.step("split inside the blank line", () => {
    const end = text.length - 4;
    for (const at of [end, end + 1, end + 2, end + 3]) {
      assertExists(parse([text.slice(0, at), text.slice(at)]).head);
    }
  });
});

Deno.test("RequestHeadParser.rest holds exactly the bytes after the head", async (t) => {
  const text = head(RFC_LINES);
  const frame = new Uint8Array([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  const whole = new Uint8Array([...encoder.encode(text), ...frame]);
  await t.step("a pipelined frame in the same chunk", () => {
    assertEquals(parse([whole]).rest, frame);
  });
  await t.step("a pipelined frame split at every position after the head", () => {
    for (let split = text.length - 3; split < whole.length; split++) {
      const { rest } = parse([whole.subarray(0, split), whole.subarray(split)]);
      // The head ends in the second chunk, or the first chunk holds its end and part of the frame.
      const expected = split < text.length ? frame : whole.subarray(text.length, split);
      assertEquals(rest, expected, `split at ${split}`);
    }
  });
  await t.step("the frame in the chunk that ends the head", () => {
    const { rest } = parse([whole.subarray(0, 20), whole.subarray(20)]);
    assertEquals(rest, frame);
  });
  await t.step("a frame after a head of exactly maxHeadBytes", () => {
    const { rest } = parse([whole], { maxHeadBytes: text.length });
    assertEquals(rest, frame);
  });
  await t.step("a copy, not a view of the chunk", () => {
    const chunk = whole.slice();
    const { rest } = parse([chunk]);
    chunk.fill(0);
    assertEquals(rest, frame);
  });
});

Deno.test('RequestHeadParser joins repeated header fields with ", "', async (t) => {
  await t.step("Sec-WebSocket-Protocol on two lines", () => {
    const request = upgrade(
      withLine(
        "sec-websocket-protocol",
        "Sec-WebSocket-Protocol: chat\r\nsec-websocket-protocol: superchat",
      ),
    );
    assertEquals(request.headers.get("sec-websocket-protocol"), "chat, superchat");
    assertEquals(request.protocols, ["chat", "superchat"]);
  });
  await t.step("three lines of an unknown field", () => {
    const { head: parsed } = parse([
      head(["GET / HTTP/1.1", "Host: a", "X-A: 1", "x-a: 2 ", "X-a:3"]),
    ]);
    assertEquals(parsed.headers.get("x-a"), "1, 2, 3");
  });
});

Deno.test("validateUpgrade() reads protocols, origin and extensions", async (t) => {
  const cases: {
    name: string;
    text: string;
    protocols: string[];
    origin?: string;
    extensions: string;
  }[] = [
    {
      name: "chat, superchat",
      text: head(RFC_LINES),
      protocols: ["chat", "superchat"],
      origin: "http://example.com",
      extensions: "",
    },
    {
      name: "no protocol, no origin",
      text: withLine("sec-websocket-protocol", null).replace("Origin: http://example.com\r\n", ""),
      protocols: [],
      extensions: "",
    },
    {
      name: "empty list items are dropped",
      text: withLine("sec-websocket-protocol", "Sec-WebSocket-Protocol: ,chat,, superchat ,"),
      protocols: ["chat", "superchat"],
      origin: "http://example.com",
      extensions: "",
    },
    {
      name: "an extension offer, kept raw",
      text: withLine(
        "origin",
        "Origin: https://example.org\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
      ),
      protocols: ["chat", "superchat"],
      origin: "https://example.org",
      extensions: "permessage-deflate; client_max_window_bits",
    },
  ];
  for (const { name, text, protocols, origin, extensions } of cases) {
    await t.step(name, () => {
      const request = upgrade(text);
      assertEquals(request.protocols, protocols);
      assertStrictEquals(request.origin, origin);
      assertEquals(request.extensions, extensions);
    });
  }
});

interface RefusalCase {
  name: string;
  /** The request, in one or more chunks. */
  chunks: string[];
  options?: RequestHeadParserOptions;
  status: number;
  headers?: Record<string, string>;
}

const LONG_VALUE = "a".repeat(8192);
const BASE64_15 = btoa("0123456789abcde");
const BASE64_17 = btoa("0123456789abcdefg");

const REFUSALS: RefusalCase[] = [
  {
    name: "POST",
    chunks: [withRequestLine("POST /chat HTTP/1.1")],
    status: 405,
    headers: { Allow: "GET" },
  },
  {
    name: "lower-case get",
    chunks: [head(RFC_LINES).replace("GET", "get")],
    status: 405,
    headers: { Allow: "GET" },
  },
  { name: "HTTP/1.0", chunks: [head(RFC_LINES).replace("HTTP/1.1", "HTTP/1.0")], status: 400 },
  { name: "HTTP/0.9", chunks: [head(RFC_LINES).replace("HTTP/1.1", "HTTP/0.9")], status: 400 },
  { name: "no Host", chunks: [withLine("host", null)], status: 400 },
  { name: "an empty Host", chunks: [withLine("host", "Host:")], status: 400 },
  {
    name: "two Host headers",
    chunks: [withLine("host", "Host: a.example\r\nHost: b.example")],
    status: 400,
  },
  {
    name: "two Host headers in different case",
    chunks: [withLine("host", "Host: a\r\nhost: a")],
    status: 400,
  },
  { name: "no Upgrade", chunks: [withLine("upgrade", null)], status: 400 },
  { name: "Upgrade: h2c", chunks: [withLine("upgrade", "Upgrade: h2c")], status: 400 },
  {
    name: "Upgrade: websocket2",
    chunks: [withLine("upgrade", "Upgrade: websocket2")],
    status: 400,
  },
  { name: "no Connection", chunks: [withLine("connection", null)], status: 400 },
  {
    name: "Connection: keep-alive",
    chunks: [withLine("connection", "Connection: keep-alive")],
    status: 400,
  },
  {
    name: "Connection: upgraded",
    chunks: [withLine("connection", "Connection: upgraded")],
    status: 400,
  },
  ...["8", "12", "14", "", "13, 8"].map((version) => ({
    name: `Sec-WebSocket-Version: ${version}`,
    chunks: [withLine("sec-websocket-version", `Sec-WebSocket-Version: ${version}`)],
    status: 426,
    headers: { "Sec-WebSocket-Version": "13" },
  })),
  {
    name: "no Sec-WebSocket-Version",
    chunks: [withLine("sec-websocket-version", null)],
    status: 426,
    headers: { "Sec-WebSocket-Version": "13" },
  },
  { name: "no Sec-WebSocket-Key", chunks: [withLine("sec-websocket-key", null)], status: 400 },
  {
    name: "an empty key",
    chunks: [withLine("sec-websocket-key", "Sec-WebSocket-Key:")],
    status: 400,
  },
  {
    name: "a key that is not base64",
    chunks: [withLine("sec-websocket-key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==")],
    status: 400,
  },
  {
    name: `a key of 15 bytes (${BASE64_15})`,
    chunks: [withLine("sec-websocket-key", `Sec-WebSocket-Key: ${BASE64_15}`)],
    status: 400,
  },
  {
    name: `a key of 17 bytes (${BASE64_17})`,
    chunks: [withLine("sec-websocket-key", `Sec-WebSocket-Key: ${BASE64_17}`)],
    status: 400,
  },
  {
    name: "two keys",
    chunks: [
      withLine("sec-websocket-key", `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Key: ${KEY}`),
    ],
    status: 400,
  },
  {
    name: "a protocol that is not a token",
    chunks: [withLine("sec-websocket-protocol", "Sec-WebSocket-Protocol: chat, super chat")],
    status: 400,
  },
  { name: "a request line of two parts", chunks: ["GET /chat\r\nHost: a\r\n\r\n"], status: 400 },
  {
    name: "a request line with two spaces",
    chunks: ["GET  /chat HTTP/1.1\r\nHost: a\r\n\r\n"],
    status: 400,
  },
  {
    name: "a request line of four parts",
    chunks: ["GET /chat HTTP/1.1 x\r\nHost: a\r\n\r\n"],
    status: 400,
  },
  {
    name: "a target without a slash",
    chunks: ["GET chat HTTP/1.1\r\nHost: a\r\n\r\n"],
    status: 400,
  },
  {
    name: "an absolute-form target",
    chunks: ["GET http://a/chat HTTP/1.1\r\nHost: a\r\n\r\n"],
    status: 400,
  },
  { name: "a malformed version", chunks: ["GET /chat HTTP/1.1.1\r\nHost: a\r\n\r\n"], status: 400 },
  { name: "a lower-case version", chunks: ["GET /chat http/1.1\r\nHost: a\r\n\r\n"], status: 400 },
  {
    name: "a method that is not a token",
    chunks: ["G(T /chat HTTP/1.1\r\nHost: a\r\n\r\n"],
    status: 400,
  },
  { name: "an empty request line", chunks: ["\r\n\r\n"], status: 400 },
  {
    name: "a header line without a colon",
    chunks: [withLine("origin", "Origin http://example.com")],
    status: 400,
  },
  {
    name: "a header line with an empty name",
    chunks: [withLine("origin", ": http://example.com")],
    status: 400,
  },
  {
    name: "whitespace before the colon",
    chunks: [withLine("origin", "Origin : http://example.com")],
    status: 400,
  },
  {
    name: "an obsolete line folding",
    chunks: [withLine("origin", "Origin:\r\n http://example.com")],
    status: 400,
  },
  {
    name: "a control character in a value",
    chunks: [withLine("origin", "Origin: a\x00b")],
    status: 400,
  },
  {
    name: "a head over 8 KiB in one chunk",
    chunks: [withLine("origin", `Origin: ${LONG_VALUE}`)],
    status: 431,
  },
  {
    name: "a head over 8 KiB that never ends, in small chunks",
    chunks: Array.from(
      { length: 90 },
      (_, i) => (i === 0 ? "GET / HTTP/1.1\r\nX: " : "a".repeat(100)),
    ),
    status: 431,
  },
  {
    name: "a head one byte over a custom maxHeadBytes",
    chunks: [head(RFC_LINES)],
    options: { maxHeadBytes: head(RFC_LINES).length - 1 },
    status: 431,
  },
  {
    name: "101 header fields (default maxHeaders 100)",
    chunks: [head([...RFC_LINES, ...Array.from({ length: 94 }, (_, i) => `X-${i}: ${i}`)])],
    status: 431,
  },
  {
    name: "8 header fields with maxHeaders: 7",
    chunks: [head([...RFC_LINES, "X-Extra: 1"])],
    options: { maxHeaders: 7 },
    status: 431,
  },
];

Deno.test("The handshake refuses each invalid request with its status", async (t) => {
  for (const { name, chunks, options, status, headers = {} } of REFUSALS) {
    await t.step(`${name} → ${status}`, () => {
      const error = refusal(chunks, options);
      assertEquals(error.status, status);
      assertEquals(error.headers, headers);
    });
  }
});

Deno.test("RequestHeadParser takes heads up to its limits", async (t) => {
  await t.step("a head of exactly 8 KiB", () => {
    const text = head(RFC_LINES);
    const padded = withLine(
      "origin",
      `Origin: ${"a".repeat(8192 - text.length + "http://example.com".length)}`,
    );
    assertEquals(padded.length, 8192);
    assertEquals(upgrade(padded).key, KEY);
  });
  await t.step("a head of exactly a custom maxHeadBytes", () => {
    const text = head(RFC_LINES);
    assertEquals(upgrade(text, { maxHeadBytes: text.length }).key, KEY);
  });
  await t.step("exactly maxHeaders fields", () => {
    assertEquals(upgrade(head(RFC_LINES), { maxHeaders: 7 }).key, KEY);
  });
});

Deno.test("isUpgradeRequest() tells WebSocket requests from plain HTTP", () => {
  assert(isUpgradeRequest(parse([head(RFC_LINES)]).head));
  assert(!isUpgradeRequest(parse([head(["GET / HTTP/1.1", "Host: a"])]).head));
});

Deno.test("upgradeResponse() writes the 101 response", async (t) => {
  const base = "HTTP/1.1 101 Switching Protocols\r\n" +
    "Upgrade: websocket\r\n" +
    "Connection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${ACCEPT}\r\n`;
  const cases = [
    { name: "without options", options: {}, expected: base + "\r\n" },
    {
      name: "with a protocol",
      options: { protocol: "chat" },
      expected: base + "Sec-WebSocket-Protocol: chat\r\n\r\n",
    },
    {
      name: "with a protocol and extensions",
      options: { protocol: "chat", extensions: "permessage-deflate" },
      expected: base +
        "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    },
  ];
  for (const { name, options, expected } of cases) {
    await t.step(name, () => {
      assertEquals(decoder.decode(upgradeResponse(ACCEPT, options)), expected);
    });
  }
});

Deno.test("httpResponse() writes a complete response that closes the connection", async (t) => {
  const cases: {
    name: string;
    status: number;
    body: string | Uint8Array;
    headers?: Record<string, string>;
    expected: string;
  }[] = [
    {
      name: "404 with a text body",
      status: 404,
      body: "Not found\n",
      expected: "HTTP/1.1 404 Not Found\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 10\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "Not found\n",
    },
    {
      name: "Content-Length counts UTF-8 bytes",
      status: 200,
      body: "€\n",
      expected: "HTTP/1.1 200 OK\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 4\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "€\n",
    },
    {
      name: "a byte body, a Content-Type and an extra header",
      status: 200,
      body: encoder.encode("{}"),
      headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
      expected: "HTTP/1.1 200 OK\r\n" +
        "Content-Type: application/json\r\n" +
        "Cache-Control: no-store\r\n" +
        "Content-Length: 2\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "{}",
    },
    {
      name: "Content-Length and Connection cannot be overridden",
      status: 204,
      body: "",
      headers: { "Content-Length": "99", "Connection": "keep-alive" },
      expected: "HTTP/1.1 204 No Content\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 0\r\n" +
        "Connection: close\r\n" +
        "\r\n",
    },
  ];
  for (const { name, status, body, headers, expected } of cases) {
    await t.step(name, () => {
      assertEquals(decoder.decode(httpResponse(status, body, headers)), expected);
    });
  }
});

Deno.test("errorResponse() answers a refusal with its status, headers and message", async (t) => {
  const cases: { error: HttpError; expected: string }[] = [
    {
      error: new HttpError(405, "WebSocket upgrade requires GET", { Allow: "GET" }),
      expected: "HTTP/1.1 405 Method Not Allowed\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Allow: GET\r\n" +
        "Content-Length: 31\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "WebSocket upgrade requires GET\n",
    },
    {
      error: new HttpError(426, "Unsupported WebSocket version", {
        "Sec-WebSocket-Version": "13",
      }),
      expected: "HTTP/1.1 426 Upgrade Required\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Sec-WebSocket-Version: 13\r\n" +
        "Content-Length: 30\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "Unsupported WebSocket version\n",
    },
    {
      error: new HttpError(431, "Request header fields too large"),
      expected: "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 32\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "Request header fields too large\n",
    },
  ];
  for (const { error, expected } of cases) {
    await t.step(`${error.status}`, () => {
      assertEquals(decoder.decode(errorResponse(error)), expected);
    });
  }
  await t.step("the refusals of validateUpgrade() become complete responses", () => {
    for (const { chunks, options, status } of REFUSALS) {
      const text = decoder.decode(errorResponse(refusal(chunks, options)));
      const [responseHead, body] = text.split("\r\n\r\n") as [string, string];
      assert(responseHead.startsWith(`HTTP/1.1 ${status} `), responseHead);
      assert(responseHead.includes(`\r\nContent-Length: ${encoder.encode(body).length}\r\n`));
      assert(responseHead.endsWith("\r\nConnection: close"));
    }
  });
});
