/**
 * Starts the benchmark's child processes: pinned to one core with `taskset`
 * where it exists, with the open-files soft limit raised to the hard limit,
 * and ended by their own PID only.
 *
 * @module
 */
import { LineReader } from "./lines.ts";

const STOP_GRACE_MS = 3000;
const STDERR_TAIL = 4000;

/** Whether `taskset` can pin processes on this machine (and there are two cores to pin to). */
export async function canPin(): Promise<boolean> {
  if (navigator.hardwareConcurrency < 2) return false;
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-c", "0", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false; // no taskset
  }
}

/** Options for {@linkcode launch}. */
export interface LaunchOptions {
  /** The core to pin the process to; unpinned when undefined. */
  core?: number | undefined;
  /** The working directory. */
  cwd?: string;
}

/**
 * The command line that runs `argv` pinned to `core`, with `ulimit -n` raised:
 * `taskset` and `sh` both `exec`, so the PID is the target's own.
 */
export function wrapCommand(argv: readonly string[], core?: number): string[] {
  const raise = [
    "sh",
    "-c",
    'ulimit -S -n "$(ulimit -H -n)" 2>/dev/null; exec "$@"',
    "sh",
  ];
  const pin = core === undefined ? [] : ["taskset", "-c", String(core)];
  return [...pin, ...raise, ...argv];
}

/** A running child process with line-oriented stdout and stdin. */
export class Launched {
  readonly pid: number;
  readonly stdout: LineReader;
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #stderr = "";
  #stderrDone: Promise<void>;
  #exited = false;

  constructor(argv: readonly string[], options: LaunchOptions = {}) {
    const [command, ...args] = wrapCommand(argv, options.core);
    this.#child = new Deno.Command(command!, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    }).spawn();
    this.pid = this.#child.pid;
    this.status = this.#child.status.finally(() => {
      this.#exited = true;
    });
    this.stdout = new LineReader(this.#child.stdout);
    this.#stdin = this.#child.stdin.getWriter();
    this.#stderrDone = this.#collectStderr();
  }

  async #collectStderr(): Promise<void> {
    for await (
      const text of this.#child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      this.#stderr = (this.#stderr + text).slice(-STDERR_TAIL);
    }
  }

  /** The last few thousand characters the process wrote to stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Writes one line to the process's stdin. */
  async writeLine(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${line}\n`));
  }

  /** Ends the process by its PID (SIGTERM, then SIGKILL after a grace period) and reaps it. */
  async stop(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    if (!this.#exited) this.#signal("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceful = await Promise.race([
      this.status.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), STOP_GRACE_MS)),
    ]);
    clearTimeout(timer);
    if (!graceful) this.#signal("SIGKILL");
    await this.status;
    await Promise.all([this.stdout.done, this.#stderrDone]);
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error; // already exited
    }
  }
}
