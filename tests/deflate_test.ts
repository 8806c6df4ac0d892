import {
  assert,
  assertEquals,
  assertGreater,
  assertLessOrEqual,
  assertNotStrictEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { concatBytes } from "../src/protocol/bytes.ts";
import { decodeHex, encodeHex } from "@std/encoding";
import { constants, createDeflateRaw, deflateRawSync, inflateRawSync } from "node:zlib";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import {
  createDeflater,
  createInflater,
  DEFLATE_THRESHOLD,
  type Deflater,
  type Inflater,
  PreparedMessage,
} from "../src/protocol/deflate.ts";
import { ProtocolError } from "../src/protocol/errors.ts";
import {
  type DeflateOptions,
  negotiateDeflate,
  type WindowBits,
} from "../src/protocol/extensions.ts";
import { encodeFrame, type Frame, OPCODE } from "../src/protocol/frame.ts";
import { FrameDecoder } from "../src/protocol/frame_decoder.ts";
import {
  acceptKey,
  type UpgradeRequest,
  upgradeResponse,
  validateUpgrade,
} from "../src/protocol/handshake.ts";
import { RequestHeadParser } from "../src/protocol/http_head.ts";
import {
  CHROMIUM,
  missingChromium,
  missingNodePackage,
  missingPythonWebsockets,
  peerTest,
  runJsonClient,
  SYSTEM_PYTHON,
} from "./clients/peers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HELLO = encoder.encode("Hello");
const MIB = 1024 * 1024;

function hex(text: string): Uint8Array {
  return decodeHex(text.replaceAll(" ", ""));
}

function spaced(bytes: Uint8Array): string {
  return encodeHex(bytes).replace(/(..)(?!$)/g, "$1 ");
}

/** Decodes unmasked frames, as a client receives them. */
function serverFrames(...frames: string[]): Frame[] {
  const decoder = new FrameDecoder({ requireMask: false, allowRsv1: true });
  return decoder.push(hex(frames.join("")));
}

/** Inflates the message the frames carry: RSV1 on the first only. */
function inflateFrames(inflater: Inflater, frames: Frame[]): string {
  assert(frames[0]!.rsv1, "RSV1 is set on the first frame");
  for (const frame of frames.slice(1)) assert(!frame.rsv1, "RSV1 is clear on the others");
  assert(frames.at(-1)!.fin);
  return decoder.decode(inflater.inflate(frames.map((frame) => frame.payload)));
}

function takeoverInflater(bits: WindowBits = 15, maxBytes = MIB): Inflater {
  return createInflater({ clientNoContextTakeover: false, clientMaxWindowBits: bits }, maxBytes);
}

function freshInflater(maxBytes = MIB): Inflater {
  return createInflater({ clientNoContextTakeover: true, clientMaxWindowBits: 15 }, maxBytes);
}

/**
 * A client's compressor with context takeover: one node:zlib stream, flushed
 * after each message, whose 00 00 ff ff is removed (RFC 7692 §7.2.1).
 */
function takeoverCompressor(windowBits = 15): {
  compress(message: Uint8Array): Promise<Uint8Array>;
  close(): void;
} {
  const stream = createDeflateRaw({ windowBits });
  const chunks: Uint8Array[] = [];
  stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  return {
    async compress(message) {
      stream.write(message);
      await new Promise<void>((resolve) => stream.flush(constants.Z_SYNC_FLUSH, () => resolve()));
      const flushed = concatBytes(chunks.splice(0));
      assertEquals(spaced(flushed.subarray(-4)), "00 00 ff ff");
      return flushed.subarray(0, flushed.length - 4);
    },
    close: () => stream.close(),
  };
}

/** A JSON message about `length` bytes long, different for each `seed`. */
function jsonMessage(seed: number, length = 1024): string {
  const items = [];
  let text = "";
  for (let i = 0; text.length < length; i++) {
    items.push({
      id: seed * 1000 + i,
      symbol: ["EURUSD", "BTCUSD", "AAPL"][i % 3],
      price: i * 1.25,
    });
    text = JSON.stringify({ type: "ticks", seed, items });
  }
  return text;
}

/** Bytes that do not compress. */
function noise(length: number, seed = 1): Uint8Array {
  let state = seed;
  return Uint8Array.from({ length }, () => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
}

function assertProtocolError(fn: () => unknown, code: number, includes?: string): void {
  const error = assertThrows(fn, ProtocolError, includes);
  assertEquals(error.code, code);
}

// RFC 7692 §7.2.3: the examples, byte for byte.

Deno.test('deflate() compresses "Hello" into the bytes of RFC 7692 §7.2.3.1', () => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  const payload = deflater.deflate(HELLO);
  assertEquals(spaced(payload), "f2 48 cd c9 c9 07 00");
  const frame = encodeFrame(OPCODE.Text, payload, { rsv1: true });
  assertEquals(spaced(frame), "c1 07 f2 48 cd c9 c9 07 00");
});

Deno.test("deflate() gives the same bytes for the same message: no context takeover (§7.2.3.2)", () => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  assertEquals(spaced(deflater.deflate(HELLO)), "f2 48 cd c9 c9 07 00");
  assertEquals(spaced(deflater.deflate(HELLO)), "f2 48 cd c9 c9 07 00");
});

