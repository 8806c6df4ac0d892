/**
 * Offline stand-in for the JSR package `@std/assert`, used when jsr.io cannot
 * be reached (see `task.ts` beside this file).
 *
 * It implements these `@std/assert` exports with the same names, signatures
 * and pass/fail semantics: {@linkcode AssertionError}, {@linkcode assert},
 * {@linkcode assertFalse}, {@linkcode assertEquals},
 * {@linkcode assertNotEquals}, {@linkcode assertStrictEquals},
 * {@linkcode assertNotStrictEquals}, {@linkcode assertExists},
 * {@linkcode assertInstanceOf}, {@linkcode assertNotInstanceOf},
 * {@linkcode assertMatch}, {@linkcode assertNotMatch},
 * {@linkcode assertStringIncludes}, {@linkcode assertArrayIncludes},
 * {@linkcode assertObjectMatch}, {@linkcode assertGreater},
 * {@linkcode assertGreaterOrEqual}, {@linkcode assertLess},
 * {@linkcode assertLessOrEqual}, {@linkcode assertAlmostEquals},
 * {@linkcode assertThrows}, {@linkcode assertRejects}, {@linkcode fail},
 * {@linkcode unreachable} and {@linkcode equal}.
 *
 * Failed equality assertions show a line diff of the two values as
 * `Deno.inspect` prints them.
 *
 * ```ts
 * import { assert, assertEquals, assertThrows } from "@std/assert";
 *
 * assert("I am truthy");
 * assertEquals({ a: [1, 2] }, { a: [1, 2] });
 * assertThrows(() => assertEquals(1, 2));
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------
// Errors and message helpers

/**
 * The error every failed assertion throws.
 *
 * @example Usage
 * ```ts
 * import { AssertionError } from "@std/assert";
 *
 * const error = new AssertionError("foo", { cause: "bar" });
 * error.name; // "AssertionError"
 * ```
 */
export class AssertionError extends Error {
  /**
   * Creates an assertion error.
   *
   * @param message The error message.
   * @param options Error options such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AssertionError";
  }
}

/** `": msg"` when a custom message was given, `"."` otherwise. */
function suffix(msg: string | undefined): string {
  return msg ? `: ${msg}` : ".";
}

/** Prints a value the way failure messages show it: sorted, expanded, unabridged. */
function format(value: unknown): string {
  return Deno.inspect(value, {
    depth: Infinity,
    sorted: true,
    trailingComma: true,
    compact: false,
    iterableLimit: Infinity,
    getters: true,
    strAbbreviateSize: Infinity,
  });
}

function paint(open: number, close: number): (text: string) => string {
  return (text) => Deno.noColor ? text : `\x1b[${open}m${text}\x1b[${close}m`;
}
const bold = paint(1, 22);
const red = paint(31, 39);
const green = paint(32, 39);
const gray = paint(90, 39);

// deno-lint-ignore no-control-regex
const ANSI_CODE = /[\u001b\u009b][[\]()#;?]*(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PR-TZcf-nq-uy=><~]/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI_CODE, "");
}

// ---------------------------------------------------------------------------
// Line diff

type DiffLine = { type: "common" | "removed" | "added"; value: string };

/** Above this many table cells the diff gives up on alignment. */
const MAX_DIFF_CELLS = 4_000_000;

/** Aligns two lists of lines on their longest common subsequence. */
function diffLines(actual: string[], expected: string[]): DiffLine[] {
  let start = 0;
  while (
    start < actual.length && start < expected.length && actual[start] === expected[start]
  ) start++;
  let endA = actual.length;
  let endE = expected.length;
  while (endA > start && endE > start && actual[endA - 1] === expected[endE - 1]) {
    endA--;
    endE--;
  }
  const a = actual.slice(start, endA);
  const e = expected.slice(start, endE);
  const lines: DiffLine[] = actual.slice(0, start).map((value) => ({ type: "common", value }));
  const removed = (value: string) => lines.push({ type: "removed", value });
  const added = (value: string) => lines.push({ type: "added", value });

  if (a.length * e.length > MAX_DIFF_CELLS) {
    a.forEach(removed);
    e.forEach(added);
  } else {
    // lcs[i * width + j] = length of the longest common subsequence of a[i..] and e[j..]
    const width = e.length + 1;
    const lcs = new Uint32Array((a.length + 1) * width);
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = e.length - 1; j >= 0; j--) {
        lcs[i * width + j] = a[i] === e[j]
          ? lcs[(i + 1) * width + j + 1]! + 1
          : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < a.length && j < e.length) {
      if (a[i] === e[j]) {
        lines.push({ type: "common", value: a[i++]! });
        j++;
      } else if (lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!) {
        removed(a[i++]!);
      } else {
        added(e[j++]!);
      }
    }
    a.slice(i).forEach(removed);
    e.slice(j).forEach(added);
  }
  for (const value of actual.slice(endA)) lines.push({ type: "common", value });
  return lines;
}

