/**
 * Presence and the server API on the push server, from the wire: who is in
 * a room (snapshot, join, leave), the default room's names, the API's
 * disconnect (4403), unsubscribe, presence and topics, and all of it across
 * two nodes on Redis.
 */

import { assert, assertEquals } from "@std/assert";
import { jwtAuthorizer } from "../src/auth/jwt.ts";
import { type PushServer, servePush, type ServePushOptions } from "../src/app/serve_push.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { RedisPresence } from "../src/push/redis/presence.ts";
import { SECRET, signToken } from "./_jwt.ts";
import { withPush } from "./_push.ts";
import { type RedisProcess, redisTest } from "./_redis.ts";
import { eventsOf, type JsonEvent, TestClient, waitForEvent } from "./_server.ts";

const API_KEY = "test-api-key";

async function api(port: number, method: string, path: string, key = API_KEY) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

const names = (event: JsonEvent) =>
  (event.clients as JsonEvent[]).map((c) => (c.info as { name?: string } | undefined)?.name).sort();

Deno.test("presence in room:*: a snapshot with you, then join and leave; none in other topics", async () => {
  await withPush({}, async (_push, port) => {
    const ada = new TestClient(port, "/?topic=room:1&topic=news&name=Ada");
    const first = await waitForEvent(ada, (e) => e.type === "presence");
    assertEquals(first.topic, "room:1");
    assertEquals(names(first), ["Ada"]);
    assertEquals((first.clients as JsonEvent[])[0]!.client, first.you);
    const bob = new TestClient(port, "/?topic=room:1&name=Bob");
    const snapshot = await waitForEvent(bob, (e) => e.type === "presence");
    assertEquals(names(snapshot), ["Ada", "Bob"]);
    const join = await waitForEvent(ada, (e) => e.type === "join" && e.client !== first.you);
    assertEquals([join.topic, (join.info as JsonEvent).name], ["room:1", "Bob"]);
    assertEquals(join.client, snapshot.you);
    await bob.close();
    const leave = await waitForEvent(ada, (e) => e.type === "leave");
    assertEquals(leave.client, snapshot.you);
    assert(!eventsOf(ada).some((e) => e.topic === "news" && e.type !== "subscribed"));
    await ada.close();
  });
});

Deno.test("the server API: 404 without a key, presence, topics, unsubscribe and disconnect", async () => {
  await withPush({}, async (_push, port) => {
    assertEquals((await api(port, "GET", "/api/topics")).status, 404);
  });
  const options: ServePushOptions = {
    apiKey: API_KEY,
    authorize: jwtAuthorizer({ secret: SECRET }),
  };
  await withPush(options, async (push, port) => {
    const token = await signToken({ topics: ["room:*", "news"], info: { name: "Alice" } });
    const alice = new TestClient(port, `/?topic=room:1&topic=news&token=${token}`);
    await waitForEvent(alice, (e) => e.type === "presence"); // alice is in before bob comes
    const other = await signToken({ sub: "bob", topics: ["room:*"] });
    const bob = new TestClient(port, `/?topic=room:1&token=${other}`);
    await waitForEvent(alice, (e) => e.type === "join" && e.user === "bob");
    assertEquals((await api(port, "GET", "/api/topics", "wrong")).status, 403);

    const presence = await api(port, "GET", "/api/presence?topic=room:1");
    assertEquals(presence.status, 200);
    assertEquals((presence.body.clients as JsonEvent[]).map((c) => c.user).sort(), [
      "alice",
      "bob",
    ]);
    assertEquals((await api(port, "GET", "/api/presence?topic=news")).status, 404);
    assertEquals((await push.presence("room:1")).length, 2);
    const topics = await api(port, "GET", "/api/topics");
    assertEquals(topics.body.topics, [
      { topic: "news", subscribers: 1 },
      { topic: "room:1", subscribers: 2 },
    ]);

    const unsubscribed = await api(port, "POST", "/api/unsubscribe?user=alice&topic=news");
    assertEquals(unsubscribed.body, { unsubscribed: 1 });
    const event = await waitForEvent(alice, (e) => e.type === "unsubscribed");
    assertEquals(event, { type: "unsubscribed", topic: "news", reason: "server" });

    const kicked = await api(port, "POST", "/api/disconnect?user=alice&reason=Account%20closed");
    assertEquals(kicked.body, { disconnected: 1 });
    const closed = await alice.closed;
    assertEquals([closed.code, closed.reason], [4403, "Account closed"]);
    const left = await waitForEvent(bob, (e) => e.type === "leave");
    assertEquals(left.user, "alice");
    assertEquals(await push.disconnect("bob"), 1);
    assertEquals((await bob.closed).code, 4403);
    assertEquals(await push.disconnect("nobody"), 0);
  });
});

