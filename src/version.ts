/**
 * The version of pushwire, kept in step with `deno.json`.
 *
 * @module
 */

/**
 * The version of pushwire, as printed by `pushwire --version`.
 *
 * @example Print the version
 * ```ts
 * import { VERSION } from "./version.ts";
 *
 * console.log(`pushwire ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";
