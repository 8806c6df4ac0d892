// Headless Chromium (Debian's, driven by playwright-core) on pushwire's demo
// page in topic mode; tests/browser_push_test.ts runs it and owns the server.
//
//   node browser_push_client.mjs "http://127.0.0.1:PORT/?topic=news" SCREENSHOT.png
//
// Talks to the test in lines: it prints JSON events on stdout and waits for
// commands on stdin.
//
//   → {"event":"ready","status":"connected"}   the page is connected
//   ← publications N                           wait until N publications show
//   → {"event":"publications","texts":[...],"ids":[...],"gaps":[...],"status":...}
//   ← subscribe TOPIC                          type a topic into #input, click #send
//   → {"event":"subscribed","topics":"news, TOPIC"}
//   ← screenshot                               write the screenshot
//   → {"event":"screenshot","errors":[...]}
//
// On a failure it prints {"error": ...} and exits 1; it gives up after 90 s.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

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
const STEP_MS = 30_000;

const [url, screenshot] = process.argv.slice(2);
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function emit(event) {
  console.log(JSON.stringify(event));
}

/** The publications and gap notices the page shows. */
function shown(page) {
  return page.evaluate(() => {
    const items = [...document.querySelectorAll("#messages > li")];
    const publications = items.filter((item) => item.dataset.type === "publication");
    return {
      texts: publications.map((item) => item.querySelector(".text")?.textContent),
      ids: publications.map((item) => item.dataset.id),
      gaps: items.filter((item) => item.dataset.type === "gap").map((item) => item.textContent),
      status: document.querySelector("#status")?.dataset.state,
    };
  });
}

async function run(context) {
  const errors = [];
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(url, { timeout: STEP_MS });
  await page.waitForFunction(
    () => document.querySelector("#status")?.dataset.state === "connected",
    null,
    { timeout: STEP_MS },
  );
  emit({ event: "ready", status: "connected" });
  while (true) {
    const { value, done } = await stdin.next();
    if (done) return;
    const [command, argument] = value.trim().split(" ");
    if (command === "publications") {
      await page.waitForFunction(
        (count) =>
          document.querySelectorAll('#messages > li[data-type="publication"]').length >= count &&
          document.querySelector("#status")?.dataset.state === "connected",
        Number(argument),
        { timeout: STEP_MS },
      );
      emit({ event: "publications", ...(await shown(page)) });
    } else if (command === "subscribe") {
      await page.fill("#input", argument);
      await page.click("#send");
      await page.waitForFunction(
        (topic) => document.querySelector("#peers")?.textContent?.split(", ").includes(topic),
        argument,
        { timeout: STEP_MS },
      );
      emit({ event: "subscribed", topics: await page.locator("#peers").textContent() });
    } else if (command === "screenshot") {
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      emit({ event: "screenshot", errors });
    } else {
      throw new Error(`unknown command: ${value}`);
    }
  }
}

if (url === undefined || screenshot === undefined) {
  console.error("usage: node browser_push_client.mjs http://host:port/?topic=t screenshot.png");
  process.exit(2);
}
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
  await run(context);
} catch (error) {
  emit({ error: String(error?.stack ?? error) });
  code = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(timer);
}
process.exit(code);
