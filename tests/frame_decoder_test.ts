import {
  assert,
  assertEquals,
  assertExists,
  AssertionError,
  assertLess,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { concatBytes } from "../src/protocol/bytes.ts";
import { decodeHex } from "@std/encoding";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { ProtocolError } from "../src/protocol/errors.ts";
import { encodeFrame, type Frame, OPCODE, type Opcode } from "../src/protocol/frame.ts";
import { FrameDecoder, type FrameDecoderOptions } from "../src/protocol/frame_decoder.ts";

const encoder = new TextEncoder();
const HELLO = encoder.encode("Hello");
const RFC_KEY = decodeHex("37fa213d");
const SERVER: FrameDecoderOptions = { requireMask: false };

function hex(text: string): Uint8Array {
  return decodeHex(text.replaceAll(" ", ""));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

/** `length` bytes that are not all equal, so a wrong mask offset shows. */
function bytes(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + 1) & 0xff);
}

function frame(opcode: Opcode, payload: Uint8Array, fin = true, rsv1 = false): Frame {
  return { fin, rsv1, opcode, payload };
}

/** Equal frames; payloads compared by a plain loop, since some are 1 MiB. */
function assertFrames(actual: Frame[], expected: Frame[], message = ""): void {
  const shape = (frames: Frame[]) =>
    frames.map(({ fin, rsv1, opcode, payload }) => `${fin} ${rsv1} ${opcode} ${payload.length}`)
      .join();
  assertStrictEquals(shape(actual), shape(expected), message);
  for (let f = 0; f < expected.length; f++) {
    const at = firstDifference(actual[f]!.payload, expected[f]!.payload);
    if (at !== -1) throw new AssertionError(`${message}: frame ${f} differs at byte ${at}`);
  }
}

/** The first index where two equally long arrays differ, or -1; word-wise when it can. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = a.length >>> 2;
    const a32 = new Int32Array(a.buffer, a.byteOffset, words);
    const b32 = new Int32Array(b.buffer, b.byteOffset, words);
    while (i < words && a32[i] === b32[i]) i++;
    i <<= 2;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function decodeChunks(chunks: Uint8Array[], options?: FrameDecoderOptions): Frame[] {
  const decoder = new FrameDecoder(options);
  const frames = chunks.flatMap((chunk) => decoder.push(chunk));
  assertStrictEquals(decoder.pendingError, undefined);
  assertStrictEquals(decoder.partial, undefined);
  return frames;
}

interface Vector {
  name: string;
  bytes: Uint8Array;
  options: FrameDecoderOptions;
  frames: Frame[];
}

/** RFC 6455 §5.7: unmasked frames as a client receives them, masked as a server does. */
const RFC_VECTORS: Vector[] = [
  {
    name: "a single-frame unmasked text message",
    bytes: hex("81 05 48 65 6c 6c 6f"),
    options: SERVER,
    frames: [frame(OPCODE.Text, HELLO)],
  },
  {
    name: "a single-frame masked text message",
    bytes: hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"),
    options: {},
    frames: [frame(OPCODE.Text, HELLO)],
  },
  {
    name: "a fragmented unmasked text message",
    bytes: hex("01 03 48 65 6c 80 02 6c 6f"),
    options: SERVER,
    frames: [
      frame(OPCODE.Text, encoder.encode("Hel"), false),
      frame(OPCODE.Continuation, encoder.encode("lo")),
    ],
  },
  {
    name: "an unmasked ping",
    bytes: hex("89 05 48 65 6c 6c 6f"),
    options: SERVER,
    frames: [frame(OPCODE.Ping, HELLO)],
  },
  {
    name: "a masked pong",
    bytes: hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"),
    options: {},
    frames: [frame(OPCODE.Pong, HELLO)],
  },
  {
    name: "256 bytes of binary data in a single unmasked frame",
    bytes: concat(hex("82 7E 01 00"), bytes(256)),
    options: SERVER,
    frames: [frame(OPCODE.Binary, bytes(256))],
  },
  {
    name: "64 KiB of binary data in a single unmasked frame",
    bytes: concat(hex("82 7F 00 00 00 00 00 01 00 00"), bytes(65_536)),
    options: SERVER,
    frames: [frame(OPCODE.Binary, bytes(65_536))],
  },
  {
    name: "a close frame spanning two writes",
    bytes: hex("8806 03e8444F4E45"),
    options: SERVER,
    frames: [frame(OPCODE.Close, hex("03e8444F4E45"))],
  },
];