Deno.test('node:zlib with context takeover gives the second "Hello" of §7.2.3.2', async () => {
  const client = takeoverCompressor();
  try {
    assertEquals(spaced(await client.compress(HELLO)), "f2 48 cd c9 c9 07 00");
    assertEquals(spaced(await client.compress(HELLO)), "f2 00 11 00 00");
  } finally {
    client.close();
  }
});

Deno.test("inflate() reads every example of RFC 7692 §7.2.3", async (t) => {
  const examples: { name: string; frames: string[] }[] = [
    { name: "7.2.3.1 one compressed block", frames: ["c1 07 f2 48 cd c9 c9 07 00"] },
    { name: "7.2.3.1 fragmented 3 + 4", frames: ["41 03 f2 48 cd", "80 04 c9 c9 07 00"] },
    {
      name: "7.2.3.3 one block with no compression",
      frames: ["c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00"],
    },
    { name: "7.2.3.4 a block with BFINAL set", frames: ["c1 08 f3 48 cd c9 c9 07 00 00"] },
    {
      name: "7.2.3.5 two blocks in one message",
      frames: ["c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00"],
    },
    {
      name: "7.2.3.6 a flushed fragment, then an empty one",
      frames: ["41 0b f2 48 cd c9 c9 07 00 00 00 ff ff", "80 01 00"],
    },
    {
      name: "7.2.3.1 fragmented byte by byte, with empty fragments",
      frames: [
        "41 01 f2",
        "00 00",
        "00 02 48 cd",
        "00 01 c9",
        "00 01 c9",
        "00 02 07 00",
        "80 00",
      ],
    },
  ];
  for (const { name, frames } of examples) {
    await t.step(name, () => {
      for (const inflater of [freshInflater(), takeoverInflater()]) {
        assertEquals(inflateFrames(inflater, serverFrames(...frames)), "Hello");
      }
    });
  }
});

Deno.test("inflate() shares the window across messages under context takeover (§7.2.3.2)", () => {
  const inflater = takeoverInflater();
  const [first, second] = serverFrames("c1 07 f2 48 cd c9 c9 07 00", "c1 05 f2 00 11 00 00");
  assertEquals(inflateFrames(inflater, [first!]), "Hello");
  assertEquals(inflater.retainedBytes, 5);
  assertEquals(inflateFrames(inflater, [second!]), "Hello");
  assertEquals(inflater.retainedBytes, 10);
});

Deno.test("inflate() without context takeover fails a back-reference into an earlier message with 1007", () => {
  const inflater = freshInflater();
  assertEquals(decoder.decode(inflater.inflate([hex("f2 48 cd c9 c9 07 00")])), "Hello");
  assertEquals(inflater.retainedBytes, 0);
  assertProtocolError(
    () => inflater.inflate([hex("f2 00 11 00 00")]),
    CLOSE_CODE.InvalidPayloadData,
    "distance too far back",
  );
});

