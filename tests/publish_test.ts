/**
 * The HTTP publish API: body parsing, then `POST /publish` over loopback with
 * `fetch` (and raw requests where fetch cannot misbehave enough).
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import { HttpError } from "../src/protocol/errors.ts";
import type { HttpRequest } from "../src/server/routes.ts";
import {
  parsePublication,
  type Publication,
  type PublishContext,
  publishRoute,
  type PublishRouteOptions,
} from "../src/push/publish.ts";
import { servePush } from "../src/app/serve_push.ts";
import { serve } from "../src/server/server.ts";
import { rawHttp } from "./_raw_client.ts";

const encoder = new TextEncoder();
const TOKEN = "t0ps3cret-token";

Deno.test("parsePublication() reads text, JSON and bytes by Content-Type", async (t) => {
  const ok: [string | undefined, string | Uint8Array, Publication][] = [
    [undefined, "hi", { type: "text", text: "hi" }],
    ["text/plain", "héllo", { type: "text", text: "héllo" }],
    ["text/markdown; charset=UTF-8", "*x*", { type: "text", text: "*x*" }],
    ["application/json", '{"a":[1,2]}', { type: "json", value: { a: [1, 2] } }],
    ["application/json; charset=utf-8", '"str"', { type: "json", value: "str" }],
    ["application/vnd.api+json", "3", { type: "json", value: 3 }],
    ["application/octet-stream", new Uint8Array([0, 255]), {
      type: "binary",
      bytes: new Uint8Array([0, 255]),
    }],
    ["Application/Octet-Stream", "", { type: "binary", bytes: new Uint8Array(0) }],
  ];
  for (const [type, body, expected] of ok) {
    await t.step(`${type ?? "no type"}`, () => {
      const bytes = typeof body === "string" ? encoder.encode(body) : body;
      assertEquals(parsePublication(type, bytes), expected);
    });
  }
  const bad: [string | undefined, Uint8Array, number, string][] = [
    ["application/x-www-form-urlencoded", encoder.encode("a=1"), 415, "Unsupported Content-Type"],
    ["image/png", new Uint8Array([1]), 415, "Unsupported Content-Type"],
    ["text/plain; charset=latin1", encoder.encode("x"), 415, "charset"],
    ["text/plain", new Uint8Array([0xc3]), 400, "UTF-8"],
    ["application/json", encoder.encode("{nope"), 400, "JSON"],
    ["application/json", encoder.encode(""), 400, "JSON"],
  ];
  for (const [type, body, status, message] of bad) {
    await t.step(`${type} → ${status}`, () => {
      const error = assertThrows(() => parsePublication(type, body), HttpError, message);
      assertEquals(error.status, status);
    });
  }
});

/** A request to the route handler directly, from any address. */
function request(hostname: string, headers: Record<string, string> = {}): HttpRequest {
  return {
    method: "POST",
    path: "/publish",
    query: new URLSearchParams("topic=news"),
    headers: new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
    remoteAddr: { transport: "tcp", hostname, port: 5000 },
    body: () => Promise.resolve(encoder.encode("hi")),
  };
}

Deno.test("publishRoute() without a token serves loopback only", async () => {
  const route = publishRoute({ publish: (topic) => ({ id: "e:1", topic, delivered: 0 }) });
  for (const local of ["127.0.0.1", "::1"]) {
    assertEquals((await route.handle(request(local))).status, 200);
  }
  const remote = await route.handle(request("192.0.2.7"));
  assertEquals(remote.status, 403);
  assert(String(remote.body).includes("needs a token"));
});

Deno.test("publishRoute() with a token requires it from everyone, loopback included", async () => {
  const route = publishRoute({
    token: TOKEN,
    publish: (topic) => ({ id: "e:1", topic, delivered: 0 }),
  });
  assertEquals((await route.handle(request("127.0.0.1"))).status, 401);
  const remote = await route.handle(request("192.0.2.7", { Authorization: `Bearer ${TOKEN}` }));
  assertEquals(remote.status, 200);
});

