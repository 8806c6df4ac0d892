/**
 * Micro-benchmarks of permessage-deflate: which DEFLATE Deno offers is
 * fastest for one WebSocket message, compressing (server → client, a fresh
 * context per message) and inflating (client → server).
 *
 * ```sh
 * deno bench --import-map=.ci/std/import_map.json bench/deflate_bench.ts
 * ```
 *
 * Candidates, for 32 B, 1 KiB and 16 KiB JSON-like messages:
 *
 * - `node:zlib` `deflateRawSync` / `inflateRawSync`, one call per message
 *   (what `src/deflate.ts` uses), with the default level 6 and with level 1;
 * - a persistent `node:zlib` stream, written and flushed per message (async),
 *   reset after each message for no context takeover, or not reset;
 * - `CompressionStream("deflate-raw")` / `DecompressionStream`, a new one per
 *   message, and one persistent stream (Deno flushes each write).
 *
 * Each group cycles through different messages of its size (64 KiB of them
 * at least), so that a stream that keeps its context cannot just refer back
 * to the same message. Each name carries the uncompressed bytes one
 * iteration handles.
 *
 * Measured with Deno 2.9.6 on a shared 2-core AMD EPYC VM (time per message,
 * averages; runs vary by ±30%):
 *
 * | compress, fresh context          |     32 B |            1 KiB |              16 KiB |
 * | --------------------------------- | -------: | ---------------: | ------------------: |
 * | `deflateRawSync`, level 6         |   5–6 µs | 12–18 µs → 377 B | 146–157 µs → 4.3 KB |
 * | `deflateRawSync`, level 1         |     4 µs |     6 µs → 499 B |   40–45 µs → 6.8 KB |
 * | node:zlib stream, reset per msg   |     4 µs |         11–16 µs |          141–147 µs |
 * | `CompressionStream` per message   | 19–23 µs |         25–31 µs |          154–164 µs |
 *
 * | inflate                           |     32 B |            1 KiB |              16 KiB |
 * | --------------------------------- | -------: | ---------------: | ------------------: |
 * | `inflateRawSync`                  |   3–4 µs |          6–10 µs |            25–29 µs |
 * | `inflateRawSync`, 32 KiB window   | 10–16 µs |         11–22 µs |            27–35 µs |
 * | node:zlib stream (async)          |     2 µs |             5 µs |               22 µs |
 * | `DecompressionStream` per message |    10 µs |         13–16 µs |            30–35 µs |
 * | `DecompressionStream`, persistent |     3 µs |             5 µs |               24 µs |
 *
 * The choice, `deflateRawSync` / `inflateRawSync`: with a fresh context per
 * message a one-shot call costs what a reset stream costs (within 10%), and
 * `CompressionStream` costs 1.1–3.5× more. Persistent streams inflate faster,
 * but they are asynchronous (an event-loop turn per message in the read
 * path) and `DecompressionStream` has no output limit; `inflateRawSync`
 * enforces one while it inflates (`maxOutputLength`). Level 6 costs 2–3× the
 * time of level 1 for 25–35% fewer bytes: paid once per broadcast, it is the
 * default.
 *
 * @module
 */

import { concatBytes } from "../src/protocol/bytes.ts";
import {
  constants,
  createDeflateRaw,
  createInflateRaw,
  type DeflateRaw,
  deflateRawSync,
  type InflateRaw,
} from "node:zlib";
import { createDeflater, createInflater } from "../src/protocol/deflate.ts";

const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const encoder = new TextEncoder();

/** A JSON message of exactly `length` bytes, like a feed of price ticks. */
function jsonMessage(length: number, seed = 1): Uint8Array {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const symbols = ["EURUSD", "GBPUSD", "USDJPY", "BTCUSD", "ETHUSD", "AAPL", "MSFT", "GOOG"];
  const items: unknown[] = [];
  let text = JSON.stringify({ type: "ticks", seq: seed });
  while (true) {
    items.push({
      symbol: symbols[Math.floor(random() * symbols.length)],
      bid: Number((random() * 1000).toFixed(4)),
      ask: Number((random() * 1000).toFixed(4)),
      volume: Math.floor(random() * 1e6),
      time: 1763776800000 + Math.floor(random() * 1e6),
    });
    const next = JSON.stringify({ type: "ticks", seq: seed, items });
    if (next.length > length) break;
    text = next;
  }
  return encoder.encode(text.padEnd(length, " ").slice(0, length));
}

/** A persistent node:zlib stream that handles one message per call. */
function nodeStream(
  stream: DeflateRaw | InflateRaw,
  reset: boolean,
): (input: Uint8Array) => Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  return async (input) => {
    stream.write(input);
    await new Promise<void>((resolve) => stream.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    const output = chunks.length === 1 ? chunks[0]! : concatBytes(chunks);
    chunks.length = 0;
    if (reset) stream.reset();
    return output;
  };
}

/** A persistent web stream that handles one message per call. */
function webStream(
  stream: CompressionStream | DecompressionStream,
): (input: Uint8Array) => Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  return async (input) => {
    writer.write(input as Uint8Array<ArrayBuffer>);
    const { value } = await reader.read();
    return value ?? new Uint8Array(0);
  };
}