Deno.test("inflate() keeps the window after a message that ended with BFINAL (§7.2.3.4)", () => {
  const inflater = takeoverInflater();
  assertEquals(decoder.decode(inflater.inflate([hex("f3 48 cd c9 c9 07 00 00")])), "Hello");
  assertEquals(decoder.decode(inflater.inflate([hex("f2 00 11 00 00")])), "Hello");
});

Deno.test("an empty message: deflate() gives 00 (§7.2.3.6), inflate() takes 00 or nothing", () => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  assertEquals(spaced(deflater.deflate(new Uint8Array(0))), "00");
  for (const inflater of [freshInflater(), takeoverInflater()]) {
    assertEquals(inflater.inflate([hex("00")]).length, 0);
    assertEquals(inflater.inflate([]).length, 0);
    assertEquals(inflater.inflate([new Uint8Array(0)]).length, 0);
    // The window is intact for the next message.
    assertEquals(decoder.decode(inflater.inflate([hex("f2 48 cd c9 c9 07 00")])), "Hello");
  }
});

// Round trips and context takeover with real compressors.

Deno.test("deflate() then inflate() gives back every message, at every size", () => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  const inflater = freshInflater(4 * MIB);
  const messages = [
    new Uint8Array(0),
    HELLO,
    encoder.encode(jsonMessage(1, 100)),
    encoder.encode(jsonMessage(2, 1024)),
    encoder.encode(jsonMessage(3, 300_000)),
    noise(1),
    noise(70_000),
    new Uint8Array(3 * MIB),
  ];
  for (const message of messages) {
    const compressed = deflater.deflate(message);
    assertEquals(inflater.inflate([compressed]), message);
    // Split anywhere, the fragments inflate the same.
    const cut = compressed.length >> 1;
    assertEquals(
      inflater.inflate([compressed.subarray(0, cut), compressed.subarray(cut)]),
      message,
    );
  }
});

Deno.test("inflate() follows a client's context takeover through 300 messages, in fragments", async () => {
  const client = takeoverCompressor();
  const inflater = takeoverInflater();
  let total = 0;
  let compressedTotal = 0;
  try {
    for (let i = 0; i < 300; i++) {
      const message = i % 7 === 0 ? noise(i * 50, i) : encoder.encode(jsonMessage(i % 20, i * 13));
      const compressed = await client.compress(message);
      const cuts = [0, (i * 7) % (compressed.length + 1), compressed.length].sort((a, b) => a - b);
      const fragments = [compressed.subarray(cuts[0], cuts[1]), compressed.subarray(cuts[1])];
      assertEquals(inflater.inflate(fragments), message, `message ${i}`);
      assertLessOrEqual(inflater.retainedBytes, 32_768);
      total += message.length;
      compressedTotal += compressed.length;
    }
  } finally {
    client.close();
  }
  assertEquals(inflater.retainedBytes, 32_768);
  // The window paid off: repeated JSON shrank far more than on its own.
  assertLessOrEqual(compressedTotal, total / 3);
});

Deno.test("inflate() keeps only 2^clientMaxWindowBits bytes of a smaller client window", async () => {
  for (const bits of [8, 10, 12] as WindowBits[]) {
    // zlib's raw deflate needs at least 9; with 9 it reaches back at most 250 bytes.
    const client = takeoverCompressor(Math.max(bits, 9));
    const inflater = takeoverInflater(bits);
    try {
      for (let i = 0; i < 40; i++) {
        const message = encoder.encode(jsonMessage(i % 4, 200 + i * 40));
        assertEquals(inflater.inflate([await client.compress(message)]), message);
        assertLessOrEqual(inflater.retainedBytes, 1 << bits);
      }
      assertEquals(inflater.retainedBytes, 1 << bits);
    } finally {
      client.close();
    }
  }
});

Deno.test("deflate() never reaches back farther than 2^serverMaxWindowBits bytes", () => {
  // Repeats at distances around every window size: a deflater that looked
  // too far back would make a stream the client's window cannot inflate.
  const unit = noise(200, 7);
  const parts: Uint8Array[] = [];
  for (let distance = 200; distance < 40_000; distance = Math.ceil(distance * 1.3)) {
    parts.push(unit, noise(distance - 200, distance));
  }
  const message = concatBytes(parts);
  for (let bits = 8; bits <= 15; bits++) {
    const deflater = createDeflater({ serverMaxWindowBits: bits as WindowBits });
    const compressed = deflater.deflate(message);
    const flushed = concatBytes([compressed, hex("00 00 ff ff")]);
    const inflated = inflateRawSync(flushed, {
      windowBits: bits,
      finishFlush: constants.Z_SYNC_FLUSH,
    });
    assertEquals(new Uint8Array(inflated), message, `serverMaxWindowBits ${bits}`);
  }
});

