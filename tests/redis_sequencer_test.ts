/**
 * The Redis engine's per-topic sequencer without Redis: messages arrive in
 * any order, reads of the stream are answered by hand, and the engine's
 * timer is a list of the delays asked for.
 */

import { assert, assertEquals } from "@std/assert";
import type { EngineMessage } from "../src/push/engine.ts";
import { formatId } from "../src/push/history.ts";
import {
  readRecovery,
  Sequencer,
  type SequencerOptions,
  type StreamRead,
} from "../src/push/redis/sequencer.ts";

/** A sequencer of topic "t", with what its sink got and the reads it asked for. */
function setup(options: SequencerOptions = {}) {
  const log: string[] = [];
  const delays: number[] = [];
  const sequencer = new Sequencer("t", {
    sink: (event) =>
      log.push(
        event.type === "message"
          ? formatId(event.message.id)
          : `gap:${event.reason} after ${formatId(event.since)}`,
      ),
    schedule: (delay) => delays.push(delay),
  }, options);
  return { sequencer, log, delays };
}

/** Message `seq` of topic "t". */
function m(seq: number, epoch = "e1", time = 1000): EngineMessage {
  return { topic: "t", id: { epoch, seq }, time, payload: `p${seq}` };
}

/** What a read answers: the epoch, the last seq, and the seqs of its messages. */
function read(epoch: string, last: number, seqs: number[]): StreamRead {
  return { epoch, last, messages: seqs.map((seq) => m(seq, epoch)) };
}

Deno.test("Sequencer delivers messages in seq order from the known position", () => {
  const { sequencer, log, delays } = setup();
  sequencer.start({ epoch: "e1", seq: 4 });
  assertEquals([sequencer.receive(m(5)), sequencer.receive(m(6))], ["delivered", "delivered"]);
  assertEquals(log, ["e1:5", "e1:6"]);
  assertEquals(sequencer.position, { epoch: "e1", seq: 6 });
  assertEquals(sequencer.recent.map((message) => message.id.seq), [5, 6]);
  assertEquals(delays, []);
  assert(sequencer.settled);
});

Deno.test("Sequencer drops duplicates and messages before its position", () => {
  const { sequencer, log, delays } = setup();
  sequencer.start({ epoch: "e1", seq: 2 });
  sequencer.receive(m(3));
  assertEquals(
    [m(3), m(2), m(1)].map((message) => sequencer.receive(message)),
    ["duplicate", "duplicate", "duplicate"],
  );
  assertEquals(log, ["e1:3"]);
  assertEquals(delays, []);
});

Deno.test("Sequencer holds messages that come before their position is known", () => {
  const { sequencer, log } = setup();
  assertEquals([sequencer.receive(m(3)), sequencer.receive(m(2))], ["early", "early"]);
  assertEquals(sequencer.known, false);
  assertEquals(sequencer.beginRead(), false, "no read before the position is known");
  sequencer.start({ epoch: "e1", seq: 2 });
  assertEquals(log, ["e1:3"]);
  assertEquals(sequencer.held, 0);
});

Deno.test("Sequencer holds a message ahead of its turn until Pub/Sub fills the hole", () => {
  const { sequencer, log, delays } = setup();
  sequencer.start({ epoch: "e1", seq: 0 });
  assertEquals(sequencer.receive(m(2)), "hole");
  assertEquals(sequencer.receive(m(3)), "hole");
  assertEquals(delays, [50], "one read, 50 ms later, unless the hole fills first");
  assertEquals([sequencer.held, sequencer.catchUp, sequencer.settled], [2, "due", false]);
  assertEquals(sequencer.receive(m(1)), "delivered");
  assertEquals(log, ["e1:1", "e1:2", "e1:3"]);
  assertEquals(sequencer.held, 0);
  // The read still happens, and finds nothing missing.
  assert(sequencer.beginRead());
  assertEquals(sequencer.applyRead({ epoch: "e1", seq: 3 }, read("e1", 3, [])), false);
  sequencer.endRead();
  assertEquals([log.length, sequencer.catchUp, sequencer.settled], [3, "idle", true]);
});

