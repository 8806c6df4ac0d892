/**
 * The demo page in a real browser: headless Chromium (Debian's, driven by
 * playwright-core from tests/clients/browser_client.mjs) against the CLI run
 * as a child process. Two pages chat; the server restarts on the same port and
 * a page reconnects on its own. The screenshot lands in `.out/chat.png`.
 */

import { assert, assertEquals } from "@std/assert";
import {
  LineProcess,
  missingChromium,
  missingNodePackage,
  nextEvent,
  peerTest,
} from "./clients/peers.ts";
import { startCliLines, stopCliLines } from "./_cli.ts";

const REPO = new URL("../", import.meta.url);
const SCREENSHOT = new URL(".out/chat.png", REPO).pathname;
const missing = await missingChromium() ?? await missingNodePackage("playwright-core");

peerTest(
  missing,
  "Chromium: two pages chat through the demo page, and a page reconnects after a restart",
  async () => {
    let server: LineProcess | undefined;
    let browser: LineProcess | undefined;
    try {
      const first = await startCliLines(0);
      server = first.process;
      const port = Number(new URL(first.url).port);
      browser = new LineProcess("node", ["browser_client.mjs", first.url, SCREENSHOT]);

      const chatted = await nextEvent(browser, "chatted", 60_000);
      assertEquals([chatted.title, chatted.status], ["pushwire", "connected"]);

      // A line on the CLI's stdin goes to every page as a server message.
      await server.send("a line from the server's stdin");
      await browser.send("pushed");
      await nextEvent(browser, "pushed", 20_000);

      await stopCliLines(server);
      server = undefined;
      await browser.send("stopped");
      const gone = await nextEvent(browser, "disconnected", 20_000);
      assertEquals(gone.status, "reconnecting");

      const second = await startCliLines(port);
      server = second.process;
      assertEquals(second.url, first.url);
      await browser.send("restarted");
      const done = await nextEvent(browser, "done", 40_000);
      assertEquals(done.status, "connected");
      assertEquals(done.errors, []);
      // Page A's view: its own messages as "you", B's by B's id, the server's as "server".
      const said = (done.messages as { type: string; from?: string; text: string }[])
        .filter((item) => item.type === "message")
        .map((
          item,
        ) => [item.from === "you" || item.from === "server" ? item.from : "peer", item.text]);
      assertEquals(said, [
        ["you", "hello from page A"],
        ["peer", "hi from page B ✓"],
        ["server", "a line from the server's stdin"],
        ["you", "back after the restart"],
        ["peer", "welcome back, A"],
      ]);

      // Chromium negotiated permessage-deflate and a compressed message went both ways.
      assertEquals(done.deflate, {
        extensions: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        received: true,
        bytes: (done.deflate as { bytes: number }).bytes,
      });
      assert((done.deflate as { bytes: number }).bytes >= 256);

      const png = await Deno.readFile(SCREENSHOT);
      assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG file");
      assert(png.length > 2000, `a screenshot of ${png.length} bytes looks empty`);
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
