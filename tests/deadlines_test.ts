import { assertEquals } from "@std/assert";
import { Deadlines } from "../src/server/deadlines.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("Deadlines expires late items once, in order, and keeps no timer when empty", async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines<string>(40, (item) => expired.push(item));
  deadlines.add("a");
  deadlines.add("b");
  deadlines.add("c");
  assertEquals(deadlines.delete("b"), true);
  assertEquals(deadlines.size, 2);
  await sleep(20);
  assertEquals(expired, [], "nothing expires before the timeout");
  await sleep(80);
  assertEquals(expired, ["a", "c"]);
  assertEquals(deadlines.size, 0);
  assertEquals(deadlines.delete("a"), false, "an expired item is no longer held");
  // The test's timer sanitizer fails if the interval outlived the last item.
});

Deno.test("Deadlines: an item added again gets a new deadline; delete stops the timer", async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines<string>(60, (item) => expired.push(item));
  deadlines.add("a");
  await sleep(40);
  deadlines.add("a");
  deadlines.add("b");
  await sleep(40);
  assertEquals(expired, [], "the restarted deadline has not passed");
  assertEquals(deadlines.delete("a"), true);
  assertEquals(deadlines.delete("b"), true);
  await sleep(80);
  assertEquals(expired, []);
});

Deno.test("Deadlines: a throwing handler does not keep other items from expiring", async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines<string>(10, (item) => {
    expired.push(item);
    if (item === "a") throw new Error("handler failed");
  });
  deadlines.add("a");
  deadlines.add("b");
  await sleep(60);
  assertEquals(expired, ["a", "b"]);
});
