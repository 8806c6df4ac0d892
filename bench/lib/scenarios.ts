/**
 * The benchmark's scenarios: what load, at what size, for how long.
 *
 * @module
 */

/** The kinds of scenario. */
export const FAMILIES = ["fanout", "latency", "connect", "echo", "deflate"] as const;
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
  /** Whether the server runs with `--deflate` and the generator offers permessage-deflate. */
  deflate?: boolean;
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

/** Fan-out as {@linkcode fanoutScenario}, with permessage-deflate and JSON-like messages. */
export function deflateScenario(
  connections: number,
  size: number,
  timing: Timing,
  options: FanoutOptions,
): Scenario {
  const fanout = fanoutScenario(connections, size, timing, options);
  return {
    ...fanout,
    id: `deflate-${connections}-${size}`,
    family: "deflate",
    title: `deflate fan-out ${connections} × ${sizeName(size)} JSON`,
    deflate: true,
    load: { ...fanout.load, deflate: true },
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
  scenarios.push(
    deflateScenario(options.quick ? 100 : 1000, 1024, timing, {
      window: options.window,
    }),
  );
  return scenarios;
}
