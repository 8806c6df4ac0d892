import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { type Args, parseArgs, type ParseOptions } from "@std/cli";

interface Case {
  name: string;
  args: string[];
  options?: ParseOptions;
  expected: Args;
}

async function runCases(t: Deno.TestContext, cases: Case[]): Promise<void> {
  for (const { name, args, options, expected } of cases) {
    await t.step(name, () => {
      assertEquals(parseArgs(args, options), expected);
    });
  }
}

Deno.test("parseArgs() follows the @std/cli documentation examples", async (t) => {
  await runCases(t, [
    {
      name: "flags, inline values and positionals",
      args: ["--foo", "--bar=baz", "./quux.txt"],
      expected: { foo: true, bar: "baz", _: ["./quux.txt"] },
    },
    {
      name: "string and boolean options",
      args: ["--foo", "--bar", "baz"],
      options: { boolean: ["foo"], string: ["bar"] },
      expected: { foo: true, bar: "baz", _: [] },
    },
    {
      name: "collect gathers every occurrence",
      args: ["--foo", "bar", "--foo", "baz"],
      options: { collect: ["foo"] },
      expected: { foo: ["bar", "baz"], _: [] },
    },
    {
      name: "negatable --no-foo sets false",
      args: ["--no-foo"],
      options: { boolean: ["foo"], negatable: ["foo"] },
      expected: { foo: false, _: [] },
    },
    {
      name: "arguments after -- go to _ by default",
      args: ["--", "a", "arg1"],
      options: { "--": false },
      expected: { _: ["a", "arg1"] },
    },
    {
      name: "arguments after -- go to their own array with { '--': true }",
      args: ["--", "a", "arg1"],
      options: { "--": true },
      expected: { _: [], "--": ["a", "arg1"] },
    },
  ]);
});

Deno.test("parseArgs() reads long and short options", async (t) => {
  await runCases(t, [
    { name: "bare long flag", args: ["--bool"], expected: { bool: true, _: [] } },
    {
      name: "long option with a separate value",
      args: ["--pow", "xixxle"],
      expected: { pow: "xixxle", _: [] },
    },
    {
      name: "long option with an inline value",
      args: ["--host=localhost", "--port=555"],
      expected: { host: "localhost", port: 555, _: [] },
    },
    {
      name: "inline value keeps later = signs",
      args: ["--foo=---=\\n--+34-=/="],
      expected: { foo: "---=\\n--+34-=/=", _: [] },
    },
    { name: "single short flag", args: ["-b"], expected: { b: true, _: [] } },
    {
      name: "grouped short flags",
      args: ["-cats"],
      expected: { c: true, a: true, t: true, s: true, _: [] },
    },
    {
      name: "last letter of a group takes the next argument",
      args: ["-cats", "meow"],
      expected: { c: true, a: true, t: true, s: "meow", _: [] },
    },
    {
      name: "short options with values",
      args: ["-h", "localhost", "-fp", "555", "script.js"],
      expected: { f: true, p: 555, h: "localhost", _: ["script.js"] },
    },
    { name: "short option with =", args: ["-b=123"], expected: { b: 123, _: [] } },
    {
      name: "several short options with =",
      args: ["-a=whatever", "-b=robots", "-f=abc=def", "-e=="],
      expected: { a: "whatever", b: "robots", f: "abc=def", e: "=", _: [] },
    },
    { name: "short option glued to a number", args: ["-n123"], expected: { n: 123, _: [] } },
    {
      name: "digits are short flags too",
      args: ["-123", "456"],
      expected: { 1: true, 2: true, 3: 456, _: [] },
    },
    {
      name: "a non-word character ends a group with a value",
      args: ["-xyz/foo/bar/baz"],
      expected: { x: true, y: true, z: "/foo/bar/baz", _: [] },
    },
    {
      name: "a lone hyphen is a value or a positional",
      args: ["-n", "-", "-"],
      expected: { n: "-", _: ["-"] },
    },
    { name: "a trailing hyphen is the group's value", args: ["-f-"], expected: { f: "-", _: [] } },
    {
      name: "the last occurrence wins",
      args: ["-v", "a", "-v", "b", "-v", "c"],
      expected: { v: "c", _: [] },
    },
    {
      name: "--no-x of a non-negatable option is its own flag",
      args: ["--no-moo"],
      expected: { "no-moo": true, _: [] },
    },
    {
      name: "dotted names nest",
      args: ["--foo.bar", "3", "--foo.quux.quibble", "5", "--foo.quux.oO", "--beep.boop"],
      expected: { foo: { bar: 3, quux: { quibble: 5, oO: true } }, beep: { boop: true }, _: [] },
    },
    {
      name: "built-in property names are plain options",
      args: ["--toString", "--valueOf", "foo"],
      expected: { toString: true, valueOf: "foo", _: [] },
    },
    {
      name: "values keep newlines",
      args: ["-s", "X\nX", "--t=Y\nY"],
      expected: { s: "X\nX", t: "Y\nY", _: [] },
    },
  ]);
});

