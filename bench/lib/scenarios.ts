/**
 * The benchmark's scenarios (what load, at what size, for how long) and the
 * figures each one yields from a generator run.
 *
 * @module
 */
import type { GeneratorRun, Mark } from "./generator.ts";

/** The kinds of scenario. */
export const FAMILIES = ["fanout", "latency", "connect", "echo"] as const;
/** One kind of scenario. */
export type Family = typeof FAMILIES[number];

/** One load against one server mode. */
export interface Scenario {
  /** A stable id, e.g. `fanout-1000-32`. */
  id: string;
  family: Family;
  /** A row heading, e.g. `fan-out 1000 × 32 B`. */
  title: string;
  /** Whether the server runs with `--echo`. */
  echo: boolean;
  /** The generator's configuration, less the port. */
  load: Record<string, unknown>;
  /** The bound on the whole run, ms. */
  timeoutMs: number;
}

/** How long each phase lasts. */
export interface Timing {
  /** The measured stretch, ms. */
  durationMs: number;
  /** The unmeasured warm-up before it, ms. */
  warmupMs: number;
  /** How long to wait for messages in flight when sending stops, ms. */
  drainMs: number;
  /** The idle wait before reading memory, ms. */
  settleMs: number;
}

/** Full-run timing. */
export const FULL: Timing = {
  durationMs: 4000,
  warmupMs: 1000,
  drainMs: 10_000,
  settleMs: 2000,
};
/** `--quick` timing, for a smoke run. */
export const QUICK: Timing = {
  durationMs: 500,
  warmupMs: 200,
  drainMs: 3000,
  settleMs: 300,
};

const CONNECT_CONCURRENCY = 100;
/** CPU % from which a process counts as saturated. */
const SATURATED = 90;
/** CPU % of other processes from which a run counts as noisy. */
const NOISY = 15;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_MESSAGES = 50_000_000;

function sizeName(size: number): string {
  return size >= 1024 && size % 1024 === 0 ? `${size / 1024} KiB` : `${size} B`;
}

/** Bound on a run: setup at a pessimistic 500 handshakes/s plus every phase and a margin. */
function bound(connections: number, timing: Timing): number {
  const setup = (connections / 500) * 1000;
  return setup + 10_000 + timing.warmupMs + timing.durationMs +
    2 * timing.drainMs +
    2 * timing.settleMs + 20_000;
}

/** Options for {@linkcode fanoutScenario}. */
export interface FanoutOptions {
  /** Messages in flight at most. */
  window: number;
  /** A cap on messages sent in the measured stretch. @default {50_000_000} */
  maxMessages?: number;
}

/** `connections` clients (client 0 publishes), `size`-byte messages, a bounded window. */
export function fanoutScenario(
  connections: number,
  size: number,
  timing: Timing,
  options: FanoutOptions,
): Scenario {
  const latency = options.window === 1;
  return {
    id: latency ? `latency-${connections}` : `fanout-${connections}-${size}`,
    family: latency ? "latency" : "fanout",
    title: latency
      ? `latency ${connections} × ${sizeName(size)}, 1 in flight`
      : `fan-out ${connections} × ${sizeName(size)}`,
    echo: false,
    load: {
      scenario: "fanout",
      connections,
      size,
      window: options.window,
      maxMessages: options.maxMessages ?? MAX_MESSAGES,
      durationMs: timing.durationMs,
      warmupMs: timing.warmupMs,
      drainMs: timing.drainMs,
      concurrency: CONNECT_CONCURRENCY,
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
    },
    timeoutMs: bound(connections, timing),
  };
}

/** `connections` idle clients opened after a small warm-up batch. */
export function connectScenario(connections: number, timing: Timing): Scenario {
  const warmup = Math.min(100, Math.ceil(connections / 10));
  return {
    id: `connect-${connections}`,
    family: "connect",
    title: `connect ${connections}`,
    echo: false,
    load: {
      scenario: "connect",
      connections,
      warmup,
      settleMs: timing.settleMs,
      concurrency: CONNECT_CONCURRENCY,
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
    },
    timeoutMs: bound(connections + warmup, timing),
  };
}