Deno.test("the default room shows names: welcome members, join names", async () => {
  await withPush({}, async (_push, port) => {
    const ada = new TestClient(port, "/?name=Ada");
    await ada.waitFor(1);
    const bob = new TestClient(port, "/?name=Bob");
    const [welcome] = await bob.waitFor(1).then(() => eventsOf(bob));
    assertEquals((welcome!.members as JsonEvent[]).map((m) => m.name), ["Bob", "Ada"]);
    const join = await waitForEvent(ada, (e) => e.type === "join" && e.name === "Bob");
    assertEquals(join.peers, 2);
    await ada.close();
    await bob.close();
  });
});

/** Two push servers sharing one Redis, each with its own engine and presence store. */
async function twoNodes(
  redis: RedisProcess,
  fn: (a: PushServer, b: PushServer) => Promise<void>,
): Promise<void> {
  const node = () =>
    servePush({
      port: 0,
      hostname: "127.0.0.1",
      apiKey: API_KEY,
      authorize: jwtAuthorizer({ secret: SECRET }),
      engine: new RedisEngine({ url: redis.url }),
      presenceStore: new RedisPresence({ url: redis.url }),
    });
  const a = node();
  const b = node();
  try {
    await Promise.all([a.ready, b.ready]);
    await fn(a, b);
  } finally {
    await Promise.all([a.server.shutdown(), b.server.shutdown()]);
  }
}

redisTest("presence, the default room and a kick across two nodes on Redis", async (redis) => {
  await twoNodes(redis, async (a, b) => {
    const portA = a.server.addr.port;
    const portB = b.server.addr.port;
    const token = (sub: string, name: string) =>
      signToken({ sub, topics: ["room:*"], info: { name } });
    const alice = new TestClient(portA, `/?topic=room:x&token=${await token("alice", "Alice")}`);
    await waitForEvent(alice, (e) => e.type === "presence");
    const bob = new TestClient(portB, `/?topic=room:x&token=${await token("bob", "Bob")}`);
    const snapshot = await waitForEvent(bob, (e) => e.type === "presence");
    assertEquals(names(snapshot), ["Alice", "Bob"]);
    const join = await waitForEvent(alice, (e) => e.type === "join" && e.user === "bob");
    assert(String(join.client).includes("."), "client ids carry their node");

    // The default room spans the nodes: names, peers, join and leave.
    const carol = new TestClient(portA, `/?token=${await token("carol", "Carol")}`);
    await carol.waitFor(1);
    const dave = new TestClient(portB, `/?token=${await token("dave", "Dave")}`);
    const daveWelcome = await waitForEvent(dave, (e) => e.type === "welcome");
    const joined = await waitForEvent(carol, (e) => e.type === "join" && e.name === "Dave");
    assertEquals(joined.peers, 2);
    // Carol is in Dave's welcome, or (her join still on its way to node B) joins just after.
    const members = (daveWelcome.members as JsonEvent[]).map((m) => m.name);
    if (!members.includes("Carol")) {
      await waitForEvent(dave, (e) => e.type === "join" && e.name === "Carol");
    }
    assertEquals(members.includes("Dave"), true);

    // A kick through node A's API reaches bob on node B.
    const kicked = await api(portA, "POST", "/api/disconnect?user=bob");
    assertEquals(kicked.body, { disconnected: 1 });
    assertEquals((await bob.closed).code, 4403);
    const left = await waitForEvent(alice, (e) => e.type === "leave");
    assertEquals(left.user, "bob");
    assertEquals((await a.presence("room:x")).map((c) => c.user), ["alice"]);
    assertEquals(await b.disconnect("dave"), 1);
    await waitForEvent(carol, (e) => e.type === "leave" && e.name === "Dave");
    await alice.close();
    await carol.close();
  });
});
