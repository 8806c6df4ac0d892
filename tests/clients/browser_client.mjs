// Headless Chromium (Debian's, driven by playwright-core) on pushwire's demo
// page; tests/browser_test.ts runs it and owns the server.
//
//   node browser_client.mjs http://127.0.0.1:PORT/ SCREENSHOT.png
//
// Talks to the test in lines: it prints JSON events on stdout and waits for
// words on stdin.
//
//   → {"event":"chatted",...}        two pages saw each other's messages
//   ← pushed                         the server was told to push a line
//   → {"event":"pushed"}             both pages show it
//   ← stopped                        the server was shut down
//   → {"event":"disconnected",...}   page A shows it lost the connection
//   ← restarted                      the server is up again on the same port
//   → {"event":"done",...}           page A reconnected, a message went
//                                    through, the screenshot is written
//
// On a failure it prints {"error": ...} and exits 1; it gives up after 90 s.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { emit, stdin, withChromium } from "./chromium.mjs";

const STEP_MS = 15_000;

const [url, screenshot] = process.argv.slice(2);

/** Waits for the test to say `word` on stdin. */
async function expectWord(word) {
  const { value, done } = await stdin.next();
  if (done || value.trim() !== word) {
    throw new Error(
      `expected "${word}" on stdin, got ${done ? "end of input" : value}`,
    );
  }
}

/** Waits until #status has `data-state` equal to (or, with `not`, other than) `state`. */
async function state(page, state, not = false) {
  await page.waitForFunction(
    ([state, not]) => (document.querySelector("#status")?.dataset.state === state) !== not,
    [state, not],
    { timeout: STEP_MS },
  );
  return await page.locator("#status").getAttribute("data-state");
}

/** Types `text` into #input and clicks #send. */
async function say(page, text) {
  await page.fill("#input", text);
  await page.click("#send");
}

/** Waits until #messages shows `text`. */
async function sees(page, text) {
  await page.waitForFunction(
    (text) => document.querySelector("#messages")?.textContent?.includes(text) ?? false,
    text,
    { timeout: STEP_MS },
  );
}

/** The entries of #messages: their type, sender and text. */
function messages(page) {
  return page.locator("#messages > li").evaluateAll((items) =>
    items.map((item) => ({
      type: item.dataset.type,
      from: item.dataset.from,
      text: item.querySelector(".text")?.textContent ?? item.textContent,
    }))
  );
}

/**
 * Opens one more WebSocket from the page to the same server and sends a
 * message long enough to be compressed: what Chromium negotiated, and
 * whether the chat room's envelope of it came back.
 */
function deflateProbe(page) {
  return page.evaluate(async () => {
    const ws = new WebSocket(location.href.replace(/^http/, "ws"));
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("the probe socket failed"));
    });
    const text = JSON.stringify(
      Array.from({ length: 40 }, (_, i) => ({ id: i, user: "chromium", ok: i % 2 === 0 })),
    );
    const echoed = new Promise((resolve) => {
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "message" && message.text === text) resolve(true);
      };
    });
    ws.send(text);
    const received = await Promise.race([
      echoed,
      new Promise((resolve) => setTimeout(() => resolve(false), 5000)),
    ]);
    ws.close();
    return { extensions: ws.extensions, received, bytes: text.length };
  });
}

async function run(context) {
  const errors = [];
  const open = async (name) => {
    const page = await context.newPage();
    page.on("pageerror", (error) => errors.push(`${name}: ${error.message}`));
    await page.goto(url, { timeout: STEP_MS });
    return page;
  };
  const a = await open("A");
  const b = await open("B");
  const statusBefore = await state(a, "connected");
  await state(b, "connected");

  await say(a, "hello from page A");
  await sees(a, "hello from page A");
  await sees(b, "hello from page A");
  await say(b, "hi from page B ✓");
  await sees(a, "hi from page B ✓");
  await sees(b, "hi from page B ✓");
  emit({ event: "chatted", title: await a.title(), status: statusBefore });

  await expectWord("pushed");
  await sees(a, "a line from the server's stdin");
  await sees(b, "a line from the server's stdin");
  emit({ event: "pushed" });

  await expectWord("stopped");
  emit({ event: "disconnected", status: await state(a, "connected", true) });

  await expectWord("restarted");
  const statusAfter = await state(a, "connected");
  await state(b, "connected");
  await say(a, "back after the restart");
  await sees(a, "back after the restart");
  await sees(b, "back after the restart");
  await say(b, "welcome back, A");
  await sees(a, "welcome back, A");

  mkdirSync(dirname(screenshot), { recursive: true });
  await a.screenshot({ path: screenshot, fullPage: true });
  const shown = await messages(a);
  return {
    event: "done",
    status: statusAfter,
    messages: shown,
    deflate: await deflateProbe(a),
    errors,
    chromium: context.browser()?.version(),
    screenshot,
  };
}

if (url === undefined || screenshot === undefined) {
  console.error(
    "usage: node browser_client.mjs http://host:port/ screenshot.png",
  );
  process.exit(2);
}
await withChromium(run);
