/**
 * The demo page in topic mode in a real browser: headless Chromium (driven
 * by playwright-core from tests/clients/browser_push_client.mjs) on
 * `/?topic=news`, against a push server in this process. The server drops
 * the page's connection and publishes while it is away: after its reconnect
 * the page shows every message once, in order. The page subscribes to one
 * more topic from its input. Then the server restarts (a new epoch): the
 * page shows a gap notice for each topic. The screenshot lands in
 * `.out/push.png`.
 */

import { assert, assertEquals } from "@std/assert";
import { servePush } from "../src/app/serve_push.ts";
import { until } from "./_server.ts";
import {
  LineProcess,
  missingChromium,
  missingNodePackage,
  nextEvent,
  peerTest,
} from "./clients/peers.ts";

const SCREENSHOT = new URL("../.out/push.png", import.meta.url).pathname;
const missing = await missingChromium() ?? await missingNodePackage("playwright-core");

peerTest(
  missing,
  "Chromium: the page on /?topic=news resumes with no hole and no duplicate, and shows a restart gap",
  async () => {
    let push = servePush({ port: 0, hostname: "127.0.0.1" });
    const port = push.server.addr.port;
    const send = (text: string) => push.publish("news", { type: "text", text });
    let browser: LineProcess | undefined;
    try {
      send("before the page"); // not shown: a first connection starts live
      browser = new LineProcess("node", [
        "browser_push_client.mjs",
        `http://127.0.0.1:${port}/?topic=news`,
        SCREENSHOT,
      ]);
      await nextEvent(browser, "ready", 60_000);
      await until(() => push.server.topics.count("news") === 1, 10_000, "the subscription");

      const expected: string[] = [];
      const publish = (from: number, to: number) => {
        for (let i = from; i <= to; i++) {
          expected.push(`p${i}`);
          send(`p${i}`);
        }
      };
      publish(1, 10);
      await browser.send("publications 10");
      assertEquals((await nextEvent(browser, "publications")).texts, expected);

      // The connection drops; 20 messages are published while the page is away.
      for (const socket of push.server.sockets) socket.close(1012, "service restart");
      await until(() => push.server.topics.count("news") === 0, 10_000, "the disconnect");
      publish(11, 30);
      await browser.send("publications 30");
      const resumed = await nextEvent(browser, "publications");
      assertEquals(resumed.texts, expected, "every message once, in order");
      const seqs = (resumed.ids as string[]).map((id) => Number(id.split(":")[1]));
      assertEquals(seqs, Array.from({ length: 30 }, (_, i) => i + 2));
      assertEquals(resumed.gaps, []);

      // The input subscribes to one more topic.
      await browser.send("subscribe sport");
      assertEquals((await nextEvent(browser, "subscribed")).topics, "news, sport");
      push.publish("sport", { type: "text", text: "goal" });
      expected.push("goal");
      await browser.send("publications 31");
      assertEquals((await nextEvent(browser, "publications")).texts, expected);

      // A restart: history is gone, and the page is told so for each topic.
      await push.server.shutdown();
      push = servePush({ port, hostname: "127.0.0.1" });
      await until(() => push.server.topics.count("sport") === 1, 20_000, "the reconnect");
      send("after the restart");
      await browser.send("publications 32");
      const restarted = await nextEvent(browser, "publications");
      assertEquals((restarted.texts as string[]).at(-1), "after the restart");
      const gaps = restarted.gaps as string[];
      assertEquals(gaps.length, 2);
      assert(gaps[0]!.includes("#news were missed: the server restarted"), gaps[0]);
      assert(gaps[1]!.includes("#sport were missed: the server restarted"), gaps[1]);

      await browser.send("screenshot");
      assertEquals((await nextEvent(browser, "screenshot")).errors, []);
      const png = await Deno.readFile(SCREENSHOT);
      assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG file");
    } finally {
      browser?.kill("SIGTERM");
      const ended = await browser?.close();
      await push.server.shutdown();
      if (ended !== undefined && ended.status.code !== 0 && ended.stderr !== "") {
        console.error(`browser client stderr:\n${ended.stderr}`);
      }
    }
  },
);
