import { assertEquals } from "@std/assert";
import type { EngineMessage, EngineRecovery } from "../src/push/engine.ts";
import type { MessageId } from "../src/push/history.ts";
import { planReplay, type ReplayBudget } from "../src/push/replay.ts";

const id = (seq: number, epoch = "e"): MessageId => ({ epoch, seq });
const message = (seq: number, epoch = "e", bytes = 10): EngineMessage => ({
  topic: "t",
  id: id(seq, epoch),
  time: 0,
  payload: "x".repeat(bytes),
});
const budget = (bytes: number): ReplayBudget => ({ bytes, sizeOf: (m) => m.payload.length });
const complete = (messages: EngineMessage[], last: MessageId): EngineRecovery => ({
  kind: "complete",
  messages,
  last,
});
const seqs = (messages: EngineMessage[]) => messages.map((m) => m.id.seq);

Deno.test("planReplay() sends what the window holds after the cursor and joins at the position", () => {
  const step = planReplay(complete([message(4), message(5)], id(5)), id(3), id(5), budget(100));
  assertEquals(seqs(step.messages), [4, 5]);
  assertEquals(step.cursor, id(5));
  assertEquals(step.next, "join");
  assertEquals(step.gap, undefined);
});

Deno.test("planReplay() joins at once when the cursor is the position", () => {
  const step = planReplay(complete([], id(7)), id(7), id(7), budget(100));
  assertEquals(step.messages, []);
  assertEquals(step.next, "join");
});

Deno.test("planReplay() stops a part at the byte budget, the first message always going", () => {
  const messages = [message(1, "e", 40), message(2, "e", 40), message(3, "e", 40)];
  const first = planReplay(complete(messages, id(3)), id(0), id(3), budget(90));
  assertEquals(seqs(first.messages), [1, 2]);
  assertEquals(first.cursor, id(2));
  assertEquals(first.next, "drain");
  const huge = planReplay(complete([message(1, "e", 500)], id(1)), id(0), id(1), budget(90));
  assertEquals(seqs(huge.messages), [1]);
  assertEquals(huge.next, "join");
});

Deno.test("planReplay() never passes the node's position", () => {
  const step = planReplay(
    complete([message(4), message(5), message(6)], id(6)),
    id(3),
    id(5),
    budget(100),
  );
  assertEquals(seqs(step.messages), [4, 5]);
  assertEquals(step.cursor, id(5));
  assertEquals(step.next, "join");
});

Deno.test("planReplay() waits while the node is behind the client's id", () => {
  const step = planReplay(complete([], id(9)), id(9), id(8), budget(100));
  assertEquals(step.messages, []);
  assertEquals(step.cursor, id(9));
  assertEquals(step.next, "behind");
});

Deno.test("planReplay() asks again at once when the cursor moves with nothing to send", () => {
  // The window after 5 expired; the store's last is 10 and this node is at 12.
  const recovery: EngineRecovery = { kind: "gap", reason: "expired", messages: [], last: id(10) };
  const step = planReplay(recovery, id(5), id(12), budget(100));
  assertEquals(step.gap, "expired");
  assertEquals(step.cursor, id(10));
  assertEquals(step.next, "again");
});

Deno.test("planReplay() reports a gap with what the window holds", () => {
  const recovery: EngineRecovery = {
    kind: "gap",
    reason: "restart",
    messages: [message(1, "new"), message(2, "new")],
    last: id(2, "new"),
  };
  const step = planReplay(recovery, id(40, "old"), id(2, "new"), budget(100));
  assertEquals(step.gap, "restart");
  assertEquals(seqs(step.messages), [1, 2]);
  assertEquals(step.cursor, id(2, "new"));
  assertEquals(step.next, "join");
});

Deno.test("planReplay() waits while the store has an epoch the node has not caught up with", () => {
  const recovery = complete([message(1, "new")], id(1, "new"));
  const step = planReplay(recovery, id(3, "old"), id(3, "old"), budget(100));
  assertEquals(step.messages, []);
  assertEquals(step.cursor, id(3, "old"));
  assertEquals(step.next, "epoch");
});

Deno.test("planReplay() continues from the last message of a batch cut short by the engine", () => {
  // The engine answered a first batch (2 of 4): the window goes on to 5.
  const step = planReplay(complete([message(2), message(3)], id(5)), id(1), id(5), budget(100));
  assertEquals(seqs(step.messages), [2, 3]);
  assertEquals(step.cursor, id(3));
  assertEquals(step.next, "drain");
});
