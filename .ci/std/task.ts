/**
 * Runs one `deno` subcommand with the `@std` packages resolved from JSR when
 * jsr.io answers, and from the in-repo fallback modules beside this file when
 * it does not (air-gapped machines, offline CI).
 *
 * ```sh
 * deno run --allow-net=jsr.io:443 --allow-read --allow-run .ci/std/task.ts test -A
 * ```
 *
 * Set `PUSHWIRE_STD=jsr` or `PUSHWIRE_STD=offline` to skip the probe.
 *
 * @module
 */

const PROBE_URL = "https://jsr.io/@std/assert/meta.json";
const PROBE_TIMEOUT_MS = 2000;
const OFFLINE_MAP = new URL("./import_map.json", import.meta.url);

/** Whether jsr.io answered a small request within the probe timeout. */
async function jsrReachable(): Promise<boolean> {
  try {
    const response = await fetch(PROBE_URL, {
      method: "HEAD",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

async function chooseSource(): Promise<"jsr" | "offline"> {
  const forced = Deno.env.get("PUSHWIRE_STD");
  if (forced === "jsr" || forced === "offline") return forced;
  return await jsrReachable() ? "jsr" : "offline";
}

if (import.meta.main) {
  const [subcommand, ...rest] = Deno.args;
  if (subcommand === undefined) {
    console.error("usage: task.ts <deno subcommand> [args...]");
    Deno.exit(2);
  }
  const source = await chooseSource();
  const args = [subcommand];
  if (source === "offline") {
    console.error("@std: jsr.io unreachable, using the offline fallback in .ci/std");
    args.push(`--import-map=${OFFLINE_MAP.pathname}`);
  } else {
    console.error("@std: using JSR");
  }
  args.push(...rest);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => child.kill(signal));
  }
  const status = await child.status;
  Deno.exit(status.code);
}
