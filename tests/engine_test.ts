import { assertEquals } from "@std/assert";
import { type EngineEvent, MemoryEngine } from "../src/push/engine.ts";

Deno.test("MemoryEngine delivers each publish to the sink before it resolves", async () => {
  const engine = new MemoryEngine({ epoch: "e1" });
  const events: EngineEvent[] = [];
  engine.listen((event) => events.push(event));
  await engine.open();
  const published = engine.append("news", "a");
  assertEquals(events.length, 1); // already delivered, synchronously
  const message = await published;
  assertEquals(message.id, { epoch: "e1", seq: 1 });
  assertEquals(events[0], { type: "message", message });
  assertEquals(engine.appendNow("sport", "b").id, { epoch: "e1", seq: 1 });
  assertEquals(engine.position("news"), { epoch: "e1", seq: 1 });
  assertEquals(engine.position("weather"), { epoch: "e1", seq: 0 });
  await engine.close();
  engine.appendNow("news", "after close");
  assertEquals(events.length, 2);
});

Deno.test("MemoryEngine.recover() answers from the window, with the topic's last id", async (t) => {
  const engine = new MemoryEngine({ size: 3, epoch: "e1" });
  await engine.open();
  for (const text of ["a", "b", "c", "d", "e"]) {
    await engine.watch("t").then(() => engine.append("t", text));
  }
  const cases: [string, number, string, string, string[]][] = [
    ["complete", 3, "e1", "complete", ["d", "e"]],
    ["up to date", 5, "e1", "complete", []],
    ["expired", 1, "e1", "expired", ["c", "d", "e"]],
    ["unknown", 9, "e1", "unknown", ["c", "d", "e"]],
    ["restart", 4, "e0", "restart", ["c", "d", "e"]],
  ];
  for (const [name, seq, epoch, outcome, payloads] of cases) {
    await t.step(name, async () => {
      const recovery = await engine.recover("t", { epoch, seq });
      assertEquals(recovery.kind === "gap" ? recovery.reason : recovery.kind, outcome);
      assertEquals(recovery.messages.map((m) => m.payload), payloads);
      assertEquals(recovery.last, { epoch: "e1", seq: 5 });
    });
  }
  assertEquals(engine.stats(), { topics: 1, messages: 3, bytes: 3 });
  assertEquals(engine.metrics(), []);
});

Deno.test("MemoryEngine: maxBytes over every topic, counted as account() says", async () => {
  const engine = new MemoryEngine({ epoch: "e1", maxBytes: 1000 });
  const events: EngineEvent[] = [];
  engine.listen((event) => events.push(event));
  const old = engine.appendNow("old", "x".repeat(10));
  const news = engine.appendNow("news", "y".repeat(10));
  assertEquals(engine.stats(), { topics: 2, messages: 2, bytes: 20 });
  // The hub keeps the frames too: it says how much each message costs.
  engine.account(old, 400);
  engine.account(news, 400);
  assertEquals(engine.stats().bytes, 800);
  const later = engine.appendNow("news", "z".repeat(10));
  engine.account(later, 400); // 1200: the least recently published topic pays
  assertEquals(engine.stats(), { topics: 2, messages: 2, bytes: 800 });
  const recovery = await engine.recover("old", { epoch: "e1", seq: 0 });
  assertEquals(recovery.kind === "gap" && recovery.reason, "expired");
  assertEquals(recovery.messages, []);
  engine.account(old, 5); // gone: ignored
  engine.account({ ...news, id: { epoch: "e0", seq: 1 } }, 5); // another run's: ignored
  assertEquals(engine.stats().bytes, 800);
  assertEquals(events.length, 3);
});
