import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  bearerToken,
  checkOrigin,
  chooseProtocol,
  isCrossSite,
  isLoopback,
  isLoopbackHost,
  normalizeOrigins,
  timingSafeEqual,
} from "../src/server/access.ts";
import { HttpError } from "../src/protocol/errors.ts";
import { serve } from "../src/server/server.ts";
import type { Authorization } from "../src/server/options.ts";
import type { Socket } from "../src/server/socket.ts";
import { RawClient, rawHttp, upgradeRequest } from "./_raw_client.ts";
import { until, withServer } from "./_server.ts";

Deno.test("normalizeOrigins() keeps scheme://host[:port] and refuses anything else", async (t) => {
  await t.step("canonical forms", () => {
    assertEquals(
      [...normalizeOrigins(["HTTPS://App.Example:443", "http://localhost:8080", "http://[::1]"])],
      ["https://app.example", "http://localhost:8080", "http://[::1]"],
    );
  });
  for (
    const bad of ["app.example", "ftp://x", "https://x/path", "https://x/", "https://u@x", "*"]
  ) {
    await t.step(`"${bad}" is refused`, () => {
      assertThrows(() => normalizeOrigins([bad]), TypeError, "Invalid origin");
    });
  }
});

Deno.test("checkOrigin() allows listed origins, the server's own, and none; refuses others", async (t) => {
  const allowed = normalizeOrigins(["https://app.example", "http://localhost:3000"]);
  const cases: [string, string | undefined, string, boolean][] = [
    ["a listed origin", "https://app.example", "push.example", true],
    ["a listed origin with its default port", "https://app.example:443", "push.example", true],
    ["a listed origin, other case", "HTTPS://APP.EXAMPLE", "push.example", true],
    ["no Origin header", undefined, "push.example", true],
    ["the server's own page", "http://push.example:8080", "push.example:8080", true],
    ["another origin", "https://evil.example", "push.example", false],
    ["another port", "http://localhost:3001", "push.example", false],
    ["another scheme", "http://app.example", "push.example", false],
    ["the null origin", "null", "push.example", false],
  ];
  for (const [name, origin, host, ok] of cases) {
    await t.step(`${name} → ${ok ? "allowed" : "403"}`, () => {
      const request = { origin, headers: new Map([["host", host]]) };
      if (ok) return checkOrigin(request, allowed);
      const error = assertThrows(() => checkOrigin(request, allowed), HttpError);
      assertEquals(error.status, 403);
    });
  }
});

Deno.test("chooseProtocol() takes the client's first supported offer", () => {
  assertEquals(chooseProtocol(["b", "a"], ["a", "b"]), "b");
  assertEquals(chooseProtocol(["x", "a"], ["a", "b"]), "a");
  assertEquals(chooseProtocol(["x"], ["a"]), undefined);
  assertEquals(chooseProtocol([], ["a"]), undefined);
  assertEquals(chooseProtocol(["a"], []), undefined);
});

Deno.test("bearerToken() reads Authorization: Bearer <token> only", () => {
  assertEquals(bearerToken("Bearer abc.def"), "abc.def");
  assertEquals(bearerToken("bearer   abc"), "abc");
  assertEquals(bearerToken("Basic abc"), undefined);
  assertEquals(bearerToken("Bearer"), undefined);
  assertEquals(bearerToken("Bearer a b"), undefined);
  assertEquals(bearerToken(undefined), undefined);
});

Deno.test("timingSafeEqual() compares secrets of any length", async () => {
  assertEquals(await timingSafeEqual("s3cret", "s3cret"), true);
  assertEquals(await timingSafeEqual("s3cret", "s3creT"), false);
  assertEquals(await timingSafeEqual("s3cret", "s3cret "), false);
  assertEquals(await timingSafeEqual("", ""), true);
  assertEquals(await timingSafeEqual("a", ""), false);
});

Deno.test("isLoopback() knows 127.0.0.0/8 and ::1", () => {
  for (const address of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) {
    assert(isLoopback(address), address);
  }
  for (const address of ["10.0.0.1", "0.0.0.0", "::", "128.0.0.1", "fe80::1"]) {
    assert(!isLoopback(address), address);
  }
});

Deno.test("serve({ origins }) refuses other origins with 403 at the handshake", async () => {
  await withServer({ origins: ["https://app.example"] }, undefined, async (server, port) => {
    const host = `127.0.0.1:${port}`;
    const refused = await rawHttp(
      port,
      upgradeRequest(host, { headers: { Origin: "https://evil.example" } }),
    );
    assert(refused.startsWith("HTTP/1.1 403 "), refused);
    const listed = await RawClient.connect(port, { headers: { Origin: "https://app.example" } });
    const own = await RawClient.connect(port, { headers: { Origin: `http://${host}` } });
    const program = await RawClient.connect(port);
    await until(() => server.sockets.size === 3);
    for (const client of [listed, own, program]) client.close();
    const metrics = await (await fetch(`http://${host}/metrics`)).text();
    assertStringIncludes(metrics, 'pushwire_handshake_failures_total{status="403"} 1\n');
  });
});

Deno.test("serve({ origins }) refuses an invalid allowlist entry before listening", () => {
  assertThrows(() => serve({ port: 0, origins: ["nope"] }), TypeError, "Invalid origin");
});

