/**
 * The soak benchmark's load, all on loopback and all at once, each kind a
 * few loops that run until a deadline: connection churn over many topics,
 * publishes, slow consumers that never read, ping floods and fragment
 * floods. Every loop reconnects when the server closes it, and every
 * connection is closed when the deadline passes.
 *
 * @module
 */

import { OPCODE } from "../../src/protocol/frame.ts";
import { RawClient } from "../../tests/_raw_client.ts";

/** How much of each kind of load. */
export interface SoakLoad {
  /** Clients that connect, subscribe to a few topics, stay a moment and leave. */
  churners: number;
  /** Topics the churners and the publisher pick from. */
  topics: number;
  /** Publishes per second (HTTP `POST /publish`). */
  publishRate: number;
  /** Clients that subscribe to the busiest topic and never read. */
  slowConsumers: number;
  /** Clients that send pings and never read. */
  pingFlooders: number;
  /** Clients that send a message in endless one-byte fragments. */
  fragmentFlooders: number;
}

/** What the load did, counted. */
export interface SoakCounts {
  connections: number;
  publishes: number;
  publishFailures: number;
  floodsEnded: number;
  refused: number;
}

const BUSY = "busy";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs every kind of load against `port` until `deadline` (a `Date.now()`
 * value); resolves once every loop has stopped and closed its connection.
 */
export async function runLoad(
  port: number,
  load: SoakLoad,
  deadline: number,
): Promise<SoakCounts> {
  const counts: SoakCounts = {
    connections: 0,
    publishes: 0,
    publishFailures: 0,
    floodsEnded: 0,
    refused: 0,
  };
  const live = () => Date.now() < deadline;
  const loops = [
    ...repeat(load.churners, (i) => churn(port, load.topics, i, counts, live)),
    publisher(port, load, counts, live),
    ...repeat(load.slowConsumers, () => slowConsumer(port, counts, live)),
    ...repeat(load.pingFlooders, () => flood(port, counts, live, pings)),
    ...repeat(
      load.fragmentFlooders,
      () => flood(port, counts, live, fragments),
    ),
  ];
  await Promise.all(loops);
  return counts;
}

function repeat(
  count: number,
  loop: (i: number) => Promise<void>,
): Promise<void>[] {
  return Array.from({ length: count }, (_, i) => loop(i));
}

/** Connects, reads a moment, leaves (with a close frame, or by dropping the TCP connection). */
async function churn(
  port: number,
  topics: number,
  index: number,
  counts: SoakCounts,
  live: () => boolean,
): Promise<void> {
  while (live()) {
    const names = new Set<string>();
    const wanted = 1 + Math.floor(Math.random() * 10);
    while (names.size < wanted) {
      names.add(`t${Math.floor(Math.random() * topics)}`);
    }
    const path = `/?${
      [...names, index % 5 === 0 ? BUSY : names.values().next().value]
        .map((topic) => `topic=${topic}`).join("&")
    }`;
    const client = await connect(port, path, counts);
    if (client === undefined) continue;
    const stay = 200 + Math.random() * 1800;
    const reading = drain(client, Date.now() + stay);
    await sleep(stay);
    if (Math.random() < 0.5) await client.sendClose(1000).catch(() => {});
    client.close();
    await reading;
  }
}

/** Publishes at the load's rate, a fifth of it to the busy topic. */
async function publisher(
  port: number,
  load: SoakLoad,
  counts: SoakCounts,
  live: () => boolean,
): Promise<void> {
  const interval = 1000 / Math.max(1, load.publishRate);
  while (live()) {
    const started = Date.now();
    const topic = Math.random() < 0.2 ? BUSY : `t${Math.floor(Math.random() * load.topics)}`;
    const size = topic === BUSY ? 8 * 1024 : 100 + Math.floor(Math.random() * 1900);
    try {
      const response = await fetch(
        `http://127.0.0.1:${port}/publish?topic=${topic}`,
        {
          method: "POST",
          headers: { "Content-Type": "text/plain" },
          body: "x".repeat(size),
        },
      );
      await response.body?.cancel();
      if (response.ok) counts.publishes++;
      else counts.publishFailures++;
    } catch {
      counts.publishFailures++;
    }
    await sleep(Math.max(0, interval - (Date.now() - started)));
  }
}

/**
 * Subscribes to the busy topic and never reads, for a few seconds: the
 * server closes it once its outbox is full (counted by the server's
 * `pushwire_slow_consumer_closes_total`).
 */
async function slowConsumer(
  port: number,
  counts: SoakCounts,
  live: () => boolean,
) {
  while (live()) {
    const client = await connect(port, `/?topic=${BUSY}`, counts);
    if (client === undefined) continue;
    await sleep(3000 + Math.random() * 3000);
    client.close();
  }
}

/** Sends bursts of one kind of frame without reading, until the server closes it. */
async function flood(
  port: number,
  counts: SoakCounts,
  live: () => boolean,
  burst: (client: RawClient) => Promise<void>,
) {
  while (live()) {
    const client = await connect(port, "/", counts);
    if (client === undefined) continue;
    try {
      while (live()) {
        await withTimeout(burst(client), 2000);
        await sleep(5);
      }
    } catch {
      counts.floodsEnded++;
    }
    client.close();
  }
}

const PING = new Uint8Array(125);

function pings(client: RawClient): Promise<void> {
  const frames = [];
  for (let i = 0; i < 200; i++) {
    frames.push(client.sendFrame(OPCODE.Ping, PING));
  }
  return Promise.all(frames).then(() => {});
}

function fragments(client: RawClient): Promise<void> {
  const frames = [client.sendFrame(OPCODE.Text, "x", { fin: false })];
  for (let i = 0; i < 500; i++) {
    frames.push(client.sendFrame(OPCODE.Continuation, "x", { fin: false }));
  }
  return Promise.all(frames).then(() => {});
}

async function connect(
  port: number,
  path: string,
  counts: SoakCounts,
): Promise<RawClient | undefined> {
  try {
    const client = await withTimeout(RawClient.connect(port, { path }), 5000);
    counts.connections++;
    return client;
  } catch {
    counts.refused++;
    await sleep(50);
    return undefined;
  }
}

/** Reads and drops frames until `until` (a `Date.now()` value) or the end. */
async function drain(client: RawClient, until: number): Promise<void> {
  while (Date.now() < until) {
    try {
      const frame = await client.nextFrame(Math.max(1, until - Date.now()));
      if (frame === undefined) return;
    } catch {
      return;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