/** The diff block appended to equality failures. */
function diffMessage(actual: string, expected: string): string {
  const lines = diffLines(actual.split("\n"), expected.split("\n")).map(({ type, value }) => {
    if (type === "removed") return red(bold(`-   ${value}`));
    if (type === "added") return green(bold(`+   ${value}`));
    return `    ${value}`;
  });
  const header = `    ${gray(bold("[Diff]"))} ${red(bold("Actual"))} / ${green(bold("Expected"))}`;
  return ["", "", header, "", "", ...lines, ""].join("\n");
}

/** Diffs strings by their lines, anything else by its formatted lines. */
function describeDifference(actual: unknown, expected: unknown): string {
  if (typeof actual === "string" && typeof expected === "string") {
    return diffMessage(actual, expected);
  }
  return diffMessage(format(actual), format(expected));
}

// ---------------------------------------------------------------------------
// Deep equality

const TypedArray = Object.getPrototypeOf(Uint8Array);

/** Prototypes whose instances are equal exactly when their strings are. */
const STRING_COMPARABLE: Set<unknown> = new Set(
  [
    RegExp,
    URL,
    URLSearchParams,
    Intl.Locale,
    ...Object.values((globalThis as { Temporal?: Record<string, unknown> }).Temporal ?? {}),
  ]
    .filter((ctor): ctor is { prototype: unknown } => typeof ctor === "function")
    .map((ctor) => ctor.prototype),
);

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== "object" && typeof value !== "function");
}

function samePrototype(a: object, b: object): boolean {
  const pa = Object.getPrototypeOf(a);
  const pb = Object.getPrototypeOf(b);
  return pa === pb || (pa === null && pb === Object.prototype) ||
    (pa === Object.prototype && pb === null);
}

function isPlainObjectOrArray(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || proto === Array.prototype;
}

/** Own string and symbol keys, enumerable or not. */
function ownKeys(value: object): Array<string | symbol> {
  return [...Object.getOwnPropertyNames(value), ...Object.getOwnPropertySymbols(value)];
}

/** Every key along the prototype chain, stopping at the built-in object and array prototypes. */
function chainKeys(value: object | null, keys = new Set<string | symbol>()): Set<string | symbol> {
  while (value !== null && value !== Object.prototype && value !== Array.prototype) {
    for (const key of ownKeys(value)) keys.add(key);
    value = Object.getPrototypeOf(value);
  }
  return keys;
}

function sameElements(a: ArrayLike<unknown>, b: ArrayLike<unknown>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !Object.is(a[i], b[i])) return false;
  }
  return true;
}

function isBuffer(value: object): value is ArrayBuffer | SharedArrayBuffer {
  return value instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer);
}

function collectionsEqual(
  a: Map<unknown, unknown> | Set<unknown>,
  b: Map<unknown, unknown> | Set<unknown>,
  compare: (x: unknown, y: unknown) => boolean,
): boolean {
  if (a.size !== b.size) return false;
  const keys = [...a.keys()];
  if (keys.every(isPrimitive)) {
    if (a instanceof Set) return keys.every((key) => b.has(key));
    return keys.every((key) =>
      b.has(key) && compare(a.get(key), (b as Map<unknown, unknown>).get(key))
    );
  }
  const isSet = a instanceof Set;
  let unmatched = a.size;
  for (const [aKey, aValue] of a.entries()) {
    for (const [bKey, bValue] of b.entries()) {
      if (compare(aKey, bKey) && (isSet || compare(aValue, bValue))) {
        unmatched--;
        break;
      }
    }
  }
  return unmatched === 0;
}

