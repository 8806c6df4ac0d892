/**
 * The demo page's rooms and online list in a real browser: headless Chromium
 * (driven by playwright-core from tests/clients/browser_client.mjs, its
 * "pages" script) against the CLI run as a child process. Two pages join
 * with nicknames: in the topic room `/?room=lobby` each lists both by name
 * from the room's presence, a message shows its sender's name, and a page
 * that closes leaves the other's list. In the default room the names come
 * from the welcome and join events, and after a server restart each page
 * shows one "reconnected" line, not a second welcome, under the same name.
 * With `?token=` the token's identity names the page, which asks nothing, and
 * a page the server API disconnects (4403) stays closed and says why. The
 * screenshot lands in `.out/rooms.png`.
 */

import { assert, assertEquals } from "@std/assert";
import { SECRET, signToken } from "./_jwt.ts";
import {
  LineProcess,
  missingChromium,
  missingNodePackage,
  nextEvent,
  peerTest,
} from "./clients/peers.ts";
import { startCliLines, stopCliLines } from "./_cli.ts";

const REPO = new URL("../", import.meta.url);
const SCREENSHOT = new URL(".out/rooms.png", REPO).pathname;
const missing = await missingChromium() ?? await missingNodePackage("playwright-core");

/** The browser client's "pages" script: one command, its event back. */
async function ask(
  browser: LineProcess,
  command: string,
  event: string,
): Promise<Record<string, unknown>> {
  await browser.send(command);
  return await nextEvent(browser, event, 30_000);
}

/** Runs `fn` with the CLI (given `args`) and the browser client; stops both after it. */
async function withPages(
  fn: (browser: LineProcess, server: { current: LineProcess; url: string }) => Promise<void>,
  args: string[] = [],
): Promise<void> {
  const started = await startCliLines(0, ["--stdin", "off", ...args]);
  const server = { current: started.process, url: started.url };
  let stopped = false;
  const browser = new LineProcess("node", ["browser_client.mjs", started.url, SCREENSHOT, "pages"]);
  try {
    await fn(browser, server);
    await stopCliLines(server.current);
    stopped = true;
  } finally {
    browser.kill("SIGTERM");
    const ended = await browser.close();
    if (!stopped) {
      server.current.kill("SIGKILL");
      await server.current.close();
    }
    if (ended.status.code !== 0 && ended.stderr !== "") {
      console.error(`browser client stderr:\n${ended.stderr}`);
    }
  }
}

/** What a page shows as messages: sender as shown, and text. */
const said = (seen: Record<string, unknown>) =>
  (seen.messages as { type: string; who: string; text: string }[])
    .filter((item) => item.type === "message")
    .map((item) => [item.who, item.text]);

peerTest(
  missing,
  "Chromium: two pages in /?room=lobby list each other by name, chat by name, and see a leave",
  async () => {
    await withPages(async (browser) => {
      await ask(browser, "open A Ada /?room=lobby", "opened");
      await ask(browser, "open B Bob /?room=lobby", "opened");
      const listA = await ask(browser, 'online A ["Ada (you)","Bob"]', "online");
      assertEquals([listA.you, listA.peers], ["Ada (you)", "2 online"]);
      const listB = await ask(browser, 'online B ["Bob (you)","Ada"]', "online");
      assertEquals([listB.you, listB.peers], ["Bob (you)", "2 online"]);

      await ask(browser, "say A hello lobby ✓", "said");
      assertEquals(said(await ask(browser, "sees B hello lobby ✓", "seen")), [
        ["Ada", "hello lobby ✓"],
      ]);
      await ask(browser, "say B hi Ada", "said");
      assertEquals(said(await ask(browser, "sees A hi Ada", "seen")), [
        ["you", "hello lobby ✓"],
        ["Bob", "hi Ada"],
      ]);

      await ask(browser, "close B", "closed");
      const after = await ask(browser, 'online A ["Ada (you)"]', "online");
      assertEquals(after.peers, "1 online");
      const notices = (await ask(browser, "notices A", "notices")).notices as { text: string }[];
      assertEquals(notices.map((notice) => notice.text.replace(/ · .*$/, "")), [
        "you joined lobby as Ada",
        "Bob joined",
        "Bob left",
      ]);

      const shot = await ask(browser, "screenshot A", "screenshot");
      assertEquals(shot.errors, []);
      const png = await Deno.readFile(SCREENSHOT);
      assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG file");
    });
  },
);

peerTest(
  missing,
  "Chromium: two pages in the default room list each other by name, and keep it across a restart",
  async () => {
    await withPages(async (browser, server) => {
      await ask(browser, "open A Ada /", "opened");
      await ask(browser, "open B Bob /", "opened");
      await ask(browser, 'online A ["Ada (you)","Bob"]', "online");
      await ask(browser, 'online B ["Bob (you)","Ada"]', "online");
      await ask(browser, "say B hi from Bob", "said");
      assertEquals(said(await ask(browser, "sees A hi from Bob", "seen")), [[
        "Bob",
        "hi from Bob",
      ]]);

      // The server restarts on the same port: each page reconnects under its name.
      const port = Number(new URL(server.url).port);
      await stopCliLines(server.current);
      await ask(browser, "state A reconnecting", "state");
      server.current = (await startCliLines(port, ["--stdin", "off"])).process;
      await ask(browser, "state A connected", "state");
      await ask(browser, "state B connected", "state");
      await ask(browser, "say B back again", "said");
      await ask(browser, "sees A back again", "seen");
      await ask(browser, 'online A ["Ada (you)","Bob"]', "online");
      const notices = (await ask(browser, "notices A", "notices")).notices as {
        type: string;
        text: string;
      }[];
      assertEquals(notices.filter((notice) => notice.type === "welcome").length, 1);
      assert(notices[0]!.text.startsWith("you joined as Ada"), notices[0]!.text);
      const status = notices.filter((notice) => notice.type === "status");
      assertEquals(status.length, 1, JSON.stringify(status));
      assert(status[0]!.text.startsWith("reconnected"), status[0]!.text);
    });
  },
);

peerTest(
  missing,
  "Chromium: pages with ?token= are named by their tokens; one the server API disconnects stays closed",
  async () => {
    const apiKey = "browser-rooms-api-key";
    await withPages(async (browser, server) => {
      const alice = await signToken({ sub: "alice", info: { name: "Alice" }, topics: ["room:*"] });
      const bob = await signToken({ sub: "bob", topics: ["room:*"], publish: ["room:*"] });
      await ask(browser, `visit A /?room=lobby&token=${alice}`, "opened");
      await ask(browser, `visit B /?room=lobby&token=${bob}`, "opened");
      await ask(browser, 'online A ["Alice (you)","bob"]', "online");
      await ask(browser, 'online B ["bob (you)","Alice"]', "online");
      await ask(browser, "say B from bob", "said");
      assertEquals(said(await ask(browser, "sees A from bob", "seen")), [["bob", "from bob"]]);

      const response = await fetch(`${server.url}api/disconnect?user=bob&reason=Kicked%20out`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assertEquals(await response.json(), { disconnected: 1 });
      await ask(browser, "state B closed", "state");
      await ask(browser, 'online A ["Alice (you)"]', "online");
      await new Promise((resolve) => setTimeout(resolve, 1500)); // no reconnect meanwhile
      assertEquals((await ask(browser, "state B closed", "state")).status, "closed");
      const notices = (await ask(browser, "notices B", "notices")).notices as { text: string }[];
      assert(notices.at(-1)!.text.startsWith("Kicked out"), JSON.stringify(notices));
    }, ["--jwt-secret", SECRET, "--api-key", apiKey]);
  },
);
