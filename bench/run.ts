/**
 * The side-by-side benchmark: pushwire against Deno's native WebSocket, Node +
 * `ws` and Bun, on loopback, server and load generator on different cores.
 * Prints one markdown table and writes bench/results/<timestamp>.json.
 *
 * ```sh
 * deno task bench            # full run, a few minutes
 * deno task bench --quick    # smoke run, well under a minute
 * deno run -A bench/run.ts --servers deno,pushwire --scenarios fanout-1000-32
 * ```
 *
 * Exits 1 when a run failed or lost messages on a server that could start.
 *
 * @module
 */
import { parseBenchArgs, selectScenarios, USAGE } from "./lib/args.ts";
import { runBench } from "./lib/bench.ts";
import { ensureBenchDeps } from "./lib/deps.ts";
import { BENCH_DIR } from "./lib/paths.ts";
import { planScenarios } from "./lib/scenarios.ts";
import { renderTable } from "./lib/table.ts";

const log = (line: string) => console.error(line);
/** By default a full run waits this long, at most, for other processes to quiet down before each run. */
const QUIET_WAIT_MS = 5_000;

async function main(): Promise<number> {
  const args = parseBenchArgs(Deno.args);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const scenarios = selectScenarios(
    planScenarios({
      quick: args.quick,
      window: args.window,
      durationMs: args.durationMs,
    }),
    args.scenarios,
  );
  if (
    args.servers.some((name) => name === "node" || name === "bun") ||
    args.client === "bun"
  ) {
    const problem = await ensureBenchDeps(log);
    if (problem !== undefined) {
      log(`bench: ${problem}; carrying on without them`);
    }
  }
  const report = await runBench({
    servers: args.servers,
    scenarios,
    runtime: args.client,
    pin: args.pin,
    log,
    quietWaitMs: args.quietWaitMs ?? (args.quick ? 0 : QUIET_WAIT_MS),
    repeat: args.repeat,
  });
  console.log(renderTable(report));
  const dir = args.out ?? `${BENCH_DIR}results`;
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}/${report.startedAt.replaceAll(":", "-")}.json`;
  await Deno.writeTextFile(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`bench: wrote ${file}`);
  const failed = report.scenarios.some((scenario) =>
    Object.values(scenario.runs).some((run) =>
      !run.ok ||
      run.figures.some((figure) => figure.key === "lost" && figure.value !== 0)
    )
  );
  return failed ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(2);
  }
}
