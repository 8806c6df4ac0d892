/**
 * `/client.js`: src/client/client_js.ts is what .ci/build_client.ts makes of
 * src/client/ now (CI fails on a stale one), the JavaScript is one ES module
 * that imports nothing, and the push server serves it with its `ETag`.
 */

import { assert, assertEquals } from "@std/assert";
import { buildClientJs, clientJsModule, OUTPUT } from "../.ci/build_client.ts";
import { CLIENT_JS, CLIENT_JS_ETAG } from "../src/client/client_js.ts";
import { withPush } from "./_push.ts";

Deno.test("src/client/client_js.ts is up to date with src/client/ (deno task client-js)", async () => {
  const js = await buildClientJs();
  assert(CLIENT_JS === js, "src/client/client_js.ts is stale: run `deno task client-js`");
  assertEquals(await Deno.readTextFile(OUTPUT), await clientJsModule(js));
});

Deno.test("/client.js is one ES module with no import, exporting the client", async () => {
  assert(!/^\s*import\b/m.test(CLIENT_JS), "no import statement");
  assert(!/\bDeno\./.test(CLIENT_JS), "no Deno API");
  const url = `data:text/javascript;base64,${
    btoa(String.fromCharCode(...new TextEncoder().encode(CLIENT_JS)))
  }`;
  const module = await import(url);
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
