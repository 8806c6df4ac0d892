/**
 * The outbox's cap: frames refused past it, one pong waiting at most, and
 * joined writes no larger than the cap.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { Outbox, type Writer } from "../src/server/outbox.ts";

/** A writer that records each write and completes it when told. */
function stalledWriter(): { writer: Writer; writes: Uint8Array[]; complete(): void } {
  const writes: Uint8Array[] = [];
  const waiting: (() => void)[] = [];
  return {
    writes,
    writer: {
      write(bytes) {
        writes.push(bytes.slice());
        return new Promise((resolve) => waiting.push(() => resolve(bytes.length)));
      },
    },
    complete: () => {
      for (const done of waiting.splice(0)) done();
    },
  };
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 2));
}

const NONE = { onError: () => {}, onDrain: () => {} };

Deno.test("Outbox refuses a frame past its cap unless nothing else waits", () => {
  const { writer } = stalledWriter();
  const outbox = new Outbox(writer, 10, NONE, undefined);
  assertEquals(outbox.push(new Uint8Array(6)), true);
  assertEquals(outbox.push(new Uint8Array(4)), true, "exactly at the cap");
  assertEquals(outbox.push(new Uint8Array(1)), false);
  assertEquals(outbox.queuedBytes, 10, "the refused frame was not queued");
  const alone = new Outbox(writer, 10, NONE, undefined);
  assertEquals(alone.push(new Uint8Array(50)), true, "a frame alone is always taken");
  assertEquals(alone.push(new Uint8Array(1)), false);
});

const pong = (n: number, length = 1) => Uint8Array.of(0x8a, length, ...new Array(length).fill(n));

Deno.test("Outbox.pong(): past 16 waiting pongs, a new one replaces the newest, in its place", async () => {
  const { writer, writes, complete } = stalledWriter();
  const outbox = new Outbox(writer, 1000, NONE, undefined);
  outbox.pong(pong(0));
  await settle();
  assertEquals(writes.length, 1, "the first pong is being written");
  for (let n = 1; n <= 15; n++) outbox.pong(pong(n));
  outbox.push(Uint8Array.of(0x81, 0x00));
  outbox.pong(pong(16));
  outbox.pong(pong(17));
  outbox.pong(pong(18, 2));
  assertEquals(outbox.queuedBytes, 3 + 15 * 3 + 2 + 4);
  complete();
  await settle();
  const expected = [];
  for (let n = 1; n <= 15; n++) expected.push(...pong(n));
  expected.push(0x81, 0x00, ...pong(18, 2));
  assertEquals(writes[1], Uint8Array.from(expected), "1 to 15, the text frame, then the latest");
  outbox.pong(pong(19));
  complete();
  await settle();
  assertEquals(writes[2], pong(19), "new pongs once the waiting ones went out");
});

Deno.test("Outbox.pong() keeps to the cap, counting the pong it replaces as gone", () => {
  const { writer } = stalledWriter();
  const outbox = new Outbox(writer, 3 + 16 * 3, NONE, undefined);
  outbox.push(new Uint8Array(3));
  for (let n = 0; n < 16; n++) assertEquals(outbox.pong(pong(n)), true);
  assertEquals(outbox.queuedBytes, 3 + 16 * 3, "at the cap");
  assertEquals(outbox.pong(pong(16)), true, "replaces: still at the cap");
  assertEquals(outbox.pong(pong(17, 2)), false);
  assertEquals(outbox.queuedBytes, 3 + 16 * 3);
});

Deno.test("Outbox joins at most its cap into one write; the rest waits for the next", async () => {
  const { writer, writes, complete } = stalledWriter();
  const outbox = new Outbox(writer, 8, NONE, undefined);
  outbox.pushPastCap(Uint8Array.of(1, 1, 1));
  outbox.pushPastCap(Uint8Array.of(2, 2, 2));
  outbox.pushPastCap(Uint8Array.of(3, 3, 3));
  outbox.pushPastCap(new Uint8Array(20).fill(4));
  outbox.pushPastCap(Uint8Array.of(5));
  assertEquals(outbox.queuedBytes, 30);
  for (let i = 0; i < 4; i++) {
    await settle();
    complete();
  }
  await settle();
  assertEquals(writes.map((bytes) => bytes.length), [6, 3, 20, 1]);
  assertEquals(outbox.idle, true);
});
