/**
 * The push server with `--workers K` beside the single-thread server: the
 * CLI (`src/cli.ts`, topics and JSON envelopes, not the verbatim relay of
 * `bench/run.ts`) is started as `single` (no `--workers`), then `--workers 1`,
 * then `--workers 2` (or the `--setups` given), and for each fan-out
 * scenario (subscribers × payload size) the Node load generator
 * (`load/push.mjs`) subscribes `S` sockets to one topic and publishes with
 * `POST /publish` from loopback over a few keep-alive connections, at most
 * `--window` messages in flight until delivered to every subscriber.
 *
 * Per run: deliveries per second, deliveries per server CPU-second (user +
 * system time of every thread of the server's process, `/proc/PID/stat`,
 * over the measured messages only), the server's main thread's CPU apart
 * (with `--workers` that thread is the coordinator), the generator's CPU,
 * delivery latency p50/p99 from the send stamp in the payload, and lost
 * deliveries (must be 0). With `--repeat N` each scenario runs N rounds, each
 * round through every setup in turn; the run with the median deliveries/s is
 * shown and `lost` is the most any run lost.
 *
 * Nothing is pinned (`taskset` is not used): `--workers 2` needs both cores,
 * so the server and the generator share the machine's cores in every setup.
 *
 * ```sh
 * deno task std run -A bench/workers.ts                  # about 1.5 minutes on 2 cores (--repeat 3: 4)
 * deno task std run -A bench/workers.ts --repeat 3 --setups single,1,2 \
 *   --subscribers 1000,5000 --sizes 32,1024 --deliveries 1000000
 * ```
 *
 * Prints one markdown table; `--out FILE` also writes every run as JSON.
 * Exits 1 when a run failed or lost a delivery.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { Launched } from "./lib/launch.ts";
import { GENERATOR, REPO_DIR } from "./lib/paths.ts";

const CLI = new URL("../src/cli.ts", import.meta.url).pathname;
const STD_FALLBACK = new URL("../.ci/std/", import.meta.url);
const LISTENING = /listening on http:\/\/127\.0\.0\.1:(\d+)\//;

/** One server configuration: `single` (plain `servePush`) or K workers. */
export type Setup = "single" | number;

/** What the flags asked for. */
export interface WorkersBenchOptions {
  setups: Setup[];
  subscribers: number[];
  sizes: number[];
  /** Measured deliveries per run (messages = deliveries / subscribers). */
  deliveries: number;
  repeat: number;
  window: number;
  publishers: number;
  /** Bound on one generator run, ms. */
  timeoutMs: number;
}