/** Runs `fn` with a push server on loopback and a way to POST to it. */
async function withPush(
  options: Parameters<typeof servePush>[0],
  fn: (
    post: (path: string, init?: RequestInit) => Promise<{ status: number; body: unknown }>,
    port: number,
  ) => Promise<void>,
): Promise<void> {
  const push = servePush({ port: 0, hostname: "127.0.0.1", ...options });
  const port = push.server.addr.port;
  const post = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", ...init });
    const text = await response.text();
    return { status: response.status, body: text.startsWith("{") ? JSON.parse(text) : text };
  };
  try {
    await fn(post, port);
  } finally {
    await push.server.shutdown();
  }
}

const auth = { Authorization: `Bearer ${TOKEN}` };

Deno.test("POST /publish answers { id, topic, delivered } with ids increasing by one", async () => {
  await withPush({ publishToken: TOKEN }, async (post) => {
    const first = await post("/publish?topic=news", { headers: auth, body: "one" });
    assertEquals(first.status, 200);
    const { id, topic, delivered } = first.body as Record<string, unknown>;
    assertEquals([topic, delivered], ["news", 0]);
    const [epoch, seq] = String(id).split(":");
    assertEquals(seq, "1");
    const second = await post("/publish?topic=news", { headers: auth, body: "two" });
    assertEquals((second.body as { id: string }).id, `${epoch}:2`);
    const other = await post("/publish?topic=sport", { headers: auth, body: "x" });
    assertEquals((other.body as { id: string }).id, `${epoch}:1`);
  });
});

