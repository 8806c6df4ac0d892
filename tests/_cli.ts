/**
 * Test helper: the CLI run to its end as a child process.
 *
 * @module
 */

import { denoRunArgs } from "./_deno_run.ts";

const REPO = new URL("../", import.meta.url);
const CLI = new URL("src/cli.ts", REPO);

/** How to run the CLI beyond its arguments. */
export interface RunOptions {
  /** More permission flags than `-N`. */
  permissions?: string[];
  /** Environment variables to set (none by default). */
  env?: Record<string, string>;
  /** Milliseconds before it is killed with SIGKILL. */
  timeout?: number;
}

/** Runs the CLI to completion (stdin `/dev/null`) and returns its exit code and output. */
export async function runCli(
  args: string[],
  options: RunOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(CLI, args, options.permissions),
    cwd: REPO,
    env: options.env ?? {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 20_000);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(killer);
  }
}
