import { assertEquals } from "@std/assert";
import { Outbox, type Writer } from "../src/server/outbox.ts";

// A writer that records each write and completes it when told, writing at
// most `limit` bytes at a time.
function manualWriter(limit = Infinity) {
  const writes: number[][] = [];
  const pending: ((n: number) => void)[] = [];
  const failures: ((error: unknown) => void)[] = [];
  const writer: Writer = {
    write(bytes) {
      writes.push([...bytes.subarray(0, limit)]);
      return new Promise((resolve, reject) => {
        pending.push(() => resolve(Math.min(limit, bytes.length)));
        failures.push(reject);
      });
    },
  };
  const completeNext = async () => {
    failures.shift();
    pending.shift()!(0);
    await tick();
  };
  const failNext = async () => {
    pending.shift();
    failures.shift()!(new Error("reset"));
    await tick();
  };
  return { writer, writes, completeNext, failNext, inFlight: () => pending.length };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("Outbox writes once the task ends, one write in flight, later frames joined", async () => {
  const { writer, writes, completeNext, inFlight } = manualWriter();
  let drained = 0;
  const outbox = new Outbox(
    writer,
    Infinity,
    { onError: () => {}, onDrain: () => drained++ },
    undefined,
  );
  outbox.push(new Uint8Array([1]));
  outbox.push(new Uint8Array([2, 3]));
  assertEquals(writes, [], "nothing is written before the task ends");
  assertEquals(outbox.queuedBytes, 3);
  await tick();
  assertEquals(writes, [[1, 2, 3]], "the burst went out as one write");
  outbox.push(new Uint8Array([4]));
  outbox.push(new Uint8Array([5]));
  await tick();
  assertEquals(inFlight(), 1, "no second write while one is in flight");
  await completeNext();
  assertEquals(writes, [[1, 2, 3], [4, 5]]);
  assertEquals(drained, 0);
  await completeNext();
  assertEquals(drained, 1);
  assertEquals(outbox.idle, true);
  // The queue array is reused after a write: a new burst still goes out whole.
  outbox.push(new Uint8Array([6]));
  outbox.push(new Uint8Array([7]));
  await tick();
  assertEquals(writes.at(-1), [6, 7]);
  await completeNext();
  assertEquals(drained, 2);
});

Deno.test("Outbox finishes a partial write before the next frames", async () => {
  const { writer, writes, completeNext } = manualWriter(2);
  const outbox = new Outbox(writer, Infinity, { onError: () => {}, onDrain: () => {} }, undefined);
  outbox.push(new Uint8Array([1, 2, 3, 4, 5]));
  await tick();
  outbox.push(new Uint8Array([6]));
  await completeNext();
  await completeNext();
  await completeNext();
  await completeNext();
  assertEquals(writes, [[1, 2], [3, 4], [5], [6]]);
  assertEquals(outbox.queuedBytes, 0);
});

Deno.test("Outbox stops on a failed write and after stop()", async () => {
  const { writer, writes, failNext } = manualWriter();
  const errors: unknown[] = [];
  const outbox = new Outbox(writer, Infinity, {
    onError: (_owner, error) => errors.push(error),
    onDrain: () => {},
  }, undefined);
  outbox.push(new Uint8Array([1]));
  await tick();
  outbox.push(new Uint8Array([2]));
  await failNext();
  assertEquals(errors.length, 1);
  outbox.push(new Uint8Array([3]));
  await tick();
  assertEquals(writes, [[1]], "nothing more is written");

  const second = manualWriter();
  const stopped = new Outbox(
    second.writer,
    Infinity,
    { onError: () => {}, onDrain: () => {} },
    undefined,
  );
  stopped.push(new Uint8Array([1]));
  stopped.stop();
  stopped.push(new Uint8Array([2]));
  await tick();
  assertEquals(second.writes, []);
  assertEquals(stopped.queuedBytes, 0);
});
