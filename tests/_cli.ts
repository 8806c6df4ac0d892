/**
 * Test helpers: the CLI as a child process, run to its end or started and
 * stopped around a test.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { denoRunArgs } from "./_deno_run.ts";
import { LineProcess } from "./clients/peers.ts";

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

/** A CLI started for a browser test: its line reader, the URL it printed, its port. */
export interface CliLines {
  /** The process, read line by line. */
  process: LineProcess;
  /** The URL it printed. */
  url: string;
  /** Its port. */
  port: number;
}

/**
 * Starts the CLI on 127.0.0.1 and `port` (0: a free one), read line by line
 * (its stdin is a pipe: `process.send` writes lines to it).
 */
export async function startCliLines(port: number, more: string[] = []): Promise<CliLines> {
  const args = ["--port", String(port), "--hostname", "127.0.0.1", ...more];
  const process = new LineProcess(Deno.execPath(), denoRunArgs(CLI, args), { cwd: REPO });
  try {
    const line = await process.nextLine("pushwire listening on ...");
    const url = line.match(/^pushwire listening on (http:\/\/\S+)$/)?.[1];
    if (url === undefined) throw new Error(`unexpected first line: ${line}`);
    return { process, url, port: Number(new URL(url).port) };
  } catch (error) {
    process.kill("SIGKILL");
    const { stderr } = await process.close();
    throw new Error(`${(error as Error).message}\nstderr: ${stderr}`);
  }
}

/** Stops a CLI with SIGTERM, as a person's Ctrl-C would, and checks it exits 0. */
export async function stopCliLines(process: LineProcess): Promise<void> {
  process.kill("SIGTERM");
  const { status, stderr } = await process.close();
  assertEquals(status.code, 0, `the CLI exited with ${status.code}: ${stderr}`);
}