/**
 * Deep equality as the assertions use it: `NaN` equals `NaN`, `0` equals
 * `-0`, objects must share a prototype, and Dates, RegExps, URLs, typed
 * arrays, ArrayBuffers, Maps and Sets compare by content.
 *
 * @param a The actual value.
 * @param b The expected value.
 * @returns Whether the values are deeply equal.
 * @throws {TypeError} When asked to compare `WeakMap` or `WeakSet` instances.
 *
 * @example Usage
 * ```ts
 * import { assert, assertFalse, equal } from "@std/assert";
 *
 * assert(equal({ foo: "bar" }, { foo: "bar" }));
 * assertFalse(equal({ foo: "bar" }, { foo: "baz" }));
 * ```
 */
export function equal(a: unknown, b: unknown): boolean {
  const seen = new Map<object, object>();
  const compare = (a: unknown, b: unknown): boolean => {
    if (a === b || Object.is(a, b)) return true;
    if (isPrimitive(a) || isPrimitive(b)) return false;
    if (a instanceof Date && b instanceof Date) return Object.is(a.getTime(), b.getTime());
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (!samePrototype(a, b)) return false;

    if (a instanceof TypedArray) {
      return sameElements(a as ArrayLike<unknown>, b as ArrayLike<unknown>);
    }
    if (isBuffer(a)) {
      return sameElements(new Uint8Array(a), new Uint8Array(b as ArrayBuffer));
    }
    if (a instanceof WeakMap) throw new TypeError("Cannot compare WeakMap instances");
    if (a instanceof WeakSet) throw new TypeError("Cannot compare WeakSet instances");
    if (a instanceof WeakRef) return compare(a.deref(), (b as WeakRef<WeakKey>).deref());

    if (seen.get(a) === b) return true;
    if (Object.keys(a).length !== Object.keys(b).length) return false;
    seen.set(a, b);

    if ((a instanceof Map || a instanceof Set) && (b instanceof Map || b instanceof Set)) {
      return collectionsEqual(a, b, compare);
    }

    let keys: Iterable<string | symbol>;
    if (isPlainObjectOrArray(a)) {
      keys = ownKeys({ ...a, ...b });
    } else if (STRING_COMPARABLE.has(Object.getPrototypeOf(a))) {
      return String(a) === String(b);
    } else {
      keys = chainKeys(b, chainKeys(a));
    }
    const recordA = a as Record<string | symbol, unknown>;
    const recordB = b as Record<string | symbol, unknown>;
    for (const key of keys) {
      if (!compare(recordA[key], recordB[key])) return false;
      if ((key in a) !== (key in b)) return false;
    }
    return true;
  };
  return compare(a, b);
}

// ---------------------------------------------------------------------------
// Truthiness and existence

/**
 * Asserts that `expr` is truthy.
 *
 * @param expr The expression to test.
 * @param msg The message to throw with.
 *
 * @example Usage
 * ```ts
 * import { assert, assertThrows } from "@std/assert";
 *
 * assert("I am truthy");
 * assertThrows(() => assert(false));
 * ```
 */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg);
}

/** The values `assertFalse` accepts. */
export type Falsy = false | 0 | 0n | "" | null | undefined;

/**
 * Asserts that `expr` is falsy.
 *
 * @param expr The expression to test.
 * @param msg The message to throw with.
 *
 * @example Usage
 * ```ts
 * import { assertFalse, assertThrows } from "@std/assert";
 *
 * assertFalse(0);
 * assertThrows(() => assertFalse(true));
 * ```
 */
export function assertFalse(expr: unknown, msg = ""): asserts expr is Falsy {
  if (expr) throw new AssertionError(msg);
}

