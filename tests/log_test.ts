import { assertEquals } from "@std/assert";
import { Logger } from "../src/server/log.ts";

function recorder(options: ConstructorParameters<typeof Logger>[0] = {}) {
  const lines: Record<string, unknown>[] = [];
  let now = 0;
  const log = new Logger({
    write: (line) => lines.push(JSON.parse(line)),
    now: () => now,
    ...options,
  });
  return { log, lines, advance: (ms: number) => (now += ms) };
}

Deno.test("Logger writes one JSON object per line: time, level, event, fields", () => {
  const { log, lines } = recorder();
  log.info("listening", { address: "127.0.0.1:1", secure: false });
  log.error("redis-down", { error: new Error("connection refused") });
  assertEquals(lines, [
    {
      time: "1970-01-01T00:00:00.000Z",
      level: "info",
      event: "listening",
      address: "127.0.0.1:1",
      secure: false,
    },
    {
      time: "1970-01-01T00:00:00.000Z",
      level: "error",
      event: "redis-down",
      error: "connection refused",
    },
  ]);
});

Deno.test("Logger writes its level and the levels above only; silent writes nothing", () => {
  const { log, lines } = recorder({ level: "warn" });
  log.debug("a");
  log.info("b");
  log.warn("c");
  log.error("d");
  assertEquals(lines.map((line) => line.event), ["c", "d"]);
  const silent = recorder({ level: "silent" });
  silent.log.error("e");
  assertEquals(silent.lines, []);
  assertEquals(new Logger().enabled("error"), false); // no writer: nothing is enabled
});

Deno.test("Logger rate-limits each event and says how many lines it dropped", () => {
  const { log, lines, advance } = recorder({ burst: 3, perSecond: 2 });
  for (let i = 0; i < 10; i++) log.warn("slow-consumer", { i });
  log.warn("other");
  assertEquals(lines.map((line) => line.i ?? line.event), [0, 1, 2, "other"]);
  advance(500); // one token back
  log.warn("slow-consumer", { i: 10 });
  assertEquals(lines.at(-1), {
    time: "1970-01-01T00:00:00.500Z",
    level: "warn",
    event: "slow-consumer",
    i: 10,
    suppressed: 7,
  });
});