Deno.test("parseArgs() converts numeric-looking values of non-string options", async (t) => {
  await t.step("integers, decimals, exponents and hex become numbers", () => {
    const args = parseArgs(["-x", "1234", "-y", "5.67", "-z", "1e7", "--hex", "0xdeadbeef", "789"]);
    assertEquals(args, { x: 1234, y: 5.67, z: 1e7, hex: 0xdeadbeef, _: [789] });
    assertStrictEquals(typeof args._[0], "number");
  });
  await t.step("other text stays a string", () => {
    assertEquals(parseArgs(["-w", "10f", "--port", "80a", "x1"]), {
      w: "10f",
      port: "80a",
      _: ["x1"],
    });
  });
  await t.step("string options keep leading zeros", () => {
    assertEquals(parseArgs(["-s", "0001234", "--x", "56"], { string: ["s", "x"] }), {
      s: "0001234",
      x: "56",
      _: [],
    });
  });
  await t.step('string: "_" keeps positionals as strings', () => {
    assertEquals(parseArgs(["  ", "42"], { string: "_" }), { _: ["  ", "42"] });
  });
  await t.step("arguments after -- are never converted", () => {
    assertEquals(parseArgs(["--", "1", "-x"]), { _: ["1", "-x"] });
  });
});

Deno.test("parseArgs() handles boolean options", async (t) => {
  await runCases(t, [
    {
      name: "boolean options do not take the next argument",
      args: ["-x", "-z", "one", "two"],
      options: { boolean: ["x", "y", "z"] },
      expected: { x: true, y: false, z: true, _: ["one", "two"] },
    },
    {
      name: "boolean options accept an explicit true or false",
      args: ["--verbose", "false", "moo", "-t", "true"],
      options: { boolean: ["t", "verbose"], default: { verbose: true } },
      expected: { verbose: false, t: true, _: ["moo"] },
    },
    {
      name: "--flag=false on a boolean option",
      args: ["--boool=false"],
      options: { boolean: ["boool"], default: { boool: true } },
      expected: { boool: false, _: [] },
    },
    {
      name: "--flag=true on a non-boolean option stays a string",
      args: ["--boool", "--other=true"],
      options: { boolean: "boool" },
      expected: { boool: true, other: "true", _: [] },
    },
    {
      name: "boolean: true affects only --name without =",
      args: ["moo", "--honk", "cow", "-p", "55", "--tacos=good"],
      options: { boolean: true },
      expected: { honk: true, tacos: "good", p: 55, _: ["moo", "cow"] },
    },
    {
      name: "an explicit value after a non-boolean option is a value",
      args: ["--no-foo", "--foo", "123"],
      options: { boolean: ["foo"], negatable: ["foo"] },
      expected: { foo: true, _: [123] },
    },
    {
      name: "the last of --foo and --no-foo wins",
      args: ["--foo", "--no-foo", "--foo", "--no-foo"],
      options: { boolean: ["foo"], negatable: ["foo"] },
      expected: { foo: false, _: [] },
    },
    {
      name: "string options given without a value are empty",
      args: ["-art", "--str"],
      options: { string: ["a", "t", "str"] },
      expected: { a: "", r: true, t: "", str: "", _: [] },
    },
  ]);
});

Deno.test("parseArgs() handles alias and default", async (t) => {
  await runCases(t, [
    {
      name: "an alias receives the same value",
      args: ["-f", "11", "--zoom", "55"],
      options: { alias: { z: "zoom" } },
      expected: { f: 11, z: 55, zoom: 55, _: [] },
    },
    {
      name: "a list of aliases",
      args: ["--zoom", "55"],
      options: { alias: { z: ["zm", "zoom"] } },
      expected: { z: 55, zm: 55, zoom: 55, _: [] },
    },
    {
      name: "boolean through an alias",
      args: ["-h", "derp"],
      options: { boolean: "herp", alias: { h: "herp" } },
      expected: { herp: true, h: true, _: ["derp"] },
    },
    {
      name: "string through an alias",
      args: ["--str", "000123"],
      options: { string: "s", alias: { s: "str" } },
      expected: { s: "000123", str: "000123", _: [] },
    },
    {
      name: "booleans and their aliases default to false",
      args: [],
      options: { string: ["foo"], boolean: ["bar"], alias: { bar: "b" } },
      expected: { bar: false, b: false, _: [] },
    },
    {
      name: "defaults fill absent options and their aliases",
      args: ["moo"],
      options: { default: { name: "world", n: 1 }, alias: { name: "N" } },
      expected: { name: "world", N: "world", n: 1, _: ["moo"] },
    },
    {
      name: "a given option overrides its default",
      args: ["--a.b", "22"],
      options: { default: { "a.b": 11 }, alias: { "a.b": "aa.bb" } },
      expected: { a: { b: 22 }, aa: { bb: 22 }, _: [] },
    },
    {
      name: "dotted defaults nest",
      args: [],
      options: { default: { "a.b": 11 } },
      expected: { a: { b: 11 }, _: [] },
    },
    {
      name: "a default of null on a boolean is kept",
      args: [],
      options: { boolean: "maybe", default: { maybe: null } },
      expected: { maybe: null, _: [] },
    },
  ]);
  await t.step("an undefined alias is a TypeError", () => {
    // Ill-typed on purpose: the check guards callers that bypass the types.
    const alias = { a: undefined } as never;
    assertThrows(() => parseArgs([], { alias }), TypeError);
  });
});