/**
 * Asserts that `actual` is neither `null` nor `undefined`.
 *
 * @param actual The value to check.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertExists, assertThrows } from "@std/assert";
 *
 * assertExists("something");
 * assertThrows(() => assertExists(undefined));
 * ```
 */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) {
    throw new AssertionError(
      `Expected actual: "${actual}" to not be null or undefined${suffix(msg)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Equality

/**
 * Asserts that `actual` and `expected` are deeply equal (see
 * {@linkcode equal}); the failure message holds a diff of the two.
 *
 * @param actual The actual value.
 * @param expected The expected value.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals({ hello: "world" }, { hello: "world" });
 * assertThrows(() => assertEquals("hello", "world"));
 * ```
 */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) return;
  throw new AssertionError(
    `Values are not equal${suffix(msg)}\n${describeDifference(actual, expected)}`,
  );
}

/**
 * Asserts that `actual` and `expected` are not deeply equal.
 *
 * @param actual The actual value.
 * @param expected The value `actual` must differ from.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertNotEquals, assertThrows } from "@std/assert";
 *
 * assertNotEquals(1, 2);
 * assertThrows(() => assertNotEquals([1], [1]));
 * ```
 */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) return;
  throw new AssertionError(
    `Expected actual: ${format(actual)} not to be: ${format(expected)}${suffix(msg)}`,
  );
}

/**
 * Asserts that `actual` and `expected` are the same value by `Object.is`.
 *
 * @param actual The actual value.
 * @param expected The expected value.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertStrictEquals, assertThrows } from "@std/assert";
 *
 * const a = {};
 * assertStrictEquals(a, a);
 * assertThrows(() => assertStrictEquals({}, {}));
 * ```
 */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  if (Object.is(actual, expected)) return;
  const actualText = format(actual);
  if (actualText === format(expected)) {
    const indented = actualText.split("\n").map((line) => `    ${line}`).join("\n");
    throw new AssertionError(
      `Values have the same structure but are not reference-equal${suffix(msg)}\n\n${
        red(indented)
      }\n`,
    );
  }
  throw new AssertionError(
    `Values are not strictly equal${suffix(msg)}\n${describeDifference(actual, expected)}`,
  );
}

/**
 * Asserts that `actual` and `expected` are not the same value by `Object.is`.
 *
 * @param actual The actual value.
 * @param expected The value `actual` must not be.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertNotStrictEquals, assertThrows } from "@std/assert";
 *
 * assertNotStrictEquals(0, -0);
 * assertThrows(() => assertNotStrictEquals(1, 1));
 * ```
 */
export function assertNotStrictEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!Object.is(actual, expected)) return;
  throw new AssertionError(
    `Expected "actual" to not be strictly equal to: ${format(actual)}${suffix(msg)}\n`,
  );
}

/**
 * Asserts that `actual` and `expected` differ by at most `tolerance`, which
 * defaults to a ten-millionth of `expected`.
 *
 * @param actual The actual number.
 * @param expected The expected number.
 * @param tolerance The largest accepted difference.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertAlmostEquals, assertThrows } from "@std/assert";
 *
 * assertAlmostEquals(0.1 + 0.2, 0.3);
 * assertAlmostEquals(0.01, 0.02, 0.1);
 * assertThrows(() => assertAlmostEquals(0.01, 0.02));
 * ```
 */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance?: number,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  const limit = tolerance ?? (Number.isFinite(expected) ? Math.abs(expected * 1e-7) : 1e-7);
  if (delta <= limit) return;
  const show = (n: number) => Number.isInteger(n) ? String(n) : n.toExponential();
  throw new AssertionError(
    `Expected actual: "${show(actual)}" to be close to "${show(expected)}": delta "${
      show(delta)
    }" is greater than "${show(limit)}"${suffix(msg)}`,
  );
}

// ---------------------------------------------------------------------------
// Types

