/**
 * Builds `/client.js` from the client's TypeScript (src/client/): each
 * module the entry (`mod.ts`) reaches is transpiled by a pinned TypeScript
 * (types stripped, nothing else changed), their imports and `export`
 * keywords are removed, and the modules are joined, dependencies first,
 * into one plain ES module that exports what `mod.ts` exports. The result
 * is written into src/client/client_js.ts as a string constant, which the
 * push server serves.
 *
 * ```sh
 * deno task client-js          # write src/client/client_js.ts
 * deno task client-js --check  # exit 1 when it is stale (tests/client_js_test.ts does the same)
 * ```
 *
 * The client's modules share one scope in the bundle, so their top-level
 * names must differ, and their imports must be relative and unrenamed;
 * the build fails otherwise.
 *
 * @module
 */

import ts from "npm:typescript@5.9.3";

const CLIENT_DIR = new URL("../src/client/", import.meta.url);
const ENTRY = "mod.ts";
/** The generated module. */
export const OUTPUT: URL = new URL("client_js.ts", CLIENT_DIR);

const IMPORT = /^import\s+(type\s+)?\{([^}]*)\}\s+from\s+"(\.\/[a-z_]+\.ts)";\n?/gm;
const RE_EXPORT = /^export\s+(type\s+)?\{([^}]*)\}\s+from\s+"(\.\/[a-z_]+\.ts)";/gm;
const TOP_LEVEL_NAME = /^(?:async\s+)?(?:function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)/gm;

/** The client's modules reached from the entry, dependencies first. */
async function modulesInOrder(): Promise<string[]> {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = async (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = await Deno.readTextFile(new URL(file, CLIENT_DIR));
    for (const match of source.matchAll(IMPORT)) await visit(match[3]!.slice(2));
    for (const match of source.matchAll(RE_EXPORT)) await visit(match[3]!.slice(2));
    order.push(file);
  };
  await visit(ENTRY);
  return order.filter((file) => file !== ENTRY);
}

/** The names the entry exports as values (not types). */
async function entryExports(): Promise<string[]> {
  const source = await Deno.readTextFile(new URL(ENTRY, CLIENT_DIR));
  const names: string[] = [];
  for (const match of source.matchAll(RE_EXPORT)) {
    if (match[1] !== undefined) continue;
    names.push(...match[2]!.split(",").map((name) => name.trim()).filter((name) => name !== ""));
  }
  return names;
}

/** One module as JavaScript in the bundle's shared scope. */
function transpile(file: string, source: string): string {
  const { outputText } = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      removeComments: true,
      useDefineForClassFields: true,
      newLine: ts.NewLineKind.LineFeed,
    },
  });
  let text = outputText.replace(IMPORT, (statement, _type, names: string) => {
    if (/\bas\b/.test(names)) throw new Error(`${file}: renamed import in ${statement.trim()}`);
    return "";
  });
  text = text.replace(/^export \{\};\n?/gm, "").replace(
    /^export (?=(?:async |class |const |function|let ))/gm,
    "",
  );
  const left = /^(?:import|export)\b.*$/m.exec(text);
  if (left !== null) throw new Error(`${file}: cannot bundle "${left[0]}"`);
  if (/\bimport\s*\(/.test(text)) throw new Error(`${file}: dynamic import`);
  return text.trim();
}

/**
 * The client as one plain ES module.
 *
 * @returns Its JavaScript.
 * @throws {Error} When a module cannot join the bundle (a renamed or
 * non-relative import, a top-level name used by two modules).
 */
export async function buildClientJs(): Promise<string> {
  const parts: string[] = [];
  const owner = new Map<string, string>();
  for (const file of await modulesInOrder()) {
    const text = transpile(file, await Deno.readTextFile(new URL(file, CLIENT_DIR)));
    for (const [, name] of text.matchAll(TOP_LEVEL_NAME)) {
      const other = owner.get(name!);
      if (other !== undefined) throw new Error(`${file}: top-level "${name}" is in ${other} too`);
      owner.set(name!, file);
    }
    if (text !== "") parts.push(`// src/client/${file}\n${text}`);
  }
  const exports = await entryExports();
  for (const name of exports) {
    if (!owner.has(name)) throw new Error(`${ENTRY} exports "${name}", which no module declares`);
  }
  return [
    "// pushwire client: generated from src/client/*.ts by .ci/build_client.ts; do not edit.",
    ...parts,
    `export { ${exports.join(", ")} };`,
    "",
  ].join("\n\n");
}

/** A string as a template literal's text. */
function templateText(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("`", "\\`").replaceAll("${", "\\${");
}

/**
 * The generated module: the JavaScript and its entity tag.
 *
 * @param js The client's JavaScript.
 * @returns The text of src/client/client_js.ts.
 */
export async function clientJsModule(js: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(js)),
  );
  const etag = [...digest.subarray(0, 12)].map((byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
  return `// Generated by .ci/build_client.ts from src/client/*.ts: do not edit.
// Regenerate with \`deno task client-js\`; tests/client_js_test.ts fails when this file is stale.

/**
 * The client (src/client/) as one plain ES module, as \`GET /client.js\`
 * serves it to browsers.
 *
 * @module
 */

/** The client's JavaScript: one ES module, no imports. */
export const CLIENT_JS: string =
  \`${templateText(js)}\`;

/** The entity tag of {@linkcode CLIENT_JS}: part of its SHA-256, quoted. */
export const CLIENT_JS_ETAG = '"${etag}"';
`;
}

if (import.meta.main) {
  const module = await clientJsModule(await buildClientJs());
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(OUTPUT).catch(() => "");
    if (current !== module) {
      console.error("src/client/client_js.ts is stale: run `deno task client-js`");
      Deno.exit(1);
    }
    console.log("src/client/client_js.ts is up to date");
  } else {
    await Deno.writeTextFile(OUTPUT, module);
    console.log(`wrote ${OUTPUT.pathname.slice(OUTPUT.pathname.indexOf("src/"))}`);
  }
}
