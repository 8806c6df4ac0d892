/**
 * What each further idle connection costs a server: it opens idle WebSocket
 * connections in steps (100 first, then `--step` at a time up to `--max`),
 * waits 2 seconds after each step and reads the server's resident memory
 * (VmRSS, `/proc/PID/status`). Per step it prints the growth per connection;
 * at the end, the average from the first 100 to the last step (what
 * `deno task bench` reports for 10 000 connections) and the marginal cost
 * over the last third of the steps, where the runtime's fixed growth (V8's
 * young generation and heap reservations) is mostly behind.
 *
 * The server runs pinned to core 0 where `taskset` exists; the connections
 * are opened from this process, 100 handshakes in flight, over loopback.
 *
 * ```sh
 * deno task std run -A bench/idle_memory.ts --servers floor,pushwire   # about 1.5 minutes
 * deno task std run -A bench/idle_memory.ts --servers deno --max 15000 --step 2500
 * ```
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { ensureBenchDeps } from "./lib/deps.ts";
import { canPin } from "./lib/launch.ts";
import { parseStatusRss } from "./lib/proc.ts";
import { SERVER_NAMES, type ServerName, startServer } from "./lib/servers.ts";

const HELP = `Usage: deno task std run -A bench/idle_memory.ts [options]
  --servers a,b   which servers (${SERVER_NAMES.join(", ")}); default floor,pushwire
  --max N         connections at the end (default 15000; at most 18000)
  --step N        connections per step (default 2500)`;
const FIRST = 100;
const IN_FLIGHT = 100;
const SETTLE_MS = 2000;
const MAX_CONNECTIONS = 18_000; // below the 20 000 open files of a process here

const encoder = new TextEncoder();

// Opens one WebSocket connection and reads its 101; the connection stays open, idle.
async function connect(port: number, index: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(String(index).padStart(16, "0"));
  await conn.write(encoder.encode(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  const buffer = new Uint8Array(512);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) {
      throw new Error(`connection ${index} closed during its handshake`);
    }
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  if (!head.startsWith("HTTP/1.1 101")) {
    throw new Error(`connection ${index}: ${head.split("\r\n")[0]}`);
  }
  return conn;
}

async function open(
  port: number,
  from: number,
  count: number,
  into: Deno.TcpConn[],
): Promise<void> {
  let next = from;
  const end = from + count;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < end) into.push(await connect(port, next++));
  }));
}

async function rssKiB(pid: number): Promise<number> {
  return parseStatusRss(await Deno.readTextFile(`/proc/${pid}/status`)) / 1024;
}

/**
 * Measures one server.
 *
 * @param name The server.
 * @param max Connections at the end.
 * @param step Connections per step.
 * @returns Its row of the table.
 */
export async function measureIdleMemory(
  name: ServerName,
  max: number,
  step: number,
): Promise<string> {
  const server = await startServer(name, {
    core: await canPin() ? 0 : undefined,
  });
  const conns: Deno.TcpConn[] = [];
  try {
    await open(server.port, 0, FIRST, conns);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const marks: [number, number][] = [[0, await rssKiB(server.process.pid)]];
    for (let opened = 0; opened < max; opened += step) {
      await open(
        server.port,
        FIRST + opened,
        Math.min(step, max - opened),
        conns,
      );
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      marks.push([
        Math.min(opened + step, max),
        await rssKiB(server.process.pid),
      ]);
    }
    const perConn = (a: [number, number], b: [number, number]) =>
      ((b[1] - a[1]) / (b[0] - a[0])).toFixed(2);
    const steps = marks.slice(1).map((mark, i) => {
      const growth = perConn(marks[i]!, mark);
      return `${mark[0]}: ${growth.startsWith("-") ? "" : "+"}${growth}`;
    });
    const last = marks[marks.length - 1]!;
    const tail = marks[Math.max(0, Math.floor((marks.length - 1) * 2 / 3))]!;
    return `| ${name} | ${perConn(marks[0]!, last)} | ${perConn(tail, last)} (${tail[0]}–${
      last[0]
    }) | ${steps.join(", ")} |`;
  } finally {
    for (const conn of conns) conn.close();
    await server.process.stop();
  }
}

if (import.meta.main) {
  const args = parseArgs(Deno.args, {
    string: ["servers", "max", "step"],
    boolean: ["help"],
    default: { servers: "floor,pushwire", max: "15000", step: "2500" },
  });
  if (args.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const servers = args.servers.split(",") as ServerName[];
  const max = Number(args.max);
  const step = Number(args.step);
  const unknown = servers.filter((name) => !SERVER_NAMES.includes(name));
  if (
    unknown.length > 0 || !Number.isInteger(max) || max < 1 ||
    max > MAX_CONNECTIONS ||
    !Number.isInteger(step) || step < 1
  ) {
    console.error(
      unknown.length > 0 ? `unknown server: ${unknown.join(", ")}` : HELP,
    );
    Deno.exit(2);
  }
  if (servers.includes("node") || servers.includes("bun")) {
    const problem = await ensureBenchDeps((line) => console.error(line));
    if (problem !== undefined) console.error(`bench: ${problem}`);
  }
  console.log(
    `| server | KiB / connection, first 100 → ${max} | marginal KiB / connection | KiB / connection per step |`,
  );
  console.log("| --- | ---: | ---: | --- |");
  for (const name of servers) console.log(await measureIdleMemory(name, max, step));
}