/**
 * Asserts that `actual` is an instance of `expectedType`.
 *
 * @param actual The value to check.
 * @param expectedType The class `actual` must be an instance of.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertInstanceOf, assertThrows } from "@std/assert";
 *
 * assertInstanceOf(new Date(), Date);
 * assertThrows(() => assertInstanceOf(new Date(), Number));
 * ```
 */
export function assertInstanceOf<
  // deno-lint-ignore no-explicit-any
  T extends abstract new (...args: any[]) => any,
>(actual: unknown, expectedType: T, msg = ""): asserts actual is InstanceType<T> {
  if (actual instanceof expectedType) return;
  const expectedName = expectedType.name;
  let actualName: string;
  if (actual === null) actualName = "null";
  else if (actual === undefined) actualName = "undefined";
  else if (typeof actual === "object") actualName = actual.constructor?.name ?? "Object";
  else actualName = typeof actual;

  let message = `Expected object to be an instance of "${expectedName}"`;
  if (actualName === "function") message += " but was not an instanced object";
  else if (actualName !== expectedName) message += ` but was "${actualName}"`;
  throw new AssertionError(message + suffix(msg));
}

/**
 * Asserts that `actual` is not an instance of `unexpectedType`.
 *
 * @param actual The value to check.
 * @param unexpectedType The class `actual` must not be an instance of.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertNotInstanceOf, assertThrows } from "@std/assert";
 *
 * assertNotInstanceOf(new Date(), Number);
 * assertThrows(() => assertNotInstanceOf(new Date(), Date));
 * ```
 */
export function assertNotInstanceOf<A, T>(
  actual: A,
  // deno-lint-ignore no-explicit-any
  unexpectedType: abstract new (...args: any[]) => T,
  msg?: string,
): asserts actual is Exclude<A, T> {
  if (!(actual instanceof unexpectedType)) return;
  throw new AssertionError(
    `Expected object to not be an instance of "${unexpectedType.name}"${suffix(msg)}`,
  );
}

// ---------------------------------------------------------------------------
// Strings and patterns

/**
 * Asserts that `actual` matches the pattern `expected`.
 *
 * @param actual The string to test.
 * @param expected The pattern it must match.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertMatch, assertThrows } from "@std/assert";
 *
 * assertMatch("Raptor", /Raptor/);
 * assertThrows(() => assertMatch("Denosaurus", /Raptor/));
 * ```
 */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (expected.test(actual)) return;
  throw new AssertionError(`Expected actual: "${actual}" to match: "${expected}"${suffix(msg)}`);
}

/**
 * Asserts that `actual` does not match the pattern `expected`.
 *
 * @param actual The string to test.
 * @param expected The pattern it must not match.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertNotMatch, assertThrows } from "@std/assert";
 *
 * assertNotMatch("Denosaurus", /Raptor/);
 * assertThrows(() => assertNotMatch("Raptor", /Raptor/));
 * ```
 */
export function assertNotMatch(actual: string, expected: RegExp, msg?: string): void {
  if (!expected.test(actual)) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to not match: "${expected}"${suffix(msg)}`,
  );
}

/**
 * Asserts that `actual` contains the substring `expected`.
 *
 * @param actual The string to search.
 * @param expected The substring it must contain.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertStringIncludes, assertThrows } from "@std/assert";
 *
 * assertStringIncludes("Hello", "ello");
 * assertThrows(() => assertStringIncludes("Hello", "world"));
 * ```
 */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (actual.includes(expected)) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to contain: "${expected}"${suffix(msg)}`,
  );
}

// ---------------------------------------------------------------------------
// Collections

/** An array-like value (`Array`, `Uint8Array`, …) that is not a string. */
export type ArrayLikeArg<T> = ArrayLike<T> & object;

/**
 * Asserts that `actual` contains every item of `expected`, comparing objects
 * deeply.
 *
 * @param actual The array-like value to search.
 * @param expected The items it must contain.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertArrayIncludes, assertThrows } from "@std/assert";
 *
 * assertArrayIncludes([1, 2, 3], [2, 3]);
 * assertArrayIncludes([{ a: 1 }, { b: 2 }], [{ a: 1 }]);
 * assertThrows(() => assertArrayIncludes([1, 2, 3], [4]));
 * ```
 */
export function assertArrayIncludes<T>(
  actual: ArrayLikeArg<T>,
  expected: ArrayLikeArg<NoInfer<T>>,
  msg?: string,
): void {
  const items = Array.from(actual);
  const missing = Array.from(expected).filter((wanted) =>
    isPrimitive(wanted) ? !items.includes(wanted) : !items.some((item) => equal(wanted, item))
  );
  if (missing.length === 0) return;
  throw new AssertionError(
    `Expected actual: "${format(actual)}" to include: "${format(expected)}"${
      suffix(msg)
    }\nmissing: ${format(missing)}`,
  );
}

type Loose = Record<PropertyKey, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === "object" && value !== null;
}

