/**
 * bench/idle_memory.ts on a few connections: a row per server, per step.
 *
 * @module
 */
import { assertMatch } from "@std/assert";
import { measureIdleMemory } from "../bench/idle_memory.ts";

Deno.test({
  name: "measureIdleMemory() opens idle connections in steps and reports KiB per connection",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const row = await measureIdleMemory("pushwire", 200, 100);
    assertMatch(
      row,
      /^\| pushwire \| -?[\d.]+ \| -?[\d.]+ \(100–200\) \| 100: [+-][\d.]+, 200: [+-][\d.]+ \|$/,
    );
  },
});
