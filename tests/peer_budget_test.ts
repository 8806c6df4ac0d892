/**
 * The token buckets of a socket's budgets, without I/O: the time is passed
 * in, so every refill is exact.
 *
 * @module
 */

import { assertEquals, assertThrows } from "@std/assert";
import { createInflater } from "../src/protocol/deflate.ts";
import {
  budgetedInflater,
  BudgetError,
  MessageRate,
  messageRateOf,
  meterInflater,
  TokenBucket,
} from "../src/server/peer_budget.ts";

Deno.test("TokenBucket starts full, refills at its rate, and holds at most its capacity", () => {
  const bucket = new TokenBucket(10, 5, 1000);
  assertEquals(bucket.take(5, 1000), true);
  assertEquals(bucket.take(1, 1000), false, "empty");
  assertEquals(bucket.take(1, 1099), false, "0.99 of a token");
  assertEquals(bucket.take(1, 1100), true, "a tenth of a second: one token");
  assertEquals(bucket.take(6, 60_000), false, "a minute later: still at most 5");
  assertEquals(bucket.take(5, 60_000), true);
});

Deno.test("TokenBucket.spend() goes into debt, and the debt is paid back over time", () => {
  const bucket = new TokenBucket(100, 100, 0);
  assertEquals(bucket.spend(60, 0), true);
  assertEquals(bucket.spend(60, 0), false, "20 in debt");
  assertEquals(bucket.take(1, 200), false, "0.2 s later: 0 tokens");
  assertEquals(bucket.take(1, 210), true);
});

Deno.test("MessageRate accepts its burst, then drops with a notice at most once a second, or closes", async (t) => {
  await t.step('"drop" with a notice', () => {
    const rate = new MessageRate({ perSecond: 2, burst: 2, action: "drop", notice: true }, 0);
    const at = (now: number, count: number) => Array.from({ length: count }, () => rate.admit(now));
    assertEquals(at(0, 4), ["accept", "accept", "notify", "drop"]);
    assertEquals(at(500, 2), ["accept", "drop"], "half a second gave one back");
    assertEquals(at(999, 1), ["drop"], "no second notice within the second");
    assertEquals(at(1000, 2), ["accept", "notify"]);
  });
  await t.step('"drop" without a notice', () => {
    const rate = new MessageRate({ perSecond: 1, burst: 1, action: "drop", notice: false }, 0);
    assertEquals([rate.admit(0), rate.admit(0), rate.admit(5000)], ["accept", "drop", "accept"]);
  });
  await t.step('"close"', () => {
    const rate = new MessageRate({ perSecond: 1, burst: 1, action: "close", notice: true }, 0);
    assertEquals([rate.admit(0), rate.admit(0)], ["accept", "close"]);
  });
});

Deno.test("messageRateOf() is off unless maxMessagesPerSecond is set; the burst defaults to a second's worth", () => {
  assertEquals(messageRateOf({}), undefined);
  assertEquals(messageRateOf({ maxMessagesPerSecond: 0 }), undefined);
  const rate = messageRateOf({ maxMessagesPerSecond: 3 })!;
  const now = performance.now() + 1;
  assertEquals(
    [rate.admit(now), rate.admit(now), rate.admit(now), rate.admit(now)],
    ["accept", "accept", "accept", "close"],
  );
});

const HELLO = new Uint8Array([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
const PARAMS = { clientNoContextTakeover: true, clientMaxWindowBits: 15 } as const;

Deno.test("meterInflater() pays for each message's inflated bytes; the one that overspends fails with 1008", () => {
  let now = 0;
  // 10 bytes a second; the bucket holds at least one largest message (12 bytes).
  const inflater = meterInflater(createInflater(PARAMS, 12), {
    perSecond: 10,
    maxMessageBytes: 12,
    now: () => now,
  });
  assertEquals(inflater.inflate([HELLO]).length, 5);
  assertEquals(inflater.inflate([HELLO]).length, 5, "2 bytes left");
  const error = assertThrows(() => inflater.inflate([HELLO]), BudgetError, "inflate budget");
  assertEquals([error.code, error.closeCause], [1008, "inflate-budget"]);
  now = 1000;
  assertEquals(inflater.inflate([HELLO]).length, 5, "a second later");
  assertEquals(inflater.retainedBytes, 0);
});

Deno.test("budgetedInflater() meters by default and not with maxInflateBytesPerSecond: 0", () => {
  const plain = createInflater(PARAMS, 1024);
  assertEquals(budgetedInflater(plain, { maxInflateBytesPerSecond: 0 }) === plain, true);
  assertEquals(budgetedInflater(plain, {}) === plain, false);
});
