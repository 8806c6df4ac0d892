/**
 * A property of resume, driven at random (seeded) on loopback: clients that
 * drop, reconnect with their last ids, unsubscribe and subscribe again from
 * their last ids, while publishers publish and the server restarts, see
 * every id of a topic once and in order, or a gap notice that justifies the
 * jump (`expired` when the window moved on, `restart` after a restart).
 *
 * `PUSHWIRE_PROPERTY_SEED=<n>` replays one run; `PUSHWIRE_PROPERTY_STEPS`
 * makes it longer.
 */

import { assert, assertEquals } from "@std/assert";
import { type PushServer, servePush, type ServePushOptions } from "../src/app/serve_push.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { redisTest } from "./_redis.ts";
import { until } from "./_server.ts";

type Event = Record<string, unknown> & { type: string };
const TOPICS = ["a", "b", "c"];

/** A small seeded generator (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const split = (id: string) => {
  const colon = id.lastIndexOf(":");
  return { epoch: id.slice(0, colon), seq: Number(id.slice(colon + 1)) };
};

/**
 * One client and what it checks: per topic, the last id it holds; every
 * publication must follow it by one, unless a gap came since.
 */
class Checker {
  readonly last = new Map<string, string>();
  readonly violations: string[] = [];
  readonly subscribed = new Set<string>();
  #gapAllowed = new Set<string>();
  // The sinces of the subscribes sent after unsubscribes, in order: what the
  // client holds once the server confirms each unsubscribe.
  #resubscribeFrom = new Map<string, (string | undefined)[]>();
  #ws: WebSocket | undefined;
  received = 0;

  constructor(readonly name: string) {}

  connect(port: number): Promise<void> {
    const query = TOPICS.map((topic) => `topic=${topic}`);
    for (const [topic, id] of this.last) query.push(`since=${topic}:${id}`);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?${query.join("&")}`);
    this.#ws = ws;
    this.subscribed.clear();
    this.#resubscribeFrom.clear();
    ws.onmessage = (message) => {
      if (ws === this.#ws) this.#receive(JSON.parse(message.data));
    };
    return new Promise((resolve) => {
      ws.onopen = () => resolve();
      ws.onerror = () => resolve();
    });
  }

  drop(): void {
    this.#ws?.close();
    this.#ws = undefined;
  }

  /** Unsubscribes from a topic and subscribes again from the last id held. */
  resubscribe(topic: string): void {
    if (this.#ws?.readyState !== WebSocket.OPEN) return;
    const since = this.last.get(topic);
    const queue = this.#resubscribeFrom.get(topic) ?? [];
    queue.push(since);
    this.#resubscribeFrom.set(topic, queue);
    this.#ws.send(JSON.stringify({ type: "unsubscribe", topic }));
    this.#ws.send(JSON.stringify({ type: "subscribe", topic, ...(since ? { since } : {}) }));
  }

  #receive(event: Event): void {
    const topic = String(event.topic);
    if (event.type === "gap") {
      if (String(event.since) !== (this.last.get(topic) ?? String(event.since))) {
        this.violations.push(
          `${this.name}: gap since ${event.since}, holding ${this.last.get(topic)}`,
        );
      }
      this.#gapAllowed.add(topic);
    } else if (event.type === "subscribed") {
      this.subscribed.add(topic);
      if (!this.last.has(topic)) this.last.set(topic, String(event.last));
    } else if (event.type === "unsubscribed") {
      this.subscribed.delete(topic);
      // What follows is the new subscription, from the since it named.
      const since = this.#resubscribeFrom.get(topic)?.shift();
      if (since === undefined) this.last.delete(topic);
      else this.last.set(topic, since);
      this.#gapAllowed.delete(topic);
    } else if (event.type === "publication") {
      this.received++;
      const id = String(event.id);
      const held = this.last.get(topic);
      if (held !== undefined && !this.#gapAllowed.has(topic)) {
        const [a, b] = [split(held), split(id)];
        if (a.epoch !== b.epoch || b.seq !== a.seq + 1) {
          this.violations.push(`${this.name}: ${topic} ${held} then ${id} without a gap`);
        }
      }
      this.#gapAllowed.delete(topic);
      this.last.set(topic, id);
    } else if (event.type === "error") {
      this.violations.push(`${this.name}: error ${event.message}`);
    }
  }
}

/** Runs the property against servers made by `start` (each restart makes a new one). */
async function property(start: (options: ServePushOptions) => PushServer): Promise<void> {
  const seed = Number(Deno.env.get("PUSHWIRE_PROPERTY_SEED") ?? Date.now() % 100_000);
  const steps = Number(Deno.env.get("PUSHWIRE_PROPERTY_STEPS") ?? 300);
  const next = random(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  // No message rate: the clients re-subscribe faster than a browser would.
  const options = {
    port: 0,
    hostname: "127.0.0.1",
    historySize: 40,
    replayChunkBytes: 2048,
    maxMessagesPerSecond: 0,
  };
  let push: PushServer = start(options);
  await push.ready;
  let port = push.server.addr.port;
  const clients = ["c1", "c2", "c3"].map((name) => new Checker(name));
  const published = new Map<string, number>();
  try {
    for (const client of clients) await client.connect(port);
    for (let step = 0; step < steps; step++) {
      const roll = next();
      const client = pick(clients);
      if (roll < 0.55) {
        const topic = pick(TOPICS);
        const count = 1 + Math.floor(next() * 8);
        for (let i = 0; i < count; i++) {
          await push.publish(topic, { type: "text", text: `${topic}${step}.${i}` });
          published.set(topic, (published.get(topic) ?? 0) + 1);
        }
      } else if (roll < 0.7) {
        client.drop();
        await client.connect(port);
      } else if (roll < 0.85) {
        client.resubscribe(pick(TOPICS));
      } else if (roll < 0.88) {
        for (const each of clients) each.drop();
        await push.server.shutdown();
        push = start(options);
        await push.ready;
        port = push.server.addr.port;
        for (const each of clients) await each.connect(port);
      } else {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 20)));
      }
    }
    // Settle: every client subscribed everywhere and caught up.
    for (const client of clients) {
      await until(() => client.subscribed.size === TOPICS.length, 10_000, `${client.name} settled`);
    }
    const marker = await Promise.all(
      TOPICS.map((topic) => push.publish(topic, { type: "text", text: "end" })),
    );
    for (const client of clients) {
      await until(
        () => marker.every((result) => client.last.get(result.topic) === result.id),
        10_000,
        `${client.name} caught up`,
      );
    }
    const violations = clients.flatMap((client) => client.violations);
    assertEquals(violations, [], `seed ${seed}`);
    assert(clients.every((client) => client.received > 0), `seed ${seed}: nothing received`);
  } finally {
    for (const client of clients) client.drop();
    await push.server.shutdown();
  }
}

Deno.test("resume property: random drops, re-subscribes and restarts: every id once, in order, or a gap", () =>
  property((options) => servePush(options)));

redisTest(
  "resume property with Redis: nodes restarted on one Redis, every id once, in order, or a gap",
  (redis) =>
    property((options) =>
      servePush({ ...options, engine: new RedisEngine({ url: redis.url, size: 40 }) })
    ),
);
