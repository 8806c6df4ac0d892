import { assertEquals } from "@std/assert";
import { classifyGap, type GapVerdict } from "../src/push/gap.ts";
import { History, parseId } from "../src/push/history.ts";

/** A verdict as one word: `complete`, or the gap's reason. */
function word(verdict: GapVerdict): string {
  return verdict.kind === "complete" ? "complete" : verdict.reason;
}

/** [case, the reader's id, the store's last seq, first seq held (epoch "e1"), verdict] */
const CASES: [string, string, number, number | undefined, string][] = [
  ["nothing published, nothing seen", "e1:0", 0, undefined, "complete"],
  ["up to date, window empty", "e1:5", 5, undefined, "complete"],
  ["up to date, window held", "e1:5", 5, 3, "complete"],
  ["the window starts right after", "e1:4", 9, 5, "complete"],
  ["the window reaches further back", "e1:4", 9, 1, "complete"],
  ["a forgotten topic's floor, nothing held", "e1:7", 7, undefined, "complete"],
  ["the next message left the window", "e1:4", 9, 6, "expired"],
  ["nothing seen, the first left", "e1:0", 3, 2, "expired"],
  ["behind, window empty (size 0 or aged out)", "e1:4", 5, undefined, "expired"],
  ["ahead of the topic", "e1:6", 5, 1, "unknown"],
  ["ahead of an empty topic", "e1:1", 0, undefined, "unknown"],
  ["ahead wins over a window past it", "e1:12", 10, 20, "unknown"],
  ["another epoch, same seq", "e0:5", 5, undefined, "restart"],
  ["another epoch wins over ahead", "e0:99", 5, undefined, "restart"],
  ["another epoch wins over expired", "e0:0", 9, 8, "restart"],
];

Deno.test("classifyGap() tells complete, restart, unknown and expired apart", async (t) => {
  for (const [name, since, last, first, expected] of CASES) {
    await t.step(`${name}: ${expected}`, () => {
      assertEquals(word(classifyGap(parseId(since), { epoch: "e1", last, first })), expected);
    });
  }
});

Deno.test("classifyGap() with no first seq held is classifyGap() with last + 1", () => {
  for (let last = 0; last < 4; last++) {
    for (let seq = 0; seq < 6; seq++) {
      const since = { epoch: "e1", seq };
      assertEquals(
        classifyGap(since, { epoch: "e1", last }),
        classifyGap(since, { epoch: "e1", last, first: last + 1 }),
      );
    }
  }
});

Deno.test("History.recover() answers as classifyGap() does for its window", () => {
  const history = new History<string>({ size: 3, epoch: "e1" });
  for (let i = 0; i < 6; i++) history.append("t", (seq) => `m${seq}`); // holds 4..6
  for (const epoch of ["e0", "e1"]) {
    for (let seq = 0; seq < 9; seq++) {
      const since = { epoch, seq };
      const recovery = history.recover("t", since);
      assertEquals(
        recovery.kind === "gap" ? recovery.reason : "complete",
        word(classifyGap(since, { epoch: "e1", last: 6, first: 4 })),
        `since ${epoch}:${seq}`,
      );
    }
  }
});
