/**
 * Micro-benchmarks of the handshake's costliest step, the accept key: Web
 * Crypto's SHA-1 (`crypto.subtle.digest`, what the server uses) one at a
 * time and 100 at once (as under a burst of connections), against
 * `node:crypto`'s synchronous SHA-1 for reference, and request parsing.
 *
 * ```sh
 * deno bench --import-map=.ci/std/import_map.json bench/handshake_bench.ts
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { acceptKey, validateUpgrade, WEBSOCKET_GUID } from "../src/protocol/handshake.ts";
import { RequestHeadParser } from "../src/protocol/http_head.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const REQUEST = new TextEncoder().encode(
  "GET /chat HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
    "Origin: http://localhost:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\r\n",
);

Deno.bench({
  name: "acceptKey: Web Crypto SHA-1, one at a time",
  group: "accept key",
  baseline: true,
  async fn() {
    await acceptKey(KEY);
  },
});

Deno.bench({
  name: "acceptKey: Web Crypto SHA-1, 100 at once (per 100)",
  group: "accept key",
  async fn() {
    await Promise.all(Array.from({ length: 100 }, () => acceptKey(KEY)));
  },
});

Deno.bench({
  name: "reference: node:crypto SHA-1 + base64 (synchronous)",
  group: "accept key",
  fn() {
    createHash("sha1").update(KEY + WEBSOCKET_GUID).digest("base64");
  },
});

Deno.bench({
  name: "request head: parse and validate a 250-byte upgrade",
  group: "parse",
  fn() {
    validateUpgrade(new RequestHeadParser().push(REQUEST)!);
  },
});
