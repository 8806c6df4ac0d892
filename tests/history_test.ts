import { assertEquals, assertMatch, assertNotEquals, assertThrows } from "@std/assert";
import {
  formatId,
  History,
  type MessageId,
  newEpoch,
  parseId,
  parseSince,
  type Recovery,
} from "../src/push/history.ts";

const E = "e1";

/** `[kind, reason?, seqs]` of a recovery, for compact assertions. */
function summary(recovery: Recovery<string>): [string, string, number[]] {
  return [
    recovery.kind,
    recovery.kind === "gap" ? recovery.reason : "",
    recovery.entries.map((entry) => entry.seq),
  ];
}

Deno.test("formatId() and parseId() round-trip <epoch>:<seq>", async (t) => {
  assertEquals(formatId({ epoch: "abc123", seq: 42 }), "abc123:42");
  assertEquals(parseId("abc123:42"), { epoch: "abc123", seq: 42 });
  assertEquals(parseId("z:0"), { epoch: "z", seq: 0 });
  assertEquals(parseId("z:9007199254740991").seq, Number.MAX_SAFE_INTEGER);
  const bad = [
    "",
    "abc",
    ":1",
    "abc:",
    "abc:-1",
    "abc:01",
    "abc:1.5",
    "ABC:1",
    "a-b:1",
    "abc:1:2",
    "x".repeat(17) + ":1",
    "abc:9007199254740992",
    "abc: 1",
  ];
  for (const text of bad) {
    await t.step(`"${text}" is refused`, () => {
      assertThrows(() => parseId(text), TypeError, "Invalid id");
    });
  }
});

Deno.test("newEpoch() gives 12 base-36 characters that differ between runs", () => {
  const a = newEpoch(0);
  const b = newEpoch(Date.UTC(2030, 0, 1));
  assertMatch(a, /^[0-9a-z]{12}$/);
  assertMatch(b, /^[0-9a-z]{12}$/);
  assertNotEquals(a.slice(0, 8), b.slice(0, 8));
  const same = new Set(Array.from({ length: 50 }, () => newEpoch(1)));
  assertEquals(same.size > 40, true, "the random part tells runs of the same millisecond apart");
});

Deno.test("parseSince() reads <topic>:<epoch>:<seq>, or <epoch>:<seq> for a single topic", async (t) => {
  const ok: [string, string[], string[], [string, MessageId][]][] = [
    ["nothing", [], ["news"], []],
    ["one topic, short form", ["e1:5"], ["news"], [["news", { epoch: "e1", seq: 5 }]]],
    ["one topic, long form", ["news:e1:5"], ["news"], [["news", { epoch: "e1", seq: 5 }]]],
    ["a topic with colons", ["user:7:e1:3"], ["user:7", "news"], [["user:7", {
      epoch: "e1",
      seq: 3,
    }]]],
    ["two topics", ["a:e1:1", "b:e2:0"], ["a", "b"], [["a", { epoch: "e1", seq: 1 }], ["b", {
      epoch: "e2",
      seq: 0,
    }]]],
    ["only some topics", ["b:e1:9"], ["a", "b"], [["b", { epoch: "e1", seq: 9 }]]],
  ];
  for (const [name, values, topics, expected] of ok) {
    await t.step(name, () => assertEquals([...parseSince(values, topics)], expected));
  }
  const bad: [string, string[], string[], string][] = [
    ["short form with two topics", ["e1:5"], ["a", "b"], "with several topics"],
    ["short form without topics", ["e1:5"], [], "with several topics"],
    ["a topic not subscribed", ["c:e1:5"], ["a", "b"], 'topic "c" is not subscribed'],
    ["a topic twice", ["a:e1:5", "a:e1:6"], ["a"], "named twice"],
    ["a bad id", ["a:e1:x"], ["a"], "Invalid id"],
    ["a bad topic", ["a b:e1:1"], ["a b"], "Cannot use topic"],
    ["an empty value", [""], ["a"], "Invalid id"],
    ["a bare number", ["5"], ["a"], "Invalid id"],
  ];
  for (const [name, values, topics, message] of bad) {
    await t.step(`${name} is refused`, () => {
      assertThrows(() => parseSince(values, topics), TypeError, message);
    });
  }
});

Deno.test("History assigns per-topic ids from 1, strictly increasing by one", () => {
  const stamped = new History<string>({ epoch: E, now: () => 42 });
  const entry = stamped.append("news", (seq, time) => `${E}:${seq} at ${time}`);
  assertEquals(entry, { seq: 1, time: 42, value: "e1:1 at 42" });

  const history = new History<string>({ epoch: E });
  assertEquals(history.last("news"), { epoch: E, seq: 0 });
  assertEquals(history.append("news", () => "a").seq, 1);
  assertEquals(history.append("sport", () => "x").seq, 1);
  assertEquals(history.append("news", () => "b").seq, 2);
  assertEquals(history.last("news"), { epoch: E, seq: 2 });
  assertEquals(history.last("sport"), { epoch: E, seq: 1 });
});