Deno.test("Sequencer fills a hole from a read of the stream", () => {
  const { sequencer, log, delays } = setup();
  sequencer.start({ epoch: "e1", seq: 0 });
  sequencer.receive(m(3));
  assertEquals(delays, [50]);
  assert(sequencer.beginRead());
  assertEquals(sequencer.catchUp, "reading");
  const since = sequencer.position;
  assertEquals(sequencer.applyRead(since, read("e1", 3, [1, 2, 3])), false);
  sequencer.endRead();
  assertEquals(log, ["e1:1", "e1:2", "e1:3"]);
  assertEquals([sequencer.held, sequencer.catchUp], [0, "idle"]);
  assertEquals(delays, [50]);
});

Deno.test("Sequencer reads on while a full batch leaves it behind", () => {
  const { sequencer, log } = setup();
  sequencer.start({ epoch: "e1", seq: 0 });
  sequencer.recheck();
  assert(sequencer.beginRead());
  assertEquals(sequencer.applyRead(sequencer.position, read("e1", 5, [1, 2, 3])), true);
  assertEquals(sequencer.applyRead(sequencer.position, read("e1", 5, [4, 5])), false);
  sequencer.endRead();
  assertEquals(log, ["e1:1", "e1:2", "e1:3", "e1:4", "e1:5"]);
});

Deno.test("Sequencer: a read from another epoch is a restart gap, then the new dataset", async (t) => {
  await t.step("with messages", () => {
    const { sequencer, log, delays } = setup();
    sequencer.start({ epoch: "e1", seq: 5 });
    sequencer.receive(m(5));
    assertEquals(sequencer.receive(m(1, "e2")), "epoch");
    assertEquals(delays, [0]);
    assert(sequencer.beginRead());
    sequencer.applyRead({ epoch: "e1", seq: 5 }, read("e2", 2, [1, 2]));
    sequencer.endRead();
    assertEquals(log, ["gap:restart after e1:5", "e2:1", "e2:2"]);
    assertEquals(sequencer.position, { epoch: "e2", seq: 2 });
  });
  await t.step("with nothing published since", () => {
    const { sequencer, log } = setup();
    sequencer.start({ epoch: "e1", seq: 5 });
    sequencer.recheck();
    assert(sequencer.beginRead());
    assertEquals(sequencer.applyRead({ epoch: "e1", seq: 5 }, read("e2", 0, [])), false);
    sequencer.endRead();
    assertEquals(log, ["gap:restart after e1:5"]);
    assertEquals(sequencer.position, { epoch: "e2", seq: 0 });
  });
});

Deno.test("Sequencer: a read behind what it asked for is an unknown gap", () => {
  const { sequencer, log } = setup();
  sequencer.start({ epoch: "e1", seq: 5 });
  sequencer.recheck();
  assert(sequencer.beginRead());
  // Redis kept the epoch but lost its latest writes.
  sequencer.applyRead({ epoch: "e1", seq: 5 }, read("e1", 3, []));
  sequencer.endRead();
  assertEquals(log, ["gap:unknown after e1:5"]);
  assertEquals(sequencer.position, { epoch: "e1", seq: 3 });
  assertEquals(sequencer.receive(m(4)), "delivered");
});

Deno.test("Sequencer: a read whose window starts past the position is an expired gap", async (t) => {
  await t.step("the window holds the latest", () => {
    const { sequencer, log } = setup();
    sequencer.start({ epoch: "e1", seq: 2 });
    sequencer.recheck();
    assert(sequencer.beginRead());
    sequencer.applyRead({ epoch: "e1", seq: 2 }, read("e1", 10, [8, 9, 10]));
    sequencer.endRead();
    assertEquals(log, ["gap:expired after e1:2", "e1:8", "e1:9", "e1:10"]);
  });
  await t.step("the window is empty", () => {
    const { sequencer, log } = setup();
    sequencer.start({ epoch: "e1", seq: 2 });
    sequencer.recheck();
    assert(sequencer.beginRead());
    sequencer.applyRead({ epoch: "e1", seq: 2 }, read("e1", 10, []));
    sequencer.endRead();
    assertEquals(log, ["gap:expired after e1:2"]);
    assertEquals(sequencer.position, { epoch: "e1", seq: 10 });
  });
});

