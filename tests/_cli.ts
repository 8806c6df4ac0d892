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

/** A CLI started as a child process, listening. */
export interface StartedCli {
  /** The port it printed. */
  port: number;
  /** Kills it (SIGKILL) and returns what it wrote to stderr. */
  stop(): Promise<string>;
}

/**
 * Starts the CLI on 127.0.0.1 and a free port (stdin off) and waits for its
 * "listening" line.
 */
export async function startCli(args: string[], options: RunOptions = {}): Promise<StartedCli> {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(CLI, [
      "--port",
      "0",
      "--hostname",
      "127.0.0.1",
      "--stdin",
      "off",
      ...args,
    ], options.permissions),
    cwd: REPO,
    env: options.env ?? {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 60_000);
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    clearTimeout(killer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await lines.cancel();
    await child.status;
    return await stderr;
  };
  let stdout = "";
  while (!stdout.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) break;
    stdout += value;
  }
  const port = Number(stdout.match(/^pushwire listening on https?:\/\/[^\s]+:(\d+)\//)?.[1]);
  if (!(port > 0)) throw new Error(`unexpected output: ${stdout}\n${await stop()}`);
  return { port, stop };
}