/** One run's figures. */
export interface WorkersRun {
  setup: string;
  subscribers: number;
  size: number;
  messages: number;
  deliveries: number;
  lost: number;
  failedPublishes: number;
  deliveriesPerSecond: number;
  serverCpuSeconds: number;
  /** CPU of the server's main thread (the coordinator with `--workers`). */
  mainThreadCpuSeconds: number;
  generatorCpuSeconds: number;
  elapsedSeconds: number;
  deliveriesPerCpuSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const TICKS = await clockTicks();

async function clockTicks(): Promise<number> {
  try {
    const output = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" })
      .output();
    return Number(new TextDecoder().decode(output.stdout).trim()) || 100;
  } catch {
    return 100;
  }
}

function cpuOf(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** CPU seconds of process `pid` (all threads) and of its main thread. */
async function sampleCpu(pid: number): Promise<{ total: number; main: number }> {
  const [total, main] = await Promise.all([
    Deno.readTextFile(`/proc/${pid}/stat`),
    Deno.readTextFile(`/proc/${pid}/task/${pid}/stat`),
  ]);
  return { total: cpuOf(total), main: cpuOf(main) };
}

/** The CLI as a child process, until {@linkcode Launched.stop}. */
async function startServer(setup: Setup): Promise<{ server: Launched; port: number }> {
  const offline = import.meta.resolve("@std/cli").startsWith(STD_FALLBACK.href);
  const argv = [
    Deno.execPath(),
    "run",
    "-N",
    ...(setup === "single" ? [] : ["--unstable-net", "-R=src,.ci/std"]),
    ...(offline ? [`--import-map=${new URL("import_map.json", STD_FALLBACK).pathname}`] : []),
    CLI,
    ...(setup === "single" ? [] : ["--workers", String(setup)]),
    "--port",
    "0",
    "--hostname",
    "127.0.0.1",
    "--log-level",
    "warn",
    "--stdin",
    "off",
    "--max-connections-per-address",
    "0",
  ];
  const server = new Launched(argv, { cwd: REPO_DIR });
  const deadline = Date.now() + 20_000;
  try {
    for (let i = 0; i < 20; i++) {
      const match = LISTENING.exec(await server.stdout.next(deadline - Date.now()));
      if (match !== null) return { server, port: Number(match[1]) };
    }
    throw new Error("no listening line");
  } catch (error) {
    await server.stop();
    throw new Error(`Cannot start ${setup}: ${(error as Error).message}: ${server.stderr}`);
  }
}

function label(setup: Setup): string {
  return setup === "single" ? "single thread" : `--workers ${setup}`;
}

/** One run: a fresh server, the generator's phases, /proc read at its marks. */
export async function runOnce(
  setup: Setup,
  subscribers: number,
  size: number,
  options: WorkersBenchOptions,
): Promise<WorkersRun> {
  const messages = Math.max(1, Math.ceil(options.deliveries / subscribers));
  const { server, port } = await startServer(setup);
  const config = {
    scenario: "push",
    port,
    topic: "bench",
    subscribers,
    size,
    messages,
    warmupMessages: Math.max(1, Math.ceil(messages / 10)),
    window: options.window,
    publishers: options.publishers,
    concurrency: 100,
    drainMs: 5000,
    timeoutMs: 30_000,
  };
  const generator = new Launched(["node", GENERATOR, JSON.stringify(config)], { cwd: REPO_DIR });
  const deadline = Date.now() + options.timeoutMs;
  const marks: Record<string, { server: { total: number; main: number }; generator: number }> = {};
  try {
    for (let i = 0; i < 100; i++) {
      const line = await generator.stdout.next(deadline - Date.now());
      const space = line.indexOf(" ");
      const word = space === -1 ? line : line.slice(0, space);
      const rest = space === -1 ? "" : line.slice(space + 1);
      if (word === "mark") {
        const [s, g] = await Promise.all([sampleCpu(server.pid), sampleCpu(generator.pid)]);
        marks[rest] = { server: s, generator: g.total };
        await generator.writeLine("go");
      } else if (word === "error") {
        throw new Error(`Load generator failed: ${rest}`);
      } else if (word === "result") {
        const r = JSON.parse(rest);
        const start = marks.start!, end = marks.end!;
        const serverCpu = end.server.total - start.server.total;
        return {
          setup: label(setup),
          subscribers,
          size,
          messages,
          deliveries: r.received,
          lost: r.lost,
          failedPublishes: r.failedPublishes,
          deliveriesPerSecond: r.deliveriesPerSecond,
          serverCpuSeconds: serverCpu,
          mainThreadCpuSeconds: end.server.main - start.server.main,
          generatorCpuSeconds: end.generator - start.generator,
          elapsedSeconds: r.elapsedMs / 1000,
          deliveriesPerCpuSecond: serverCpu > 0 ? r.received / serverCpu : NaN,
          p50Ms: r.latencyMs.p50,
          p99Ms: r.latencyMs.p99,
        };
      }
    }
    throw new Error("Load generator printed 100 lines without a result");
  } catch (error) {
    const stderr = generator.stderr.trim();
    throw new Error(`${(error as Error).message}${stderr === "" ? "" : `: ${stderr}`}`);
  } finally {
    await generator.stop();
    await server.stop();
  }
}

function median(runs: WorkersRun[]): WorkersRun {
  const sorted = runs.toSorted((a, b) => a.deliveriesPerSecond - b.deliveriesPerSecond);
  return {
    ...sorted[Math.floor((sorted.length - 1) / 2)]!,
    lost: Math.max(...runs.map((r) => r.lost)),
  };
}

const k = (n: number) => n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${Math.round(n / 1e3)} k`;

/** The markdown table of the median runs. */
export function renderWorkersTable(rows: WorkersRun[]): string {
  const lines = [
    "| scenario | setup | deliveries/s | per server CPU-s | server CPU | of it main thread | main thread µs / message | generator CPU | p50 ms | p99 ms | lost |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const share = (cpu: number) => `${(cpu / r.elapsedSeconds).toFixed(2)} cores`;
    lines.push(
      `| ${r.subscribers} × ${r.size} B | ${r.setup} | ${k(r.deliveriesPerSecond)} | ${
        k(r.deliveriesPerCpuSecond)
      } | ${share(r.serverCpuSeconds)} | ${share(r.mainThreadCpuSeconds)} | ${
        Math.round(r.mainThreadCpuSeconds / r.messages * 1e6)
      } | ${share(r.generatorCpuSeconds)} | ${r.p50Ms.toFixed(1)} | ${
        r.p99Ms.toFixed(1)
      } | ${r.lost} |`,
    );
  }
  return lines.join("\n");
}

/** Every scenario, `repeat` rounds through every setup; the median run of each. */
export async function runWorkersBench(
  options: WorkersBenchOptions,
  log: (line: string) => void = () => {},
): Promise<{ rows: WorkersRun[]; runs: WorkersRun[] }> {
  const rows: WorkersRun[] = [];
  const all: WorkersRun[] = [];
  for (const subscribers of options.subscribers) {
    for (const size of options.sizes) {
      const runs = new Map<Setup, WorkersRun[]>(options.setups.map((s) => [s, []]));
      for (let round = 0; round < options.repeat; round++) {
        for (const setup of options.setups) {
          const run = await runOnce(setup, subscribers, size, options);
          log(
            `${subscribers} × ${size} B, ${run.setup}: ${k(run.deliveriesPerSecond)}/s, ${
              k(run.deliveriesPerCpuSecond)
            }/CPU-s, lost ${run.lost}`,
          );
          runs.get(setup)!.push(run);
          all.push(run);
        }
      }
      for (const setup of options.setups) rows.push(median(runs.get(setup)!));
    }
  }
  return { rows, runs: all };
}

function list(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

async function main(): Promise<number> {
  const flags = parseArgs(Deno.args, {
    string: [
      "setups",
      "subscribers",
      "sizes",
      "deliveries",
      "repeat",
      "window",
      "publishers",
      "out",
    ],
    boolean: ["help"],
    default: {
      setups: "single,1,2",
      subscribers: "1000,5000",
      sizes: "32,1024",
      deliveries: "1000000",
      repeat: "1",
      window: "16",
      publishers: "4",
    },
  });
  if (flags.help) {
    console.log(
      "bench/workers.ts [--setups single,1,2] [--subscribers 1000,5000] [--sizes 32,1024]\n" +
        "  [--deliveries 1000000] [--repeat 1] [--window 16] [--publishers 4] [--out FILE]",
    );
    return 0;
  }
  const options: WorkersBenchOptions = {
    setups: list(flags.setups).map((s) => s === "single" ? "single" : Number(s)),
    subscribers: list(flags.subscribers).map(Number),
    sizes: list(flags.sizes).map(Number),
    deliveries: Number(flags.deliveries),
    repeat: Number(flags.repeat),
    window: Number(flags.window),
    publishers: Number(flags.publishers),
    timeoutMs: 120_000,
  };
  const { rows, runs } = await runWorkersBench(options, (line) => console.error(line));
  console.log(
    `${options.deliveries} deliveries per run, ${options.window} messages in flight over ${options.publishers} POST /publish connections, ${options.repeat} run(s), median shown; ${navigator.hardwareConcurrency} cores, nothing pinned\n`,
  );
  console.log(renderWorkersTable(rows));
  if (flags.out !== undefined) {
    await Deno.writeTextFile(flags.out, JSON.stringify({ options, rows, runs }, null, 2));
  }
  return runs.some((r) => r.lost !== 0 || r.failedPublishes !== 0) ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
