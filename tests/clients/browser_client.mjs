// Headless Chromium (Debian's, driven by playwright-core) on pushwire's demo
// page; tests/browser_test.ts and tests/browser_rooms_test.ts run it and own
// the server.
//
//   node browser_client.mjs http://127.0.0.1:PORT/ SCREENSHOT.png [pages]
//
// Talks to the test in lines: it prints JSON events on stdout and waits for
// words on stdin. Each page joins with a nickname of its own (Ada, Bob).
//
// Without a third argument it runs the chat script of browser_test.ts:
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
// With "pages" it opens pages and checks them as the test commands, one
// command a line (LABEL names a page; TEXT and the rest run to the end of
// the line), one event answering each:
//
//   ← open LABEL NICKNAME PATH      a page at PATH (such as /?room=lobby)
//                                   asks for a name: NICKNAME; it connects
//   → {"event":"opened","label":...,"status":"connected"}
//   ← visit LABEL PATH              a page at PATH that asks nothing (a token
//                                   in PATH names it); it connects
//   → {"event":"opened","label":...,"status":"connected"}
//   ← online LABEL JSON             wait until #online shows the names of the
//                                   JSON array (in order, "(you)" included)
//   → {"event":"online","label":...,"names":[...],"peers":"2 online","you":...}
//   ← state LABEL STATE             wait until #status is STATE
//   → {"event":"state","label":...,"status":...}
//   ← say LABEL TEXT                type TEXT into #input, click #send
//   → {"event":"said","label":...}
//   ← sees LABEL TEXT               wait until a message shows TEXT
//   → {"event":"seen","label":...,"messages":[{"type","from","who","text"},...]}
//   ← notices LABEL                 the entries of #messages that are not messages
//   → {"event":"notices","label":...,"notices":[{"type","text"},...]}
//   ← close LABEL                   close the page (its socket goes with it)
//   → {"event":"closed","label":...}
//   ← screenshot LABEL              write the screenshot of that page
//   → {"event":"screenshot","errors":[...]}
//
// On a failure it prints {"error": ...} and exits 1; it gives up after 90 s.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { emit, stdin, withChromium } from "./chromium.mjs";

const STEP_MS = 15_000;

const [url, screenshot, script = "chat"] = process.argv.slice(2);

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

/** The entries of #messages: their type, sender (its id and what it shows) and text. */
function messages(page) {
  return page.locator("#messages > li").evaluateAll((items) =>
    items.map((item) => ({
      type: item.dataset.type,
      from: item.dataset.from,
      who: item.querySelector(".from")?.textContent,
      text: item.querySelector(".text")?.textContent ?? item.textContent,
    }))
  );
}

/**
 * Opens a page at `target` as a newcomer: it forgets the nickname another
 * page kept in localStorage (on /healthz, of the same origin), then answers
 * the page's question for a name with `nickname`.
 */
async function openAs(context, errors, label, target, nickname) {
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(`${label}: ${error.message}`));
  await page.goto(new URL("/healthz", target).href, { timeout: STEP_MS });
  await page.evaluate(() => localStorage.clear());
  await page.goto(target, { timeout: STEP_MS });
  await page.waitForSelector("#nickname:not([hidden])", { timeout: STEP_MS });
  await page.fill("#name", nickname);
  await page.click("#join");
  return page;
}

/** The names #online shows, in order, and which is this page's. */
function onlineNames(page) {
  return page.evaluate(() => {
    const items = [...document.querySelectorAll("#online > li")];
    return {
      names: items.map((item) => item.textContent),
      you: document.querySelector("#online > li[data-you]")?.textContent,
      peers: document.querySelector("#peers")?.textContent,
    };
  });
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
  const a = await openAs(context, errors, "A", url, "Ada");
  const b = await openAs(context, errors, "B", url, "Bob");
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

/** Opens a page at `path` that asks nothing; waits until it is connected. */
async function visit(context, errors, label, path) {
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(`${label}: ${error.message}`));
  await page.goto(new URL(path, url).href, { timeout: STEP_MS });
  return page;
}

/** The commands of the "pages" script on a page: (page, argument, label) → the event. */
const PAGE_COMMANDS = {
  async online(page, argument, label) {
    await page.waitForFunction(
      (names) =>
        JSON.stringify(
          [...document.querySelectorAll("#online > li")].map((li) => li.textContent),
        ) ===
          JSON.stringify(names),
      JSON.parse(argument),
      { timeout: STEP_MS },
    );
    return { event: "online", label, ...(await onlineNames(page)) };
  },
  async state(page, argument, label) {
    return { event: "state", label, status: await state(page, argument) };
  },
  async say(page, argument, label) {
    await say(page, argument);
    return { event: "said", label };
  },
  async sees(page, argument, label) {
    await page.waitForFunction(
      (text) =>
        [...document.querySelectorAll('#messages > li[data-type="message"] .text')]
          .some((item) => item.textContent === text),
      argument,
      { timeout: STEP_MS },
    );
    return { event: "seen", label, messages: await messages(page) };
  },
  async notices(page, _argument, label) {
    const notices = (await messages(page)).filter((item) => item.type !== "message")
      .map(({ type, text }) => ({ type, text }));
    return { event: "notices", label, notices };
  },
  async screenshot(page) {
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    return { event: "screenshot" };
  },
};

/** Runs one command of the "pages" script on `pages`; returns the event to print. */
async function command(context, pages, errors, line) {
  const [name, label, ...rest] = line.trim().split(" ");
  const argument = rest.join(" ");
  if (name === "open" || name === "visit") {
    const page = name === "visit"
      ? await visit(context, errors, label, argument)
      : await openAs(context, errors, label, new URL(rest[1], url).href, rest[0]);
    pages.set(label, page);
    return { event: "opened", label, status: await state(page, "connected") };
  }
  const page = pages.get(label);
  if (page === undefined) throw new Error(`no page ${label}: ${line}`);
  if (name === "close") {
    await page.close();
    pages.delete(label);
    return { event: "closed", label };
  }
  if (!Object.hasOwn(PAGE_COMMANDS, name)) throw new Error(`unknown command: ${line}`);
  return { ...(await PAGE_COMMANDS[name](page, argument, label)), errors };
}

/** The "pages" script: the test's commands, one a line, until stdin ends. */
async function runPages(context) {
  const pages = new Map();
  const errors = [];
  while (true) {
    const { value, done } = await stdin.next();
    if (done) return;
    emit(await command(context, pages, errors, value));
  }
}

if (url === undefined || screenshot === undefined || !["chat", "pages"].includes(script)) {
  console.error(
    "usage: node browser_client.mjs http://host:port/ screenshot.png [pages]",
  );
  process.exit(2);
}
await withChromium(script === "pages" ? runPages : run);
