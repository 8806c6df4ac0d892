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
export const CLIENTS_DIR: URL = new URL("./", import.meta.url);

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
      throw new Error(`${missing}; CI=true, so .ci/run should have installed it`);
    }
    await fn();
  });
}

/** Why `node` with `package` from this folder cannot run, or `undefined`. */
export async function missingNodePackage(pkg: string): Promise<string | undefined> {
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
async function commandOutput(command: string, args: string[]): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "null" })
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
