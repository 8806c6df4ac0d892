/**
 * Offline stand-in for the JSR package `@std/cli`, used when jsr.io cannot be
 * reached (see `task.ts` beside this file).
 *
 * It implements {@linkcode parseArgs} (minimist-style command line parsing)
 * with the same options and runtime results as `@std/cli`: `string`,
 * `boolean`, `default`, `alias`, `collect`, `negatable`, `unknown`,
 * `stopEarly` and `"--"`. The result type is a plain {@linkcode Args} record
 * rather than the type computed from the options by `@std/cli`.
 *
 * ```ts
 * import { parseArgs } from "@std/cli";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(parseArgs(["--foo", "--bar=baz", "./quux.txt"]), {
 *   foo: true,
 *   bar: "baz",
 *   _: ["./quux.txt"],
 * });
 * ```
 *
 * @module
 */

/** The value returned from {@linkcode parseArgs}. */
export type Args<
  // deno-lint-ignore no-explicit-any
  TArgs extends Record<string, unknown> = Record<string, any>,
> =
  & TArgs
  & {
    /** Every argument that is not an option or an option's value. */
    _: Array<string | number>;
    /** The arguments after `--`, when the `"--"` option is set. */
    "--"?: Array<string>;
  };

/** Options for {@linkcode parseArgs}. */
export interface ParseOptions {
  /**
   * When `true`, put the arguments after `--` in the result's `"--"` array
   * instead of appending them to `_`.
   *
   * @default {false}
   */
  "--"?: boolean;
  /**
   * Maps an option name to one alias or to a list of aliases. Every name of an
   * option receives the same value.
   *
   * @default {{}}
   */
  alias?: Record<string, string | readonly string[] | undefined>;
  /**
   * Option names that are always booleans; `true` makes every `--name`
   * without `=` a boolean. Boolean options default to `false`.
   *
   * @default {false}
   */
  boolean?: boolean | string | readonly string[];
  /**
   * Values for options that are absent from the arguments. Dotted names set
   * nested values.
   *
   * @default {{}}
   */
  default?: Record<string, unknown>;
  /**
   * When `true`, everything from the first non-option argument on goes to `_`
   * unparsed.
   *
   * @default {false}
   */
  stopEarly?: boolean;
  /**
   * Option names whose values are always kept as strings.
   *
   * @default {[]}
   */
  string?: string | readonly string[];
  /**
   * Option names that collect every occurrence into an array. They default
   * to `[]` when they are also listed in `string` or `boolean`.
   *
   * @default {[]}
   */
  collect?: string | readonly string[];
  /**
   * Option names that `--no-name` sets to `false`.
   *
   * @default {[]}
   */
  negatable?: string | readonly string[];
  /**
   * Called for every argument that names an option not declared in
   * `string`, `boolean` or `alias`, and for every non-option argument.
   * Returning `false` drops the argument from the result.
   */
  unknown?: (arg: string, key?: string, value?: unknown) => unknown;
}

type Value = string | number | boolean;
type Tree = Record<string, unknown>;

const LONG_FLAG = /^--(?<negated>no-)?(?<key>.+?)(?:=(?<value>.+?))?$/s;
const LETTER = /[A-Za-z]/;
const NUMERIC_TAIL = /-?\d+(\.\d*)?(e-?\d+)?$/;
const INLINE_VALUE = /=(?<value>.+)/;
const NON_WORD = /\W/;
const FLAG_LIKE = /^(-|--)[^-]/;
const LONG_WITHOUT_VALUE = /^--[^=]+$/;

/** Whether `text` reads as a finite number (decimal, exponent or `0x` forms). */
function isNumeric(text: string): boolean {
  return /\S/.test(text) && Number.isFinite(Number(text));
}

function isBooleanText(text: string): boolean {
  return text === "true" || text === "false";
}

function toList(names: string | readonly string[] | undefined): string[] {
  if (names === undefined) return [];
  return (typeof names === "string" ? [names] : [...names]).filter(Boolean);
}