// Limits: the size of an inflated message, corrupt data.

/**
 * A raw DEFLATE stream of `mebibytes` MiB of zeros, about 1 KB per MiB: one
 * sync-flushed MiB repeated (each copy refers only to itself).
 */
function bomb(mebibytes: number): Uint8Array {
  const block = deflateRawSync(new Uint8Array(MIB), {
    level: 9,
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  const stream = concatBytes(Array.from({ length: mebibytes }, () => block));
  return stream.subarray(0, stream.length - 4);
}

Deno.test("inflate() fails a bomb with 1009 before inflating it (1 MB → 1 GiB)", () => {
  const payload = bomb(1024);
  assertLessOrEqual(payload.length, 1100 * 1024);
  for (const inflater of [freshInflater(), takeoverInflater()]) {
    const rss = Deno.memoryUsage().rss;
    const started = performance.now();
    assertProtocolError(() => inflater.inflate([payload]), CLOSE_CODE.MessageTooBig, "1048576");
    // Stopped at the limit: milliseconds and a few MiB, not seconds and 1 GiB.
    assertLessOrEqual(performance.now() - started, 1000);
    assertLessOrEqual(Deno.memoryUsage().rss - rss, 256 * MIB);
  }
});

Deno.test("a bomb frame through the frame decoder → 1009", () => {
  const frame = encodeFrame(OPCODE.Binary, bomb(64), { rsv1: true, mask: true });
  // The frame is small (65 KB): the decoder's limit on wire bytes lets it through.
  const frameDecoder = new FrameDecoder({ maxMessageBytes: MIB, allowRsv1: true });
  const [decoded] = frameDecoder.push(frame);
  assert(decoded!.rsv1);
  assertProtocolError(() => freshInflater(MIB).inflate([decoded!.payload]), 1009);
});

Deno.test("inflate() allows exactly maxBytes, with or without a full window", () => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  const exact = deflater.deflate(encoder.encode("x".repeat(1000)));
  const over = deflater.deflate(encoder.encode("x".repeat(1001)));
  const takeover = takeoverInflater(15, 1000);
  for (let i = 0; i < 40; i++) assertEquals(takeover.inflate([exact]).length, 1000);
  assertEquals(takeover.retainedBytes, 32_768);
  for (const inflater of [freshInflater(1000), takeover]) {
    assertEquals(inflater.inflate([exact]).length, 1000);
    assertProtocolError(() => inflater.inflate([over]), CLOSE_CODE.MessageTooBig);
  }
});

Deno.test("inflate() fails data that is not DEFLATE with 1007", async (t) => {
  const corrupt = [
    ["a reserved block type", "ff ff ff"],
    ["a stored block whose NLEN does not match", "00 05 00 00 00 48 65 6c 6c 6f"],
    ["a distance before the start", "f2 00 11 00 00"],
  ];
  for (const [name, bytes] of corrupt) {
    await t.step(name!, () => {
      assertProtocolError(
        () => freshInflater().inflate([hex(bytes!)]),
        CLOSE_CODE.InvalidPayloadData,
        "Cannot inflate message",
      );
    });
  }
});

Deno.test("deflate() and inflate() leave their inputs alone and return fresh buffers", () => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  const message = encoder.encode(jsonMessage(1));
  const copy = message.slice();
  const compressed = deflater.deflate(message).slice();
  assertEquals(message, copy);
  const fragments = [compressed.slice(0, 10), compressed.slice(10)];
  const fragmentCopies = fragments.map((fragment) => fragment.slice());
  const inflater = takeoverInflater();
  const first = inflater.inflate(fragments);
  assertEquals(fragments, fragmentCopies);
  // Changing a returned message does not change the window.
  first.fill(0);
  assertEquals(inflater.inflate(fragments), message);
  assertEquals(first.byteLength, first.buffer.byteLength);
});

