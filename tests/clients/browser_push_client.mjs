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

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { emit, stdin, withChromium } from "./chromium.mjs";

const STEP_MS = 30_000;

const [url, screenshot] = process.argv.slice(2);

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
await withChromium(run);
