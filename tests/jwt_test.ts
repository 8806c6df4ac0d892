/**
 * JWT authentication from the wire: every refusal of an upgrade (401 with
 * `WWW-Authenticate`), grants with `*`, topics outside the grant (403 at the
 * handshake, an error event later), public topics, the token in the URL and
 * in `Authorization: Bearer`, and keys: HS256 secret, RS256/EdDSA PEM,
 * ES256 JWK, and an identity provider's JWKS (and 503 when it is away).
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { exportJWK, exportSPKI } from "jose";
import { TopicGrant } from "../src/auth/grants.ts";
import { jwtAuthorizer, type JwtOptions } from "../src/auth/jwt.ts";
import { loadVerificationKey } from "../src/auth/jwt_keys.ts";
import { keyPair, SECRET, signToken, unsecuredToken } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { RawClient, rawHttp, upgradeRequest } from "./_raw_client.ts";
import { TestClient } from "./_server.ts";

type Event = Record<string, unknown>;

/** The status line and headers of a refused upgrade. */
async function refusal(port: number, path: string, headers: Record<string, string> = {}) {
  const response = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`, { path, headers }));
  const [head = "", body = ""] = response.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), head, body };
}

/** Opens a Deno WebSocket client and resolves with its events once it has `count`. */
async function eventsOf(client: TestClient, count: number): Promise<Event[]> {
  await client.waitFor(count);
  return client.messages.map((message) => JSON.parse(message as string));
}

/** Waits for an event matching `match` and returns every event so far. */
async function waitForEvent(
  client: TestClient,
  match: (event: Event) => boolean,
): Promise<Event[]> {
  for (let count = 1;; count++) {
    const events = await eventsOf(client, count);
    if (events.some(match)) return events;
  }
}

function withJwt(options: JwtOptions, fn: (port: number) => Promise<void>): Promise<void> {
  return withPush({ authorize: jwtAuthorizer(options) }, (_push, port) => fn(port));
}

Deno.test("grant patterns: exact names, trailing * prefixes, * alone", () => {
  const grant = new TopicGrant(["news", "room:*", "user:42:*"]);
  assert(grant.allows("news"));
  assert(!grant.allows("news2"));
  assert(grant.allows("room:"));
  assert(grant.allows("room:lobby"));
  assert(!grant.allows("rooms"));
  assert(grant.allows("user:42:inbox"));
  assert(!grant.allows("user:43:inbox"));
  assert(TopicGrant.ALL.allows("anything"));
  assert(!TopicGrant.NONE.allows("news"));
  for (const bad of ["room:*:x", "**", "bad topic", ""]) {
    let thrown = false;
    try {
      new TopicGrant([bad]);
    } catch {
      thrown = true;
    }
    assert(thrown, bad);
  }
});

Deno.test("an upgrade without a valid token is refused with 401", async (t) => {
  const { privateKey } = await keyPair("ES256");
  const now = Math.floor(Date.now() / 1000);
  const cases: [string, () => Promise<string | undefined>, string][] = [
    ["missing", () => Promise.resolve(undefined), "Missing token"],
    ["expired", () => signToken({ expiresIn: -10 }), "Token expired"],
    ["not yet valid", () => signToken({ nbf: now + 3600 }), "Token not yet valid"],
    [
      "wrong signature",
      () => signToken({ signWith: new TextEncoder().encode("x".repeat(32)) }),
      "signature",
    ],
    ["alg none", () => Promise.resolve(unsecuredToken()), "algorithm not allowed"],
    [
      "another algorithm",
      () => signToken({ alg: "ES256", signWith: privateKey }),
      "algorithm not allowed",
    ],
    ["malformed", () => Promise.resolve("not.a.jwt"), "Invalid token"],
    ["no sub", () => signToken({ anonymous: true }), 'no "sub"'],
    ["a bad topics claim", () => signToken({ topics: "bad topic" }), '"topics" claim'],
    ["info over 1 KiB", () => signToken({ info: { bio: "x".repeat(2000) } }), '"info"'],
  ];
  await withJwt({ secret: SECRET }, async (port) => {
    for (const [name, token, message] of cases) {
      await t.step(name, async () => {
        const value = await token();
        const path = value === undefined ? "/?topic=room:1" : `/?topic=room:1&token=${value}`;
        const { status, head, body } = await refusal(port, path);
        assertEquals(status, 401, head);
        assertStringIncludes(head, 'WWW-Authenticate: Bearer realm="pushwire"');
        assertStringIncludes(body, message);
      });
    }
  });
});

Deno.test("grants: topics with * at the handshake (403 outside) and later (error event)", async () => {
  await withJwt({ secret: SECRET }, async (port) => {
    const token = await signToken({ topics: ["room:*", "news"] });
    const outside = await refusal(port, `/?topic=room:1&topic=admin&token=${token}`);
    assertEquals(outside.status, 403);
    assertStringIncludes(outside.body, 'Not allowed to subscribe to "admin"');

    const client = new TestClient(port, `/?topic=room:1&token=${token}`);
    await waitForEvent(client, (e) => e.type === "subscribed" && e.topic === "room:1");
    client.ws.send(JSON.stringify({ type: "subscribe", topic: "secret" }));
    client.ws.send(JSON.stringify({ type: "subscribe", topic: "room:2" }));
    client.ws.send(JSON.stringify({ type: "subscribe", topic: "news" }));
    const events = await waitForEvent(client, (e) => e.type === "subscribed" && e.topic === "news");
    assert(events.some((e) => e.type === "subscribed" && e.topic === "room:2"));
    assert(
      events.some((e) =>
        e.type === "error" && e.message === 'Not allowed to subscribe to "secret"'
      ),
    );
    await client.close();
  });
});

Deno.test("the token in an Authorization: Bearer header; a token with no topics may use the room", async () => {
  await withJwt({ secret: SECRET }, async (port) => {
    const token = await signToken({ topics: ["news"] });
    const client = await RawClient.connect(port, {
      path: "/?topic=news",
      headers: { Authorization: `Bearer ${token}` },
    });
    assertStringIncludes(client.response, "101 Switching Protocols");
    client.conn.close();
    const chat = new TestClient(port, `/?token=${await signToken()}`);
    const [welcome] = await eventsOf(chat, 1);
    assertEquals(welcome!.type, "welcome");
    await chat.close();
  });
});

Deno.test("public topics: readable without a token, never alone with others", async () => {
  await withJwt({ secret: SECRET, publicTopics: ["news", "status:*"] }, async (port) => {
    const reader = new TestClient(port, "/?topic=news&topic=status:eu");
    await waitForEvent(reader, (e) => e.type === "subscribed" && e.topic === "status:eu");
    reader.ws.send(JSON.stringify({ type: "subscribe", topic: "room:1" }));
    reader.ws.send(JSON.stringify({ type: "publish", topic: "news", data: "spoof", ref: 1 }));
    const events = await waitForEvent(reader, (e) => e.type === "error" && e.ref === 1);
    assert(events.some((e) => e.message === 'Not allowed to subscribe to "room:1"'));
    assertEquals(events.find((e) => e.ref === 1)?.message, 'Not allowed to publish to "news"');
    await reader.close();
    assertEquals((await refusal(port, "/?topic=news&topic=room:1")).status, 401);
    assertEquals((await refusal(port, "/")).status, 401);
    // A token is granted the public topics too.
    const token = await signToken({ topics: ["room:1"] });
    const member = new TestClient(port, `/?topic=room:1&topic=news&token=${token}`);
    await waitForEvent(member, (e) => e.type === "subscribed" && e.topic === "news");
    await member.close();
  });
});

Deno.test("keys: RS256 and EdDSA as PEM, ES256 as JWK; a private JWK is refused", async (t) => {
  for (const alg of ["RS256", "EdDSA"]) {
    await t.step(`${alg} PEM`, async () => {
      const { publicKey, privateKey } = await keyPair(alg);
      await withJwt({ key: await exportSPKI(publicKey) }, async (port) => {
        const token = await signToken({ alg, signWith: privateKey, topics: ["news"] });
        const client = new TestClient(port, `/?topic=news&token=${token}`);
        await waitForEvent(client, (e) => e.type === "subscribed");
        await client.close();
        const hs = await signToken({ topics: ["news"] });
        assertEquals((await refusal(port, `/?topic=news&token=${hs}`)).status, 401);
      });
    });
  }
  await t.step("ES256 JWK", async () => {
    const { publicKey, privateKey } = await keyPair("ES256");
    const jwk = JSON.stringify({ ...await exportJWK(publicKey), alg: "ES256" });
    await withJwt({ key: jwk }, async (port) => {
      const token = await signToken({ alg: "ES256", signWith: privateKey, topics: ["news"] });
      const client = new TestClient(port, `/?topic=news&token=${token}`);
      await waitForEvent(client, (e) => e.type === "subscribed");
      await client.close();
    });
    const privateJwk = JSON.stringify(await exportJWK(privateKey));
    await assertRejects(
      () => loadVerificationKey({ key: privateJwk }),
      TypeError,
      "public key only",
    );
  });
  await t.step("a short secret, no key, or two keys", async () => {
    await assertRejects(() => loadVerificationKey({ secret: "short" }), TypeError, "32 bytes");
    await assertRejects(() => loadVerificationKey({}), TypeError, "exactly one");
    await assertRejects(
      () => loadVerificationKey({ secret: SECRET, jwks: "https://id.example/jwks" }),
      TypeError,
      "exactly one",
    );
  });
});

Deno.test("JWKS: keys fetched from an identity provider by kid; 503 while it is away", async () => {
  const { publicKey, privateKey } = await keyPair("RS256");
  const jwk = { ...await exportJWK(publicKey), kid: "k1", alg: "RS256", use: "sig" };
  let fetches = 0;
  const provider = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
    fetches++;
    return Response.json({ keys: [jwk] });
  });
  const jwks = `http://127.0.0.1:${provider.addr.port}/.well-known/jwks.json`;
  try {
    await withJwt({ jwks }, async (port) => {
      const token = await signToken({
        alg: "RS256",
        signWith: privateKey,
        kid: "k1",
        topics: ["news"],
      });
      for (let i = 0; i < 3; i++) {
        const client = new TestClient(port, `/?topic=news&token=${token}`);
        await waitForEvent(client, (e) => e.type === "subscribed");
        await client.close();
      }
      assertEquals(fetches, 1, "the key set is cached");
      const unknown = await signToken({
        alg: "RS256",
        signWith: privateKey,
        kid: "k2",
        topics: ["news"],
      });
      assertEquals((await refusal(port, `/?topic=news&token=${unknown}`)).status, 401);
    });
  } finally {
    await provider.shutdown();
  }
  // The provider is gone: a token cannot be checked.
  await withJwt({ jwks }, async (port) => {
    const token = await signToken({
      alg: "RS256",
      signWith: privateKey,
      kid: "k1",
      topics: ["news"],
    });
    const { status, head } = await refusal(port, `/?topic=news&token=${token}`);
    assertEquals(status, 503);
    assertStringIncludes(head, "Retry-After");
  });
});