/** `connections` clients, each with one 32-byte message in flight, against `--echo`. */
export function echoScenario(connections: number, timing: Timing): Scenario {
  return {
    id: `echo-${connections}`,
    family: "echo",
    title: `echo ${connections} clients × 32 B`,
    echo: true,
    load: {
      scenario: "echo",
      connections,
      size: 32,
      durationMs: timing.durationMs,
      warmupMs: timing.warmupMs,
      drainMs: timing.drainMs,
      concurrency: CONNECT_CONCURRENCY,
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
    },
    timeoutMs: bound(connections, timing),
  };
}

/** Options for {@linkcode planScenarios}. */
export interface PlanOptions {
  /** Small N and short phases. */
  quick: boolean;
  /** The fan-out window. */
  window: number;
  /** Overrides the measured stretch, ms. */
  durationMs?: number | undefined;
}

/** Every scenario of a full or quick run, in order. */
export function planScenarios(options: PlanOptions): Scenario[] {
  const base = options.quick ? QUICK : FULL;
  const timing = options.durationMs === undefined
    ? base
    : { ...base, durationMs: options.durationMs };
  const fanouts = options.quick ? [100] : [100, 1000, 5000];
  const scenarios: Scenario[] = [];
  for (const n of fanouts) {
    for (const size of [32, 1024]) {
      scenarios.push(
        fanoutScenario(n, size, timing, { window: options.window }),
      );
    }
  }
  scenarios.push(
    fanoutScenario(options.quick ? 100 : 1000, 32, timing, { window: 1 }),
  );
  scenarios.push(connectScenario(options.quick ? 1000 : 10_000, timing));
  scenarios.push(echoScenario(options.quick ? 10 : 50, timing));
  return scenarios;
}

/** One reported number (or text) of a run. */
export interface Figure {
  key: string;
  label: string;
  /** null when it could not be measured (e.g. CPU time under one clock tick). */
  value: number | string | null;
  /** Which way is better; ratios are shown only for figures that have one. */
  better?: "higher" | "lower";
}

/** CPU used by server and generator over the stretch from mark `from` to mark `to`. */
export interface CpuUse {
  wallSeconds: number;
  serverSeconds: number;
  generatorSeconds: number;
  /** CPU that neither used, on all cores: other processes (noise), the harness, the kernel. */
  otherSeconds: number;
}

/** CPU use between two marks of a run. */
export function cpuBetween(
  run: GeneratorRun,
  from = "start",
  to = "end",
): CpuUse {
  const a: Mark | undefined = run.marks[from];
  const b: Mark | undefined = run.marks[to];
  if (a === undefined || b === undefined) {
    throw new Error(`Cannot measure CPU: marks "${from}" and "${to}" missing`);
  }
  const serverSeconds = b.server.cpuSeconds - a.server.cpuSeconds;
  const generatorSeconds = b.generator.cpuSeconds - a.generator.cpuSeconds;
  const busySeconds = b.cores.reduce(
    (sum, busy, core) => sum + busy - (a.cores[core] ?? busy),
    0,
  );
  return {
    wallSeconds: (b.atMs - a.atMs) / 1000,
    serverSeconds,
    generatorSeconds,
    otherSeconds: Math.max(0, busySeconds - serverSeconds - generatorSeconds),
  };
}

function perCpu(count: number, seconds: number): number | null {
  return seconds > 0 ? count / seconds : null;
}

function percent(seconds: number, wall: number): number {
  return wall > 0 ? Math.round((seconds / wall) * 100) : Number.NaN;
}

function cpuFigure(cpu: CpuUse): Figure {
  const shares = [cpu.serverSeconds, cpu.generatorSeconds, cpu.otherSeconds]
    .map((seconds) => percent(seconds, cpu.wallSeconds))
    .map((share) => (Number.isFinite(share) ? String(share) : "–"));
  return {
    key: "cpu",
    label: "CPU % server / generator / other",
    value: shares.join(" / "),
  };
}