/** Every vector concatenated: the unmasked ones, and all re-encoded masked. */
const STREAMS: Vector[] = [
  {
    name: "the unmasked vectors concatenated",
    bytes: concat(
      ...RFC_VECTORS.filter((v) => v.options.requireMask === false).map((v) => v.bytes),
    ),
    options: SERVER,
    frames: RFC_VECTORS.filter((v) => v.options.requireMask === false).flatMap((v) => v.frames),
  },
  {
    name: "every vector masked, concatenated",
    bytes: concat(
      ...RFC_VECTORS.flatMap((v) => v.frames).map((f) =>
        encodeFrame(f.opcode, f.payload, { fin: f.fin, mask: RFC_KEY })
      ),
    ),
    options: {},
    frames: RFC_VECTORS.flatMap((v) => v.frames),
  },
];

Deno.test("FrameDecoder decodes each RFC 6455 §5.7 vector", async (t) => {
  for (const { name, bytes, options, frames } of [...RFC_VECTORS, ...STREAMS]) {
    await t.step(name, () => {
      assertFrames(decodeChunks([bytes], options), frames);
    });
  }
});

Deno.test("FrameDecoder decodes each vector split at every byte position", async (t) => {
  for (const { name, bytes, options, frames } of [...RFC_VECTORS, ...STREAMS]) {
    await t.step(name, () => {
      for (let split = 0; split <= bytes.length; split++) {
        const chunks = [bytes.subarray(0, split), bytes.subarray(split)];
        assertFrames(decodeChunks(chunks, options), frames, `split at ${split}`);
      }
    });
  }
});

Deno.test("FrameDecoder decodes each vector fed one byte at a time", async (t) => {
  for (const { name, bytes, options, frames } of [...RFC_VECTORS, ...STREAMS]) {
    await t.step(name, () => {
      const chunks = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
      assertFrames(decodeChunks(chunks, options), frames);
    });
  }
});

Deno.test("FrameDecoder returns many frames from one chunk, in order", () => {
  const frames: Frame[] = [];
  for (let i = 0; i < 200; i++) {
    const payload = bytes(i % 130);
    if (i % 10 === 3) frames.push(frame(OPCODE.Ping, payload.subarray(0, 125)));
    else if (i % 10 === 7) frames.push(frame(OPCODE.Text, payload, false));
    else if (i % 10 === 8) frames.push(frame(OPCODE.Continuation, payload));
    else frames.push(frame(OPCODE.Binary, payload));
  }
  const chunk = concat(
    ...frames.map((f) => encodeFrame(f.opcode, f.payload, { fin: f.fin, mask: RFC_KEY })),
  );
  assertFrames(decodeChunks([chunk]), frames);
});

Deno.test("FrameDecoder does not change or retain the chunk", () => {
  const chunk = hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");
  const original = chunk.slice();
  const [decoded] = new FrameDecoder().push(chunk);
  assertEquals(chunk, original);
  chunk.fill(0);
  assertEquals(decoded?.payload, HELLO);
});

Deno.test("FrameDecoder round-trips encodeFrame() output", async (t) => {
  const roles = [
    { role: "masked, server role (default)", options: {}, mask: RFC_KEY },
    { role: "unmasked, requireMask: false", options: SERVER, mask: false as const },
  ];
  for (const { role, options, mask } of roles) {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 1_048_576]) {
      await t.step(`${length} bytes, ${role}`, () => {
        const payload = bytes(length);
        const encoded = encodeFrame(OPCODE.Binary, payload, { mask });
        assertFrames(decodeChunks([encoded], options), [frame(OPCODE.Binary, payload)]);
        const chunks = [];
        for (let i = 0; i < encoded.length; i += 1021) chunks.push(encoded.subarray(i, i + 1021));
        assertFrames(decodeChunks(chunks, options), [frame(OPCODE.Binary, payload)], "chunked");
      });
    }
  }
});

