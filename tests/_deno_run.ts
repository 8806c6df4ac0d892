/**
 * The arguments of `deno run` for a script of this repository, in a child
 * process of a test: with the offline `@std` import map whenever the tests
 * themselves run on it (JSR unreachable).
 *
 * @module
 */

const STD_FALLBACK = new URL("../.ci/std/", import.meta.url);

/**
 * `run -N [permissions] [--import-map=…] <script> [args]` (without `-N` when
 * the permissions hold `-A`).
 *
 * @param script The script to run.
 * @param args Its arguments.
 * @param permissions Permission flags besides `-N`.
 */
export function denoRunArgs(script: URL, args: string[], permissions: string[] = []): string[] {
  const importMap = import.meta.resolve("@std/cli").startsWith(STD_FALLBACK.href)
    ? [`--import-map=${new URL("import_map.json", STD_FALLBACK).pathname}`]
    : [];
  // -A grants the network too (and Deno refuses -N beside it).
  const network = permissions.includes("-A") ? [] : ["-N"];
  return ["run", ...network, ...permissions, ...importMap, script.pathname, ...args];
}