Deno.test("Sequencer: Pub/Sub delivering past a read's answer is no gap", () => {
  const { sequencer, log, delays } = setup();
  sequencer.start({ epoch: "e1", seq: 2 });
  sequencer.recheck();
  assert(sequencer.beginRead());
  const since = sequencer.position;
  // While the read is under way, Pub/Sub brings 3 and 4, then a hole.
  sequencer.receive(m(3));
  sequencer.receive(m(4));
  assertEquals(sequencer.receive(m(6)), "hole");
  assertEquals(sequencer.catchUp, "again");
  assertEquals(sequencer.applyRead(since, read("e1", 3, [3])), false);
  sequencer.endRead();
  assertEquals(log, ["e1:3", "e1:4"]);
  // The hole asked for a read during the first: it comes at once.
  assertEquals(delays, [0, 50, 0]);
  assertEquals(sequencer.catchUp, "due");
});

Deno.test("Sequencer drops held messages of an old epoch after a restart", () => {
  const { sequencer, log } = setup();
  sequencer.start({ epoch: "e1", seq: 1 });
  assertEquals(sequencer.receive(m(3)), "hole");
  assertEquals(sequencer.receive(m(1, "e2")), "epoch");
  assert(sequencer.beginRead());
  sequencer.applyRead({ epoch: "e1", seq: 1 }, read("e2", 2, [1, 2]));
  sequencer.endRead();
  assertEquals(log, ["gap:restart after e1:1", "e2:1", "e2:2"]);
  assertEquals(sequencer.held, 0);
  assertEquals(sequencer.receive(m(3, "e2")), "delivered");
});

Deno.test("Sequencer caps its held messages and then reads at once", () => {
  const { sequencer, delays } = setup({ maxHeld: 3 });
  sequencer.start({ epoch: "e1", seq: 0 });
  for (const seq of [2, 3, 4]) sequencer.receive(m(seq));
  assertEquals([sequencer.held, delays], [3, [50]]);
  sequencer.receive(m(5));
  assertEquals(sequencer.held, 1, "the stream has them all");
  assertEquals(delays, [50, 0], "the read comes at once");
});

Deno.test("Sequencer backs off after failed reads, and starts over after one succeeds", () => {
  const { sequencer, delays } = setup({ retryDelay: (attempt) => attempt * 100 });
  sequencer.start({ epoch: "e1", seq: 0 });
  sequencer.recheck();
  for (let i = 0; i < 3; i++) {
    assert(sequencer.beginRead());
    sequencer.failRead();
    assertEquals(sequencer.catchUp, "due");
  }
  assert(sequencer.beginRead());
  sequencer.endRead();
  assert(sequencer.beginRead());
  sequencer.failRead();
  assertEquals(delays, [0, 100, 200, 300, 100]);
});

Deno.test("Sequencer asks for a read: a sooner one replaces a later one, never the reverse", () => {
  const { sequencer, delays } = setup();
  sequencer.start({ epoch: "e1", seq: 0 });
  sequencer.receive(m(3)); // 50
  sequencer.receive(m(4)); // already due
  sequencer.recheck(); // sooner: 0
  sequencer.receive(m(6)); // already due sooner
  assertEquals(delays, [50, 0]);
  assertEquals(setup().sequencer.catchUp, "idle");
});

Deno.test("Sequencer keeps `size` recent messages; a gap clears them", () => {
  const { sequencer } = setup({ size: 2 });
  sequencer.start({ epoch: "e1", seq: 0 });
  for (const seq of [1, 2, 3]) sequencer.receive(m(seq));
  assertEquals(sequencer.recent.map((message) => message.id.seq), [2, 3]);
  sequencer.recheck();
  sequencer.beginRead();
  sequencer.applyRead({ epoch: "e1", seq: 3 }, read("e2", 0, []));
  assertEquals(sequencer.recent, []);
  const none = setup({ size: 0 }).sequencer;
  none.start({ epoch: "e1", seq: 0 });
  none.receive(m(1));
  assertEquals(none.recent, []);
});

