/**
 * The servers under test, how to start each on an ephemeral port, and how to
 * learn the port it took: every one prints `listening on 127.0.0.1:PORT` first.
 *
 * @module
 */
import { Launched } from "./launch.ts";
import { BUN_BIN, OFFLINE_STD_MAP, REPO_DIR, serverFile } from "./paths.ts";

/** Every server the harness knows, ours last. */
export const SERVER_NAMES = ["deno", "node", "bun", "floor", "pushwire"] as const;
/** The name of one server. */
export type ServerName = typeof SERVER_NAMES[number];
/** The servers that can negotiate permessage-deflate: Deno's native WebSocket cannot. */
export const DEFLATE_SERVERS: readonly ServerName[] = ["node", "bun", "pushwire"];
/**
 * Why `name` does not run a scenario (with permessage-deflate or not), or
 * `undefined` when it does.
 */
export function notApplicable(name: ServerName, deflate: boolean): string | undefined {
  if (deflate && !DEFLATE_SERVERS.includes(name)) return "no permessage-deflate";
  return undefined;
}

const LISTENING = /^listening on 127\.0\.0\.1:(\d+)$/;
const MAX_PREAMBLE_LINES = 20;

/** Whether this harness resolves `@std` through the offline map: our server then needs it too. */
function offlineStd(): boolean {
  try {
    return import.meta.resolve("@std/assert").startsWith("file:");
  } catch {
    return false;
  }
}

/**
 * The command lines that may run server `name` on an ephemeral port, to try in
 * order: ours also with the offline `@std` import map, first when this harness
 * itself resolves `@std` offline.
 */
export function serverCommands(
  name: ServerName,
  echo: boolean,
  deflate = false,
): string[][] {
  const flags = ["--port", "0", ...(echo ? ["--echo"] : []), ...(deflate ? ["--deflate"] : [])];
  switch (name) {
    case "deno":
      return [[Deno.execPath(), "run", "-N", serverFile("deno.ts"), ...flags]];
    case "node":
      return [["node", serverFile("node.mjs"), ...flags]];
    case "bun":
      return [[BUN_BIN, serverFile("bun.js"), ...flags]];
    case "floor":
      return [[Deno.execPath(), "run", "-N", serverFile("floor.ts"), ...flags]];
    case "pushwire": {
      const run = [Deno.execPath(), "run", "-N"];
      const plain = [...run, serverFile("pushwire.ts"), ...flags];
      const mapped = [
        ...run,
        `--import-map=${OFFLINE_STD_MAP}`,
        serverFile("pushwire.ts"),
        ...flags,
      ];
      return offlineStd() ? [mapped, plain] : [plain, mapped];
    }
  }
}

/** A server that is up and listening. */
export interface RunningServer {
  readonly name: ServerName;
  readonly port: number;
  readonly process: Launched;
}

/** Options for {@linkcode startServer}. */
export interface StartOptions {
  /** Echo mode instead of chat. @default {false} */
  echo?: boolean;
  /** Offer permessage-deflate (`--deflate`). @default {false} */
  deflate?: boolean;
  /** The core to pin the server to. */
  core?: number | undefined;
  /** How long to wait for the `listening on` line. @default {20000} */
  timeoutMs?: number;
}

/** The most telling lines of a failed process's stderr. */
export function stderrSummary(stderr: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const errors = lines.filter((line) => /error/i.test(line));
  return (errors.length > 0 ? errors : lines).slice(-3).join(" | ");
}

/** Starts server `name` and waits for its port; throws, with its stderr, when it does not come up. */
export async function startServer(
  name: ServerName,
  options: StartOptions = {},
): Promise<RunningServer> {
  const failures: string[] = [];
  const { echo = false, deflate = false } = options;
  for (const command of serverCommands(name, echo, deflate)) {
    try {
      return await startCommand(name, command, options);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  throw new Error(`Cannot start ${name}: ${failures.join("; then: ")}`);
}

async function startCommand(
  name: ServerName,
  command: string[],
  options: StartOptions,
): Promise<RunningServer> {
  const { core, timeoutMs = 20_000 } = options;
  const process = new Launched(command, { core, cwd: REPO_DIR });
  const deadline = Date.now() + timeoutMs;
  try {
    for (let i = 0; i < MAX_PREAMBLE_LINES; i++) {
      const match = LISTENING.exec(
        await process.stdout.next(deadline - Date.now()),
      );
      if (match !== null) return { name, port: Number(match[1]), process };
    }
    throw new Error(
      `no "listening on" line in the first ${MAX_PREAMBLE_LINES} lines`,
    );
  } catch (error) {
    await process.stop();
    const stderr = stderrSummary(process.stderr);
    throw new Error(
      `${(error as Error).message}${stderr ? ` (${stderr})` : ""}`,
    );
  }
}