Deno.test("History.recover() replays exactly what came after the id", async (t) => {
  const history = new History<string>({ epoch: E, size: 5 });
  for (const value of ["a", "b", "c"]) history.append("news", () => value);
  const cases: [string, MessageId, [string, string, number[]]][] = [
    ["from before the first message", { epoch: E, seq: 0 }, ["complete", "", [1, 2, 3]]],
    ["from the middle", { epoch: E, seq: 1 }, ["complete", "", [2, 3]]],
    ["from the last message", { epoch: E, seq: 3 }, ["complete", "", []]],
    ["from the future", { epoch: E, seq: 4 }, ["gap", "unknown", [1, 2, 3]]],
    ["from another run", { epoch: "e0", seq: 2 }, ["gap", "restart", [1, 2, 3]]],
  ];
  for (const [name, since, expected] of cases) {
    await t.step(name, () => assertEquals(summary(history.recover("news", since)), expected));
  }
  await t.step("values come back as stored", () => {
    const recovery = history.recover("news", { epoch: E, seq: 1 });
    assertEquals(recovery.entries.map((entry) => entry.value), ["b", "c"]);
  });
  await t.step("a topic never published", () => {
    assertEquals(summary(history.recover("other", { epoch: E, seq: 0 })), ["complete", "", []]);
    assertEquals(summary(history.recover("other", { epoch: E, seq: 1 })), ["gap", "unknown", []]);
  });
});

Deno.test("History keeps the last `size` messages; older ids get an expired gap", () => {
  const history = new History<string>({ epoch: E, size: 3, sizeOf: () => 10 });
  for (let i = 1; i <= 10; i++) history.append("news", () => `m${i}`);
  assertEquals(summary(history.recover("news", { epoch: E, seq: 7 })), ["complete", "", [
    8,
    9,
    10,
  ]]);
  // A client that saw 6 missed 7, which has left the window.
  assertEquals(summary(history.recover("news", { epoch: E, seq: 6 })), ["gap", "expired", [
    8,
    9,
    10,
  ]]);
  assertEquals(history.stats(), { topics: 1, messages: 3, bytes: 30 });
});

Deno.test("History drops messages older than `ttl`; the topic keeps its numbering", () => {
  let now = 1_000_000;
  const history = new History<string>({ epoch: E, ttl: 1000, now: () => now });
  history.append("news", () => "a"); // t = 0
  now += 600;
  history.append("news", () => "b"); // t = 600
  now += 500; // "a" is 1100 ms old, "b" 500
  assertEquals(summary(history.recover("news", { epoch: E, seq: 1 })), ["complete", "", [2]]);
  assertEquals(summary(history.recover("news", { epoch: E, seq: 0 })), ["gap", "expired", [2]]);
  now += 1000;
  assertEquals(history.stats(), { topics: 1, messages: 0, bytes: 0 });
  assertEquals(summary(history.recover("news", { epoch: E, seq: 2 })), ["complete", "", []]);
  assertEquals(summary(history.recover("news", { epoch: E, seq: 1 })), ["gap", "expired", []]);
  assertEquals(history.append("news", () => "c").seq, 3);
});

Deno.test("History with size 0 keeps nothing but still tells a gap from no gap", () => {
  const history = new History<string>({ epoch: E, size: 0 });
  history.append("news", () => "a");
  history.append("news", () => "b");
  assertEquals(summary(history.recover("news", { epoch: E, seq: 2 })), ["complete", "", []]);
  assertEquals(summary(history.recover("news", { epoch: E, seq: 1 })), ["gap", "expired", []]);
  assertEquals(history.stats().messages, 0);
});

Deno.test("History forgets the least recently published topic; its old ids never replay wrongly", () => {
  const history = new History<string>({ epoch: E, maxTopics: 2, sizeOf: () => 1 });
  for (let i = 0; i < 5; i++) history.append("a", () => "a"); // a: 1..5
  history.append("b", () => "b"); // b: 1
  history.append("a", () => "a"); // a: 6, now the most recent
  history.append("c", () => "c"); // forgets b (lastSeq 1); floor stays 1
  assertEquals(history.stats(), { topics: 2, messages: 7, bytes: 7 });
  history.append("d", () => "d"); // forgets a (lastSeq 6): floor 6
  assertEquals(history.stats().topics, 2);
  // "a" comes back numbered after every id it used before.
  assertEquals(history.last("a"), { epoch: E, seq: 6 });
  assertEquals(history.append("a", () => "again").seq, 7);
  // A client that saw a:6 missed nothing; one that saw a:5 missed a:6, gone.
  assertEquals(summary(history.recover("a", { epoch: E, seq: 6 })), ["complete", "", [7]]);
  assertEquals(summary(history.recover("a", { epoch: E, seq: 5 })), ["gap", "expired", [7]]);
});