Deno.test("FrameDecoder accepts control frames between fragments", () => {
  const frames = [
    frame(OPCODE.Text, encoder.encode("He"), false),
    frame(OPCODE.Ping, HELLO),
    frame(OPCODE.Continuation, encoder.encode("l"), false),
    frame(OPCODE.Pong, new Uint8Array(0)),
    frame(OPCODE.Close, hex("03e8")),
    frame(OPCODE.Continuation, encoder.encode("lo")),
    frame(OPCODE.Binary, HELLO),
  ];
  const chunk = concat(
    ...frames.map((f) => encodeFrame(f.opcode, f.payload, { fin: f.fin, mask: RFC_KEY })),
  );
  assertFrames(decodeChunks([chunk]), frames);
});

Deno.test("FrameDecoder accepts a length in a longer form than needed", async (t) => {
  const cases = [
    { name: "5 bytes with a 16-bit length", header: "81 fe 00 05" },
    { name: "5 bytes with a 64-bit length", header: "81 ff 00 00 00 00 00 00 00 05" },
    { name: "0 bytes with a 16-bit length", header: "81 fe 00 00" },
  ];
  for (const { name, header } of cases) {
    await t.step(name, () => {
      const headerBytes = hex(header);
      const length = headerBytes[headerBytes.length - 1]!;
      const payload = HELLO.subarray(0, length);
      const masked = encodeFrame(OPCODE.Text, payload, { mask: RFC_KEY }).subarray(2);
      assertFrames(decodeChunks([headerBytes, masked]), [frame(OPCODE.Text, payload)]);
    });
  }
});

Deno.test("FrameDecoder accepts RSV1 on a first data frame with allowRsv1", async (t) => {
  const options = { allowRsv1: true };
  await t.step("a single-frame text message", () => {
    const chunk = hex("c1 85 37 fa 21 3d 7f 9f 4d 51 58");
    assertFrames(decodeChunks([chunk], options), [frame(OPCODE.Text, HELLO, true, true)]);
  });
  await t.step("a fragmented binary message", () => {
    const chunk = hex("42 80 37 fa 21 3d 80 80 37 fa 21 3d");
    assertFrames(decodeChunks([chunk], options), [
      frame(OPCODE.Binary, new Uint8Array(0), false, true),
      frame(OPCODE.Continuation, new Uint8Array(0)),
    ]);
  });
});

interface ErrorCase {
  name: string;
  /** The chunks, in hex; all but the last must be accepted. */
  chunks: string[];
  options?: FrameDecoderOptions;
  code: number;
}

// A masking key and a masked empty payload, to keep the vectors short.
const K = "37fa213d";

