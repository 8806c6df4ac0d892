import { assert, assertEquals, assertNotStrictEquals } from "@std/assert";
import { SharedJoin } from "../src/server/shared_join.ts";
import { Outbox, type Writer } from "../src/server/outbox.ts";

const frame = (...bytes: number[]) => new Uint8Array(bytes);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("SharedJoin.join() shares a join only for the very same run of frames", async (t) => {
  const a = frame(1, 2);
  const b = frame(3);
  const c = frame(4, 5, 6);
  const d = frame(7);
  await t.step("the same frames, in the same order: one join, shared", () => {
    const joins = new SharedJoin();
    const first = joins.join([a, b, c], 3, 6);
    const second = joins.join([a, b, c], 3, 6);
    assertEquals([...first], [1, 2, 3, 4, 5, 6]);
    assertEquals(second, first);
    assert(second.buffer === first.buffer);
  });
  await t.step("a contiguous run of the last join: a view at the right offset", () => {
    const joins = new SharedJoin();
    const whole = joins.join([a, b, c, d], 4, 7);
    const middle = joins.join([b, c], 2, 4);
    const tail = joins.join([c, d, a], 2, 4); // only the first two are joined
    assertEquals([...middle], [3, 4, 5, 6]);
    assertEquals([...tail], [4, 5, 6, 7]);
    assert(middle.buffer === whole.buffer && tail.buffer === whole.buffer);
  });
  const cases: [string, Uint8Array[], number, number[]][] = [
    ["equal bytes in other objects", [frame(1, 2), frame(3)], 2, [1, 2, 3]],
    ["the same frames in another order", [b, a], 2, [3, 1, 2]],
    ["a run with a gap", [a, c], 2, [1, 2, 4, 5, 6]],
    ["a run past the end", [c, d], 2, [4, 5, 6, 7]],
    ["a frame of its own after shared ones", [a, b, frame(9)], 3, [1, 2, 3, 9]],
  ];
  for (const [name, frames, count, expected] of cases) {
    await t.step(`${name}: a join of its own`, () => {
      const joins = new SharedJoin();
      const known = joins.join([a, b, c], 3, 6);
      let length = 0;
      for (const part of frames.slice(0, count)) length += part.length;
      const joined = joins.join(frames, count, length);
      assertEquals([...joined], expected);
      assertNotStrictEquals(joined.buffer, known.buffer);
      assertEquals([...known], [1, 2, 3, 4, 5, 6], "the earlier join is unchanged");
    });
  }
});

// A writer that records the bytes of each write as passed, completing at once.
function recorder() {
  const writes: Uint8Array[] = [];
  const writer: Writer = {
    write(bytes) {
      writes.push(bytes);
      return Promise.resolve(bytes.length);
    },
  };
  return { writer, writes };
}

Deno.test("Outbox: sockets with the same queue write shared bytes, others their own", async () => {
  const events = { onError: () => {}, onDrain: () => {} };
  const shared = [frame(0x81, 1, 0x61), frame(0x81, 1, 0x62)];
  const own = frame(0x8a, 0);
  const sockets = [recorder(), recorder(), recorder(), recorder()];
  const outboxes = sockets.map(({ writer }) => new Outbox(writer, Infinity, events, undefined));
  for (const outbox of outboxes.slice(0, 2)) for (const part of shared) outbox.push(part);
  outboxes[2]!.push(shared[0]!);
  outboxes[2]!.push(own);
  outboxes[3]!.push(shared[1]!);
  await tick();
  const [first, second, third, fourth] = sockets.map(({ writes }) => writes[0]!);
  assertEquals([...first!], [0x81, 1, 0x61, 0x81, 1, 0x62]);
  assertEquals([...second!], [0x81, 1, 0x61, 0x81, 1, 0x62]);
  assert(first!.buffer === second!.buffer, "joined once for both");
  assertEquals([...third!], [0x81, 1, 0x61, 0x8a, 0], "its own pong is in its write only");
  assertEquals([...fourth!], [0x81, 1, 0x62], "a single frame is written as it is");
  // A later join never changes the bytes of an earlier shared write.
  outboxes[0]!.push(own);
  outboxes[0]!.push(shared[0]!);
  await tick();
  assertEquals([...sockets[0]!.writes[1]!], [0x8a, 0, 0x81, 1, 0x61]);
  assertEquals([...second!], [0x81, 1, 0x61, 0x81, 1, 0x62]);
  assertEquals(sockets.map(({ writes }) => writes.length), [2, 1, 1, 1]);
});
