// The client scenario (push_client_scenario.mjs) in Node or Bun, on a copy of
// the served /client.js; tests/client_runtimes_test.ts runs it:
//
//   npx -y node@22 push_client_runtime.mjs http://127.0.0.1:PORT/ /tmp/.../client.js
//   npx -y bun@1 push_client_runtime.mjs http://127.0.0.1:PORT/ /tmp/.../client.js
//
// It prints one JSON line: what the client saw, or {"error": ...} (exit 1).

import { pathToFileURL } from "node:url";
import { scenario } from "./push_client_scenario.mjs";

const [serverUrl, clientPath] = process.argv.slice(2);
if (serverUrl === undefined || clientPath === undefined) {
  console.error("usage: push_client_runtime.mjs http://host:port/ path/to/client.js");
  process.exit(2);
}
const runtime = typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`;
try {
  const moduleUrl = pathToFileURL(clientPath).href;
  console.log(JSON.stringify({ runtime, ...(await scenario({ moduleUrl, serverUrl })) }));
  process.exit(0);
} catch (error) {
  console.log(JSON.stringify({ runtime, error: String(error?.stack ?? error) }));
  process.exit(1);
}
