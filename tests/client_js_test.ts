/**
 * `/client.js`: src/client/client_js.ts is what .ci/build_client.ts makes of
 * src/client/ now (CI fails on a stale one), the JavaScript is one ES module
 * that imports nothing, and the push server serves it with its `ETag`. The
 * chat page is built on it: its module script imports `PushClient` from
 * `/client.js` and opens no socket of its own, and `CHAT_PAGE_ROUTES` serves
 * the same file beside the page on `serve()`.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { buildClientJs, clientJsModule, OUTPUT } from "../.ci/build_client.ts";
import { CHAT_PAGE, CHAT_PAGE_ROUTES } from "../src/chat/page.ts";
import { PAGE_SCRIPT } from "../src/chat/page_script.ts";
import { CLIENT_JS, CLIENT_JS_ETAG } from "../src/client/client_js.ts";
import { serve } from "../src/server/server.ts";
import { withPush } from "./_push.ts";

/** A module's text as a `data:` URL, to import it. */
const moduleUrl = (text: string) =>
  `data:text/javascript;base64,${btoa(String.fromCharCode(...new TextEncoder().encode(text)))}`;

Deno.test("src/client/client_js.ts is up to date with src/client/ (deno task client-js)", async () => {
  const js = await buildClientJs();
  assert(CLIENT_JS === js, "src/client/client_js.ts is stale: run `deno task client-js`");
  assertEquals(await Deno.readTextFile(OUTPUT), await clientJsModule(js));
});

Deno.test("/client.js is one ES module with no import, exporting the client", async () => {
  assert(!/^\s*import\b/m.test(CLIENT_JS), "no import statement");
  assert(!/\bDeno\./.test(CLIENT_JS), "no Deno API");
  const module = await import(moduleUrl(CLIENT_JS));
  assertEquals(Object.keys(module).sort(), ["PublishError", "PushClient", "PushClientEventTarget"]);
  const client = new module.PushClient("http://127.0.0.1:1/", { transport: "sse" });
  assertEquals([client.state, client.transport], ["connecting", "sse"]);
  client.close();
  assertEquals(client.state, "closed");
});

Deno.test("GET /client.js: JavaScript, no-cache with an ETag, 304 for If-None-Match", async () => {
  await withPush({}, async (_push, port) => {
    const url = `http://127.0.0.1:${port}/client.js`;
    const response = await fetch(url);
    assertEquals(response.status, 200);
    assertEquals(response.headers.get("content-type"), "text/javascript; charset=utf-8");
    assertEquals(response.headers.get("cache-control"), "no-cache");
    assertEquals(response.headers.get("etag"), CLIENT_JS_ETAG);
    assertEquals(await response.text(), CLIENT_JS);

    for (const tag of [CLIENT_JS_ETAG, `W/${CLIENT_JS_ETAG}`, `"other", ${CLIENT_JS_ETAG}`, "*"]) {
      const again = await fetch(url, { headers: { "If-None-Match": tag } });
      assertEquals([again.status, await again.text()], [304, ""], tag);
      assertEquals(again.headers.get("etag"), CLIENT_JS_ETAG);
      assertEquals(again.headers.get("content-length"), null);
    }
    const changed = await fetch(url, { headers: { "If-None-Match": '"other"' } });
    assertEquals(changed.status, 200);
    await changed.body?.cancel();
  });
});

Deno.test("the chat page is a module script on /client.js, with no socket of its own", async () => {
  assert(CHAT_PAGE.includes(`<script type="module">\n${PAGE_SCRIPT}</script>`));
  assertEquals(PAGE_SCRIPT.split("\n")[0], 'import { PushClient } from "/client.js";');
  for (const own of ["WebSocket", "setTimeout", "since=", "token="]) {
    assert(!PAGE_SCRIPT.includes(own), `the page script has ${own}: the client's job`);
  }
  // It parses as a module: what stops it in Deno is the missing document, not its syntax.
  const stub = moduleUrl("export class PushClient {}");
  const script = PAGE_SCRIPT.replace('from "/client.js"', `from "${stub}"`);
  await assertRejects(() => import(moduleUrl(script)), ReferenceError, "document is not defined");
});

Deno.test("serve() with CHAT_PAGE_ROUTES serves the page and the /client.js it imports", async () => {
  const server = serve({
    port: 0,
    hostname: "127.0.0.1",
    page: CHAT_PAGE,
    routes: CHAT_PAGE_ROUTES,
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const page = await fetch(`${base}/`);
    assertEquals(await page.text(), CHAT_PAGE);
    const script = await fetch(`${base}/client.js`);
    assertEquals(script.headers.get("etag"), CLIENT_JS_ETAG);
    assertEquals(await script.text(), CLIENT_JS);
  } finally {
    await server.shutdown();
  }
});