function defineEntry(target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * The part of `actual` that `pattern` describes: the keys both share, with
 * nested objects, arrays, Maps and Sets narrowed the same way.
 */
function project(actual: Loose, pattern: Loose): Loose {
  const seen = new WeakMap<object, object>();

  const narrow = (value: unknown, subset: unknown): unknown => {
    if (value instanceof RegExp) return value;
    if (Array.isArray(value) && Array.isArray(subset)) return narrowArray(value, subset);
    if (!isObject(value) || !isObject(subset)) return value;
    if (value instanceof Map && subset instanceof Map) {
      return new Map(
        [...value].filter(([key]) => subset.has(key)).map(([key, item]) => {
          const other = subset.get(key);
          return [key, isObject(item) && isObject(other) ? narrowObject(item, other) : item];
        }),
      );
    }
    if (value instanceof Set && subset instanceof Set) return value.intersection(subset);
    return narrowObject(value, subset);
  };

  const narrowArray = (value: unknown[], subset: unknown[]): unknown[] => {
    if (seen.get(value) === subset) return value;
    seen.set(value, subset);
    const length = Math.min(value.length, subset.length);
    return value.slice(0, length).map((item, i) => narrow(item, subset[i]));
  };

  const narrowObject = (value: Loose, subset: Loose): Loose => {
    if (seen.get(value) === subset) return value;
    seen.set(value, subset);
    const result: Loose = {};
    const valueKeys = Reflect.ownKeys(value);
    const subsetKeys = new Set(Reflect.ownKeys(subset));
    const shared = valueKeys.filter((key) => subsetKeys.has(key));
    if (valueKeys.length > 0 && subsetKeys.size > 0 && shared.length === 0) {
      for (const key of valueKeys) defineEntry(result, key, value[key]);
      return result;
    }
    for (const key of shared) defineEntry(result, key, narrow(value[key], subset[key]));
    return result;
  };

  return narrowObject(actual, pattern);
}

/**
 * Asserts that `expected` is a subset of `actual`, deeply: every key of
 * `expected` must be present in `actual` with a matching value, while extra
 * keys of `actual` are ignored.
 *
 * @param actual The object to check.
 * @param expected The subset it must contain.
 * @param msg A message to add to the failure.
 *
 * @example Usage
 * ```ts
 * import { assertObjectMatch, assertThrows } from "@std/assert";
 *
 * assertObjectMatch({ foo: 1, bar: 2 }, { foo: 1 });
 * assertObjectMatch({ foo: { bar: 3, baz: 4 } }, { foo: { bar: 3 } });
 * assertThrows(() => assertObjectMatch({ foo: 1 }, { foo: 1, bar: 2 }));
 * ```
 */
export function assertObjectMatch(
  // deno-lint-ignore no-explicit-any
  actual: Record<PropertyKey, any>,
  expected: Record<PropertyKey, unknown>,
  msg?: string,
): void {
  for (const value of [actual, expected]) {
    if (!isObject(value) && typeof value !== "function") {
      throw new TypeError(
        `Cannot assertObjectMatch ${value === null ? null : `type ${typeof value}`}`,
      );
    }
  }
  assertEquals(project(actual, expected), project(expected, expected), msg);
}

// ---------------------------------------------------------------------------
// Ordering

/**
 * Asserts that `actual > expected`.
 *
 * @param actual The actual value.
 * @param expected The value `actual` must exceed.
 * @param msg The message to throw with instead of the default one.
 *
 * @example Usage
 * ```ts
 * import { assertGreater, assertThrows } from "@std/assert";
 *
 * assertGreater(2, 1);
 * assertThrows(() => assertGreater(1, 1));
 * ```
 */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (actual > expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} > ${format(expected)}`);
}

/**
 * Asserts that `actual >= expected`.
 *
 * @param actual The actual value.
 * @param expected The value `actual` must reach.
 * @param msg The message to throw with instead of the default one.
 *
 * @example Usage
 * ```ts
 * import { assertGreaterOrEqual, assertThrows } from "@std/assert";
 *
 * assertGreaterOrEqual(1, 1);
 * assertThrows(() => assertGreaterOrEqual(0, 1));
 * ```
 */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (actual >= expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} >= ${format(expected)}`);
}

