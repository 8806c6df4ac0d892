import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { HttpError } from "../src/protocol/errors.ts";
import { RequestHeadParser } from "../src/protocol/http_head.ts";
import {
  bodyLength,
  handleHttp,
  type HttpConnection,
  type HttpRoutes,
} from "../src/server/routes.ts";
import { rawHttp } from "./_raw_client.ts";
import { withServer } from "./_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ADDR: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 4000 };

function parse(request: string) {
  const parser = new RequestHeadParser();
  const head = parser.push(encoder.encode(request));
  assert(head !== undefined, "a complete head");
  return { head, rest: parser.rest };
}

/** A connection that yields `chunks` one read at a time, then ends (or hangs). */
function fakeConn(chunks: string[], options: { hang?: boolean } = {}) {
  const written: string[] = [];
  const conn: HttpConnection = {
    read(buffer) {
      const chunk = chunks.shift();
      if (chunk === undefined) {
        return options.hang ? new Promise(() => {}) : Promise.resolve(null);
      }
      const bytes = encoder.encode(chunk);
      buffer.set(bytes);
      return Promise.resolve(bytes.length);
    },
    write(bytes) {
      written.push(decoder.decode(bytes));
      return Promise.resolve(bytes.length);
    },
  };
  return { conn, written };
}

const echoRoutes: HttpRoutes = {
  "/echo": {
    methods: ["POST"],
    maxBodyBytes: 10,
    handle: async (request) => ({ status: 200, body: await request.body() }),
  },
  "/page": { methods: ["GET"], handle: () => ({ status: 200, body: "hello\n" }) },
  "/teapot": {
    methods: ["GET"],
    handle: () => {
      throw new HttpError(418, "I'm a teapot");
    },
  },
  "/broken": {
    methods: ["GET"],
    handle: () => {
      throw new Error("bug");
    },
  },
};

async function answer(request: string, chunks: string[] = [], hang = false) {
  const { head, rest } = parse(request);
  const { conn, written } = fakeConn(chunks, { hang });
  const outcome = await handleHttp(echoRoutes, {
    head,
    rest,
    conn,
    remoteAddr: ADDR,
    timeout: 100,
  });
  return { text: decoder.decode(outcome.response), drained: outcome.drained, written };
}

Deno.test("bodyLength() reads Content-Length and refuses what it cannot read", async (t) => {
  const cases: [string, string, number | [number, string]][] = [
    ["GET without a length", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0],
    ["POST of 10 bytes", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", 10],
    ["POST without a length", "POST / HTTP/1.1\r\nHost: x\r\n\r\n", [411, "Content-Length"]],
    [
      "a chunked body",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      [411, "Chunked"],
    ],
    [
      "a length and chunked",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      [400, "both"],
    ],
    ["a negative length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", [400, ""]],
    [
      "two lengths",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      [
        400,
        "Malformed",
      ],
    ],
    ["11 bytes over 10", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", [413, "10"]],
  ];
  for (const [name, request, expected] of cases) {
    await t.step(name, () => {
      const { head } = parse(request);
      if (typeof expected === "number") {
        assertEquals(bodyLength(head, 10), expected);
        return;
      }
      const error = assertThrows(() => bodyLength(head, 10), HttpError, expected[1]);
      assertEquals(error.status, expected[0]);
    });
  }
});

Deno.test("handleHttp() answers 404, 405 with Allow, and HEAD with the head only", async () => {
  const missing = await answer("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  assert(missing.text.startsWith("HTTP/1.1 404 "));
  const wrong = await answer("DELETE /page HTTP/1.1\r\nHost: x\r\n\r\n");
  assert(wrong.text.startsWith("HTTP/1.1 405 "));
  assertStringIncludes(wrong.text, "Allow: GET, HEAD\r\n");
  const post = await answer("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  assertStringIncludes(post.text, "Allow: POST\r\n");
  const head = await answer("HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n");
  assert(head.text.startsWith("HTTP/1.1 200 "));
  assertStringIncludes(head.text, "Content-Length: 6\r\n");
  assert(head.text.endsWith("\r\n\r\n"), "no body after the head");
});

Deno.test("handleHttp() turns a route's HttpError into its status and other errors into 500", async () => {
  assert(
    (await answer("GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n")).text.startsWith("HTTP/1.1 418 "),
  );
  assert(
    (await answer("GET /broken HTTP/1.1\r\nHost: x\r\n\r\n")).text.startsWith("HTTP/1.1 500 "),
  );
});

Deno.test("a body is read from the bytes after the head and later reads", async () => {
  const request = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nabc";
  const { text, drained, written } = await answer(request, ["de", "fghi"]);
  assert(text.startsWith("HTTP/1.1 200 "), text);
  assert(text.endsWith("\r\n\r\nabcdefghi"), text);
  assertEquals(drained, true);
  assertEquals(written, [], "no 100 Continue without Expect");
});

Deno.test("Expect: 100-continue gets 100 Continue before the body is read", async () => {
  const request =
    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
  const { text, written } = await answer(request, ["ok"]);
  assertEquals(written, ["HTTP/1.1 100 Continue\r\n\r\n"]);
  assert(text.endsWith("\r\n\r\nok"));
});

Deno.test("a body over the limit gets 413 before any of it is read", async () => {
  const request =
    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n";
  const { text, written } = await answer(request, ["never read"]);
  assert(text.startsWith("HTTP/1.1 413 "), text);
  assertEquals(written, [], "no 100 Continue for a refused body");
});

Deno.test("a body that ends early gets 400, one that stalls gets 408", async () => {
  const request = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
  const short = await answer(request, ["ab"]);
  assert(short.text.startsWith("HTTP/1.1 400 "), short.text);
  const stalled = await answer(request, ["ab"], true);
  assert(stalled.text.startsWith("HTTP/1.1 408 "), stalled.text);
  assertEquals(stalled.drained, false);
});

Deno.test("serve({ routes }) answers extra routes over TCP, body included", async () => {
  await withServer({ routes: echoRoutes }, undefined, async (_server, port) => {
    const response = await fetch(`http://127.0.0.1:${port}/echo`, { method: "POST", body: "hi" });
    assertEquals([response.status, await response.text()], [200, "hi"]);
    const big = await rawHttp(
      port,
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
    );
    assert(big.startsWith("HTTP/1.1 413 "), big);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assertEquals(health.status, 200);
    await health.body?.cancel();
  });
});

Deno.test("a client that sends half a body gets 408 at the timeout", async () => {
  await withServer({ routes: echoRoutes, handshakeTimeout: 200 }, undefined, async (_s, port) => {
    const started = Date.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      encoder.encode("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab"),
    );
    const buffer = new Uint8Array(1024);
    const n = await conn.read(buffer);
    conn.close();
    assert(n !== null);
    assert(decoder.decode(buffer.subarray(0, n)).startsWith("HTTP/1.1 408 "));
    assert(Date.now() - started < 2000);
  });
});
