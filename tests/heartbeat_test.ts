import { assertEquals } from "@std/assert";
import { Sweeps } from "../src/server/heartbeat.ts";

Deno.test("Sweeps checks each item at its interval, one timer per interval, stopped when empty", async () => {
  const checked: string[] = [];
  const sweeps = new Sweeps<string>((item) => checked.push(item));
  sweeps.add(5, "a");
  sweeps.add(5, "b");
  sweeps.add(7, "c");
  while (!checked.includes("a") || !checked.includes("c")) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assertEquals(checked.includes("b"), true, "both items of one interval");
  sweeps.delete(5, "a");
  sweeps.delete(5, "b");
  sweeps.delete(7, "c");
  sweeps.delete(7, "c"); // twice: nothing happens
  checked.length = 0;
  await new Promise((resolve) => setTimeout(resolve, 20));
  // No timer is left running (the test's sanitizer would fail), and none checks.
  assertEquals(checked, []);
});
