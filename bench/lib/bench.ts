/**
 * Runs scenarios against servers, one fresh server process per run, server
 * and load generator on different cores, and collects a report.
 *
 * @module
 */
import { type ClientRuntime, type GeneratorRun, runGenerator } from "./generator.ts";
import { canPin } from "./launch.ts";
import { sampleCores } from "./proc.ts";
import { runtimeVersions } from "./deps.ts";
import { cpuBetween, type CpuUse, type Figure, figuresOf, warningsOf } from "./figures.ts";
import type { Scenario } from "./scenarios.ts";
import { notApplicable, type ServerName, startServer } from "./servers.ts";

const SERVER_CORE = 0;
const GENERATOR_CORE = 1;
/** Cores' worth of CPU that other processes may use before a run counts as starting noisy. */
const QUIET_CORES = 0.15;
const QUIET_SAMPLE_MS = 250;

/** What to run. */
export interface BenchConfig {
  servers: readonly ServerName[];
  scenarios: readonly Scenario[];
  /** The generator's runtime. @default {"node"} */
  runtime?: ClientRuntime;
  /** Pin server and generator to cores 0 and 1 when `taskset` exists. @default {true} */
  pin?: boolean;
  /** Progress lines. @default {() => {}} */
  log?: (line: string) => void;
  /** How long each run may wait for other processes to go quiet first, ms. @default {0} */
  quietWaitMs?: number;
  /** Runs per server and scenario; the report keeps the median one. @default {1} */
  repeat?: number;
}

/** One server's run of one scenario. */
export interface RunRecord {
  ok: boolean;
  error?: string;
  figures: Figure[];
  warnings: string[];
  cpu?: CpuUse;
  /** The generator's raw result. */
  result?: Record<string, unknown>;
  /** Server and generator readings at each mark. */
  marks?: GeneratorRun["marks"];
  /** With repeated runs: the first figure of each run, in order (this run is their median). */
  repeats?: (number | string | null)[];
}

/**
 * One record for repeated runs of a server: a failed run if any failed,
 * else the run whose first figure is the median, with `lost` raised to the
 * most any run lost.
 */
export function medianRun(runs: readonly RunRecord[]): RunRecord {
  if (runs.length === 1) return runs[0]!;
  const failed = runs.find((run) => !run.ok);
  if (failed !== undefined) return failed;
  const firstValue = (run: RunRecord) => run.figures.find((figure) => figure.better)?.value;
  const numeric = (run: RunRecord) => {
    const value = firstValue(run);
    return typeof value === "number" ? value : Number.NaN;
  };
  const sorted = [...runs].sort((a, b) => numeric(a) - numeric(b));
  const median = sorted[(sorted.length - 1) >> 1]!;
  const mostLost = Math.max(
    ...runs.map((run) => {
      const lost = run.figures.find((figure) => figure.key === "lost")?.value;
      return typeof lost === "number" ? lost : 0;
    }),
  );
  return {
    ...median,
    figures: median.figures.map((figure) =>
      figure.key === "lost" && typeof figure.value === "number"
        ? { ...figure, value: Math.max(figure.value, mostLost) }
        : figure
    ),
    warnings: [...new Set(runs.flatMap((run) => run.warnings))],
    repeats: runs.map(firstValue).map((value) => value ?? null),
  };
}

/** One scenario across servers. */
export interface ScenarioRecord {
  id: string;
  family: Scenario["family"];
  title: string;
  echo: boolean;
  load: Record<string, unknown>;
  runs: Partial<Record<ServerName, RunRecord>>;
}

/** Whether a server could be started at all. */
export interface ServerStatus {
  available: boolean;
  reason?: string;
}

/** Everything one benchmark run found; written as JSON. */
export interface Report {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  machine: {
    cores: number;
    pinned: boolean;
    serverCore: number | null;
    generatorCore: number | null;
    generatorRuntime: ClientRuntime;
    os: string;
    kernel: string;
    runtimes: Record<string, string>;
  };
  servers: Partial<Record<ServerName, ServerStatus>>;
  /** Runs per server and scenario; each record is the median one. */
  repeat?: number;
  scenarios: ScenarioRecord[];
}

/**
 * Waits, at most `maxMs`, until the other processes on the machine use under
 * QUIET_CORES of CPU; returns the cores' worth they used in the last sample.
 */
