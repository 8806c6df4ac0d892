/**
 * The layers of src/ (docs/architecture.md): imports only go down, and the
 * protocol layer touches no `Deno.*` API.
 */

import { assertEquals } from "@std/assert";

const SRC = new URL("../src/", import.meta.url);

/** What each layer may import, besides itself. */
const BELOW: Record<string, string[]> = {
  protocol: [],
  server: ["protocol"],
  push: ["server", "protocol"],
  chat: ["server", "protocol"],
  auth: ["server", "protocol"],
  app: ["auth", "push", "chat", "server", "protocol"],
};

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
      if (to === "" && target !== "cli.ts") continue; // defaults.ts, version.ts: leaves
      wrong.push(`${path} → ${target}`);
    }
  }
  assertEquals(wrong, []);
});

Deno.test("src/protocol/ uses no Deno API outside its doc comments", async () => {
  const wrong: string[] = [];
  for (const path of await sources("protocol/")) {
    const lines = (await Deno.readTextFile(new URL(path, SRC))).split("\n");
    lines.forEach((line, i) => {
      const code = line.trimStart();
      if (code.startsWith("*") || code.startsWith("/*") || code.startsWith("//")) return;
      if (/\bDeno\./.test(code)) wrong.push(`${path}:${i + 1}`);
    });
  }
  assertEquals(wrong, []);
});
