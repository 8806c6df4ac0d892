/**
 * Cross-node fan-out through Redis: a publisher posts to node A, subscribers
 * are spread over nodes A and B (two `src/cli.ts --redis` processes on a
 * redis-server this script starts on a free loopback port), and the same
 * load against one node with the memory engine gives the baseline.
 *
 * Reports, per node, deliveries per server CPU-second (user + system time of
 * the node's process over the measured stretch, from `/proc/PID/stat`), and
 * the delivery latency from the publisher's send to a subscriber's read,
 * p50/p99: the difference to the baseline is what the Redis hop adds.
 *
 * ```sh
 * deno task std run -A bench/redis_fanout.ts [--subscribers 100] [--messages 2000] [--window 8] [--size 64]
 * ```
 *
 * Clients and publisher share this process: its latency figures include its
 * own queueing, the same for every row.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { findRedisServer, RedisProcess } from "../tests/_redis.ts";

const CLI = new URL("../src/cli.ts", import.meta.url);
const STD_FALLBACK = new URL("../.ci/std/", import.meta.url);
const decoder = new TextDecoder();

interface Options {
  subscribers: number;
  messages: number;
  window: number;
  size: number;
}

interface Row {
  setup: string;
  node: string;
  subscribers: number;
  deliveries: number;
  lost: number;
  cpuSeconds: number;
  perCpuSecond: number;
  p50: number;
  p99: number;
}

/** A node: the CLI as a child process. */
class Node {
  readonly child: Deno.ChildProcess;
  readonly port: Promise<number>;

