// The client scenario (push_client_scenario.mjs) in headless Chromium (see
// chromium.mjs): a page of the push server imports /client.js as a module;
// tests/client_runtimes_test.ts runs it and owns the server.
//
//   node push_client_browser.mjs http://127.0.0.1:PORT/
//
// It prints one JSON line: what the client saw, or {"error": ...} (exit 1).

import { withChromium } from "./chromium.mjs";
import { scenario } from "./push_client_scenario.mjs";

const [serverUrl] = process.argv.slice(2);
if (serverUrl === undefined) {
  console.error("usage: node push_client_browser.mjs http://host:port/");
  process.exit(2);
}

await withChromium(async (context) => {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(new URL("/healthz", serverUrl).href, { timeout: 15_000 });
  const moduleUrl = new URL("/client.js", serverUrl).href;
  const result = await page.evaluate(scenario, { moduleUrl, serverUrl });
  return { runtime: context.browser()?.version() ?? "chromium", ...result, errors };
});
