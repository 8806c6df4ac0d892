/**
 * Where the benchmark's files are, independent of the working directory.
 *
 * @module
 */

function path(relative: string): string {
  return decodeURIComponent(new URL(relative, import.meta.url).pathname);
}

/** The repository root. */
export const REPO_DIR: string = path("../../");
/** `bench/`, where the peers' npm dependencies are installed. */
export const BENCH_DIR: string = path("../");
/** The Bun binary installed by the `bun` npm package. */
export const BUN_BIN: string = path("../node_modules/bun/bin/bun.exe");
/** The load generator's entry point. */
export const GENERATOR: string = path("../load/main.mjs");
/** The offline `@std` import map (used when this process itself resolves `@std` offline). */
export const OFFLINE_STD_MAP: string = path("../../.ci/std/import_map.json");

/** The path of a peer server's source file. */
export function serverFile(file: string): string {
  return path(`../servers/${file}`);
}
