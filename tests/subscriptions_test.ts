import { assertEquals, assertThrows } from "@std/assert";
import { parseControl, parseSubscriptions } from "../src/push/subscriptions.ts";

Deno.test("parseSubscriptions() reads topics once each, and since per topic", async (t) => {
  await t.step("no topic: the chat room", () => {
    assertEquals(parseSubscriptions(new URLSearchParams("")), { topics: [], since: new Map() });
  });
  await t.step("topics in order, repeats dropped", () => {
    const { topics } = parseSubscriptions(new URLSearchParams("topic=b&topic=a&topic=b"));
    assertEquals(topics, ["b", "a"]);
  });
  await t.step("since for one topic in both forms", () => {
    for (const since of ["e1:4", "news:e1:4"]) {
      const parsed = parseSubscriptions(new URLSearchParams(`topic=news&since=${since}`));
      assertEquals([...parsed.since], [["news", { epoch: "e1", seq: 4 }]]);
    }
  });
  const bad: [string, string][] = [
    ["topic=a%20b", "Cannot use topic"],
    ["topic=", "Cannot use topic"],
    ["topic=a&topic=b&topic=c", "at most 2 topics"],
    ["topic=a&since=b:e1:1", "not subscribed"],
    ["since=e1:1", "with several topics"],
    ["topic=a&since=e1:x", "Invalid id"],
  ];
  for (const [query, message] of bad) {
    await t.step(`"${query}" is refused`, () => {
      assertThrows(() => parseSubscriptions(new URLSearchParams(query), 2), TypeError, message);
    });
  }
});

Deno.test("parseControl() reads subscribe and unsubscribe, and leaves other text alone", async (t) => {
  const cases: [string, unknown][] = [
    ['{"type":"subscribe","topic":"news"}', { type: "subscribe", topic: "news" }],
    [' {"type":"subscribe","topic":"news","since":null}', { type: "subscribe", topic: "news" }],
    ['{"type":"subscribe","topic":"news","since":"e1:7"}', {
      type: "subscribe",
      topic: "news",
      since: { epoch: "e1", seq: 7 },
    }],
    ['{"type":"unsubscribe","topic":"news","since":"ignored"}', {
      type: "unsubscribe",
      topic: "news",
    }],
    ["hello", undefined],
    ["{not json", undefined],
    ['{"type":"message","text":"hi"}', undefined],
    ['["subscribe","news"]', undefined],
    ["null", undefined],
    [`{"type":"subscribe","topic":"${"x".repeat(2000)}"}`, undefined],
  ];
  for (const [text, expected] of cases) {
    await t.step(text.slice(0, 60), () => assertEquals(parseControl(text), expected));
  }
  const bad: [string, string][] = [
    ['{"type":"subscribe"}', '"topic" must be a string'],
    ['{"type":"unsubscribe","topic":7}', '"topic" must be a string'],
    ['{"type":"subscribe","topic":"a b"}', "Cannot use topic"],
    ['{"type":"subscribe","topic":"a","since":5}', '"since" must be a string'],
    ['{"type":"subscribe","topic":"a","since":"nope"}', "Invalid id"],
  ];
  for (const [text, message] of bad) {
    await t.step(`${text} is refused`, () => {
      assertThrows(() => parseControl(text), TypeError, message);
    });
  }
});
