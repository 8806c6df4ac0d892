/**
 * The peers' npm dependencies (`ws`, `bun`), installed into bench/ only from
 * bench/package-lock.json, and the versions of the runtimes in play.
 *
 * @module
 */
import { BENCH_DIR, BUN_BIN } from "./paths.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function run(
  command: string,
  args: string[],
  cwd?: string,
): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(cwd === undefined ? {} : { cwd }),
    }).output();
    const text = new TextDecoder().decode(
      output.success ? output.stdout : output.stderr,
    ).trim();
    return output.success ? text : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Installs bench/node_modules with `npm ci` (then `npm install` if that fails)
 * when `ws` or the Bun binary is missing. Returns what went wrong, if anything;
 * the servers that need a missing package then show up as unavailable.
 */
export async function ensureBenchDeps(
  log: (line: string) => void,
): Promise<string | undefined> {
  const ws = `${BENCH_DIR}node_modules/ws/package.json`;
  if (await exists(ws) && await exists(BUN_BIN)) return undefined;
  for (const args of [["ci"], ["install"]]) {
    log(`bench: npm ${args[0]} in ${BENCH_DIR}`);
    const done = await run(
      "npm",
      [...args, "--no-audit", "--no-fund"],
      BENCH_DIR,
    );
    if (done !== undefined) return undefined;
  }
  return "npm could not install bench dependencies (ws, bun)";
}

/** The version each runtime reports, or "unavailable". */
export async function runtimeVersions(): Promise<Record<string, string>> {
  const [node, bun] = await Promise.all([
    run("node", ["--version"]),
    run(BUN_BIN, ["--version"]),
  ]);
  return {
    deno: Deno.version.deno,
    node: node ?? "unavailable",
    bun: bun ?? "unavailable",
  };
}
