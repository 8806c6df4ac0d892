/**
 * Test helpers for the real clients in this folder (Node `ws`, Python
 * `websockets`, Chromium through `playwright-core`): finding them, declaring
 * tests that need them, and running them as child processes with a deadline.
 *
 * A test whose peer is missing is skipped with a message, unless `CI` is
 * `"true"`: CI installs every peer (`.ci/run`), so there it fails instead.
 *
 * @module
 */

/** Whether this run is CI, where every peer must be installed. */
export const IN_CI = Deno.env.get("CI") === "true";

/** This folder: the client scripts, `package.json` and `node_modules/`. */
export const CLIENTS_DIR: URL = new URL(".//", import.meta.url);

/** Debian's Python, which sees Debian's `python3-websockets` (a pyenv one may not). */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Declares a test that needs a peer. `missing` says what is not installed
 * (from {@linkcode missingNodePackage} and friends), or is `undefined`.
 *
 * @param missing Why the peer cannot run, or `undefined` when it can.
 * @param name The test's name.
 * @param fn The test.
 */
export function peerTest(
  missing: string | undefined,
  name: string,
  fn: () => Promise<void>,
): void {
  if (missing !== undefined && !IN_CI) {
    console.warn(`skipping "${name}": ${missing}`);
    Deno.test({ name, ignore: true, fn });
    return;
  }
  Deno.test(name, async () => {
    if (missing !== undefined) {
      throw new Error(
        `${missing}; CI=true, so .ci/run should have installed it`,
      );
    }
    await fn();
  });
}

/** Why `node` with `package` from this folder cannot run, or `undefined`. */
export async function missingNodePackage(
  pkg: string,
): Promise<string | undefined> {
  const node = await commandOutput("node", ["--version"]);
  if (node === undefined) return "node is not installed";
  try {
    await Deno.stat(new URL(`node_modules/${pkg}/package.json`, CLIENTS_DIR));
  } catch {
    return `the npm package ${pkg} is not installed (npm ci --prefix tests/clients)`;
  }
  return undefined;
}

/** Why Debian's Python cannot import `websockets`, or `undefined`. */
export async function missingPythonWebsockets(): Promise<string | undefined> {
  const out = await commandOutput(SYSTEM_PYTHON, ["-c", "import websockets"]);
  return out === undefined
    ? `${SYSTEM_PYTHON} cannot import websockets (apt-get install python3-websockets)`
    : undefined;
}

/** Why Chromium cannot run, or `undefined`. */
export async function missingChromium(): Promise<string | undefined> {
  const out = await commandOutput(CHROMIUM, ["--version"]);
  return out === undefined ? `${CHROMIUM} is not installed (apt-get install chromium)` : undefined;
}

/** The stdout of a command that succeeded, or `undefined` (not found, failed). */
async function commandOutput(
  command: string,
  args: string[],
): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Options for {@linkcode runJsonClient}. */
export interface RunOptions {
  /**
   * Milliseconds before the client is killed.
   *
   * @default {30000}
   */
  timeout?: number;
}

/**
 * Runs a client script that prints one JSON line, and returns it parsed.
 * Throws with the client's output when it fails, prints no JSON, or outlives
 * the timeout (it is then killed).
 *
 * @param command The program, for example `node`.
 * @param args Its arguments.
 * @param options The deadline.
 * @returns The last line of stdout, parsed.
 */
export async function runJsonClient(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<Record<string, unknown>> {
  const timeout = options.timeout ?? 30_000;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      cwd: CLIENTS_DIR,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
  } finally {
    clearTimeout(timer);
  }
  const stdout = new TextDecoder().decode(output.stdout).trim();
  const stderr = new TextDecoder().decode(output.stderr).trim();
  const describe = () =>
    `${command} ${args.join(" ")} exited with ${output.code}` +
    (controller.signal.aborted ? ` (killed after ${timeout} ms)` : "") +
    `\nstdout: ${stdout}\nstderr: ${stderr}`;
  const last = stdout.split("\n").at(-1) ?? "";
  let result: Record<string, unknown>;
  try {
    result = JSON.parse(last);
  } catch {
    throw new Error(describe());
  }
  if (!output.success || "error" in result) throw new Error(describe());
  return result;
}

/** Options for {@linkcode LineProcess}. */
export interface LineProcessOptions {
  /**
   * The working directory.
   *
   * @default {CLIENTS_DIR}
   */
  cwd?: string | URL;
  /**
   * Milliseconds after which the process is killed, whatever it is doing.
   *
   * @default {120000}
   */
  timeout?: number;
}

/**
 * A child process read line by line, with lines written to its stdin. The
 * process is killed when its timeout passes; {@linkcode LineProcess.close}
 * waits for it and releases its pipes.
 */
export class LineProcess {
  /** The command line, for messages. */
  readonly commandLine: string;
  readonly #child: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stderr: Promise<string>;
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #seen: string[] = [];

  /**
   * Starts `command` with piped stdin, stdout and stderr.
   *
   * @param command The program.
   * @param args Its arguments.
   * @param options Where to run and the deadline.
   */
  constructor(
    command: string,
    args: string[],
    options: LineProcessOptions = {},
  ) {
    this.commandLine = [command, ...args].join(" ");
    this.#child = new Deno.Command(command, {
      args,
      cwd: options.cwd ?? CLIENTS_DIR,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#timer = setTimeout(
      () => this.kill("SIGKILL"),
      options.timeout ?? 120_000,
    );
    this.#stdin = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout);
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * The next line of stdout.
   *
   * @param what What the line should be, for the error message.
   * @param timeout Milliseconds to wait.
   * @throws {Error} On end of output or timeout, with everything read so far.
   */
  async nextLine(what: string, timeout = 20_000): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeout);
    });
    try {
      const next = await Promise.race([this.#lines.next(), expired]);
      if (next === "timeout" || next.done) {
        throw new Error(
          `${this.commandLine}: ${next === "timeout" ? "timed out" : "ended"} waiting for ${what}` +
            `\nstdout so far: ${this.#seen.join("\n")}`,
        );
      }
      this.#seen.push(next.value);
      return next.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes `line` and a newline to stdin. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Sends `signal` to the process, if it is still running. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /**
   * Closes stdin, waits for the process to exit (killing it after `timeout`
   * ms), drains its output and returns how it ended and what it wrote on stderr.
   */
  async close(
    timeout = 10_000,
  ): Promise<{ status: Deno.CommandStatus; stderr: string }> {
    await this.#stdin.close().catch(() => {});
    const killer = setTimeout(() => this.kill("SIGKILL"), timeout);
    try {
      const status = await this.#child.status;
      while (!(await this.#lines.next()).done) {
        // Drain what is left so the pipe is released.
      }
      return { status, stderr: await this.#stderr };
    } finally {
      clearTimeout(killer);
      clearTimeout(this.#timer);
    }
  }
}

async function* lines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest !== "") yield rest;
}

/**
 * The next JSON event a browser client prints; throws on an `error` event
 * or an event other than `event`.
 */
export async function nextEvent(
  browser: LineProcess,
  event: string,
  timeout = 40_000,
): Promise<Record<string, unknown>> {
  const line = await browser.nextLine(`the "${event}" event`, timeout);
  const parsed = JSON.parse(line);
  if ("error" in parsed) throw new Error(`browser client failed: ${parsed.error}`);
  if (parsed.event !== event) {
    throw new Error(`expected the "${event}" event from the browser client, got ${line}`);
  }
  return parsed;
}