const PROTOCOL_ERRORS: ErrorCase[] = [
  { name: "an unmasked client frame", chunks: ["8105 48656c6c6f"], code: 1002 },
  {
    name: "a masked server frame (requireMask: false)",
    chunks: [`8185 ${K} 7f9f4d5158`],
    options: SERVER,
    code: 1002,
  },
  { name: "RSV1 without an extension", chunks: [`c185 ${K} 7f9f4d5158`], code: 1002 },
  { name: "RSV2", chunks: [`a185 ${K} 7f9f4d5158`], code: 1002 },
  { name: "RSV3", chunks: [`9185 ${K} 7f9f4d5158`], code: 1002 },
  { name: "RSV2 with allowRsv1", chunks: [`a180 ${K}`], options: { allowRsv1: true }, code: 1002 },
  { name: "RSV3 with allowRsv1", chunks: [`9180 ${K}`], options: { allowRsv1: true }, code: 1002 },
  {
    name: "RSV1 on a ping with allowRsv1",
    chunks: [`c980 ${K}`],
    options: { allowRsv1: true },
    code: 1002,
  },
  {
    name: "RSV1 on a close with allowRsv1",
    chunks: [`c880 ${K}`],
    options: { allowRsv1: true },
    code: 1002,
  },
  {
    name: "RSV1 on a continuation with allowRsv1",
    chunks: [`4180 ${K}`, `c080 ${K}`],
    options: { allowRsv1: true },
    code: 1002,
  },
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode) => ({
    name: `reserved opcode 0x${opcode.toString(16)}`,
    chunks: [`8${opcode.toString(16)}80 ${K}`],
    code: 1002,
  })),
  { name: "a ping with a 126-byte payload", chunks: [`89fe 007e ${K}`], code: 1002 },
  { name: "a close with a 126-byte payload", chunks: [`88fe 007e ${K}`], code: 1002 },
  {
    name: "a pong with a 64-bit length of 126",
    chunks: [`8aff 000000000000007e ${K}`],
    code: 1002,
  },
  { name: "a fragmented ping", chunks: [`0980 ${K}`], code: 1002 },
  { name: "a fragmented close", chunks: [`0880 ${K}`], code: 1002 },
  { name: "a continuation without a start", chunks: [`8080 ${K}`], code: 1002 },
  { name: "a non-final continuation without a start", chunks: [`0080 ${K}`], code: 1002 },
  {
    name: "a continuation after a complete message",
    chunks: [`8180 ${K}`, `8080 ${K}`],
    code: 1002,
  },
  { name: "a text frame inside a text message", chunks: [`0180 ${K}`, `8180 ${K}`], code: 1002 },
  {
    name: "a binary frame inside a text message after a ping",
    chunks: [`0180 ${K}`, `8980 ${K}`, `8280 ${K}`],
    code: 1002,
  },
  {
    name: "a 64-bit length with the top bit set",
    chunks: ["827f 8000000000000000"],
    options: SERVER,
    code: 1002,
  },
  {
    name: "a 64-bit length of 2^64 - 1",
    chunks: [`82ff ffffffffffffffff ${K}`],
    code: 1002,
  },
  {
    name: "a frame announcing 2^62 bytes, from its 10-byte header",
    chunks: ["827f 4000000000000000"],
    options: SERVER,
    code: 1009,
  },
  {
    name: "a masked frame announcing 2^62 bytes, from its 14-byte header",
    chunks: [`82ff 4000000000000000 ${K}`],
    code: 1009,
  },
  {
    name: "a frame announcing 2^53 bytes",
    chunks: ["827f 0020000000000000"],
    options: SERVER,
    code: 1009,
  },
  {
    name: "a frame one byte over maxMessageBytes",
    chunks: [`8186 ${K}`],
    options: { maxMessageBytes: 5 },
    code: 1009,
  },
  {
    name: "a frame one byte over the default 1 MiB",
    chunks: [`82ff 0000000000100001 ${K}`],
    code: 1009,
  },
  {
    name: "a message over maxMessageBytes, at the header of the crossing fragment",
    chunks: [`0185 ${K} 7f9f4d5158`, `0085 ${K} 7f9f4d5158`, `8081 ${K}`],
    options: { maxMessageBytes: 10 },
    code: 1009,
  },
  {
    name: "a message over maxMessageBytes, split inside the crossing header",
    chunks: [`0283 ${K} 000000`, "00", "fe 00", `08 ${K}`],
    options: { maxMessageBytes: 10 },
    code: 1009,
  },
];

Deno.test("FrameDecoder throws the close code for each protocol error", async (t) => {
  for (const { name, chunks, options, code } of PROTOCOL_ERRORS) {
    await t.step(`${name} → ${code}`, () => {
      const decoder = new FrameDecoder(options);
      const bytes = chunks.map(hex);
      const last = bytes.pop()!;
      for (const chunk of bytes) decoder.push(chunk);
      const error = assertThrows(() => decoder.push(last), ProtocolError, "Cannot decode frame");
      assertEquals(error.code, code);
    });
  }
});

