/**
 * The layers of src/ (docs/architecture.md): imports only go down, the
 * protocol layer touches no `Deno.*` API, and neither does the client, which
 * imports nothing from the rest of src/ (it runs in browsers, Node and Bun).
 */

import { assertEquals } from "@std/assert";

const SRC = new URL("../src/", import.meta.url);

/** What each layer may import, besides itself. */
const BELOW: Record<string, string[]> = {
  client: [],
  protocol: [],
  server: ["protocol"],
  push: ["server", "protocol"],
  chat: ["client", "server", "protocol"],
  auth: ["server", "protocol"],
  app: ["auth", "push", "chat", "client", "server", "protocol"],
};

/** Layers that must run without Deno: pure, or run in browsers. */
const NO_DENO = ["protocol", "client"];

/** Every .ts file under a folder of src/, as paths relative to src/. */
async function sources(dir = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, SRC))) {
    const path = dir + entry.name;
    if (entry.isDirectory) files.push(...await sources(`${path}/`));
    else if (path.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/** The relative imports of a module, resolved to paths relative to src/. */
function imports(path: string, text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/^(?:import|export)[^"]*?from "(\.[^"]+)";/gms)) {
    const target = new URL(match[1]!, new URL(path, SRC)).href;
    found.push(target.slice(SRC.href.length));
  }
  return found;
}

/** The layer of a path: its folder, or "" for the top of src/. */
const layerOf = (path: string) => path.includes("/") ? path.slice(0, path.indexOf("/")) : "";

Deno.test("src/ imports only go down its layers", async () => {
  const wrong: string[] = [];
  for (const path of await sources()) {
    const layer = layerOf(path);
    const allowed = BELOW[layer];
    if (allowed === undefined) continue; // cli.ts and the leaf modules at the top
    for (const target of imports(path, await Deno.readTextFile(new URL(path, SRC)))) {
      const to = layerOf(target);
      if (to === layer || allowed.includes(to)) continue;
      // defaults.ts, version.ts: leaves, but not for the client
      if (to === "" && target !== "cli.ts" && layer !== "client") continue;
      wrong.push(`${path} → ${target}`);
    }
  }
  assertEquals(wrong, []);
});

Deno.test("src/client/ imports only its own modules", async () => {
  const wrong: string[] = [];
  for (const path of await sources("client/")) {
    const text = await Deno.readTextFile(new URL(path, SRC));
    for (const match of text.matchAll(/^(?:import|export)[^"]*?from "([^"]+)";/gms)) {
      if (!match[1]!.startsWith("./")) wrong.push(`${path} → ${match[1]}`);
    }
  }
  assertEquals(wrong, []);
});

Deno.test("src/protocol/ and src/client/ use no Deno API outside their doc comments", async () => {
  const wrong: string[] = [];
  const paths = await Promise.all(NO_DENO.map((layer) => sources(`${layer}/`)));
  for (const path of paths.flat()) {
    const lines = (await Deno.readTextFile(new URL(path, SRC))).split("\n");
    lines.forEach((line, i) => {
      const code = line.trimStart();
      if (code.startsWith("*") || code.startsWith("/*") || code.startsWith("//")) return;
      if (/\bDeno\./.test(code)) wrong.push(`${path}:${i + 1}`);
    });
  }
  assertEquals(wrong, []);
});
