/**
 * The client's reconnect delays (src/client/backoff.ts): full jitter under
 * a ceiling that grows by `factor` up to `max`, a reset, checked options.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import { Backoff } from "../src/client/backoff.ts";

Deno.test("Backoff draws each delay below a ceiling that doubles up to max", () => {
  const highest = new Backoff({ initial: 100, max: 1000 }, () => 0.999999);
  assertEquals(
    Array.from({ length: 7 }, () => highest.next()),
    [99, 199, 399, 799, 999, 999, 999],
  );
  const lowest = new Backoff({ initial: 100, max: 1000 }, () => 0);
  assertEquals(Array.from({ length: 3 }, () => lowest.next()), [0, 0, 0]);
});

Deno.test("Backoff with Math.random stays within its ceilings, and reset() starts over", () => {
  const backoff = new Backoff({ initial: 10, max: 80, factor: 3 });
  const ceilings = [10, 30, 80, 80, 80];
  for (const ceiling of ceilings) {
    const delay = backoff.next();
    assert(delay >= 0 && delay < ceiling && Number.isInteger(delay), `${delay} < ${ceiling}`);
  }
  assertEquals(backoff.attempt, 5);
  backoff.reset();
  assertEquals(backoff.attempt, 0);
  assert(backoff.next() < 10);
});

Deno.test("Backoff has defaults, and refuses options out of range", () => {
  const backoff = new Backoff();
  assertEquals(
    [backoff.initial, backoff.max, backoff.factor, backoff.resetAfter],
    [500, 30_000, 2, 5000],
  );
  for (
    const options of [
      { initial: -1 },
      { max: Number.POSITIVE_INFINITY },
      { factor: Number.NaN },
      { initial: 100, max: 50 },
      { factor: 0.5 },
      { resetAfter: -5 },
    ]
  ) {
    assertThrows(() => new Backoff(options), RangeError, undefined, JSON.stringify(options));
  }
});