Deno.test({
  name: "FrameDecoder answers a control frame with a 64-bit length of 2^62 with 1002",
  fn() {
    const error = assertThrows(
      () => new FrameDecoder(SERVER).push(hex("897f 4000000000000000")),
      ProtocolError,
    );
    assertEquals(error.code, CLOSE_CODE.ProtocolError);
  },
});

Deno.test("FrameDecoder checks the size limit before allocating the payload", () => {
  // 512 MiB announced: refused from the header, without half a gigabyte appearing.
  const before = Deno.memoryUsage().external;
  const error = assertThrows(
    () => new FrameDecoder(SERVER).push(hex("827f 0000000020000000")),
    ProtocolError,
  );
  assertEquals(error.code, CLOSE_CODE.MessageTooBig);
  assertLess(Deno.memoryUsage().external - before, 64 * 1024 * 1024);
});

Deno.test("FrameDecoder does not count control frames against maxMessageBytes", () => {
  const frames = decodeChunks(
    [hex(`0185 ${K} 7f9f4d5158 8985 ${K} 7f9f4d5158 8085 ${K} 7f9f4d5158`)],
    { maxMessageBytes: 10 },
  );
  assertEquals(frames.map((f) => f.opcode), [OPCODE.Text, OPCODE.Ping, OPCODE.Continuation]);
});

Deno.test("FrameDecoder starts counting maxMessageBytes again for each message", () => {
  const chunk = hex(`8185 ${K} 7f9f4d5158`);
  const decoder = new FrameDecoder({ maxMessageBytes: 5 });
  for (let i = 0; i < 3; i++) assertEquals(decoder.push(chunk).length, 1);
});

Deno.test("FrameDecoder keeps an error after valid frames in pendingError", async (t) => {
  await t.step("the valid frame is returned and the error kept", () => {
    const decoder = new FrameDecoder();
    const frames = decoder.push(hex(`8185 ${K} 7f9f4d5158 8105 48656c6c6f`));
    assertFrames(frames, [frame(OPCODE.Text, HELLO)]);
    assertExists(decoder.pendingError);
    assertEquals(decoder.pendingError.code, CLOSE_CODE.ProtocolError);
  });
  await t.step("the next push throws the pending error", () => {
    const decoder = new FrameDecoder();
    decoder.push(hex(`8185 ${K} 7f9f4d5158 8105 48656c6c6f`));
    const pending = decoder.pendingError;
    const error = assertThrows(() => decoder.push(hex(`8980 ${K}`)), ProtocolError);
    assertStrictEquals(error, pending);
    assertStrictEquals(assertThrows(() => decoder.push(new Uint8Array(0))), pending);
  });
  await t.step("a size error after a valid frame is kept too", () => {
    const decoder = new FrameDecoder({ maxMessageBytes: 5 });
    const frames = decoder.push(hex(`8185 ${K} 7f9f4d5158 8186 ${K}`));
    assertEquals(frames.length, 1);
    assertEquals(decoder.pendingError?.code, CLOSE_CODE.MessageTooBig);
  });
  await t.step("an error with no frame before it is thrown at once", () => {
    const decoder = new FrameDecoder();
    assertThrows(() => decoder.push(hex("8105 48656c6c6f")), ProtocolError);
    assertStrictEquals(decoder.pendingError, undefined);
  });
});