Deno.test("createDeflater() and createInflater() check their arguments", () => {
  const params = { serverMaxWindowBits: 15 as WindowBits };
  assertThrows(() => createDeflater(params, { level: 10 }), RangeError, "level");
  assertThrows(() => createDeflater(params, { level: -1 }), RangeError, "level");
  assertThrows(() => createDeflater(params, { memLevel: 0 }), RangeError, "memLevel");
  assertThrows(() => createDeflater(params, { threshold: -1 }), RangeError, "threshold");
  assertThrows(
    () => createDeflater({ serverMaxWindowBits: 16 as WindowBits }),
    RangeError,
    "serverMaxWindowBits",
  );
  for (const maxBytes of [0, -1, 1.5, NaN, Infinity]) {
    assertThrows(
      () => createInflater({ clientNoContextTakeover: true, clientMaxWindowBits: 15 }, maxBytes),
      RangeError,
      "maxBytes",
    );
  }
});

// Frames: RSV1, the threshold, control frames.

Deno.test("encodeFrame() compresses from DEFLATE_THRESHOLD bytes, and only when it pays", async (t) => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  assertEquals(deflater.threshold, DEFLATE_THRESHOLD);
  const frames = new FrameDecoder({ requireMask: false, allowRsv1: true });
  const cases: [string, Uint8Array, boolean][] = [
    ["a short message", encoder.encode("x".repeat(DEFLATE_THRESHOLD - 1)), false],
    ["a message at the threshold", encoder.encode("x".repeat(DEFLATE_THRESHOLD)), true],
    ["1 KiB of JSON", encoder.encode(jsonMessage(1)), true],
    ["incompressible bytes", noise(4096), false],
  ];
  for (const [name, payload, compressed] of cases) {
    await t.step(name, () => {
      const frame = deflater.encodeFrame(OPCODE.Binary, payload);
      const [decoded] = frames.push(frame);
      assertEquals(decoded!.rsv1, compressed);
      assertEquals(decoded!.opcode, OPCODE.Binary);
      assert(decoded!.fin);
      if (compressed) assertLessOrEqual(decoded!.payload.length, payload.length);
      const inflated = compressed ? freshInflater().inflate([decoded!.payload]) : decoded!.payload;
      assertEquals(inflated, payload);
    });
  }
  await t.step("a threshold of 0 still leaves a message that would grow", () => {
    const always = createDeflater({ serverMaxWindowBits: 15 }, { threshold: 0 });
    assertEquals(spaced(always.encodeFrame(OPCODE.Text, HELLO)), "81 05 48 65 6c 6c 6f");
  });
});

Deno.test("RSV1 is refused on control and continuation frames, and without the extension", async (t) => {
  const vectors: [string, string, boolean][] = [
    ["a ping with RSV1", "c9 80 00 00 00 00", true],
    ["a close with RSV1", "c8 80 00 00 00 00", true],
    ["a continuation with RSV1", "c0 81 00 00 00 00 48", true],
    ["a compressed message without the extension", "c1 81 00 00 00 00 00", false],
  ];
  for (const [name, bytes, allowRsv1] of vectors) {
    await t.step(name, () => {
      assertProtocolError(
        () => {
          const frames = new FrameDecoder({ allowRsv1 });
          // A continuation needs a message to continue: its first frame, compressed.
          if (bytes.startsWith("c0")) frames.push(hex("41 81 00 00 00 00 f2"));
          return frames.push(hex(bytes));
        },
        CLOSE_CODE.ProtocolError,
        "RSV1",
      );
    });
  }
});