function ownValue(tree: Tree, key: string): unknown {
  return Object.hasOwn(tree, key) ? tree[key] : undefined;
}

function define(tree: Tree, key: string, value: unknown): void {
  Object.defineProperty(tree, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Sets `tree[a][b]…` for the dotted path `keys`, appending when `collect`. */
function setPath(tree: Tree, keys: string[], value: unknown, collect = false): void {
  const last = keys[keys.length - 1]!;
  for (const key of keys.slice(0, -1)) {
    let child = ownValue(tree, key);
    if (child === undefined || child === null) {
      child = {};
      define(tree, key, child);
    }
    tree = child as Tree;
  }
  if (collect) {
    const existing = ownValue(tree, last);
    if (Array.isArray(existing)) {
      existing.push(value);
      return;
    }
    value = existing ? [existing, value] : [value];
  }
  define(tree, last, value);
}

function hasPath(tree: unknown, keys: string[]): boolean {
  for (const key of keys) {
    if (tree === null || tree === undefined || !Object.hasOwn(Object(tree), key)) return false;
    tree = (tree as Tree)[key];
  }
  return true;
}

/**
 * Parses command line arguments into an object of options and positional
 * arguments, following minimist's rules.
 *
 * `--name` and `-n` are flags; `--name=value`, `--name value`, `-n value`,
 * `-nvalue` and `-n=value` carry values; `-abc` sets `a`, `b` and `c`. Values
 * that read as numbers become numbers unless the option is in `string`.
 * Everything after `--` is left unparsed.
 *
 * @param args The command line arguments, usually `Deno.args`.
 * @param options How to read the arguments.
 * @returns The parsed options, with the remaining arguments in `_`.
 *
 * @example Usage
 * ```ts
 * import { parseArgs } from "@std/cli";
 * import { assertEquals } from "@std/assert";
 *
 * const args = parseArgs(["--port", "8080", "-v", "--no-color", "serve"], {
 *   boolean: ["verbose", "color"],
 *   alias: { v: "verbose" },
 *   negatable: ["color"],
 * });
 * assertEquals(args, { port: 8080, v: true, verbose: true, color: false, _: ["serve"] });
 * ```
 */
export function parseArgs(args: string[], options: ParseOptions = {}): Args {
  const {
    "--": doubleDash = false,
    alias = {},
    boolean = false,
    default: defaults = {},
    stopEarly = false,
    string,
    collect,
    negatable,
    unknown = (arg: string): unknown => arg,
  } = options;

  const aliases = new Map<string, Set<string>>();
  for (const [name, value] of Object.entries(alias)) {
    if (value === undefined) throw new TypeError("Alias value must be defined");
    const names = typeof value === "string" ? [value] : [...value];
    aliases.set(name, new Set(names));
    for (const other of names) {
      aliases.set(other, new Set([name, ...names.filter((n) => n !== other)]));
    }
  }
  const withAliases = (names: string[]): Set<string> => {
    const set = new Set<string>();
    for (const name of names) {
      set.add(name);
      for (const other of aliases.get(name) ?? []) set.add(other);
    }
    return set;
  };
  const allBooleans = boolean === true;
  const booleans = withAliases(typeof boolean === "boolean" ? [] : toList(boolean));
  const strings = withAliases(toList(string));
  const collects = withAliases(toList(collect));
  const negatables = withAliases(toList(negatable));
  const isBooleanOption = (key: string): boolean =>
    booleans.has(key) || [...aliases.get(key) ?? []].some((other) => booleans.has(other));

  const result: Args = { _: [] };

  const set = (key: string, value: Value, arg: string, collectable = true): void => {
    const known = booleans.has(key) || strings.has(key) || aliases.has(key) ||
      (allBooleans && LONG_WITHOUT_VALUE.test(arg));
    if (!known && unknown(arg, key, value) === false) return;
    if (typeof value === "string" && !strings.has(key) && isNumeric(value)) value = Number(value);
    const append = collectable && collects.has(key);
    setPath(result, key.split("."), value, append);
    for (const other of aliases.get(key) ?? []) setPath(result, other.split("."), value, append);
  };

  const separator = args.indexOf("--");
  const parsed = separator === -1 ? args : args.slice(0, separator);
  const unparsed = separator === -1 ? [] : args.slice(separator + 1);

  for (let i = 0; i < parsed.length; i++) {
    const arg = parsed[i]!;
    const next = parsed[i + 1];

    const long = LONG_FLAG.exec(arg)?.groups;
    if (long) {
      let key = long.key!;
      const inline = long.value;
      if (inline) {
        set(key, booleans.has(key) ? inline !== "false" : inline, arg);
        continue;
      }
      if (long.negated) {
        if (negatables.has(key)) {
          set(key, false, arg, false);
          continue;
        }
        key = `no-${key}`;
      }
      if (next) {
        const takesValue = !booleans.has(key) && !allBooleans && !next.startsWith("-") &&
          !isBooleanOption(key);
        if (takesValue || isBooleanText(next)) {
          set(key, takesValue ? next : next !== "false", arg);
          i++;
          continue;
        }
      }
      set(key, strings.has(key) ? "" : true, arg);
      continue;
    }

    if (arg.length > 1 && arg.startsWith("-")) {
      if (parseShortGroup(arg, strings, set)) continue;
      const key = arg.slice(-1);
      if (key === "-") continue;
      if (next) {
        const takesValue = !FLAG_LIKE.test(next) && !booleans.has(key) && !isBooleanOption(key);
        if (takesValue || isBooleanText(next)) {
          set(key, takesValue ? next : next !== "false", arg);
          i++;
          continue;
        }
      }
      set(key, strings.has(key) ? "" : true, arg);
      continue;
    }

    if (unknown(arg) !== false) {
      result._.push(strings.has("_") || !isNumeric(arg) ? arg : Number(arg));
    }
    if (stopEarly) {
      result._.push(...parsed.slice(i + 1));
      break;
    }
  }

  for (const [key, value] of Object.entries(defaults)) {
    if (hasPath(result, key.split("."))) continue;
    setPath(result, key.split("."), value);
    for (const other of aliases.get(key) ?? []) setPath(result, other.split("."), value);
  }
  for (const key of booleans) {
    if (!hasPath(result, key.split("."))) {
      setPath(result, key.split("."), collects.has(key) ? [] : false);
    }
  }
  for (const key of strings) {
    if (collects.has(key) && !hasPath(result, key.split("."))) setPath(result, key.split("."), []);
  }

  if (doubleDash) result["--"] = unparsed;
  else result._.push(...unparsed);
  return result;
}

/**
 * Reads the letters of a short option group such as `-abc`, `-n5` or
 * `-o=file`, except the last letter when it may take the next argument.
 * Returns `true` when the group consumed its own value.
 */
function parseShortGroup(
  arg: string,
  strings: Set<string>,
  set: (key: string, value: Value, arg: string) => void,
): boolean {
  const letters = arg.slice(1, -1).split("");
  for (const [j, letter] of letters.entries()) {
    const rest = arg.slice(j + 2);
    if (rest === "-") {
      set(letter, rest, arg);
      continue;
    }
    if (LETTER.test(letter)) {
      const inline = INLINE_VALUE.exec(rest)?.groups?.value;
      if (inline !== undefined) {
        set(letter, inline, arg);
        return true;
      }
      if (NUMERIC_TAIL.test(rest)) {
        set(letter, rest, arg);
        return true;
      }
    }
    if (NON_WORD.test(letters[j + 1] ?? "")) {
      set(letter, rest, arg);
      return true;
    }
    set(letter, strings.has(letter) ? "" : true, arg);
  }
  return false;
}
