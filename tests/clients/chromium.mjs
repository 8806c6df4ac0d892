// What the browser test clients share: Debian's Chromium started headless by
// playwright-core with the flags this closed network needs, a throwaway
// profile, one JSON line per event on stdout, commands on stdin, and a time
// limit for the whole run.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

// require() rather than an import: `deno check tests` reads this file too,
// and it does not resolve this folder's node_modules.
const { chromium } = createRequire(import.meta.url)("playwright-core");

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-quic",
  "--disable-sync",
];
const TIMEOUT_MS = 90_000;

/** The lines the test writes on stdin, as an async iterator. */
export const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Prints one event as a JSON line. */
export function emit(event) {
  console.log(JSON.stringify(event));
}

/**
 * Launches Chromium, calls `run(context)`, emits what it returns (unless
 * undefined) or the error, cleans up and exits: 0, or 1 on an error or
 * after 90 s.
 */
export async function withChromium(run) {
  const timer = setTimeout(() => {
    emit({ error: `timed out after ${TIMEOUT_MS} ms` });
    process.exit(1);
  }, TIMEOUT_MS);
  const profile = mkdtempSync(join(tmpdir(), "pushwire-chromium-"));
  let context;
  let code = 0;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 720, height: 540 },
    });
    const result = await run(context);
    if (result !== undefined) emit(result);
  } catch (error) {
    emit({ error: String(error?.stack ?? error) });
    code = 1;
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    clearTimeout(timer);
  }
  process.exit(code);
}
