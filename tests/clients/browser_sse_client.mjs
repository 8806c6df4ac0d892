// Headless Chromium (Debian's, driven by playwright-core) with an
// EventSource on pushwire's event stream; tests/browser_sse_test.ts runs it
// and owns the server.
//
//   node browser_sse_client.mjs http://127.0.0.1:PORT/ "/events?topic=a&topic=b"
//
// It opens a page of the server's own origin (/healthz), where the
// EventSource runs, and logs every event it gets: the push events by name
// (subscribed, publication, gap, close) with their data and lastEventId, and
// the EventSource's own open and error. It talks to the test in lines:
//
//   → {"event":"ready"}                     the EventSource was made
//   ← wait TYPE COUNT                        wait until COUNT events named TYPE
//                                            were logged (open, error, or a push event)
//   → {"event":"waited","log":[...],"readyState":N}
//   ← done
//   → {"event":"done","log":[...],"errors":[...]}
//
// On a failure it prints {"error": ...} and exits 1; it gives up after 90 s.

import { emit, stdin, withChromium } from "./chromium.mjs";

const STEP_MS = 30_000;
const NAMES = ["subscribed", "publication", "gap", "close", "presence", "join", "leave"];

const [origin, path] = process.argv.slice(2);

/** The page's log and the EventSource's state. */
function snapshot(page) {
  return page.evaluate(() => ({ log: globalThis.sseLog, readyState: globalThis.sse.readyState }));
}

async function run(context) {
  const errors = [];
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(new URL("/healthz", origin).href, { timeout: STEP_MS });
  await page.evaluate(([path, names]) => {
    globalThis.sseLog = [];
    const sse = new EventSource(path);
    globalThis.sse = sse;
    sse.addEventListener("open", () => globalThis.sseLog.push({ type: "open" }));
    sse.addEventListener("error", (event) => {
      // The stream's own failure (a MessageEvent would be a push "error" event).
      if (!(event instanceof MessageEvent)) {
        globalThis.sseLog.push({ type: "error", readyState: sse.readyState });
      }
    });
    for (const name of names) {
      sse.addEventListener(name, (event) => {
        globalThis.sseLog.push({
          type: name,
          data: JSON.parse(event.data),
          lastEventId: event.lastEventId,
        });
      });
    }
  }, [path, NAMES]);
  emit({ event: "ready" });
  while (true) {
    const { value, done } = await stdin.next();
    if (done) return;
    const [command, type, count] = value.trim().split(" ");
    if (command === "wait") {
      await page.waitForFunction(
        ([type, count]) => globalThis.sseLog.filter((entry) => entry.type === type).length >= count,
        [type, Number(count)],
        { timeout: STEP_MS },
      );
      emit({ event: "waited", ...(await snapshot(page)) });
    } else if (command === "done") {
      return { event: "done", ...(await snapshot(page)), errors };
    } else {
      throw new Error(`unknown command: ${value}`);
    }
  }
}

if (origin === undefined || path === undefined) {
  console.error('usage: node browser_sse_client.mjs http://host:port/ "/events?topic=t"');
  process.exit(2);
}
await withChromium(run);