Deno.test("FrameDecoder.partial reports the unmasked prefix of a data frame", async (t) => {
  await t.step("undefined before any byte and inside a header", () => {
    const decoder = new FrameDecoder();
    assertStrictEquals(decoder.partial, undefined);
    decoder.push(hex("8185 37fa"));
    assertStrictEquals(decoder.partial, undefined);
  });
  await t.step("an empty prefix once the header is complete", () => {
    const decoder = new FrameDecoder();
    decoder.push(hex(`8185 ${K}`));
    assertEquals(decoder.partial, {
      opcode: OPCODE.Text,
      received: new Uint8Array(0),
      rsv1: false,
    });
  });
  await t.step("the bytes so far, unmasked, then undefined once complete", () => {
    const decoder = new FrameDecoder();
    assertEquals(decoder.push(hex(`8185 ${K} 7f9f4d`)), []);
    assertEquals(decoder.partial, {
      opcode: OPCODE.Text,
      received: encoder.encode("Hel"),
      rsv1: false,
    });
    assertEquals(decoder.push(hex("5158")).length, 1);
    assertStrictEquals(decoder.partial, undefined);
  });
  await t.step("a continuation frame still arriving", () => {
    const decoder = new FrameDecoder(SERVER);
    decoder.push(hex("0103 48656c 8002 6c"));
    assertEquals(decoder.partial, {
      opcode: OPCODE.Continuation,
      received: encoder.encode("l"),
      rsv1: false,
    });
  });
  await t.step("undefined for a control frame still arriving", () => {
    const decoder = new FrameDecoder(SERVER);
    decoder.push(hex("8905 4865"));
    assertStrictEquals(decoder.partial, undefined);
  });
  await t.step("every prefix of a masked 300-byte frame fed one byte at a time", () => {
    const payload = bytes(300);
    const encoded = encodeFrame(OPCODE.Binary, payload, { mask: RFC_KEY });
    const decoder = new FrameDecoder();
    for (let i = 0; i < encoded.length - 1; i++) {
      decoder.push(encoded.subarray(i, i + 1));
      const received = Math.max(0, i + 1 - 8);
      if (i + 1 < 8) continue;
      assertEquals(decoder.partial?.received, payload.subarray(0, received), `byte ${i}`);
    }
    assert(decoder.push(encoded.subarray(encoded.length - 1)).length === 1);
  });
});

Deno.test("FrameDecoder fails a message of more than maxFragments frames with 1009, from its header", async (t) => {
  // Text "a" not final, then empty continuations; a ping between does not count.
  const first = hex(`0181 ${K} 56`);
  const more = hex(`0080 ${K}`);
  const ping = hex(`8980 ${K}`);
  await t.step("the third frame of a message, with maxFragments 2", () => {
    const decoder = new FrameDecoder({ maxFragments: 2 });
    assertEquals(decoder.push(concat(first, ping, more)).length, 3);
    const error = assertThrows(() => decoder.push(more), ProtocolError);
    assertEquals(error.code, CLOSE_CODE.MessageTooBig);
    assertEquals(error.message, "Cannot decode frame: message exceeds 2 fragments");
  });
  await t.step("a frame that would pass it is refused before its payload arrives", () => {
    const decoder = new FrameDecoder({ maxFragments: 1 });
    decoder.push(first);
    // 64 KiB announced, with no byte of it sent.
    const error = assertThrows(
      () => decoder.push(hex(`00ff 0000000000010000 ${K}`)),
      ProtocolError,
    );
    assertEquals(error.message, "Cannot decode frame: message exceeds 1 fragments");
  });
  await t.step("the count starts again with each message", () => {
    const decoder = new FrameDecoder({ maxFragments: 2 });
    const last = hex(`8080 ${K}`);
    for (let i = 0; i < 3; i++) assertEquals(decoder.push(concat(first, last)).length, 2);
  });
  await t.step("16384 by default, or one per 64 bytes of a larger maxMessageBytes", () => {
    const cases: [number | undefined, number][] = [[undefined, 16384], [4 * 1024 * 1024, 65536]];
    for (const [maxMessageBytes, fragments] of cases) {
      const decoder = new FrameDecoder(maxMessageBytes === undefined ? {} : { maxMessageBytes });
      decoder.push(first);
      decoder.push(concat(...Array.from({ length: fragments - 1 }, () => more)));
      assertThrows(() => decoder.push(more), ProtocolError, `${fragments} fragments`);
    }
  });
});