Deno.test("History refuses impossible options", () => {
  assertThrows(() => new History({ size: -1 }), RangeError, "size");
  assertThrows(() => new History({ ttl: 1.5 }), RangeError, "ttl");
  assertThrows(() => new History({ maxTopics: NaN }), RangeError, "maxTopics");
  assertThrows(() => new History({ epoch: "Not-Valid" }), RangeError, "epoch");
});

Deno.test("History stays small and exact over many appends", () => {
  const history = new History<number>({ epoch: E, size: 100, sizeOf: () => 8 });
  for (let i = 1; i <= 100_000; i++) history.append("t", () => i);
  assertEquals(history.stats(), { topics: 1, messages: 100, bytes: 800 });
  const recovery = history.recover("t", { epoch: E, seq: 99_950 });
  assertEquals(
    recovery.entries.map((entry) => entry.value),
    Array.from({ length: 50 }, (_, i) => 99_951 + i),
  );
});

Deno.test("History.find() finds a message by its idempotency key while it is in the window", () => {
  const history = new History<string>({ epoch: E, size: 2 });
  history.append("news", () => "a", { key: "k1" });
  history.append("news", () => "b", { key: "k2" });
  assertEquals(history.find("news", "k1")?.value, "a");
  assertEquals(history.find("sport", "k1"), undefined);
  history.append("news", () => "c"); // "a" leaves the window, and its key with it
  assertEquals(history.find("news", "k1"), undefined);
  assertEquals(history.find("news", "k2")?.seq, 2);
});

Deno.test("History past maxBytes drops the oldest messages of the least recently published topics", () => {
  const history = new History<string>({ epoch: E, maxBytes: 100, sizeOf: (value) => value.length });
  const ten = (c: string) => c.repeat(10);
  for (let i = 0; i < 4; i++) history.append("a", () => ten("a")); // a: 1..4, 40 bytes
  for (let i = 0; i < 4; i++) history.append("b", () => ten("b")); // b: 1..4, 80 bytes
  history.append("c", () => ten("c")); // 90 bytes
  history.append("b", () => ten("b")); // b: 5, now the most recent; 100 bytes
  assertEquals(history.stats(), { topics: 3, messages: 10, bytes: 100 });
  history.append("c", () => ten("c")); // 110: a (least recent) loses its oldest
  assertEquals(summary(history.recover("a", { epoch: E, seq: 0 })), ["gap", "expired", [2, 3, 4]]);
  history.append("d", () => "d".repeat(35)); // 135: a loses 2, 3, 4, then b (next) its 1
  assertEquals(history.stats(), { topics: 4, messages: 7, bytes: 95 });
  assertEquals(summary(history.recover("a", { epoch: E, seq: 4 })), ["complete", "", []]);
  assertEquals(summary(history.recover("a", { epoch: E, seq: 3 })), ["gap", "expired", []]);
  assertEquals(summary(history.recover("b", { epoch: E, seq: 0 })), ["gap", "expired", [
    2,
    3,
    4,
    5,
  ]]);
  // The emptied topic keeps its numbering, and is the most recent once published again.
  assertEquals(history.append("a", () => ten("a")).seq, 5); // 105: b loses 2
  assertEquals(summary(history.recover("b", { epoch: E, seq: 2 })), ["complete", "", [3, 4, 5]]);
  assertEquals(summary(history.recover("c", { epoch: E, seq: 0 })), ["complete", "", [1, 2]]);
});

Deno.test("History.resize() sets a held message's size; the budget applies at once", () => {
  const history = new History<string>({ epoch: E, maxBytes: 50, sizeOf: () => 1 });
  history.append("a", () => "x");
  history.append("b", () => "y");
  assertEquals(history.resize("a", 1, 30), true);
  assertEquals(history.stats().bytes, 31);
  assertEquals(history.resize("b", 1, 30), true); // 60: "a" (least recent) goes
  assertEquals(history.stats(), { topics: 2, messages: 1, bytes: 30 });
  assertEquals(history.resize("a", 1, 5), false, "no longer held");
  assertEquals(history.resize("b", 2, 5), false, "never held");
  assertEquals(history.resize("c", 1, 5), false);
  assertThrows(() => new History({ maxBytes: -1 }), RangeError, "maxBytes");
  const unbounded = new History<string>({ epoch: E, maxBytes: 0, sizeOf: () => 1e9 });
  for (let i = 0; i < 3; i++) unbounded.append("t", () => "x");
  assertEquals(unbounded.stats().messages, 3);
});
