import { assertEquals } from "@std/assert";
import { Deadlines } from "../src/server/deadlines.ts";
import { until } from "./_server.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("Deadlines expires late items once, in order, and keeps no timer when empty", async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines<string>(40, (item) => expired.push(item));
  deadlines.add("a");
  deadlines.add("b");
  deadlines.add("c");
  assertEquals(deadlines.delete("b"), true);
  assertEquals(deadlines.size, 2);
  const added = performance.now();
  await sleep(20);
  // Under load a 20 ms sleep may last past the timeout; only an early expiry is wrong.
  if (performance.now() - added < 40) {
    assertEquals(expired, [], "nothing expires before the timeout");
  }
  await until(() => expired.length === 2, 2000, "both items expired");
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
  const added = performance.now();
  await sleep(40);
  if (performance.now() - added < 60) {
    assertEquals(expired, [], "the restarted deadline has not passed");
  }
  assertEquals(deadlines.delete("a"), true);
  assertEquals(deadlines.delete("b"), true);
  const length = expired.length;
  await sleep(80);
  assertEquals(expired.length, length, "nothing expires once deleted");
});

Deno.test("Deadlines: a throwing handler does not keep other items from expiring", async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines<string>(10, (item) => {
    expired.push(item);
    if (item === "a") throw new Error("handler failed");
  });
  deadlines.add("a");
  deadlines.add("b");
  await until(() => expired.length === 2, 2000, "both items expired");
  assertEquals(expired, ["a", "b"]);
});