Deno.test("Sequencer.recover() answers from recent messages, or tells to read", async (t) => {
  const { sequencer } = setup({ size: 3 });
  sequencer.start({ epoch: "e1", seq: 0 });
  for (let seq = 1; seq <= 5; seq++) sequencer.receive(m(seq, "e1", 1000 + seq)); // keeps 3..5
  const seqs = (since: number, options = {}) => {
    const recovery = sequencer.recover({ epoch: "e1", seq: since }, options);
    return recovery === undefined
      ? undefined
      : [recovery.kind, recovery.messages.map((message) => message.id.seq), recovery.last.seq];
  };
  await t.step("after a held message", () => assertEquals(seqs(3), ["complete", [4, 5], 5]));
  await t.step("right before the oldest", () => assertEquals(seqs(2), ["complete", [3, 4, 5], 5]));
  await t.step("up to date", () => assertEquals(seqs(5), ["complete", [], 5]));
  await t.step(
    "at most `limit`",
    () => assertEquals(seqs(2, { limit: 2 }), ["complete", [3, 4], 5]),
  );
  await t.step("before the recent ones: read", () => assertEquals(seqs(1), undefined));
  await t.step("ahead: read", () => assertEquals(seqs(6), undefined));
  await t.step("another epoch: read", () => {
    assertEquals(sequencer.recover({ epoch: "e0", seq: 3 }), undefined);
  });
  await t.step("the oldest has expired: read", () => {
    assertEquals(seqs(3, { cutoff: 1003 }), undefined);
    assertEquals(seqs(3, { cutoff: 1002 }), ["complete", [4, 5], 5]);
  });
  await t.step("up to date even when all expired", () => {
    assertEquals(seqs(5, { cutoff: 9999 }), ["complete", [], 5]);
  });
  await t.step("position unknown: read", () => {
    assertEquals(setup().sequencer.recover({ epoch: "", seq: 0 }), undefined);
  });
});

Deno.test("readRecovery() turns a read after an id into complete or a gap", async (t) => {
  const seqs = (since: string, answer: StreamRead) => {
    const [epoch, seq] = since.split(":");
    const recovery = readRecovery({ epoch: epoch!, seq: Number(seq) }, answer);
    return [
      recovery.kind === "gap" ? recovery.reason : "complete",
      recovery.messages.map((message) => message.id.seq),
      formatId(recovery.last),
    ];
  };
  await t.step("exactly what came after", () => {
    assertEquals(seqs("e1:3", read("e1", 5, [4, 5])), ["complete", [4, 5], "e1:5"]);
  });
  await t.step("up to date", () => {
    assertEquals(seqs("e1:5", read("e1", 5, [])), ["complete", [], "e1:5"]);
  });
  await t.step("the next message left the window", () => {
    assertEquals(seqs("e1:1", read("e1", 5, [4, 5])), ["expired", [4, 5], "e1:5"]);
    assertEquals(seqs("e1:1", read("e1", 5, [])), ["expired", [], "e1:5"]);
  });
  await t.step("ahead of the topic", () => {
    assertEquals(seqs("e1:9", read("e1", 5, [4, 5])), ["unknown", [4, 5], "e1:5"]);
  });
  await t.step("another dataset", () => {
    assertEquals(seqs("e0:5", read("e1", 5, [4, 5])), ["restart", [4, 5], "e1:5"]);
  });
});

