/**
 * Token expiry from the wire: a socket is told before its token expires,
 * keeps going with a fresh token sent in time, and is closed with 4401
 * without one; a fresh token must be for the same user, and a narrower one
 * drops the topics it no longer grants.
 */

import { assert, assertEquals } from "@std/assert";
import { jwtAuthorizer } from "../src/auth/jwt.ts";
import { SECRET, signToken } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { TestClient, waitForEvent } from "./_server.ts";

const jwt = { authorize: jwtAuthorizer({ secret: SECRET }) };

Deno.test("an expiring token: told at once when under 30 s are left, closed with 4401 at expiry", async () => {
  await withPush(jwt, async (_push, port) => {
    const token = await signToken({ topics: ["news"], expiresIn: 2 });
    const started = Date.now();
    const client = new TestClient(port, `/?topic=news&token=${token}`);
    const expiring = await waitForEvent(client, (e) => e.type === "expiring");
    assert(typeof expiring.expires === "number" && expiring.expires > started);
    const closed = await client.closed;
    assertEquals(closed.code, 4401);
    assertEquals(closed.reason, "Token expired");
    assert(Date.now() >= (expiring.expires as number) - 50, "closed at expiry, not before");
  });
});

Deno.test("a fresh token sent in time keeps the socket open", async () => {
  await withPush(jwt, async (push, port) => {
    const client = new TestClient(
      port,
      `/?topic=news&token=${await signToken({ topics: ["news"], expiresIn: 2 })}`,
    );
    await waitForEvent(client, (e) => e.type === "expiring");
    const fresh = await signToken({ topics: ["news"], expiresIn: 120 });
    client.ws.send(JSON.stringify({ type: "token", token: fresh }));
    const renewed = await waitForEvent(client, (e) => e.type === "token");
    assert((renewed.expires as number) > Date.now() + 100_000);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assertEquals(client.ws.readyState, WebSocket.OPEN);
    await push.publish("news", { type: "text", text: "still here" });
    await waitForEvent(client, (e) => e.data === "still here");
    await client.close();
  });
});

Deno.test("a fresh token for another user is refused; a narrower one drops topics", async () => {
  await withPush(jwt, async (_push, port) => {
    const token = await signToken({ topics: ["news", "room:*"], expiresIn: 60 });
    const client = new TestClient(port, `/?topic=news&topic=room:1&token=${token}`);
    await waitForEvent(client, (e) => e.type === "subscribed" && e.topic === "room:1");
    client.ws.send(JSON.stringify({ type: "token", token: await signToken({ sub: "mallory" }) }));
    const error = await waitForEvent(client, (e) => e.type === "error");
    assertEquals(error.message, "Cannot renew: the fresh token is for another user");
    client.ws.send(JSON.stringify({ type: "token", token: "garbage" }));
    await waitForEvent(
      client,
      (e) => e.type === "error" && e.message === "Cannot renew: Invalid token",
    );
    const narrower = await signToken({ topics: ["news"], expiresIn: 60 });
    client.ws.send(JSON.stringify({ type: "token", token: narrower }));
    const dropped = await waitForEvent(client, (e) => e.type === "unsubscribed");
    assertEquals(dropped, { type: "unsubscribed", topic: "room:1", reason: "grant" });
    await waitForEvent(client, (e) => e.type === "token");
    await client.close();
  });
});

Deno.test("a token message without tokens configured is answered with an error", async () => {
  await withPush({}, async (_push, port) => {
    const client = new TestClient(port, "/?topic=news");
    await waitForEvent(client, (e) => e.type === "subscribed");
    client.ws.send(JSON.stringify({ type: "token", token: "x" }));
    const error = await waitForEvent(client, (e) => e.type === "error");
    assertEquals(error.message, "Cannot renew: this server does not use tokens");
    await client.close();
  });
});