/**
 * Asserts that `actual < expected`.
 *
 * @param actual The actual value.
 * @param expected The value `actual` must stay under.
 * @param msg The message to throw with instead of the default one.
 *
 * @example Usage
 * ```ts
 * import { assertLess, assertThrows } from "@std/assert";
 *
 * assertLess(1, 2);
 * assertThrows(() => assertLess(2, 1));
 * ```
 */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (actual < expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} < ${format(expected)}`);
}

/**
 * Asserts that `actual <= expected`.
 *
 * @param actual The actual value.
 * @param expected The value `actual` must not exceed.
 * @param msg The message to throw with instead of the default one.
 *
 * @example Usage
 * ```ts
 * import { assertLessOrEqual, assertThrows } from "@std/assert";
 *
 * assertLessOrEqual(1, 1);
 * assertThrows(() => assertLessOrEqual(2, 1));
 * ```
 */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (actual <= expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} <= ${format(expected)}`);
}

// ---------------------------------------------------------------------------
// Throwing and rejecting

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

function isErrorClass(value: unknown): value is ErrorClass<Error> {
  if (typeof value !== "function") return false;
  return value.prototype instanceof Error || value.prototype === Error.prototype;
}

/** Checks a caught error against the class and message text an assertion expects. */
function checkError(
  error: unknown,
  errorClass: ErrorClass<Error>,
  msgIncludes: string | undefined,
  msg: string | undefined,
  verb: "thrown" | "rejected",
): void {
  if (!(error instanceof Error)) {
    throw new AssertionError(`A non-Error object was ${verb}${suffix(msg)}`);
  }
  if (!(error instanceof errorClass)) {
    throw new AssertionError(
      `Expected error to be instance of "${errorClass.name}", but was "${
        (error as Error).constructor?.name
      }"${suffix(msg)}`,
    );
  }
  if (msgIncludes && !stripAnsi(error.message).includes(stripAnsi(msgIncludes))) {
    throw new AssertionError(
      `Expected error message to include ${JSON.stringify(msgIncludes)}, but got ${
        JSON.stringify(error.message)
      }${suffix(msg)}`,
    );
  }
}

/**
 * Calls `fn` and asserts that it throws.
 *
 * @param fn The function that must throw.
 * @param msg A message to add to the failure.
 * @returns The thrown value.
 *
 * @example Usage
 * ```ts
 * import { assertThrows } from "@std/assert";
 *
 * assertThrows(() => {
 *   throw new TypeError("hello world!");
 * });
 * ```
 */
