/**
 * Hostile clients against the per-connection budgets, from the wire: raw
 * frames over loopback. A ping flood from a client that never reads, a
 * control reply past the outbox cap, a message of hundreds of thousands of
 * fragments, compressed bombs, and a message flood against the rate limit.
 * Each test is bounded in count and time and cleans up after itself; memory
 * and time figures are printed so they can be compared between runs.
 *
 * @module
 */

import { denoRunArgs } from "./_deno_run.ts";
import { assert, assertEquals, assertLess, assertLessOrEqual } from "@std/assert";
import { deflateRawSync } from "node:zlib";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { encodeFrame, OPCODE, type Opcode } from "../src/protocol/frame.ts";
import type { Socket } from "../src/server/socket.ts";
import { RawClient } from "./_raw_client.ts";
import { echo, until, withServer } from "./_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MiB = 1024 * 1024;
// A masking key of zeros: the payload goes out as it is, so frames can be copied.
const ZERO_KEY = new Uint8Array(4);
const DEFLATE_OFFER = {
  "Sec-WebSocket-Extensions": "permessage-deflate; client_no_context_takeover",
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function megabytes(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** RSS after letting timers, sockets and the allocator settle. */
async function settledRss(): Promise<number> {
  await sleep(300);
  return Deno.memoryUsage().rss;
}

/** A masked client frame. */
function frame(
  opcode: Opcode,
  payload: Uint8Array,
  options: { fin?: boolean; rsv1?: boolean } = {},
) {
  return encodeFrame(opcode, payload, { mask: ZERO_KEY, ...options });
}

/** `count` copies of `bytes`, end to end. */
function repeat(bytes: Uint8Array, count: number): Uint8Array {
  const all = new Uint8Array(bytes.length * count);
  for (let i = 0; i < count; i++) all.set(bytes, i * bytes.length);
  return all;
}

/** Writes, ignoring a connection the server has already ended. */
async function writeQuietly(client: RawClient, bytes: Uint8Array): Promise<boolean> {
  try {
    await client.write(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The one socket of a server, once it is there. */
async function onlySocket(sockets: Iterable<Socket> & { size: number }): Promise<Socket> {
  await until(() => sockets.size === 1, 2000, "the socket");
  return [...sockets][0]!;
}

/** Sends a ping and reads until its pong; returns the frames read before it. */
async function syncWithPong(client: RawClient, tag: string) {
  await client.write(frame(OPCODE.Ping, encoder.encode(tag)));
  const frames = [];
  while (true) {
    const next = await client.nextFrame(5000);
    if (next === undefined) throw new Error("the connection ended before the pong");
    if (next.opcode === OPCODE.Pong && decoder.decode(next.payload) === tag) return frames;
    frames.push(next);
  }
}

// ---------------------------------------------------------------------------
// Finding 1: pongs past the outbox cap

const PING_BYTES = 125;

function pingPayload(i: number): Uint8Array {
  return encoder.encode(`ping ${i} `.padEnd(PING_BYTES, "."));
}

Deno.test("ping flood: 120 000 pings from a client that never reads leave a few pongs waiting, within maxBufferedBytes", async () => {
  const cap = 256 * 1024;
  const count = 120_000;
  const batch = 1000;
  await withServer({ maxBufferedBytes: cap }, echo, async (server, port) => {
    const client = await RawClient.connect(port);
    const socket = await onlySocket(server.sockets);
    const rssBefore = await settledRss();
    let peakBuffered = 0;
    let rssPeak = rssBefore;
    const started = Date.now();
    for (let sent = 0; sent < count; sent += batch) {
      const bytes = new Uint8Array(batch * (PING_BYTES + 6));
      for (let i = 0; i < batch; i++) {
        bytes.set(frame(OPCODE.Ping, pingPayload(sent + i)), i * (PING_BYTES + 6));
      }
      await client.write(bytes);
      peakBuffered = Math.max(peakBuffered, socket.bufferedAmount);
      if (sent % (20 * batch) === 0) rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
    }
    // A message after the last ping: its echo follows the last pong.
    await client.write(frame(OPCODE.Text, encoder.encode("done")));
    await until(() => socket.counters.messagesIn === 1, 10_000, "the flood to be read");
    peakBuffered = Math.max(peakBuffered, socket.bufferedAmount);
    rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
    const floodMs = Date.now() - started;
    assertEquals(socket.state, "open", "pings alone are no slow consumer");
    // Now read: the pongs the kernel held, the last one answering the last ping.
    let pongs = 0;
    let lastPong: Uint8Array | undefined;
    while (true) {
      const next = await client.nextFrame(5000);
      assert(next !== undefined, "the connection ended");
      if (next.opcode === OPCODE.Pong) {
        pongs++;
        lastPong = next.payload;
        continue;
      }
      assertEquals([next.opcode, decoder.decode(next.payload)], [OPCODE.Text, "done"]);
      break;
    }
    console.log(
      `${count} pings of ${PING_BYTES} B in ${floodMs} ms: outbox peaked at ${peakBuffered} B ` +
        `(cap ${megabytes(cap)}), ${pongs} pongs answered; ` +
        `RSS ${megabytes(rssBefore)} → peak ${megabytes(rssPeak)}`,
    );
    assertLessOrEqual(peakBuffered, 2 * 16 * 131, "at most 16 pongs being written and 16 waiting");
    assertEquals(lastPong, pingPayload(count - 1), "the last pong answers the last ping");
    assertLess(pongs, count);
    assertLess(rssPeak - rssBefore, 64 * MiB, "RSS growth during the flood");
    client.close();
    await until(() => server.sockets.size === 0);
  });
});

Deno.test("a pong that would pass maxBufferedBytes closes the socket as a slow consumer (1008)", async () => {
  const cap = 64 * 1024;
  await withServer({ maxBufferedBytes: cap }, undefined, async (server, port) => {
    const client = await RawClient.connect(port); // reads nothing until the end
    const socket = await onlySocket(server.sockets);
    // Fill the kernel's buffers until a write stays in flight.
    const chunk = new Uint8Array(16 * 1024);
    let stuck = 0;
    for (let i = 0; i < 2000 && stuck < 3; i++) {
      if (socket.bufferedAmount + chunk.length + 4 <= cap) assert(socket.send(chunk));
      await sleep(5);
      stuck = socket.bufferedAmount > 0 ? stuck + 1 : 0;
    }
    assert(stuck >= 3, "the kernel never filled up");
    // Top the outbox up to 60 bytes short of the cap: a pong (127 B) does not fit.
    const room = cap - socket.bufferedAmount;
    if (room > 60 + 4 + 126) assert(socket.send(new Uint8Array(room - 60 - 4)));
    const buffered = socket.bufferedAmount;
    assert(cap - buffered < 2 + PING_BYTES, `${cap - buffered} bytes of room`);
    await client.write(frame(OPCODE.Ping, pingPayload(0)));
    const result = await Promise.race([socket.closed, sleep(3000).then(() => undefined)]);
    assertEquals(result?.code, CLOSE_CODE.PolicyViolation, "closed at the cap");
    assertEquals(socket.closeCause, "slow-consumer");
    client.close();
  });
});

// ---------------------------------------------------------------------------
// Finding 2: a message of many fragments

/** Writes a message's first frame, then `count` copies of a continuation frame, in batches. */
async function floodFragments(
  client: RawClient,
  first: Uint8Array,
  next: Uint8Array,
  count: number,
) {
  if (!await writeQuietly(client, first)) return;
  const perBatch = 10_000;
  const batch = repeat(next, perBatch);
  for (let sent = 0; sent < count; sent += perBatch) {
    const n = Math.min(perBatch, count - sent);
    if (!await writeQuietly(client, n === perBatch ? batch : batch.subarray(0, n * next.length))) {
      return;
    }
  }
}

Deno.test("fragment flood: a message past maxFragments (16384) is closed with 1009", async (t) => {
  const one = new Uint8Array([0x61]);
  const empty = new Uint8Array(0);
  await withServer({}, echo, async (server, port) => {
    const cases: [string, Uint8Array, number][] = [
      ["200 000 one-byte fragments", one, 200_000],
      ["one byte, then 500 000 empty fragments", empty, 500_000],
    ];
    for (const [name, payload, count] of cases) {
      await t.step(name, async () => {
        const client = await RawClient.connect(port);
        const socket = await onlySocket(server.sockets);
        const started = Date.now();
        const writing = floodFragments(
          client,
          frame(OPCODE.Binary, one, { fin: false }),
          frame(OPCODE.Continuation, payload, { fin: false }),
          count,
        );
        const { code, reason } = await client.expectClose(5000);
        const elapsed = Date.now() - started;
        await writing;
        console.log(`${name}: closed ${code} "${reason}" after ${elapsed} ms`);
        assertEquals(code, CLOSE_CODE.MessageTooBig);
        assertEquals(reason, "Cannot decode frame: message exceeds 16384 fragments");
        assertEquals(socket.closeCause, "protocol-error");
        client.close();
        await until(() => server.sockets.size === 0);
      });
    }
    await t.step("1 MiB in 16384 fragments of 64 bytes, at both caps: echoed intact", async () => {
      const client = await RawClient.connect(port);
      const message = new Uint8Array(MiB).map((_, i) => i % 251);
      const frames = new Uint8Array(16384 * (6 + 64));
      for (let i = 0; i < 16384; i++) {
        const part = message.subarray(i * 64, (i + 1) * 64);
        const opcode = i === 0 ? OPCODE.Binary : OPCODE.Continuation;
        frames.set(frame(opcode, part, { fin: i === 16383 }), i * 70);
      }
      await client.write(frames);
      const echoed = await client.nextFrame();
      assertEquals(echoed?.opcode, OPCODE.Binary);
      assertEquals(echoed?.payload, message);
      client.close();
      await until(() => server.sockets.size === 0);
    });
  });
});

/**
 * Sends one binary message of 200 000 one-byte fragments and 500 000 empty
 * ones to a server that allows a million, and measures the heap (after a
 * full collection) before it and while it is still open. Run in a child
 * process with `--expose-gc` (see the end of this file).
 */
async function fragmentHeap(gc: () => void): Promise<{ grown: number; echoed: boolean }> {
  const ones = 200_000;
  const empties = 500_000;
  let report = { grown: NaN, echoed: false };
  await withServer({ maxFragments: 1_000_000 }, echo, async (server, port) => {
    const client = await RawClient.connect(port);
    await onlySocket(server.sockets);
    gc();
    const heapBefore = Deno.memoryUsage().heapUsed;
    const one = new Uint8Array([0x61]);
    await floodFragments(
      client,
      frame(OPCODE.Binary, one, { fin: false }),
      frame(OPCODE.Continuation, one, { fin: false }),
      ones - 1,
    );
    await floodFragments(
      client,
      new Uint8Array(0),
      frame(OPCODE.Continuation, new Uint8Array(0), { fin: false }),
      empties,
    );
    // Every fragment has been read once the pong of a later ping is back.
    assertEquals(await syncWithPong(client, "all read"), []);
    gc();
    const grown = Deno.memoryUsage().heapUsed - heapBefore;
    await client.write(frame(OPCODE.Continuation, one));
    const echoed = await client.nextFrame();
    const expected = new Uint8Array(ones + 1).fill(0x61);
    report = { grown, echoed: echoed?.payload.length === expected.length };
    assertEquals(echoed?.payload, expected);
    client.close();
  });
  return report;
}

Deno.test("a message of 700 000 fragments (maxFragments raised) holds one buffer, not an object per fragment", async () => {
  // This file doubles as the child's script (see the end of the file).
  const output = await new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(new URL(import.meta.url), ["--fragment-heap"], [
      "-A",
      "--v8-flags=--expose-gc",
    ]),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = decoder.decode(output.stdout);
  assert(output.success, `child failed: ${decoder.decode(output.stderr)}`);
  const report = JSON.parse(stdout.trim().split("\n").at(-1)!);
  console.log(`700 001 fragments: heap grew ${megabytes(report.grown)} while the message was open`);
  assertEquals(report.echoed, true);
  assertLess(report.grown, 4 * MiB, "heap growth while the message was open (after a full GC)");
});

// ---------------------------------------------------------------------------
// Finding 3: the inflate work a socket may demand

/** A compressed payload (RFC 7692 §7.2.1) of `size` zeros: about size / 1000 bytes. */
function bomb(size: number): Uint8Array {
  const deflated = deflateRawSync(new Uint8Array(size), { level: 9, finishFlush: 2 });
  return new Uint8Array(deflated.subarray(0, deflated.length - 4));
}

Deno.test("inflate budget: 1 KB bombs of 1 MiB each are closed with 1008 once 4 MiB a second is spent", async (t) => {
  const lengths: number[] = [];
  const counter = async (socket: Socket) => {
    for await (const message of socket) lengths.push(message.length);
  };
  const payload = bomb(MiB);
  const bombFrame = frame(OPCODE.Binary, payload, { rsv1: true });
  await withServer({}, counter, async (server, port) => {
    await t.step("100 bombs in one write: four are inflated, the fifth closes", async () => {
      lengths.length = 0;
      const client = await RawClient.connect(port, { headers: DEFLATE_OFFER });
      assert(client.response.includes("permessage-deflate"), client.response);
      const socket = await onlySocket(server.sockets);
      const started = performance.now();
      const writing = writeQuietly(client, repeat(bombFrame, 100));
      const { code, reason } = await client.expectClose(5000);
      const elapsed = performance.now() - started;
      await writing;
      console.log(
        `100 bombs of ${payload.length} B → 1 MiB: ${lengths.length} inflated, ` +
          `closed ${code} "${reason}" after ${elapsed.toFixed(0)} ms`,
      );
      assertEquals(code, CLOSE_CODE.PolicyViolation);
      assertEquals(reason, "inflate budget exceeded");
      assertEquals(socket.closeCause, "inflate-budget");
      assert(lengths.length >= 4 && lengths.length <= 5, `${lengths.length} messages inflated`);
      assert(lengths.every((length) => length === MiB));
      client.close();
      await until(() => server.sockets.size === 0);
    });
    await t.step(
      "three bombs, within the budget: inflated, and the socket stays open",
      async () => {
        lengths.length = 0;
        const client = await RawClient.connect(port, { headers: DEFLATE_OFFER });
        const socket = await onlySocket(server.sockets);
        await client.write(repeat(bombFrame, 3));
        await until(() => lengths.length === 3, 2000, "three messages");
        assertEquals(await syncWithPong(client, "open"), []);
        assertEquals(socket.state, "open");
        client.close();
        await until(() => server.sockets.size === 0);
      },
    );
  });
  await t.step("maxInflateBytesPerSecond: 0 turns the budget off", async () => {
    lengths.length = 0;
    await withServer({ maxInflateBytesPerSecond: 0 }, counter, async (server, port) => {
      const client = await RawClient.connect(port, { headers: DEFLATE_OFFER });
      const socket = await onlySocket(server.sockets);
      await client.write(repeat(bombFrame, 10));
      await until(() => lengths.length === 10, 5000, "ten messages");
      assertEquals(socket.state, "open");
      client.close();
    });
  });
});

// ---------------------------------------------------------------------------
// Finding 4: the message rate

/** `count` masked text frames `m0`, `m1`, … in one buffer. */
function textFlood(count: number): Uint8Array {
  const frames = Array.from(
    { length: count },
    (_, i) => frame(OPCODE.Text, encoder.encode(`m${i}`)),
  );
  const all = new Uint8Array(frames.reduce((sum, bytes) => sum + bytes.length, 0));
  let offset = 0;
  for (const bytes of frames) {
    all.set(bytes, offset);
    offset += bytes.length;
  }
  return all;
}

Deno.test("message rate: past maxMessagesPerSecond a message is dropped (with a notice a second) or closes 1008", async (t) => {
  await t.step("off by default: 1000 messages at once are all echoed", async () => {
    await withServer({}, echo, async (server, port) => {
      const client = await RawClient.connect(port);
      const socket = await onlySocket(server.sockets);
      await client.write(textFlood(1000));
      await until(() => socket.counters.messagesIn === 1000, 5000, "1000 messages");
      const frames = await syncWithPong(client, "sync");
      assertEquals(frames.length, 1000);
      assertEquals(socket.counters.messagesDropped, undefined, "no rate, no count");
      client.close();
    });
  });
  await t.step(
    '"drop": 1000 at once → the burst of 20 echoed, one notice, the rest dropped',
    async () => {
      const options = {
        maxMessagesPerSecond: 10,
        messageBurst: 20,
        messageRateAction: "drop",
        messageRateNotice: "slow down",
      } as const;
      await withServer(options, echo, async (server, port) => {
        const client = await RawClient.connect(port);
        const socket = await onlySocket(server.sockets);
        await client.write(textFlood(1000));
        const counted = () => socket.counters.messagesIn + (socket.counters.messagesDropped ?? 0);
        await until(() => counted() === 1000, 5000, "1000 messages counted");
        const texts = (await syncWithPong(client, "sync")).map((f) => decoder.decode(f.payload));
        const notices = texts.filter((text) => text === "slow down");
        const echoed = texts.filter((text) => text !== "slow down");
        console.log(
          `1000 messages at 10/s, burst 20: ${echoed.length} echoed, ${notices.length} notice`,
        );
        assertEquals(notices.length, 1, "one notice within the second");
        assertEquals(echoed.slice(0, 20), Array.from({ length: 20 }, (_, i) => `m${i}`));
        assertLessOrEqual(echoed.length, 22, "the burst, and what the rate gave back meanwhile");
        assertEquals(socket.counters.messagesIn, echoed.length);
        assertEquals(socket.counters.messagesDropped, 1000 - echoed.length);
        assertEquals(socket.state, "open");
        client.close();
      });
    },
  );
  await t.step(
    '"close" (the default action): the message past the burst closes with 1008',
    async () => {
      await withServer(
        { maxMessagesPerSecond: 10, messageBurst: 20 },
        echo,
        async (server, port) => {
          const client = await RawClient.connect(port);
          const socket = await onlySocket(server.sockets);
          await writeQuietly(client, textFlood(100));
          const { code, reason, frames } = await client.expectClose(5000);
          assertEquals(code, CLOSE_CODE.PolicyViolation);
          assertEquals(reason, "message rate exceeded");
          assertEquals(socket.closeCause, "message-rate");
          // The messages before it were delivered, and their echoes went out first.
          const echoed = frames.map((f) => decoder.decode(f.payload));
          assertEquals(echoed.slice(0, 20), Array.from({ length: 20 }, (_, i) => `m${i}`));
          assertLessOrEqual(echoed.length, 22);
          client.close();
        },
      );
    },
  );
});

// As a script (`deno run --v8-flags=--expose-gc tests/budget_hostile_test.ts
// --fragment-heap`), this file runs the fragment heap measurement with full
// collections and prints its report as JSON. Under `deno test` this block
// does not run.
if (import.meta.main && Deno.args[0] === "--fragment-heap") {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
  console.log(JSON.stringify(await fragmentHeap(gc)));
}
