/**
 * The load generator's entry point, run by the harness under Node (or Bun):
 *
 *     node bench/load/main.mjs '{"scenario":"fanout","port":8080,...}'
 *
 * It talks to the harness in lines. Before and after each measured stretch it
 * prints `mark NAME` and waits for one line on stdin, so the harness can read
 * /proc while the load is paused; at the end it prints `result JSON`, or
 * `error MESSAGE` and exits 1.
 *
 * @module
 */
import { createInterface } from "node:readline";
import { connect } from "./connect.mjs";
import { echo } from "./echo.mjs";
import { fanout } from "./fanout.mjs";
import { push } from "./push.mjs";

const SCENARIOS = { fanout, echo, connect, push };

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function mark(name) {
  process.stdout.write(`mark ${name}\n`);
  const answer = await lines.next();
  if (answer.done) throw new Error("Cannot continue: the harness closed stdin");
}

async function main() {
  const config = JSON.parse(process.argv[2] ?? "{}");
  const run = SCENARIOS[config.scenario];
  if (run === undefined) {
    throw new TypeError(`Cannot run scenario "${config.scenario}"`);
  }
  const result = await run(config, mark);
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stdout.write(
    `error ${String(error?.message ?? error).replaceAll("\n", " ")}\n`,
  );
  process.exit(1);
}
