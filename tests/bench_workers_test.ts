/**
 * bench/workers.ts end to end on a tiny run (correctness only, never
 * timing): the CLI single-threaded and with `--workers 2`, the Node load
 * generator's push scenario, nothing lost, the table's shape.
 */
import { assertEquals, assertGreater, assertMatch } from "@std/assert";
import { renderWorkersTable, runWorkersBench } from "../bench/workers.ts";

async function hasNode(): Promise<boolean> {
  try {
    return (await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "bench/workers.ts delivers every message single-threaded and with --workers 2",
  ignore: Deno.build.os !== "linux" || !(await hasNode()),
  async fn() {
    const { rows, runs } = await runWorkersBench({
      setups: ["single", 2],
      subscribers: [20],
      sizes: [32],
      deliveries: 400,
      repeat: 1,
      window: 4,
      publishers: 2,
      timeoutMs: 30_000,
    });
    assertEquals(runs.length, 2);
    assertEquals(rows.map((row) => row.setup), ["single thread", "--workers 2"]);
    for (const row of rows) {
      assertEquals(row.messages, 20);
      assertEquals(row.deliveries, 400);
      assertEquals(row.lost, 0);
      assertEquals(row.failedPublishes, 0);
      assertGreater(row.deliveriesPerSecond, 0);
    }
    assertMatch(renderWorkersTable(rows), /\| 20 × 32 B \| --workers 2 \|/);
  },
});
