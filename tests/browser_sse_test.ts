/**
 * Server-Sent Events in a real browser: Chromium's own `EventSource`
 * (headless, driven by playwright-core from
 * tests/clients/browser_sse_client.mjs) on the CLI's `/events` with two
 * topics. The CLI restarts on the same port: the EventSource gets
 * `event: close` (1001), reconnects by itself after `retry:` and resumes
 * with `Last-Event-ID`. The memory engine starts a new epoch, so each topic
 * gets a `gap` with reason `restart`, then what the new run published while
 * it was away, then the live stream: nothing lost within a run, nothing
 * doubled.
 */

import { assertEquals, assertMatch } from "@std/assert";
import {
  LineProcess,
  missingChromium,
  missingNodePackage,
  nextEvent,
  peerTest,
} from "./clients/peers.ts";
import { startCliLines, stopCliLines } from "./_cli.ts";

const missing = await missingChromium() ?? await missingNodePackage("playwright-core");

type Entry = { type: string; data?: Record<string, unknown>; lastEventId?: string };

/** Publishes text with `POST /publish` (loopback needs no token). */
async function publish(port: number, topic: string, text: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/publish?topic=${topic}`, {
    method: "POST",
    headers: { "Content-Type": "text/plain" },
    body: text,
  });
  assertEquals(response.status, 200, await response.text());
}

/** The texts of the publications logged in a topic. */
function texts(log: Entry[], topic: string): unknown[] {
  return log.filter((entry) => entry.type === "publication" && entry.data?.topic === topic)
    .map((entry) => entry.data?.data);
}

peerTest(
  missing,
  "Chromium's EventSource resumes across a restart of the CLI: a restart gap, nothing doubled",
  async () => {
    let server: LineProcess | undefined;
    let browser: LineProcess | undefined;
    try {
      const first = await startCliLines(0, ["--stdin", "off"]);
      server = first.process;
      const { port } = first;
      browser = new LineProcess("node", [
        "browser_sse_client.mjs",
        `http://127.0.0.1:${port}/`,
        "/events?topic=news&topic=sport",
      ]);
      await nextEvent(browser, "ready", 60_000);
      await browser.send("wait subscribed 2");
      await nextEvent(browser, "waited");
      await publish(port, "news", "n1");
      await publish(port, "sport", "s1");
      await publish(port, "news", "n2");
      await browser.send("wait publication 3");
      const before = (await nextEvent(browser, "waited")).log as Entry[];
      const last = before.at(-1)!.lastEventId!;
      const epoch = last.split(":")[1]!;
      assertEquals(last, `news:${epoch}:2,sport:${epoch}:1`);

      await stopCliLines(server);
      server = undefined;
      await browser.send("wait close 1");
      const closed = (await nextEvent(browser, "waited")).log as Entry[];
      assertEquals(closed.find((entry) => entry.type === "close")?.data, {
        code: 1001,
        reason: "server shutting down",
      });

      // Back on the same port; published before the EventSource comes back.
      const second = await startCliLines(port, ["--stdin", "off"]);
      server = second.process;
      await publish(port, "sport", "s2");
      await browser.send("wait subscribed 4");
      await nextEvent(browser, "waited", 40_000);
      await publish(port, "news", "n3");
      await browser.send("wait publication 5");
      await nextEvent(browser, "waited");
      await browser.send("done");
      const done = await nextEvent(browser, "done");
      assertEquals(done.errors, []);
      const log = done.log as Entry[];

      // Both runs in order, each once; the new run's ids after a restart gap.
      assertEquals(texts(log, "news"), ["n1", "n2", "n3"]);
      assertEquals(texts(log, "sport"), ["s1", "s2"]);
      const gaps = log.filter((entry) => entry.type === "gap").map((entry) => entry.data);
      assertEquals(gaps, [
        { type: "gap", topic: "news", since: `${epoch}:2`, reason: "restart" },
        { type: "gap", topic: "sport", since: `${epoch}:1`, reason: "restart" },
      ]);
      assertEquals(log.filter((entry) => entry.type === "open").length, 2);
      const newEpoch = (log.at(-1)!.lastEventId!).split(",")[0]!.split(":")[1]!;
      assertMatch(newEpoch, /^[0-9a-z]+$/);
      assertEquals(log.at(-1)!.lastEventId, `news:${newEpoch}:1,sport:${newEpoch}:1`);
    } finally {
      browser?.kill("SIGTERM");
      const ended = await browser?.close();
      if (server !== undefined) await stopCliLines(server);
      if (ended !== undefined && ended.status.code !== 0 && ended.stderr !== "") {
        console.error(`browser client stderr:\n${ended.stderr}`);
      }
    }
  },
);