export function assertThrows(fn: () => unknown, msg?: string): unknown;
/**
 * Calls `fn` and asserts that it throws an instance of `ErrorClass` whose
 * message includes `msgIncludes`.
 *
 * @param fn The function that must throw.
 * @param ErrorClass The class the error must be an instance of.
 * @param msgIncludes Text the error message must contain.
 * @param msg A message to add to the failure.
 * @returns The thrown error.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * const error = assertThrows(() => {
 *   throw new TypeError("hello world!");
 * }, TypeError, "hello");
 * assertEquals(error.message, "hello world!");
 * ```
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  msgIncludes?: string,
  msg?: string,
): E;
export function assertThrows(
  fn: () => unknown,
  classOrMsg?: ErrorClass<Error> | string,
  msgIncludesOrMsg?: string,
  msg?: string,
): unknown {
  let errorClass: ErrorClass<Error> | undefined;
  let msgIncludes: string | undefined;
  if (typeof classOrMsg === "string") {
    msg = classOrMsg;
  } else if (classOrMsg === undefined || isErrorClass(classOrMsg)) {
    errorClass = classOrMsg;
    msgIncludes = msgIncludesOrMsg;
  } else {
    msg = msgIncludesOrMsg;
  }
  try {
    fn();
  } catch (error) {
    if (errorClass) checkError(error, errorClass, msgIncludes, msg, "thrown");
    return error;
  }
  throw new AssertionError(`Expected function to throw${suffix(msg)}`);
}

/**
 * Calls `fn` and asserts that the promise it returns rejects.
 *
 * @param fn The function whose promise must reject.
 * @param msg A message to add to the failure.
 * @returns The rejection reason.
 *
 * @example Usage
 * ```ts
 * import { assertRejects } from "@std/assert";
 *
 * await assertRejects(() => Promise.reject(new Error("nope")));
 * ```
 */
export function assertRejects(fn: () => PromiseLike<unknown>, msg?: string): Promise<unknown>;
/**
 * Calls `fn` and asserts that the promise it returns rejects with an instance
 * of `ErrorClass` whose message includes `msgIncludes`.
 *
 * @param fn The function whose promise must reject.
 * @param ErrorClass The class the error must be an instance of.
 * @param msgIncludes Text the error message must contain.
 * @param msg A message to add to the failure.
 * @returns The rejection error.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * const error = await assertRejects(
 *   () => Promise.reject(new RangeError("too far")),
 *   RangeError,
 *   "far",
 * );
 * assertEquals(error.message, "too far");
 * ```
 */
export function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  msgIncludes?: string,
  msg?: string,
): Promise<E>;
export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  classOrMsg?: ErrorClass<Error> | string,
  msgIncludesOrMsg?: string,
  msg?: string,
): Promise<unknown> {
  let errorClass: ErrorClass<Error> | undefined;
  let msgIncludes: string | undefined;
  if (typeof classOrMsg === "string") {
    msg = classOrMsg;
  } else if (classOrMsg === undefined || isErrorClass(classOrMsg)) {
    errorClass = classOrMsg;
    msgIncludes = msgIncludesOrMsg;
  }
  let pending: unknown;
  try {
    pending = fn();
  } catch {
    throw new AssertionError(`Function throws when expected to reject${suffix(msg)}`);
  }
  if (
    typeof pending !== "object" || pending === null ||
    typeof (pending as PromiseLike<unknown>).then !== "function"
  ) {
    throw new AssertionError(`Function throws when expected to reject${suffix(msg)}`);
  }
  try {
    await pending;
  } catch (error) {
    if (errorClass) checkError(error, errorClass, msgIncludes, msg, "rejected");
    return error;
  }
  throw new AssertionError(`Expected function to reject${suffix(msg)}`);
}

// ---------------------------------------------------------------------------
// Unconditional failures

/**
 * Throws an `AssertionError` unconditionally.
 *
 * @param msg A message to add to the failure.
 * @returns Never returns.
 *
 * @example Usage
 * ```ts
 * import { assertThrows, fail } from "@std/assert";
 *
 * assertThrows(() => fail("Deliberately failed!"));
 * ```
 */
export function fail(msg?: string): never {
  throw new AssertionError(`Failed assertion${suffix(msg)}`);
}

/**
 * Marks code that must never run; throws an `AssertionError` if it does.
 *
 * @param msg A message to add to the failure.
 * @returns Never returns.
 *
 * @example Usage
 * ```ts
 * import { assertThrows, unreachable } from "@std/assert";
 *
 * assertThrows(() => unreachable());
 * ```
 */
export function unreachable(msg?: string): never {
  throw new AssertionError(`Unreachable${suffix(msg)}`);
}