Deno.test("parseArgs() handles collect", async (t) => {
  await runCases(t, [
    {
      name: "collect defaults for declared options, collects unknown ones",
      args: [
        "--bool",
        "--bool",
        "--boolArr",
        "--str",
        "foo",
        "--strArr",
        "beep",
        "--unknown",
        "--unknownArr",
      ],
      options: {
        boolean: ["bool", "boolArr"],
        string: ["str", "strArr"],
        collect: ["boolArr", "strArr", "unknownArr"],
        alias: { bool: "b", strArr: "S", boolArr: "B" },
      },
      expected: {
        bool: true,
        b: true,
        boolArr: [true],
        B: [true],
        str: "foo",
        strArr: ["beep"],
        S: ["beep"],
        unknown: true,
        unknownArr: [true],
        _: [],
      },
    },
    {
      name: "collectable booleans and strings default to []",
      args: [],
      options: { boolean: ["b"], string: ["s"], collect: ["b", "s"] },
      expected: { b: [], s: [], _: [] },
    },
    {
      name: "a collect default is used as given",
      args: [],
      options: { collect: ["foo"], default: { foo: ["bar", "baz"] } },
      expected: { foo: ["bar", "baz"], _: [] },
    },
    {
      name: "--no-x replaces the collected values of a negatable option",
      args: ["--foo", "123", "-f", "456", "--no-foo"],
      options: { string: ["foo"], collect: ["foo"], negatable: ["foo"], alias: { foo: "f" } },
      expected: { foo: false, f: false, _: [] },
    },
  ]);
});

Deno.test("parseArgs() handles stopEarly and --", async (t) => {
  await runCases(t, [
    {
      name: "stopEarly leaves everything after the first positional unparsed",
      args: ["--aaa", "bbb", "ccc", "--ddd"],
      options: { stopEarly: true },
      expected: { aaa: "bbb", _: ["ccc", "--ddd"] },
    },
    {
      name: "-- ends options",
      args: ["-a", "--", "b", "--not-a-flag"],
      expected: { a: true, _: ["b", "--not-a-flag"] },
    },
    {
      name: 'with "--": true the rest goes to its own array',
      args: ["--name", "John", "before", "--", "after"],
      options: { "--": true },
      expected: { name: "John", _: ["before"], "--": ["after"] },
    },
    {
      name: 'with "--": true and no -- the array is empty',
      args: ["x"],
      options: { "--": true },
      expected: { _: ["x"], "--": [] },
    },
  ]);
});

Deno.test("parseArgs() calls unknown for undeclared options and positionals", async (t) => {
  const calls: Array<[string, string | undefined, unknown]> = [];
  const unknown = (arg: string, key?: string, value?: unknown) => {
    calls.push([arg, key, value]);
    return false;
  };

  await t.step("declared names and aliases are known", () => {
    const options: ParseOptions = { alias: { h: "herp" }, boolean: "h", unknown };
    calls.length = 0;
    assertEquals(parseArgs(["-h", "true", "--derp", "true"], options), {
      h: true,
      herp: true,
      _: [],
    });
    assertEquals(parseArgs(["--herp", "true", "-d", "false"], options), {
      h: true,
      herp: true,
      _: [],
    });
    assertEquals(calls, [["--derp", "derp", "true"], ["-d", "d", "false"]]);
  });

  await t.step("boolean: true knows every --name, not positionals or short options", () => {
    calls.length = 0;
    const args = parseArgs(["--honk", "--tacos=good", "cow", "-p", "55"], {
      boolean: true,
      unknown,
    });
    assertEquals(args, { honk: true, _: [] });
    assertEquals(calls, [
      ["--tacos=good", "tacos", "good"],
      ["cow", undefined, undefined],
      ["-p", "p", "55"],
    ]);
  });

  await t.step("arguments after -- are not reported", () => {
    calls.length = 0;
    assertEquals(parseArgs(["--bad", "--", "good", "arg"], { "--": true, unknown }), {
      _: [],
      "--": ["good", "arg"],
    });
    assertEquals(calls, [["--bad", "bad", true]]);
  });

  await t.step("a result other than false keeps the argument", () => {
    assertEquals(parseArgs(["--x", "1", "y"], { unknown: () => true }), { x: 1, _: ["y"] });
  });
});
