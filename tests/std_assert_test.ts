import {
  assert,
  assertAlmostEquals,
  assertArrayIncludes,
  assertEquals,
  assertExists,
  assertFalse,
  assertGreater,
  assertGreaterOrEqual,
  assertInstanceOf,
  AssertionError,
  assertLess,
  assertLessOrEqual,
  assertMatch,
  assertNotEquals,
  assertNotInstanceOf,
  assertNotMatch,
  assertNotStrictEquals,
  assertObjectMatch,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
  equal,
  fail,
  unreachable,
} from "@std/assert";

/** Asserts that `fn` fails with an AssertionError; returns its message without colors. */
function assertFails(fn: () => unknown, msgIncludes?: string): string {
  const error = assertThrows(fn, AssertionError, msgIncludes);
  // deno-lint-ignore no-control-regex
  return error.message.replace(/\x1b\[[\d;]*m/g, "");
}

class Point {
  constructor(public x: number, public y: number) {}
}
class OtherPoint {
  constructor(public x: number, public y: number) {}
}

Deno.test("AssertionError", async (t) => {
  await t.step("is an Error named AssertionError with an optional cause", () => {
    const error = new AssertionError("foo", { cause: "bar" });
    assertInstanceOf(error, Error);
    assertStrictEquals(error.name, "AssertionError");
    assertStrictEquals(error.message, "foo");
    assertStrictEquals(error.cause, "bar");
  });
});

Deno.test("assert() and assertFalse()", async (t) => {
  await t.step("assert() passes truthy values", () => {
    for (const value of [true, 1, "I am truthy", {}, [], -1n]) assert(value);
  });
  await t.step("assert() fails falsy values with the given message", () => {
    for (const value of [false, 0, -0, 0n, "", null, undefined, NaN]) {
      assertFails(() => assert(value));
    }
    assertStrictEquals(assertFails(() => assert(false, "custom")), "custom");
  });
  await t.step("assertFalse() passes falsy values", () => {
    for (const value of [false, 0, 0n, "", null, undefined, NaN]) assertFalse(value);
  });
  await t.step("assertFalse() fails truthy values", () => {
    assertFails(() => assertFalse(true));
    assertStrictEquals(assertFails(() => assertFalse("yes", "custom")), "custom");
  });
});

Deno.test("assertExists()", async (t) => {
  await t.step("passes anything but null and undefined", () => {
    for (const value of ["something", 0, false, "", NaN]) assertExists(value);
  });
  await t.step("fails null and undefined", () => {
    assertFails(() => assertExists(undefined));
    assertFails(() => assertExists(null), "to not be null or undefined");
    assertFails(() => assertExists(null, "custom"), ": custom");
  });
});

Deno.test("equal() and assertEquals() compare deeply", async (t) => {
  const equalPairs: Array<[string, unknown, unknown]> = [
    ["strings", "world", "world"],
    ["NaN", NaN, NaN],
    ["0 and -0", 0, -0],
    ["-0 inside arrays and objects", [0, { zero: 0 }], [-0, { zero: -0 }]],
    ["null", null, null],
    ["bigints", 12n, 12n],
    ["registered symbols", Symbol.for("x"), Symbol.for("x")],
    ["nested objects", { hello: "world", hi: { there: "everyone" } }, {
      hello: "world",
      hi: { there: "everyone" },
    }],
    ["objects with keys in another order", { a: 1, b: 2 }, { b: 2, a: 1 }],
    ["registered symbol keys", { [Symbol.for("foo")]: "bar" }, { [Symbol.for("foo")]: "bar" }],
    ["null-prototype and plain objects", Object.assign(Object.create(null), { a: 1 }), { a: 1 }],
    ["nested arrays", [1, [2, 3]], [1, [2, 3]]],
    ["arrays of undefined", [undefined, 1], [undefined, 1]],
    ["dates", new Date(2019, 0, 3), new Date(2019, 0, 3)],
    ["invalid dates", new Date("Invalid"), new Date("Invalid")],
    ["regular expressions", /deno/gi, /deno/gi],
    ["URLs", new URL("https://example.test"), new URL("https://example.test")],
    ["Uint8Arrays", new Uint8Array([1, 2, 3, 4]), new Uint8Array([1, 2, 3, 4])],
    ["Float64Arrays with NaN", new Float64Array([NaN, 0]), new Float64Array([NaN, -0])],
    ["ArrayBuffers", new Uint8Array([1, 2]).buffer, new Uint8Array([1, 2]).buffer],
    ["Sets in any order", new Set([1, 2, 3]), new Set([3, 2, 1])],
    ["Sets of objects", new Set([{ b: 2 }, { a: 1 }]), new Set([{ a: 1 }, { b: 2 }])],
    ["nested Sets", new Set([1, new Set([2, 3])]), new Set([new Set([3, 2]), 1])],
    [
      "Maps in any order",
      new Map([["foo", "bar"], ["baz", "qux"]]),
      new Map([["baz", "qux"], [
        "foo",
        "bar",
      ]]),
    ],
    ["Maps with object keys", new Map([[{ x: 1 }, true]]), new Map([[{ x: 1 }, true]])],
    [
      "Maps of Maps",
      new Map([["foo", new Map([["bar", "baz"]])]]),
      new Map([[
        "foo",
        new Map([["bar", "baz"]]),
      ]]),
    ],
    ["instances of one class", new Point(1, 2), new Point(1, 2)],
  ];
  for (const [name, a, b] of equalPairs) {
    await t.step(`equal: ${name}`, () => {
      assert(equal(a, b));
      assert(equal(b, a));
      assertEquals(a, b);
    });
  }

  const unequalPairs: Array<[string, unknown, unknown]> = [
    ["different strings", "hello", "world"],
    ["null and undefined", null, undefined],
    ["a number and its string", 1, "1"],
    ["unregistered symbols", Symbol("foo"), Symbol("foo")],
    ["unregistered symbol keys", { [Symbol("foo")]: "bar" }, { [Symbol("foo")]: "bar" }],
    ["a missing key", { hello: "world", world: "hello" }, { world: "hello" }],
    ["an undefined value and a missing key", { a: undefined, b: undefined }, {
      a: undefined,
      c: undefined,
    }],
    ["nested values", { hi: { there: "everyone" } }, { hi: { there: "everyone else" } }],
    ["arrays of different lengths", [1, 2, 3, 4], [1, 2, 3]],
    ["arrays in another order", [1, 2, 3, 4], [1, 4, 2, 3]],
    ["an array and an array-like object", [1], { 0: 1 }],
    ["dates", new Date(2019, 0, 3, 4, 20, 1, 10), new Date(2019, 0, 3, 4, 20, 1, 20)],
    ["an invalid and a valid date", new Date("Invalid"), new Date(2019, 0, 3)],
    ["regular expressions", /deno/, /node/],
    ["regular expression flags", /deno/g, /deno/i],
    ["URLs", new URL("https://example.test"), new URL("https://example.test/with-path")],
    ["Uint8Arrays", new Uint8Array([1, 2, 3, 4]), new Uint8Array([2, 1, 4, 3])],
    ["typed arrays of different lengths", new Uint8Array([0]), new Uint8Array([0, 0])],
    ["typed arrays of different types", new Uint8Array([1]), new Int8Array([1])],
    ["Sets", new Set([1, 2]), new Set([3, 2, 1])],
    ["Maps with different keys", new Map([["foo", "bar"]]), new Map([["bar", "baz"]])],
    ["Maps with different values", new Map([[{ x: 1 }, true]]), new Map([[{ x: 1 }, false]])],
    ["instances of different classes", new Point(1, 2), new OtherPoint(1, 2)],
    ["an instance and a plain object", new Point(1, 2), { x: 1, y: 2 }],
    [
      "private state of different classes",
      new (class A {
        #hello = "world";
      })(),
      new (class B {
        #hello = "world";
      })(),
    ],
    ["different functions", () => 1, () => 1],
  ];
  for (const [name, a, b] of unequalPairs) {
    await t.step(`unequal: ${name}`, () => {
      assertFalse(equal(a, b));
      assertFalse(equal(b, a));
      assertFails(() => assertEquals(a, b), "Values are not equal");
    });
  }

  await t.step("circular structures", () => {
    const a: { self?: unknown } = {};
    a.self = a;
    const b: { self?: unknown } = {};
    b.self = b;
    assertEquals(a, b);
    const mapA = new Map<string, unknown>();
    mapA.set("self", mapA);
    const mapB = new Map<string, unknown>();
    mapB.set("self", mapB);
    assertEquals(mapA, mapB);
  });

  await t.step("WeakMap and WeakSet cannot be compared", () => {
    assertThrows(() => equal(new WeakMap(), new WeakMap()), TypeError);
    assertThrows(() => equal(new WeakSet(), new WeakSet()), TypeError);
  });

  await t.step("WeakRefs compare their targets", () => {
    const target = { hello: "world" };
    assert(equal(new WeakRef(target), new WeakRef({ hello: "world" })));
    assertFalse(equal(new WeakRef(target), new WeakRef({ world: "hello" })));
  });
});

Deno.test("assertEquals() explains a failure with a diff", async (t) => {
  await t.step("numbers", () => {
    const message = assertFails(() => assertEquals(1, 2));
    assertStringIncludes(message, "Values are not equal.");
    assertStringIncludes(message, "[Diff] Actual / Expected");
    assertStringIncludes(message, "-   1");
    assertStringIncludes(message, "+   2");
  });
  await t.step("objects, line by line", () => {
    const message = assertFails(() => assertEquals({ a: 1, b: 2 }, { a: 1, b: 3 }));
    assertStringIncludes(message, "      a: 1,\n");
    assertStringIncludes(message, "-     b: 2,");
    assertStringIncludes(message, "+     b: 3,");
  });
  await t.step("a custom message", () => {
    assertFails(() => assertEquals([1], [2], "custom"), "Values are not equal: custom");
  });
});

Deno.test("assertNotEquals()", async (t) => {
  await t.step("passes different values", () => {
    assertNotEquals(1, 2);
    assertNotEquals({ foo: "bar" }, { foo: "baz" });
    assertNotEquals<unknown>(new Point(1, 2), { x: 1, y: 2 });
  });
  await t.step("fails deeply equal values", () => {
    assertFails(() => assertNotEquals(1, 1));
    assertFails(() => assertNotEquals({ foo: [1] }, { foo: [1] }), "not to be");
    assertFails(() => assertNotEquals("a", "a", "custom"), ": custom");
  });
});

Deno.test("assertStrictEquals() and assertNotStrictEquals()", async (t) => {
  await t.step("assertStrictEquals() passes the same value", () => {
    const a = {};
    assertStrictEquals(a, a);
    assertStrictEquals(NaN, NaN);
    assertStrictEquals("hello", "hello");
  });
  await t.step("assertStrictEquals() fails look-alikes and signed zeros", () => {
    assertFails(() => assertStrictEquals({}, {}), "not reference-equal");
    assertFails(() => assertStrictEquals(0, -0));
    assertFails(() => assertStrictEquals(1, 2), "Values are not strictly equal");
    assertFails(() => assertStrictEquals(1, 2, "custom"), ": custom");
  });
  await t.step("assertNotStrictEquals() passes different values", () => {
    assertNotStrictEquals(1, 2);
    assertNotStrictEquals(0, -0);
    assertNotStrictEquals({}, {});
  });
  await t.step("assertNotStrictEquals() fails the same value", () => {
    assertFails(() => assertNotStrictEquals(1, 1));
    assertFails(() => assertNotStrictEquals(NaN, NaN));
  });
});

Deno.test("assertAlmostEquals()", async (t) => {
  const close: Array<[number, number, number?]> = [
    [0.1 + 0.2, 0.3],
    [1.000000001e-8, 1.000000002e-8],
    [0.01, 0.02, 0.1],
    [0.1 + 0.2, 0.3, 1e-16],
    [NaN, NaN],
    [Infinity, Infinity],
    [100, 100.000001],
  ];
  for (const [actual, expected, tolerance] of close) {
    await t.step(`${actual} is close to ${expected} (tolerance ${tolerance})`, () => {
      assertAlmostEquals(actual, expected, tolerance);
    });
  }
  const far: Array<[number, number, number?]> = [
    [0.01, 0.02],
    [1e-8, 1e-9],
    [0.1 + 0.2, 0.3, 1e-17],
    [NaN, 0],
    [Infinity, -Infinity],
  ];
  for (const [actual, expected, tolerance] of far) {
    await t.step(`${actual} is not close to ${expected} (tolerance ${tolerance})`, () => {
      assertFails(() => assertAlmostEquals(actual, expected, tolerance), "to be close to");
    });
  }
});

Deno.test("assertInstanceOf() and assertNotInstanceOf()", async (t) => {
  await t.step("assertInstanceOf() passes instances, including of base classes", () => {
    assertInstanceOf(new Date(), Date);
    assertInstanceOf(new TypeError("x"), Error);
    assertInstanceOf(new Point(0, 0), Point);
  });
  await t.step("assertInstanceOf() fails anything else", () => {
    assertFails(() => assertInstanceOf(new Date(), Number), 'instance of "Number"');
    assertFails(() => assertInstanceOf(null, Date));
    assertFails(() => assertInstanceOf(1, Number));
    assertFails(() => assertInstanceOf(Date, Date));
    assertFails(() => assertInstanceOf({}, Point, "custom"), ": custom");
  });
  await t.step("assertNotInstanceOf() passes other values", () => {
    assertNotInstanceOf(new Date(), Number);
    assertNotInstanceOf(new OtherPoint(0, 0), Point);
    assertNotInstanceOf(null, Object);
  });
  await t.step("assertNotInstanceOf() fails instances", () => {
    assertFails(() => assertNotInstanceOf(new Date(), Date));
    assertFails(() => assertNotInstanceOf(new TypeError("x"), Error, "custom"), ": custom");
  });
});

Deno.test("assertMatch(), assertNotMatch() and assertStringIncludes()", async (t) => {
  await t.step("assertMatch()", () => {
    assertMatch("Raptor", /Raptor/);
    assertMatch("raptor", /RAPTOR/i);
    assertFails(() => assertMatch("Denosaurus", /Raptor/), "to match");
  });
  await t.step("assertNotMatch()", () => {
    assertNotMatch("Denosaurus", /Raptor/);
    assertFails(() => assertNotMatch("Raptor", /Raptor/), "to not match");
  });
  await t.step("assertStringIncludes()", () => {
    assertStringIncludes("Hello", "ello");
    assertStringIncludes("Hello", "");
    assertFails(() => assertStringIncludes("Hello", "world"), "to contain");
    assertFails(() => assertStringIncludes("Hello", "hello", "custom"), ": custom");
  });
});

Deno.test("assertArrayIncludes()", async (t) => {
  await t.step("passes when every expected item is present", () => {
    assertArrayIncludes([1, 2, 3], [2, 3]);
    assertArrayIncludes([1, 2, 3], []);
    assertArrayIncludes([{ a: 1 }, { b: 2 }], [{ a: 1 }]);
    assertArrayIncludes(new Uint8Array([1, 2, 3]), [3, 1]);
    assertArrayIncludes([NaN, [1, 2]], [NaN, [1, 2]]);
  });
  await t.step("fails and lists the missing items", () => {
    const message = assertFails(() => assertArrayIncludes([1, 2, 3], [4, 2]), "to include");
    assertStringIncludes(message, "missing: [\n  4,\n]");
    assertFails(() => assertArrayIncludes([{ a: 1 }], [{ a: 2 }]));
    assertFails(() => assertArrayIncludes(["a"], ["b"], "custom"), ": custom");
  });
});

Deno.test("assertObjectMatch()", async (t) => {
  await t.step("passes when expected is a subset of actual", () => {
    assertObjectMatch({ foo: "bar" }, { foo: "bar" });
    assertObjectMatch({ foo: 1, bar: 2 }, { foo: 1 });
    assertObjectMatch({ foo: { bar: 3, baz: 4 } }, { foo: { bar: 3 } });
    assertObjectMatch({ list: [{ a: 1, b: 2 }, { a: 3, b: 4 }] }, { list: [{ a: 1 }, { a: 3 }] });
    assertObjectMatch({ when: new Date(0), re: /x/g }, { re: /x/g });
    assertObjectMatch({ point: new Point(1, 2) }, { point: { x: 1 } });
    assertObjectMatch({ map: new Map([["a", { x: 1, y: 2 }], ["b", {}]]) }, {
      map: new Map([["a", { x: 1 }]]),
    });
    assertObjectMatch({ set: new Set([1, 2, 3]) }, { set: new Set([1, 2]) });
  });
  await t.step("fails on a missing key or a different value", () => {
    assertFails(() => assertObjectMatch({ foo: "bar" }, { foo: "baz" }));
    assertFails(() => assertObjectMatch({ foo: 1 }, { foo: 1, bar: 2 }));
    assertFails(() => assertObjectMatch({ foo: { bar: 3 } }, { foo: { bar: 3, baz: 4 } }));
    assertFails(() => assertObjectMatch({ list: [1] }, { list: [1, 2] }));
    assertFails(() => assertObjectMatch({ set: new Set([1]) }, { set: new Set([1, 2]) }));
    assertFails(() => assertObjectMatch({ a: 1 }, { b: 1 }, "custom"), ": custom");
  });
  await t.step("rejects a non-object with a TypeError", () => {
    // deno-lint-ignore no-explicit-any
    assertThrows(() => assertObjectMatch(null as any, {}), TypeError);
  });
});

Deno.test("assertGreater(), assertGreaterOrEqual(), assertLess(), assertLessOrEqual()", async (t) => {
  await t.step("pass in order", () => {
    assertGreater(2, 1);
    assertGreater("b", "a");
    assertGreaterOrEqual(2, 1);
    assertGreaterOrEqual(1, 1);
    assertLess(1, 2);
    assertLess(1n, 2n);
    assertLessOrEqual(1, 2);
    assertLessOrEqual(1, 1);
  });
  await t.step("fail out of order", () => {
    assertFails(() => assertGreater(1, 1), "Expect 1 > 1");
    assertFails(() => assertGreaterOrEqual(0, 1), "Expect 0 >= 1");
    assertFails(() => assertLess(2, 1), "Expect 2 < 1");
    assertFails(() => assertLessOrEqual(2, 1), "Expect 2 <= 1");
    assertFails(() => assertGreater(NaN, 0));
  });
  await t.step("a custom message replaces the default", () => {
    assertStrictEquals(assertFails(() => assertLess(2, 1, "custom")), "custom");
  });
});

Deno.test("assertThrows()", async (t) => {
  await t.step("returns what the function threw", () => {
    const thrown = new TypeError("hello world!");
    assertStrictEquals(
      assertThrows(() => {
        throw thrown;
      }),
      thrown,
    );
    assertStrictEquals(
      assertThrows(() => {
        throw "a string";
      }),
      "a string",
    );
  });
  await t.step("checks the error class and message", () => {
    const error = assertThrows(
      () => {
        throw new TypeError("hello world!");
      },
      TypeError,
      "hello",
    );
    assertStrictEquals(error.message, "hello world!");
    assertThrows(() => {
      throw new TypeError("subclass");
    }, Error);
  });
  await t.step("fails when the function returns", () => {
    assertFails(() => assertThrows(() => {}), "Expected function to throw.");
    assertFails(() => assertThrows(() => {}, "custom"), "Expected function to throw: custom");
    assertFails(() => assertThrows(() => {}, TypeError, "x", "custom"), ": custom");
  });
  await t.step("fails on the wrong class, message or a non-Error", () => {
    assertFails(() =>
      assertThrows(() => {
        throw new TypeError("hello world!");
      }, RangeError), 'instance of "RangeError"');
    assertFails(() =>
      assertThrows(
        () => {
          throw new TypeError("hello world!");
        },
        TypeError,
        "goodbye",
      ), "to include");
    assertFails(() =>
      assertThrows(() => {
        throw "a string";
      }, Error), "non-Error");
  });
});

Deno.test("assertRejects()", async (t) => {
  await t.step("resolves to the rejection reason", async () => {
    const reason = new Error("nope");
    assertStrictEquals(await assertRejects(() => Promise.reject(reason)), reason);
    assertStrictEquals(await assertRejects(() => Promise.reject("a string")), "a string");
  });
  await t.step("checks the error class and message", async () => {
    const error = await assertRejects(
      async () => {
        await Promise.resolve();
        throw new RangeError("too far");
      },
      RangeError,
      "far",
    );
    assertStrictEquals(error.message, "too far");
  });
  await t.step("fails when the promise resolves", async () => {
    await assertRejects(() => assertRejects(() => Promise.resolve()), AssertionError, "to reject");
    await assertRejects(
      () => assertRejects(() => Promise.resolve(), "custom"),
      AssertionError,
      "Expected function to reject: custom",
    );
  });
  await t.step("fails when the function throws instead of rejecting", async () => {
    await assertRejects(
      () =>
        assertRejects(() => {
          throw new Error("sync");
        }),
      AssertionError,
      "Function throws when expected to reject",
    );
  });
  await t.step("fails on the wrong class, message or a non-Error", async () => {
    await assertRejects(
      () => assertRejects(() => Promise.reject(new Error("x")), SyntaxError),
      AssertionError,
      'instance of "SyntaxError"',
    );
    await assertRejects(
      () => assertRejects(() => Promise.reject(new Error("x")), Error, "y"),
      AssertionError,
      "to include",
    );
    await assertRejects(
      () => assertRejects(() => Promise.reject("x"), Error),
      AssertionError,
      "non-Error",
    );
  });
});

Deno.test("fail() and unreachable()", async (t) => {
  await t.step("fail() always throws", () => {
    assertStrictEquals(assertFails(() => fail()), "Failed assertion.");
    assertStrictEquals(
      assertFails(() => fail("Deliberately failed!")),
      "Failed assertion: Deliberately failed!",
    );
  });
  await t.step("unreachable() always throws", () => {
    assertStrictEquals(assertFails(() => unreachable()), "Unreachable.");
    assertStrictEquals(assertFails(() => unreachable("custom")), "Unreachable: custom");
  });
});