/** A new web stream for one message, ended after it. */
async function oneShot(
  stream: CompressionStream | DecompressionStream,
  input: Uint8Array,
): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  writer.write(input as Uint8Array<ArrayBuffer>);
  writer.close();
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream.readable) chunks.push(chunk);
  return concatBytes(chunks);
}

const SIZES: [string, number][] = [
  ["32 B", 32],
  ["1 KiB", 1024],
  ["16 KiB", 16_384],
];

/**
 * How many different messages of `size` bytes a group cycles through: enough
 * to overflow a 32 KiB window twice, so that a stream keeping its context
 * finds earlier similar messages but never the same one.
 */
function variants(size: number): number {
  return Math.max(16, Math.ceil((2 * 32_768) / size));
}

// What compression buys for each size, printed ahead of the timings.
for (const [label, size] of SIZES) {
  const message = jsonMessage(size);
  const level6 = createDeflater({ serverMaxWindowBits: 15 }).deflate(message).length;
  const level1 = createDeflater({ serverMaxWindowBits: 15 }, { level: 1 }).deflate(message).length;
  console.log(`${label} JSON → ${level6} B at level 6, ${level1} B at level 1`);
}

/** A function that returns the items in turn, forever. */
function cycle<T>(items: T[]): () => T {
  let next = 0;
  return () => items[next++ % items.length]!;
}

for (const [label, size] of SIZES) {
  const message = cycle(Array.from({ length: variants(size) }, (_, i) => jsonMessage(size, i + 1)));
  const group = `deflate ${label} JSON`;
  const name = (what: string) => `${what} (${size} B/iter)`;
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  const fast = createDeflater({ serverMaxWindowBits: 15 }, { level: 1 });
  const noReset = nodeStream(createDeflateRaw(), false);
  const withReset = nodeStream(createDeflateRaw(), true);
  const persistentWeb = webStream(new CompressionStream("deflate-raw"));

  Deno.bench({
    name: name("node:zlib deflateRawSync, level 6 (pushwire)"),
    group,
    baseline: true,
    fn() {
      deflater.deflate(message());
    },
  });
  Deno.bench({
    name: name("node:zlib deflateRawSync, level 1"),
    group,
    fn() {
      fast.deflate(message());
    },
  });
  Deno.bench({
    name: name("node:zlib stream, flush + reset per message"),
    group,
    async fn() {
      await withReset(message());
    },
  });
  Deno.bench({
    name: name("node:zlib stream, flush per message, context kept"),
    group,
    async fn() {
      await noReset(message());
    },
  });
  Deno.bench({
    name: name("CompressionStream, a new one per message"),
    group,
    async fn() {
      await oneShot(new CompressionStream("deflate-raw"), message());
    },
  });
  Deno.bench({
    name: name("CompressionStream, one stream, context kept"),
    group,
    async fn() {
      await persistentWeb(message());
    },
  });
}

for (const [label, size] of SIZES) {
  const group = `inflate ${label} JSON`;
  const name = (what: string) => `${what} (${size} B/iter)`;
  const messages = Array.from({ length: variants(size) }, (_, i) => jsonMessage(size, i + 1));
  // Compressed each on its own: such a message inflates the same in any
  // stream, so every candidate can take them in turn, forever.
  const flushed = messages.map((message) =>
    deflateRawSync(message, { finishFlush: constants.Z_SYNC_FLUSH }).slice()
  );
  const payload = cycle(flushed.map((bytes) => bytes.subarray(0, bytes.length - TAIL.length)));
  const flushedPayload = cycle(flushed);
  // A one-shot stream must end: these have a final block.
  const finished = cycle(messages.map((message) => deflateRawSync(message).slice()));
  const maxBytes = 1024 * 1024;
  const fresh = createInflater(
    { clientNoContextTakeover: true, clientMaxWindowBits: 15 },
    maxBytes,
  );
  const takeover = createInflater(
    { clientNoContextTakeover: false, clientMaxWindowBits: 15 },
    maxBytes,
  );
  // Fill the takeover window, as after a few messages.
  while (takeover.retainedBytes < 1 << 15) takeover.inflate([payload()]);
  const persistentNode = nodeStream(createInflateRaw(), false);
  const persistentWeb = webStream(new DecompressionStream("deflate-raw"));

  Deno.bench({
    name: name("node:zlib inflateRawSync, no context takeover (pushwire)"),
    group,
    baseline: true,
    fn() {
      fresh.inflate([payload()]);
    },
  });
  Deno.bench({
    name: name("node:zlib inflateRawSync, 32 KiB window as a stored block (pushwire)"),
    group,
    fn() {
      takeover.inflate([payload()]);
    },
  });
  Deno.bench({
    name: name("node:zlib stream, flush per message, context kept"),
    group,
    async fn() {
      await persistentNode(flushedPayload());
    },
  });
  Deno.bench({
    name: name("DecompressionStream, a new one per message"),
    group,
    async fn() {
      await oneShot(new DecompressionStream("deflate-raw"), finished());
    },
  });
  Deno.bench({
    name: name("DecompressionStream, one stream, context kept"),
    group,
    async fn() {
      await persistentWeb(flushedPayload());
    },
  });
}