Deno.test("POST /publish refuses: no token 401, wrong token 403, and the rest", async (t) => {
  await withPush({ publishToken: TOKEN, maxBodyBytes: 1024 }, async (post, port) => {
    const cases: [string, string, RequestInit, number, string][] = [
      ["no token", "/publish?topic=news", { body: "x" }, 401, "Bearer"],
      [
        "a wrong token",
        "/publish?topic=news",
        {
          headers: { Authorization: "Bearer guess" },
          body: "x",
        },
        403,
        "Wrong token",
      ],
      [
        "a token of another scheme",
        "/publish?topic=news",
        {
          headers: { Authorization: `Basic ${TOKEN}` },
          body: "x",
        },
        401,
        "Bearer",
      ],
      [
        "the right token with a prefix",
        "/publish?topic=news",
        {
          headers: { Authorization: `Bearer ${TOKEN}x` },
          body: "x",
        },
        403,
        "Wrong token",
      ],
      ["no topic", "/publish", { headers: auth, body: "x" }, 400, "exactly one topic"],
      ["two topics", "/publish?topic=a&topic=b", { headers: auth, body: "x" }, 400, "exactly one"],
      [
        "a bad topic",
        "/publish?topic=a%20b",
        { headers: auth, body: "x" },
        400,
        "Cannot use topic",
      ],
      [
        "a body of 1025 bytes",
        "/publish?topic=news",
        {
          headers: auth,
          body: "x".repeat(1025),
        },
        413,
        "at most 1024",
      ],
      [
        "a form body",
        "/publish?topic=news",
        {
          headers: { ...auth, "Content-Type": "application/x-www-form-urlencoded" },
          body: "a=1",
        },
        415,
        "Unsupported Content-Type",
      ],
      [
        "invalid JSON",
        "/publish?topic=news",
        {
          headers: { ...auth, "Content-Type": "application/json" },
          body: "{",
        },
        400,
        "not valid JSON",
      ],
    ];
    for (const [name, path, init, status, message] of cases) {
      await t.step(`${name} → ${status}`, async () => {
        const response = await post(path, init);
        assertEquals(response.status, status, JSON.stringify(response.body));
        const { error } = response.body as { error: string };
        assert(error.includes(message), error);
      });
    }
    await t.step("401 names the scheme in WWW-Authenticate", async () => {
      const response = await fetch(`http://127.0.0.1:${port}/publish?topic=news`, {
        method: "POST",
        body: "x",
      });
      assertEquals(response.headers.get("www-authenticate"), 'Bearer realm="pushwire"');
      await response.body?.cancel();
    });
    await t.step("GET → 405 with Allow: POST", async () => {
      const response = await fetch(`http://127.0.0.1:${port}/publish?topic=news`, {
        headers: auth,
      });
      assertEquals(response.status, 405);
      assertEquals(response.headers.get("allow"), "POST");
      await response.body?.cancel();
    });
    await t.step("no Content-Length → 411; chunked → 411", async () => {
      const head =
        `POST /publish?topic=news HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n`;
      const none = await rawHttp(port, head + "\r\n");
      assert(none.startsWith("HTTP/1.1 411 "), none);
      const chunked = await rawHttp(
        port,
        head + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
      );
      assert(chunked.startsWith("HTTP/1.1 411 "), chunked);
    });
    await t.step("a 1 GB Content-Length → 413 at once, without the body", async () => {
      const started = Date.now();
      const response = await rawHttp(
        port,
        `POST /publish?topic=news HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
          "Content-Length: 1000000000\r\n\r\n",
      );
      assert(response.startsWith("HTTP/1.1 413 "), response);
      assert(Date.now() - started < 3000);
    });
    await t.step("a wrong token is refused before the body is read", async () => {
      const response = await rawHttp(
        port,
        "POST /publish?topic=news HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess\r\n" +
          "Content-Length: 100\r\n\r\n",
      );
      assert(response.startsWith("HTTP/1.1 403 "), response);
    });
  });
});

Deno.test("POST /publish without a token configured accepts loopback clients", async () => {
  await withPush({}, async (post) => {
    const response = await post("/publish?topic=news", { body: "x" });
    assertEquals(response.status, 200);
  });
});

/** What the publish callback was given. */
interface Call {
  topic: string;
  publication: Publication;
  context: PublishContext;
}

/**
 * Runs `fn` with a plain server (no push wiring) whose `/publish` route
 * records its calls, or throws `fail` when given.
 */
async function withRoute(
  options: Omit<PublishRouteOptions, "publish"> & { fail?: HttpError },
  fn: (port: number, calls: Call[]) => Promise<void>,
): Promise<void> {
  const calls: Call[] = [];
  const { fail, ...routeOptions } = options;
  const route = publishRoute({
    ...routeOptions,
    publish: (topic, publication, context) => {
      calls.push({ topic, publication, context });
      if (fail !== undefined) throw fail;
      return { id: `e:${calls.length}`, topic, delivered: 0 };
    },
  });
  const server = serve({ port: 0, hostname: "127.0.0.1", routes: { "/publish": route } });
  try {
    await fn(server.addr.port, calls);
  } finally {
    await server.shutdown();
  }
}

/** A raw `POST /publish?topic=news` with a text body and the given header lines. */
function rawPublish(port: number, headers: Record<string, string>, body = "hi"): Promise<string> {
  const host = headers.Host ?? `127.0.0.1:${port}`;
  let request = `POST /publish?topic=news HTTP/1.1\r\nHost: ${host}\r\n` +
    `Content-Type: text/plain\r\nContent-Length: ${encoder.encode(body).length}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (name !== "Host") request += `${name}: ${value}\r\n`;
  }
  return rawHttp(port, request + "\r\n" + body);
}

/** The status of a raw response. */
function statusOf(response: string): number {
  return Number(response.slice(9, 12));
}

Deno.test("POST /publish without a token refuses pages of other sites with 403", async (t) => {
  await withRoute({}, async (port, calls) => {
    const cases: [string, Record<string, string>, number][] = [
      ["a page of another site", { Origin: "https://evil.example" }, 403],
      ["Sec-Fetch-Site: cross-site, no Origin", { "Sec-Fetch-Site": "cross-site" }, 403],
      ["a sandboxed page (Origin: null)", { Origin: "null" }, 403],
      [
        "DNS rebinding: another site's name resolved to 127.0.0.1",
        { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}` },
        403,
      ],
      [
        "a same-site page on another port",
        { Origin: `http://127.0.0.1:${port + 1}`, "Sec-Fetch-Site": "same-site" },
        403,
      ],
      ["a program (no Origin, no Sec-Fetch-Site)", {}, 200],
      [
        "this server's own page",
        { Origin: `http://127.0.0.1:${port}`, "Sec-Fetch-Site": "same-origin" },
        200,
      ],
      [
        "this server's own page by name",
        { Host: `localhost:${port}`, Origin: `http://localhost:${port}` },
        200,
      ],
    ];
    for (const [name, headers, status] of cases) {
      await t.step(name, async () => {
        const before = calls.length;
        const response = await rawPublish(port, headers);
        assertEquals(statusOf(response), status, response);
        assertEquals(calls.length - before, status === 200 ? 1 : 0, "published only if allowed");
        if (status === 403) assert(response.includes("another site"), response);
      });
    }
  });
});

Deno.test("POST /publish without a token accepts the origins it is given; a token skips the check", async (t) => {
  await t.step("an origin in `origins`, even cross-site", async () => {
    await withRoute({ origins: ["https://app.example"] }, async (port) => {
      const allowed = await rawPublish(port, {
        Origin: "https://app.example",
        "Sec-Fetch-Site": "cross-site",
      });
      assertEquals(statusOf(allowed), 200, allowed);
      assertEquals(statusOf(await rawPublish(port, { Origin: "https://evil.example" })), 403);
    });
  });
  await t.step("with a token, the Origin is not checked", async () => {
    await withRoute({ token: TOKEN }, async (port) => {
      const headers = { Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" };
      assertEquals(statusOf(await rawPublish(port, headers)), 401);
      const response = await rawPublish(port, { ...headers, Authorization: `Bearer ${TOKEN}` });
      assertEquals(statusOf(response), 200, response);
    });
  });
});

Deno.test("POST /publish passes its Idempotency-Key to publish; a bad one gets 400", async (t) => {
  await withRoute({}, async (port, calls) => {
    await t.step("a key is passed as context.idempotencyKey", async () => {
      const response = await rawPublish(port, { "Idempotency-Key": "order-42:try#1" });
      assertEquals(statusOf(response), 200, response);
      assertEquals(calls.at(-1)?.context, { idempotencyKey: "order-42:try#1" });
    });
    await t.step("no key, no idempotencyKey", async () => {
      assertEquals(statusOf(await rawPublish(port, {})), 200);
      assertEquals(calls.at(-1)?.context, {});
    });
    await t.step("128 visible ASCII characters are accepted", async () => {
      assertEquals(statusOf(await rawPublish(port, { "Idempotency-Key": "k".repeat(128) })), 200);
      assertEquals(calls.at(-1)?.context.idempotencyKey, "k".repeat(128));
    });
    for (
      const [name, key] of [
        ["129 characters", "k".repeat(129)],
        ["a space", "two words"],
        ["a character outside ASCII", "cl\u00e9"],
        ["an empty value", ""],
      ]
    ) {
      await t.step(`${name}: 400, nothing published`, async () => {
        const before = calls.length;
        const response = await rawPublish(port, { "Idempotency-Key": key! });
        assertEquals(statusOf(response), 400, response);
        assert(response.includes("Idempotency-Key"), response);
        assertEquals(calls.length, before);
      });
    }
  });
});

Deno.test("POST /publish keeps the status, message and headers of the HttpError publish throws", async () => {
  const message =
    "Outcome unknown: the engine did not confirm; retry with the same Idempotency-Key";
  const fail = new HttpError(503, message, { "Retry-After": "1" });
  await withRoute({ fail }, async (port) => {
    const response = await fetch(`http://127.0.0.1:${port}/publish?topic=news`, {
      method: "POST",
      headers: { "Content-Type": "text/plain", "Idempotency-Key": "k1" },
      body: "hi",
    });
    assertEquals(response.status, 503);
    assertEquals(response.headers.get("retry-after"), "1");
    assertEquals(await response.json(), { error: message });
  });
});