async function awaitQuiet(maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let busy = 0;
  do {
    const before = await sampleCores();
    await new Promise((resolve) => setTimeout(resolve, QUIET_SAMPLE_MS));
    const after = await sampleCores();
    const seconds = after.reduce(
      (sum, value, core) => sum + value - (before[core] ?? value),
      0,
    );
    busy = seconds / (QUIET_SAMPLE_MS / 1000);
  } while (busy >= QUIET_CORES && Date.now() < deadline);
  return busy;
}

/** Starts and stops `name` once, to learn whether it can run here at all. */
async function probe(name: ServerName): Promise<ServerStatus> {
  try {
    const server = await startServer(name);
    await server.process.stop();
    return { available: true };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

async function runOne(
  name: ServerName,
  scenario: Scenario,
  cores: { server?: number; generator?: number },
  runtime: ClientRuntime,
): Promise<RunRecord> {
  let server;
  try {
    server = await startServer(name, {
      echo: scenario.echo,
      deflate: scenario.deflate ?? false,
      core: cores.server,
    });
    const run = await runGenerator({ ...scenario.load, port: server.port }, {
      serverPid: server.process.pid,
      core: cores.generator,
      runtime,
      timeoutMs: scenario.timeoutMs,
    });
    return {
      ok: true,
      figures: figuresOf(scenario, run),
      warnings: warningsOf(run),
      cpu: cpuBetween(run),
      result: run.result,
      marks: run.marks,
    };
  } catch (error) {
    return {
      ok: false,
      error: (error as Error).message,
      figures: [],
      warnings: [],
    };
  } finally {
    await server?.process.stop();
  }
}

/** Runs every scenario on every available server, scenario by scenario. */
export async function runBench(config: BenchConfig): Promise<Report> {
  const log = config.log ?? (() => {});
  const runtime = config.runtime ?? "node";
  const startedAt = new Date().toISOString();
  const pinned = (config.pin ?? true) && await canPin();
  const cores = pinned ? { server: SERVER_CORE, generator: GENERATOR_CORE } : {};
  const servers: Partial<Record<ServerName, ServerStatus>> = {};
  for (const name of config.servers) {
    servers[name] = await probe(name);
    const status = servers[name];
    log(
      `server ${name}: ${status.available ? "available" : `unavailable (${status.reason})`}`,
    );
  }
  const scenarios: ScenarioRecord[] = [];
  for (const scenario of config.scenarios) {
    const record: ScenarioRecord = {
      id: scenario.id,
      family: scenario.family,
      title: scenario.title,
      echo: scenario.echo,
      load: scenario.load,
      runs: {},
    };
    const attempts: Partial<Record<ServerName, RunRecord[]>> = {};
    const repeat = Math.max(1, config.repeat ?? 1);
    // Rounds go through every server in turn, so that drift in the
    // machine's speed reaches every server alike.
    for (let round = 1; round <= repeat; round++) {
      for (const name of config.servers) {
        if (!servers[name]?.available) continue;
        const skip = notApplicable(name, scenario.deflate ?? false);
        if (skip !== undefined) {
          if (round === 1) log(`${scenario.id} ${name}: n/a (${skip})`);
          continue;
        }
        if ((config.quietWaitMs ?? 0) > 0) {
          const busy = await awaitQuiet(config.quietWaitMs!);
          if (busy >= QUIET_CORES) {
            log(`machine still busy (${busy.toFixed(2)} cores), running anyway`);
          }
        }
        const run = await runOne(name, scenario, cores, runtime);
        (attempts[name] ??= []).push(run);
        log(
          `${scenario.id} ${name}${repeat > 1 ? ` (${round}/${repeat})` : ""}: ${
            run.ok ? "ok" : run.error
          }${run.warnings.length > 0 ? ` (${run.warnings.join("; ")})` : ""}`,
        );
      }
    }
    for (const [name, runs] of Object.entries(attempts) as [ServerName, RunRecord[]][]) {
      record.runs[name] = medianRun(runs);
    }
    scenarios.push(record);
  }
  return {
    schema: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: {
      cores: navigator.hardwareConcurrency,
      pinned,
      serverCore: pinned ? SERVER_CORE : null,
      generatorCore: pinned ? GENERATOR_CORE : null,
      generatorRuntime: runtime,
      os: Deno.build.os,
      kernel: Deno.osRelease(),
      runtimes: await runtimeVersions(),
    },
    servers,
    repeat: Math.max(1, config.repeat ?? 1),
    scenarios,
  };
}