  constructor(extra: string[]) {
    const importMap = import.meta.resolve("@std/cli").startsWith(STD_FALLBACK.href)
      ? [`--import-map=${new URL("import_map.json", STD_FALLBACK).pathname}`]
      : [];
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-N",
        ...importMap,
        CLI.pathname,
        "--port",
        "0",
        "--hostname",
        "127.0.0.1",
        "--history",
        "1000",
        "--max-connections-per-address",
        "0",
        ...extra,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.child = child;
    this.port = (async () => {
      let text = "";
      for await (const chunk of child.stdout) {
        text += decoder.decode(chunk);
        const match = text.match(/listening on http:\/\/127\.0\.0\.1:(\d+)\//);
        if (match !== null) return Number(match[1]);
      }
      throw new Error(`node exited before listening: ${text}`);
    })();
  }

  /** User + system CPU seconds of the process so far. */
  async cpuSeconds(): Promise<number> {
    const stat = await Deno.readTextFile(`/proc/${this.child.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    await this.child.status;
  }
}

const CLOCK_TICKS = await clockTicks();

async function clockTicks(): Promise<number> {
  try {
    const output = await new Deno.Command("getconf", {
      args: ["CLK_TCK"],
      stdout: "piped",
    })
      .output();
    return Number(decoder.decode(output.stdout).trim()) || 100;
  } catch {
    return 100;
  }
}

/** Subscribers on one node, recording the latency of every publication. */
class Subscribers {
  readonly sockets: WebSocket[] = [];
  readonly latencies: number[] = [];
  received = 0;

  static async open(port: number, count: number): Promise<Subscribers> {
    const group = new Subscribers();
    await Promise.all(Array.from({ length: count }, () => group.#add(port)));
    return group;
  }

  #add(port: number): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?topic=bench`);
    this.sockets.push(ws);
    const subscribed = Promise.withResolvers<void>();
    ws.onmessage = (event) => {
      const text = event.data as string;
      if (text.startsWith('{"type":"publication"')) {
        const at = performance.timeOrigin + performance.now();
        const sent = Number(
          text.slice(text.indexOf('"data":"') + 8, text.indexOf("|")),
        );
        this.latencies.push(at - sent);
        this.received++;
      } else if (text.startsWith('{"type":"subscribed"')) {
        subscribed.resolve();
      }
    };
    ws.onerror = () => subscribed.reject(new Error("subscriber failed"));
    return subscribed.promise;
  }

  close(): void {
    for (const ws of this.sockets) ws.close();
  }
}

/** Publishes `messages` to node `port`, at most `window` in flight. */
async function publishAll(port: number, options: Options): Promise<void> {
  let next = 0;
  const padding = "x".repeat(Math.max(0, options.size - 20));
  const worker = async () => {
    while (next < options.messages) {
      next++;
      const stamp = (performance.timeOrigin + performance.now()).toFixed(3);
      const response = await fetch(
        `http://127.0.0.1:${port}/publish?topic=bench`,
        {
          method: "POST",
          headers: { "Content-Type": "text/plain" },
          body: `${stamp}|${padding}`,
        },
      );
      await response.body?.cancel();
      if (response.status !== 200) {
        throw new Error(`publish answered ${response.status}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.window }, worker));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function settle(groups: Subscribers[], expected: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (
    groups.some((group) => group.received < expected) && Date.now() < deadline
  ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One setup: the nodes, who publishes where, subscribers on each. */
async function run(
  setup: string,
  nodes: { name: string; node: Node }[],
  publishTo: number,
  options: Options,
): Promise<Row[]> {
  const ports = await Promise.all(nodes.map(({ node }) => node.port));
  const groups = await Promise.all(
    ports.map((port) => Subscribers.open(port, options.subscribers)),
  );
  // Warm-up: a tenth of the load, not measured.
  await publishAll(ports[publishTo]!, {
    ...options,
    messages: Math.ceil(options.messages / 10),
  });
  await settle(groups, Math.ceil(options.messages / 10) * options.subscribers);
  for (const group of groups) {
    group.latencies.length = 0;
    group.received = 0;
  }
  const cpuBefore = await Promise.all(
    nodes.map(({ node }) => node.cpuSeconds()),
  );
  await publishAll(ports[publishTo]!, options);
  await settle(groups, options.messages * options.subscribers);
  const cpuAfter = await Promise.all(
    nodes.map(({ node }) => node.cpuSeconds()),
  );
  for (const group of groups) group.close();
  return nodes.map(({ name }, i) => {
    const group = groups[i]!;
    const sorted = group.latencies.toSorted((a, b) => a - b);
    const cpuSeconds = cpuAfter[i]! - cpuBefore[i]!;
    return {
      setup,
      node: name,
      subscribers: options.subscribers,
      deliveries: group.received,
      lost: options.messages * options.subscribers - group.received,
      cpuSeconds,
      perCpuSecond: cpuSeconds > 0 ? group.received / cpuSeconds : NaN,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
    };
  });
}

function table(rows: Row[]): string {
  const lines = [
    "| setup | node | subscribers | deliveries | lost | server CPU s | deliveries / CPU s | p50 ms | p99 ms |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.setup} | ${r.node} | ${r.subscribers} | ${r.deliveries} | ${r.lost} | ${
        r.cpuSeconds.toFixed(2)
      } | ${Math.round(r.perCpuSecond)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  const flags = parseArgs(Deno.args, {
    string: ["subscribers", "messages", "window", "size"],
    default: { subscribers: "100", messages: "2000", window: "8", size: "64" },
  });
  const options: Options = {
    subscribers: Number(flags.subscribers),
    messages: Number(flags.messages),
    window: Number(flags.window),
    size: Number(flags.size),
  };
  const executable = await findRedisServer();
  if (executable === undefined) {
    console.error("redis-server not found (apt-get install redis-server)");
    return 1;
  }
  const rows: Row[] = [];

  const single = new Node([]);
  try {
    rows.push(
      ...await run("memory, 1 node", [{ name: "A", node: single }], 0, {
        ...options,
        subscribers: options.subscribers * 2,
      }),
    );
  } finally {
    await single.stop();
  }

  const redis = await RedisProcess.start(executable);
  const a = new Node(["--redis", redis.url]);
  const b = new Node(["--redis", redis.url]);
  try {
    rows.push(
      ...await run(
        "redis, 2 nodes",
        [{ name: "A", node: a }, { name: "B", node: b }],
        0,
        {
          ...options,
        },
      ),
    );
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await redis.stop();
  }

  console.log(
    `${options.messages} messages of ${options.size} B, ${options.window} in flight, published on A\n`,
  );
  console.log(table(rows));
  return rows.some((row) => row.lost !== 0) ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
