/**
 * The served `/client.js` in the other runtimes it is for: Node 22 and Bun
 * (from the npm registry through `npx`; the system Node may be older) on a
 * copy of it, and headless Chromium importing it from a page of the server.
 * Each runs tests/clients/push_client_scenario.mjs: subscribe, get a
 * publication, publish, get its id and its echo; and in the chat room, say
 * something and get it back.
 *
 * Without `npx` (or Chromium and playwright-core) the tests are skipped with
 * a message, unless `CI` is `"true"` (`.ci/run` warms `npx` for both).
 */

import { assert, assertEquals } from "@std/assert";
import { withPush } from "./_push.ts";
import { missingChromium, missingNodePackage, peerTest, runJsonClient } from "./clients/peers.ts";

/** Why `npx` cannot run, or `undefined`. */
async function missingNpx(): Promise<string | undefined> {
  try {
    const output = await new Deno.Command("npx", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return output.success ? undefined : "npx does not run";
  } catch {
    return "npx is not installed (it comes with npm)";
  }
}

/** Checks what the scenario saw. */
function assertScenario(result: Record<string, unknown>): void {
  assertEquals(result.received, result.posted, "the publication is the one posted");
  assertEquals(result.data, "hello from the server");
  assertEquals(result.echoed, result.published, "the echo carries the id publish() answered");
  assertEquals(result.echoedData, { text: "hi" });
  assertEquals(result.from, "runtime");
  assertEquals(result.states, ["open", "closed"]);
  assertEquals(result.chat, {
    events: ["welcome", "join", "message"],
    name: "chatter",
    text: "hello room",
  });
}

/** Runs the scenario with `runtime` on a copy of the served /client.js. */
async function runOnCopy(command: string[]): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pushwire-client-" });
  try {
    await withPush({}, async (_push, port) => {
      const server = `http://127.0.0.1:${port}/`;
      const response = await fetch(new URL("/client.js", server));
      assertEquals(response.status, 200);
      const path = `${dir}/client.js`;
      await Deno.writeTextFile(path, await response.text());
      const [program, ...args] = command;
      const result = await runJsonClient(program!, [
        ...args,
        "push_client_runtime.mjs",
        server,
        path,
      ], {
        timeout: 60_000, // a first npx run downloads the runtime
      });
      assertScenario(result);
      console.log(`  ran in ${result.runtime}`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const npx = await missingNpx();

peerTest(npx, "the served /client.js in Node 22 (npx -y node@22)", async () => {
  await runOnCopy(["npx", "-y", "node@22"]);
});

peerTest(npx, "the served /client.js in Bun (npx -y bun@1)", async () => {
  await runOnCopy(["npx", "-y", "bun@1"]);
});

peerTest(
  await missingChromium() ?? await missingNodePackage("playwright-core"),
  "the served /client.js in Chromium, imported as a module by a page of the server",
  async () => {
    await withPush({}, async (_push, port) => {
      const result = await runJsonClient("node", [
        "push_client_browser.mjs",
        `http://127.0.0.1:${port}/`,
      ], {
        timeout: 60_000,
      });
      assertScenario(result);
      assertEquals(result.errors, []);
      assert(typeof result.runtime === "string");
    });
  },
);