Deno.test("PreparedMessage compresses once per deflater key and shares the bytes", () => {
  const text = jsonMessage(5);
  const message = new PreparedMessage(text);
  const a = createDeflater({ serverMaxWindowBits: 15 });
  const b = createDeflater({ serverMaxWindowBits: 15 });
  const small = createDeflater({ serverMaxWindowBits: 9 });
  assertEquals(a.key, b.key);
  assert(a.key !== small.key);
  const plain = message.frame(undefined);
  assertStrictEquals(message.frame(undefined), plain);
  assertEquals(plain[0], 0x81);
  const compressed = message.frame(a);
  assertEquals(compressed[0], 0xc1);
  assertStrictEquals(message.frame(a), compressed);
  assertStrictEquals(message.frame(b), compressed, "equal keys share one frame");
  const smaller = message.frame(small);
  assertNotStrictEquals(smaller, compressed);
  assertEquals(smaller[0], 0xc1);
  const frames = new FrameDecoder({ requireMask: false, allowRsv1: true });
  for (const frame of [compressed, smaller]) {
    const [decoded] = frames.push(frame);
    assertEquals(decoder.decode(freshInflater().inflate([decoded!.payload])), text);
  }
});

Deno.test("PreparedMessage shares the plain frame when compression does not pay", () => {
  const deflater = createDeflater({ serverMaxWindowBits: 15 });
  const short = new PreparedMessage("hi");
  assertStrictEquals(short.frame(deflater), short.frame(undefined));
  const random = new PreparedMessage(noise(1000));
  const plain = random.frame(deflater);
  assertEquals(plain[0], 0x82);
  assertStrictEquals(random.frame(undefined), plain);
  assertStrictEquals(random.frame(deflater), plain);
});

Deno.test("deflaters are keyed by what changes their output", () => {
  const keys = new Set<string>();
  for (const bits of [9, 15] as WindowBits[]) {
    for (const level of [1, 6]) {
      for (const threshold of [0, 128]) {
        keys.add(createDeflater({ serverMaxWindowBits: bits }, { level, threshold }).key);
      }
    }
  }
  assertEquals(keys.size, 8);
  const deflater: Deflater = createDeflater({ serverMaxWindowBits: 15 }, {});
  assertEquals(deflater.key, createDeflater({ serverMaxWindowBits: 15 }, { level: 6 }).key);
});

// Real clients against a small echo server built from these pieces alone:
// handshake, negotiateDeflate, FrameDecoder, Inflater and PreparedMessage.

interface EchoStats {
  /** The Sec-WebSocket-Extensions offer of each connection. */
  offers: string[];
  /** The response sent to each, or "" for none. */
  responses: string[];
  compressedIn: number;
  plainIn: number;
  compressedOut: number;
  errors: string[];
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

async function readRequest(
  conn: Deno.Conn,
  buffer: Uint8Array,
): Promise<{ request: UpgradeRequest; rest: Uint8Array } | undefined> {
  const parser = new RequestHeadParser();
  while (true) {
    const read = await conn.read(buffer);
    if (read === null) return undefined;
    const head = parser.push(buffer.subarray(0, read));
    if (head !== undefined) return { request: validateUpgrade(head), rest: parser.rest };
  }
}

async function echo(conn: Deno.Conn, options: DeflateOptions, stats: EchoStats): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  const opened = await readRequest(conn, buffer);
  if (opened === undefined) return;
  const { request, rest } = opened;
  stats.offers.push(request.extensions);
  const negotiated = negotiateDeflate(request.extensions, options);
  stats.responses.push(negotiated?.response ?? "");
  const accept = await acceptKey(request.key);
  await writeAll(
    conn,
    upgradeResponse(accept, negotiated ? { extensions: negotiated.response } : {}),
  );
  const frames = new FrameDecoder({ maxMessageBytes: 16 * MIB, allowRsv1: !!negotiated });
  const inflater = negotiated && createInflater(negotiated.params, 16 * MIB);
  const deflater = negotiated && createDeflater(negotiated.params);
  let parts: Uint8Array[] = [];
  let compressed = false;
  let opcode: number = OPCODE.Text;
  let chunk = rest;
  while (true) {
    for (const frame of frames.push(chunk)) {
      if (frame.opcode === OPCODE.Close) {
        await writeAll(conn, encodeFrame(OPCODE.Close, frame.payload.subarray(0, 2)));
        return;
      }
      if (frame.opcode === OPCODE.Ping) {
        await writeAll(conn, encodeFrame(OPCODE.Pong, frame.payload));
        continue;
      }
      if (frame.opcode === OPCODE.Pong) continue;
      if (frame.opcode !== OPCODE.Continuation) {
        opcode = frame.opcode;
        compressed = frame.rsv1;
        parts = [];
      }
      parts.push(frame.payload);
      if (!frame.fin) continue;
      const payload = compressed ? inflater!.inflate(parts) : concatBytes(parts);
      if (compressed) stats.compressedIn++;
      else stats.plainIn++;
      const message = new PreparedMessage(
        opcode === OPCODE.Text ? decoder.decode(payload) : payload,
      );
      const out = message.frame(deflater);
      if ((out[0]! & 0x40) !== 0) stats.compressedOut++;
      await writeAll(conn, out);
    }
    if (frames.pendingError) throw frames.pendingError;
    const read = await conn.read(buffer);
    if (read === null) return;
    chunk = buffer.subarray(0, read);
  }
}