interface Latency {
  p50: number;
  p99: number;
}

/** The figures of one run of `scenario`. */
export function figuresOf(scenario: Scenario, run: GeneratorRun): Figure[] {
  const r = run.result;
  const cpu = cpuBetween(run);
  switch (scenario.family) {
    case "fanout": {
      const latency = r.latencyMs as Latency;
      return [
        {
          key: "perCpu",
          label: "deliveries / server CPU-s",
          value: perCpu(r.received as number, cpu.serverSeconds),
          better: "higher",
        },
        {
          key: "rate",
          label: "deliveries / s",
          value: r.deliveriesPerSecond as number,
          better: "higher",
        },
        {
          key: "p50",
          label: "latency p50 ms",
          value: latency.p50,
          better: "lower",
        },
        {
          key: "p99",
          label: "latency p99 ms",
          value: latency.p99,
          better: "lower",
        },
        { key: "lost", label: "lost", value: r.lost as number },
        cpuFigure(cpu),
      ];
    }
    case "latency": {
      const latency = r.latencyMs as Latency;
      const all = r.allReceivedMs as Latency;
      return [
        {
          key: "p50",
          label: "delivery p50 ms",
          value: latency.p50,
          better: "lower",
        },
        {
          key: "p99",
          label: "delivery p99 ms",
          value: latency.p99,
          better: "lower",
        },
        {
          key: "allP99",
          label: "all received p99 ms",
          value: all.p99,
          better: "lower",
        },
        { key: "lost", label: "lost", value: r.lost as number },
      ];
    }
    case "connect": {
      const start = run.marks.start;
      const settled = run.marks.settled;
      const rssKiB = start === undefined || settled === undefined
        ? null
        : (settled.server.rssBytes - start.server.rssBytes) /
          (r.connections as number) / 1024;
      return [
        {
          key: "perCpu",
          label: "handshakes / server CPU-s",
          value: perCpu(r.connections as number, cpu.serverSeconds),
          better: "higher",
        },
        {
          key: "rate",
          label: "handshakes / s",
          value: r.handshakesPerSecond as number,
          better: "higher",
        },
        {
          key: "rss",
          label: "RSS KiB / idle connection",
          value: rssKiB,
          better: "lower",
        },
        cpuFigure(cpu),
      ];
    }
    case "echo": {
      const latency = r.latencyMs as Latency;
      return [
        {
          key: "perCpu",
          label: "round trips / server CPU-s",
          value: perCpu(r.roundTrips as number, cpu.serverSeconds),
          better: "higher",
        },
        {
          key: "rate",
          label: "round trips / s",
          value: r.roundTripsPerSecond as number,
          better: "higher",
        },
        {
          key: "p50",
          label: "round trip p50 ms",
          value: latency.p50,
          better: "lower",
        },
        {
          key: "p99",
          label: "round trip p99 ms",
          value: latency.p99,
          better: "lower",
        },
        { key: "lost", label: "lost", value: r.lost as number },
        cpuFigure(cpu),
      ];
    }
  }
}

/** Anything in a run that makes its figures suspect. */
export function warningsOf(run: GeneratorRun): string[] {
  const r = run.result;
  const warnings: string[] = [];
  for (const key of ["lost", "misordered", "stray", "closed"]) {
    const value = r[key];
    if (typeof value === "number" && value !== 0) {
      warnings.push(`${key} = ${value}`);
    }
  }
  const cpu = cpuBetween(run);
  const server = percent(cpu.serverSeconds, cpu.wallSeconds);
  const generator = percent(cpu.generatorSeconds, cpu.wallSeconds);
  const other = percent(cpu.otherSeconds, cpu.wallSeconds);
  if (generator >= SATURATED && server < SATURATED) {
    warnings.push(
      `generator-bound: generator CPU ${generator} %, server ${server} %`,
    );
  }
  if (other >= NOISY) {
    warnings.push(`noisy: ${other} % CPU used by other processes`);
  }
  return warnings;
}
