/**
 * The harness's command-line flags.
 *
 * @module
 */
import type { ClientRuntime } from "./generator.ts";
import { FAMILIES, type Scenario } from "./scenarios.ts";
import { SERVER_NAMES, type ServerName } from "./servers.ts";

/** What the flags asked for. */
export interface BenchArgs {
  quick: boolean;
  servers: ServerName[];
  /** Families or scenario ids; empty for all. */
  scenarios: string[];
  window: number;
  durationMs: number | undefined;
  client: ClientRuntime;
  out: string | undefined;
  pin: boolean;
  /** How long each run may wait for the machine to go quiet, ms; undefined for the default. */
  quietWaitMs: number | undefined;
  /** Runs per server and scenario (the median is kept). */
  repeat: number;
  help: boolean;
}

/** The usage text. */
export const USAGE = `usage: deno task bench [flags]

  --quick                small N and short phases (a CI smoke run, well under a minute)
  --servers a,b,...      of ${SERVER_NAMES.join(",")} (default: all)
  --scenarios a,b,...    families (${FAMILIES.join(",")}) or ids like fanout-1000-32
  --window N             fan-out messages in flight (default 32)
  --duration SECONDS     length of each measured stretch
  --client node|bun      the load generator's runtime (default node)
  --out DIR              where to write the JSON report (default bench/results)
  --no-pin               do not pin server and generator to cores with taskset
  --repeat N             run each server N times per scenario, in rounds, and keep
                         the median run (default 1)
  --quiet-wait SECONDS   before each run, wait at most this long for other processes
                         to stop using CPU (default 5, 0 with --quick)
`;

function list(value: string): string[] {
  return value.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/** Parses `args`; throws a TypeError or RangeError naming the bad flag. */
export function parseBenchArgs(args: readonly string[]): BenchArgs {
  const parsed: BenchArgs = {
    quick: false,
    servers: [...SERVER_NAMES],
    scenarios: [],
    window: 32,
    durationMs: undefined,
    client: "node",
    out: undefined,
    pin: true,
    quietWaitMs: undefined,
    repeat: 1,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = (): string => {
      const next = args[++i];
      if (next === undefined) {
        throw new TypeError(`Cannot parse ${flag}: missing value`);
      }
      return next;
    };
    switch (flag) {
      case "--quick":
        parsed.quick = true;
        break;
      case "--no-pin":
        parsed.pin = false;
        break;
      case "--help":
      case "-h":
        parsed.help = true;
        break;
      case "--servers": {
        const names = list(value());
        const unknown = names.filter((name) => !(SERVER_NAMES as readonly string[]).includes(name));
        if (unknown.length > 0) {
          throw new TypeError(`Cannot parse --servers: unknown ${unknown}`);
        }
        parsed.servers = SERVER_NAMES.filter((name) => names.includes(name));
        break;
      }
      case "--scenarios":
        parsed.scenarios = list(value());
        break;
      case "--window": {
        const window = Number(value());
        if (!Number.isInteger(window) || window < 1 || window > 4096) {
          throw new RangeError(
            "Cannot parse --window: expected an integer in 1..4096",
          );
        }
        parsed.window = window;
        break;
      }
      case "--duration": {
        const seconds = Number(value());
        if (!(seconds > 0 && seconds <= 600)) {
          throw new RangeError(
            "Cannot parse --duration: expected seconds in (0, 600]",
          );
        }
        parsed.durationMs = seconds * 1000;
        break;
      }
      case "--client": {
        const client = value();
        if (client !== "node" && client !== "bun") {
          throw new TypeError("Cannot parse --client: expected node or bun");
        }
        parsed.client = client;
        break;
      }
      case "--quiet-wait": {
        const seconds = Number(value());
        if (!(seconds >= 0 && seconds <= 600)) {
          throw new RangeError(
            "Cannot parse --quiet-wait: expected seconds in [0, 600]",
          );
        }
        parsed.quietWaitMs = seconds * 1000;
        break;
      }
      case "--repeat": {
        const repeat = Number(value());
        if (!Number.isInteger(repeat) || repeat < 1 || repeat > 15) {
          throw new RangeError("Cannot parse --repeat: expected an integer in 1..15");
        }
        parsed.repeat = repeat;
        break;
      }
      case "--out":
        parsed.out = value();
        break;
      default:
        throw new TypeError(`Cannot parse arguments: unknown flag ${flag}`);
    }
  }
  return parsed;
}

/** The scenarios whose family or id is in `wanted` (all when it is empty); throws on a name that matches none. */
export function selectScenarios(
  all: readonly Scenario[],
  wanted: readonly string[],
): Scenario[] {
  if (wanted.length === 0) return [...all];
  const unmatched = wanted.filter((name) => !all.some((s) => s.id === name || s.family === name));
  if (unmatched.length > 0) {
    throw new TypeError(
      `Cannot parse --scenarios: ${unmatched} matches none of ${all.map((s) => s.id)}`,
    );
  }
  return all.filter((s) => wanted.includes(s.id) || wanted.includes(s.family));
}