async function withEchoServer(
  options: DeflateOptions,
  fn: (url: string, stats: EchoStats) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stats: EchoStats = {
    offers: [],
    responses: [],
    compressedIn: 0,
    plainIn: 0,
    compressedOut: 0,
    errors: [],
  };
  const connections: Promise<void>[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections.push(
          echo(conn, options, stats)
            .catch((error) => {
              stats.errors.push(String(error));
            })
            .finally(() => conn.close()),
        );
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  })();
  try {
    await fn(`ws://127.0.0.1:${listener.addr.port}/`, stats);
  } finally {
    listener.close();
    await accepting;
    await Promise.all(connections);
  }
  assertEquals(stats.errors, []);
}

/**
 * What every client sends, each message echoed and compared: JSON that
 * repeats (context takeover pays), a short text, an empty one, bytes that do
 * not compress, and 1 MiB of text.
 */
const CLIENT_MESSAGES_JS = `
  const json = (seed, length) => {
    const items = [];
    let text = "";
    for (let i = 0; text.length < length; i++) {
      items.push({ id: seed * 1000 + i, symbol: ["EURUSD", "BTCUSD", "AAPL"][i % 3], price: i * 1.25 });
      text = JSON.stringify({ type: "ticks", seed, items });
    }
    return text;
  };
  let state = 1;
  const noise = new Uint8Array(70000).map(() => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
  const messages = [
    ...Array.from({ length: 20 }, (_, i) => json(i % 4, 1500)),
    "hi", "", noise, "pushwire ".repeat(116509),
  ];
`;

const NODE_WS_CLIENT = `
import { createRequire } from "node:module";
const WebSocket = createRequire(process.cwd() + "/")("ws");
${CLIENT_MESSAGES_JS}
const url = process.argv[1];
// ws's default threshold (1 KiB): short messages go uncompressed between
// compressed ones, which must leave the shared window alone.
const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: 0 });
const inbox = [];
let wake = () => {};
ws.on("message", (data, isBinary) => { inbox.push(isBinary ? new Uint8Array(data) : data.toString()); wake(); });
const next = () => inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((resolve) => { wake = () => { wake = () => {}; resolve(inbox.shift()); }; });
let extensions;
ws.on("upgrade", (response) => { extensions = response.headers["sec-websocket-extensions"]; });
ws.on("error", (error) => { console.log(JSON.stringify({ error: String(error) })); process.exit(1); });
ws.on("open", async () => {
  let echoed = 0;
  for (const message of messages) {
    ws.send(message);
    const back = await next();
    const same = typeof message === "string" ? back === message : Buffer.compare(Buffer.from(back), Buffer.from(message)) === 0;
    if (!same) { console.log(JSON.stringify({ error: "echo differs for message " + echoed })); process.exit(1); }
    echoed++;
  }
  ws.close(1000);
  ws.on("close", () => console.log(JSON.stringify({ extensions, echoed })));
});
`;

