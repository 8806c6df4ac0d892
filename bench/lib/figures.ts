/**
 * The figures each kind of scenario yields from a generator run, the CPU use
 * behind them, and the warnings that make a run's figures suspect.
 *
 * @module
 */
import type { GeneratorRun, Mark } from "./generator.ts";
import type { Scenario } from "./scenarios.ts";

/** CPU % from which a process counts as saturated. */
const SATURATED = 90;
/** CPU % of other processes from which a run counts as noisy. */
const NOISY = 15;

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

// The server's RSS growth between two marks, per connection, in KiB; null
// when a mark is missing.
function rssPerConnectionKiB(run: GeneratorRun, from: string, to: string): number | null {
  const first = run.marks[from];
  const last = run.marks[to];
  if (first === undefined || last === undefined) return null;
  return (last.server.rssBytes - first.server.rssBytes) /
    (run.result.connections as number) / 1024;
}

/** The figures of one run of `scenario`. */
export function figuresOf(scenario: Scenario, run: GeneratorRun): Figure[] {
  const r = run.result;
  const cpu = cpuBetween(run);
  switch (scenario.family) {
    case "fanout":
    case "deflate": {
      const latency = r.latencyMs as Latency;
      const deflate = scenario.family === "deflate";
      const rssKiB = rssPerConnectionKiB(run, "before", "joined");
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
          label: deflate ? "publisher's latency p50 ms" : "latency p50 ms",
          value: latency.p50,
          better: "lower",
        },
        {
          key: "p99",
          label: deflate ? "publisher's latency p99 ms" : "latency p99 ms",
          value: latency.p99,
          better: "lower",
        },
        { key: "lost", label: "lost", value: r.lost as number },
        ...(deflate
          ? [{
            key: "rss",
            label: "RSS KiB / connection",
            value: rssKiB,
            better: "lower" as const,
          }]
          : []),
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
      const rssKiB = rssPerConnectionKiB(run, "start", "settled");
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