Deno.test("authorize() can refuse with a status or attach data to the socket", async () => {
  const sockets: Socket[] = [];
  const seen: string[] = [];
  await withServer({
    authorize: async (request, { remoteAddr }) => {
      seen.push(remoteAddr.hostname);
      await new Promise((resolve) => setTimeout(resolve, 5)); // may be async
      const token = request.query.get("token");
      if (token === "boom") throw new Error("database down");
      if (token === "nothing") return undefined as unknown as Authorization;
      if (token === null) {
        return {
          accept: false,
          status: 401,
          message: "Token required",
          headers: { "WWW-Authenticate": 'Bearer realm="pushwire"' },
        };
      }
      if (token !== "t-ada") return { accept: false, status: 403, message: "Unknown token" };
      return { accept: true, data: { user: "ada" } };
    },
  }, (socket) => {
    sockets.push(socket);
  }, async (server, port) => {
    const host = `127.0.0.1:${port}`;
    const none = await rawHttp(port, upgradeRequest(host));
    assert(none.startsWith("HTTP/1.1 401 "), none);
    assertStringIncludes(none, 'WWW-Authenticate: Bearer realm="pushwire"');
    assertStringIncludes(none, "Token required");
    const wrong = await rawHttp(port, upgradeRequest(host, { path: "/?token=t-bob" }));
    assert(wrong.startsWith("HTTP/1.1 403 "), wrong);
    for (const token of ["boom", "nothing"]) {
      const failing = await rawHttp(port, upgradeRequest(host, { path: `/?token=${token}` }));
      assert(failing.startsWith("HTTP/1.1 500 "), failing);
    }
    const client = await RawClient.connect(port, { path: "/?token=t-ada" });
    await until(() => sockets.length === 1);
    assertEquals(server.dataOf(sockets[0]!), { user: "ada" });
    assertEquals(seen[0], "127.0.0.1");
    client.close();
  });
});

Deno.test("serve({ protocols }) picks the client's first supported subprotocol", async () => {
  const sockets: Socket[] = [];
  await withServer({ protocols: ["chat.v1", "chat.v2"] }, (socket) => {
    sockets.push(socket);
  }, async (_server, port) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ["chat.v2", "chat.v1"]);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    assertEquals(ws.protocol, "chat.v2");
    await until(() => sockets.length === 1);
    assertEquals(sockets[0]!.protocol, "chat.v2");
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;

    // Only unsupported offers: accepted without a subprotocol (RFC 6455 §4.2.2).
    const host = `127.0.0.1:${port}`;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(
      upgradeRequest(host, { headers: { "Sec-WebSocket-Protocol": "mqtt" } }),
    ));
    const buffer = new Uint8Array(1024);
    const head = new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer)) ?? 0));
    assert(head.startsWith("HTTP/1.1 101 "), head);
    assert(!head.includes("Sec-WebSocket-Protocol"), head);
    await until(() => sockets.length === 2);
    assertEquals(sockets[1]!.protocol, "");
    conn.close();
  });
});

Deno.test("isLoopbackHost() knows localhost names and loopback addresses", () => {
  for (
    const host of [
      "localhost",
      "LOCALHOST",
      "app.localhost",
      "localhost.",
      "127.0.0.1",
      "127.9.9.9",
      "[::1]",
      "::1",
    ]
  ) {
    assert(isLoopbackHost(host), host);
  }
  for (
    const host of ["evil.example", "localhost.evil.example", "10.0.0.7", "[::2]", "0.0.0.0", ""]
  ) {
    assert(!isLoopbackHost(host), host);
  }
});

Deno.test("isCrossSite() tells pages of other sites from this server's own and from programs", async (t) => {
  const allowed = normalizeOrigins(["https://app.example"]);
  const cases: [string, Record<string, string>, boolean][] = [
    ["a program: no Origin, no Sec-Fetch-Site", { host: "localhost:8080" }, false],
    ["another site", { host: "localhost:8080", origin: "https://evil.example" }, true],
    ["Origin: null", { host: "localhost:8080", origin: "null" }, true],
    ["not an origin", { host: "localhost:8080", origin: "garbage" }, true],
    ["Sec-Fetch-Site: cross-site alone", { "sec-fetch-site": "cross-site" }, true],
    ["Sec-Fetch-Site: none (typed in the address bar)", { "sec-fetch-site": "none" }, false],
    ["own origin on localhost", { host: "localhost:8080", origin: "http://localhost:8080" }, false],
    ["own origin on 127.0.0.1", { host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080" }, false],
    ["own origin on [::1]", { host: "[::1]:8080", origin: "http://[::1]:8080" }, false],
    ["another port", { host: "localhost:8080", origin: "http://localhost:8081" }, true],
    [
      "DNS rebinding: a matching Host that is not a loopback name",
      { host: "evil.example:8080", origin: "http://evil.example:8080" },
      true,
    ],
    [
      "own origin but Sec-Fetch-Site: cross-site",
      { host: "localhost:8080", origin: "http://localhost:8080", "sec-fetch-site": "cross-site" },
      true,
    ],
    [
      "an allowed origin, even cross-site",
      { host: "push.example", origin: "https://APP.example:443", "sec-fetch-site": "cross-site" },
      false,
    ],
  ];
  for (const [name, headers, expected] of cases) {
    await t.step(name, () => {
      assertEquals(isCrossSite(new Map(Object.entries(headers)), allowed), expected);
    });
  }
});