const PYTHON_CLIENT = `
import asyncio, json, sys
import websockets

def make_messages():
    def js(seed, length):
        items, text, i = [], "", 0
        while len(text) < length:
            items.append({"id": seed * 1000 + i, "symbol": ["EURUSD", "BTCUSD", "AAPL"][i % 3], "price": i * 1.25})
            text = json.dumps({"type": "ticks", "seed": seed, "items": items})
            i += 1
        return text
    state, noise = 1, bytearray()
    for _ in range(70000):
        state = (state * 1103515245 + 12345) % 2**32
        noise.append(state >> 24)
    return [js(i % 4, 1500) for i in range(20)] + ["hi", "", bytes(noise), "pushwire " * 116509]

async def main(url):
    async with websockets.connect(url, max_size=None) as ws:
        echoed = 0
        for message in make_messages():
            await ws.send(message)
            back = await ws.recv()
            if back != message:
                print(json.dumps({"error": f"echo differs for message {echoed}"}))
                sys.exit(1)
            echoed += 1
        print(json.dumps({"extensions": ws.response_headers.get("Sec-WebSocket-Extensions"), "echoed": echoed}))

asyncio.run(main(sys.argv[1]))
`;

const CHROMIUM_CLIENT = `
import { createRequire } from "node:module";
const { chromium } = createRequire(process.cwd() + "/")("playwright-core");
const browser = await chromium.launch({
  executablePath: ${JSON.stringify(CHROMIUM)},
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await browser.newPage();
  const result = await page.evaluate(async (url) => {
    ${CLIENT_MESSAGES_JS}
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const inbox = [];
    let wake = () => {};
    ws.onmessage = (event) => { inbox.push(event.data); wake(); };
    const next = () => inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((resolve) => { wake = () => { wake = () => {}; resolve(inbox.shift()); }; });
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("WebSocket error")); });
    let echoed = 0;
    for (const message of messages) {
      ws.send(message);
      const back = await next();
      const same = typeof message === "string" ? back === message
        : back instanceof ArrayBuffer && back.byteLength === message.length && new Uint8Array(back).every((byte, i) => byte === message[i]);
      if (!same) return { error: "echo differs for message " + echoed };
      echoed++;
    }
    const extensions = ws.extensions;
    ws.close(1000);
    return { extensions, echoed };
  }, process.argv[1]);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
`;

const MESSAGE_COUNT = 24;

const CLIENTS: {
  name: string;
  missing: Promise<string | undefined>;
  /** The Sec-WebSocket-Extensions the client sends. */
  offer: string;
  command: string;
  args: string[];
}[] = [
  {
    name: "Node ws with perMessageDeflate",
    missing: missingNodePackage("ws"),
    offer: "permessage-deflate; client_max_window_bits",
    command: "node",
    args: ["--input-type=module", "-e", NODE_WS_CLIENT],
  },
  {
    name: "Python websockets",
    missing: missingPythonWebsockets(),
    offer: "permessage-deflate; client_max_window_bits",
    command: SYSTEM_PYTHON,
    args: ["-c", PYTHON_CLIENT],
  },
  {
    name: "Chromium",
    missing:
      (async () => (await missingChromium()) ?? (await missingNodePackage("playwright-core")))(),
    offer: "permessage-deflate; client_max_window_bits",
    command: "node",
    args: ["--input-type=module", "-e", CHROMIUM_CLIENT],
  },
];

const SERVER_POLICIES: { name: string; options: DeflateOptions; response: string }[] = [
  {
    name: "the default policy",
    options: {},
    response: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  },
  {
    name: "client context takeover, a 1 KiB client window",
    options: { clientNoContextTakeover: false, clientMaxWindowBits: 10 },
    response: "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
  },
];

for (const client of CLIENTS) {
  for (const policy of SERVER_POLICIES) {
    peerTest(
      await client.missing,
      `${client.name} negotiates permessage-deflate and exchanges compressed messages (${policy.name})`,
      async () => {
        await withEchoServer(policy.options, async (url, stats) => {
          const result = await runJsonClient(client.command, [...client.args, url], {
            timeout: 60_000,
          });
          assertEquals(result, { extensions: policy.response, echoed: MESSAGE_COUNT });
          assertEquals(stats.responses, [policy.response]);
          // Every client compressed (most of) its messages, and the server its answers.
          assertGreater(stats.compressedIn, MESSAGE_COUNT / 2);
          assertGreater(stats.compressedOut, MESSAGE_COUNT / 2);
          assertEquals(stats.offers, [client.offer]);
        });
      },
    );
  }
}