Deno.test("Sequencer: a fresh message past the position is next while delivery is continuous", async (t) => {
  await t.step("from Pub/Sub", () => {
    const { sequencer, log, delays } = setup();
    sequencer.start({ epoch: "e1", seq: 4 }); // the topic's place, before the floor moved
    assertEquals(sequencer.receive(m(9), true), "delivered");
    assertEquals(sequencer.receive(m(10)), "delivered");
    assertEquals([log, delays], [["e1:9", "e1:10"], []]);
    assertEquals(sequencer.recent.map((message) => message.id.seq), [9, 10]);
  });
  await t.step("held behind a lower message, it waits for it", () => {
    const { sequencer, log } = setup();
    sequencer.start({ epoch: "e1", seq: 4 });
    assertEquals(sequencer.receive(m(7)), "hole");
    assertEquals(sequencer.receive(m(9), true), "hole");
    assertEquals(log, []);
  });
  await t.step("held before the position was known", () => {
    const { sequencer, log } = setup();
    assertEquals(sequencer.receive(m(9), true), "early");
    sequencer.start({ epoch: "e1", seq: 4 });
    assertEquals(log, ["e1:9"]);
  });
  await t.step("a read whose first message is fresh: no gap", () => {
    const { sequencer, log } = setup();
    sequencer.start({ epoch: "e1", seq: 4 });
    assertEquals(sequencer.receive(m(10)), "hole"); // our own publish overtook Pub/Sub
    assert(sequencer.beginRead());
    sequencer.applyRead({ epoch: "e1", seq: 4 }, { ...read("e1", 10, [9, 10]), fresh: true });
    sequencer.endRead();
    assertEquals(log, ["e1:9", "e1:10"]);
  });
  await t.step("a read that finds no message at all moves the position, no gap", () => {
    const { sequencer, log } = setup();
    sequencer.start({ epoch: "e1", seq: 4 });
    assertEquals(sequencer.receive(m(12)), "hole");
    assert(sequencer.beginRead());
    sequencer.applyRead({ epoch: "e1", seq: 4 }, { ...read("e1", 8, []), empty: true });
    sequencer.endRead();
    assertEquals([log, sequencer.position.seq], [[], 8]);
  });
});

Deno.test("Sequencer: after a lost connection, fresh and empty wait for a read made once it is back", () => {
  const { sequencer, log, delays } = setup();
  sequencer.start({ epoch: "e1", seq: 4 });
  sequencer.interrupt();
  assertEquals(sequencer.continuous, false);
  assertEquals(sequencer.receive(m(9), true), "hole", "a fresh message proves nothing now");
  sequencer.recheck(); // the connection is back
  assert(sequencer.beginRead());
  // What the read finds is judged strictly: the topic may have had a whole stream meanwhile.
  sequencer.applyRead({ epoch: "e1", seq: 4 }, { ...read("e1", 9, [9]), fresh: true });
  sequencer.endRead();
  assertEquals(log, ["gap:expired after e1:4", "e1:9"]);
  assertEquals(sequencer.continuous, true, "the read made after the return restores it");
  assertEquals(sequencer.receive(m(20), true), "delivered");
  assertEquals(delays, [50, 0]);
});

Deno.test("Sequencer: a read begun before the connection came back does not restore continuity", () => {
  const { sequencer } = setup();
  sequencer.start({ epoch: "e1", seq: 4 });
  sequencer.recheck();
  assert(sequencer.beginRead());
  sequencer.interrupt(); // lost again during the read
  sequencer.applyRead({ epoch: "e1", seq: 4 }, read("e1", 4, []));
  sequencer.endRead();
  assertEquals(sequencer.continuous, false);
  sequencer.recheck();
  assert(sequencer.beginRead());
  sequencer.failRead(); // a failed read restores nothing, its retry will
  assertEquals(sequencer.continuous, false);
  assert(sequencer.beginRead());
  sequencer.endRead();
  assertEquals(sequencer.continuous, true);
});

Deno.test("Sequencer.advance() moves a settled, continuous position up to an empty topic's place", () => {
  const { sequencer, log } = setup();
  sequencer.start({ epoch: "e1", seq: 4 });
  assertEquals(sequencer.advance(read("e1", 9, [])), false, "not known to be empty");
  assertEquals(sequencer.advance({ ...read("e0", 9, []), empty: true }), false, "another epoch");
  assertEquals(sequencer.advance({ ...read("e1", 3, []), empty: true }), false, "behind");
  assertEquals(sequencer.advance({ ...read("e1", 9, []), empty: true }), true);
  assertEquals([sequencer.position.seq, log], [9, []]);
  assertEquals(sequencer.receive(m(10)), "delivered");
  sequencer.interrupt();
  assertEquals(sequencer.advance({ ...read("e1", 12, []), empty: true }), false, "not continuous");
});
