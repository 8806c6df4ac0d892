import { assert, assertEquals, assertNotStrictEquals, assertThrows } from "@std/assert";
import { decodeHex, encodeHex } from "@std/encoding";
import {
  encodeFrame,
  type EncodeFrameOptions,
  encodeTextFrame,
  frameHeaderLength,
  isControlOpcode,
  OPCODE,
  type Opcode,
} from "../src/protocol/frame.ts";
import { applyMask } from "../src/protocol/mask.ts";

const encoder = new TextEncoder();
const HELLO = encoder.encode("Hello");
const RFC_KEY = decodeHex("37fa213d");

function hex(text: string): Uint8Array {
  return decodeHex(text.replaceAll(" ", ""));
}

/** `length` bytes that are not all equal, so masking and copying show. */
function bytes(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + 1) & 0xff);
}

interface Vector {
  name: string;
  opcode: Opcode;
  payload: Uint8Array;
  options?: EncodeFrameOptions;
  /** The frame header, in hex. */
  header: string;
  /** The payload as sent, in hex, when it is not the payload itself. */
  wire?: string;
}

/** RFC 6455 §5.7. */
const RFC_VECTORS: Vector[] = [
  {
    name: "a single-frame unmasked text message",
    opcode: OPCODE.Text,
    payload: HELLO,
    header: "81 05",
  },
  {
    name: "a single-frame masked text message",
    opcode: OPCODE.Text,
    payload: HELLO,
    options: { mask: RFC_KEY },
    header: "81 85 37 fa 21 3d",
    wire: "7f 9f 4d 51 58",
  },
  {
    name: "the first fragment of an unmasked text message",
    opcode: OPCODE.Text,
    payload: encoder.encode("Hel"),
    options: { fin: false },
    header: "01 03",
  },
  {
    name: "the last fragment of an unmasked text message",
    opcode: OPCODE.Continuation,
    payload: encoder.encode("lo"),
    header: "80 02",
  },
  {
    name: "an unmasked ping",
    opcode: OPCODE.Ping,
    payload: HELLO,
    header: "89 05",
  },
  {
    name: "a masked pong",
    opcode: OPCODE.Pong,
    payload: HELLO,
    options: { mask: RFC_KEY },
    header: "8a 85 37 fa 21 3d",
    wire: "7f 9f 4d 51 58",
  },
  {
    name: "256 bytes of binary data in a single unmasked frame",
    opcode: OPCODE.Binary,
    payload: bytes(256),
    header: "82 7E 01 00",
  },
  {
    name: "64 KiB of binary data in a single unmasked frame",
    opcode: OPCODE.Binary,
    payload: bytes(65_536),
    header: "82 7F 00 00 00 00 00 01 00 00",
  },
];

Deno.test("encodeFrame() produces the exact bytes of RFC 6455 §5.7", async (t) => {
  for (const { name, opcode, payload, options, header, wire } of RFC_VECTORS) {
    await t.step(name, () => {
      const frame = encodeFrame(opcode, payload, options);
      const headerBytes = hex(header);
      assertEquals(encodeHex(frame.subarray(0, headerBytes.length)), encodeHex(headerBytes));
      assertEquals(frame.subarray(headerBytes.length), wire === undefined ? payload : hex(wire));
    });
  }
});

Deno.test("encodeFrame() never changes the caller's payload", async (t) => {
  const cases: { name: string; options: EncodeFrameOptions }[] = [
    { name: "unmasked", options: {} },
    { name: "masked with a given key", options: { mask: RFC_KEY } },
    { name: "masked with a random key", options: { mask: true } },
  ];
  for (const { name, options } of cases) {
    for (const length of [5, 126, 65_536]) {
      await t.step(`${name}, ${length} bytes`, () => {
        const payload = bytes(length);
        const original = payload.slice();
        const frame = encodeFrame(OPCODE.Binary, payload, options);
        assertEquals(payload, original);
        assertNotStrictEquals(frame.buffer, payload.buffer);
      });
    }
  }
  await t.step("a subarray payload leaves its neighbours alone", () => {
    const buffer = bytes(64);
    const original = buffer.slice();
    encodeFrame(OPCODE.Binary, buffer.subarray(3, 40), { mask: RFC_KEY });
    assertEquals(buffer, original);
  });
});

Deno.test("encodeFrame() uses the shortest length form", async (t) => {
  const cases: { length: number; header: string }[] = [
    { length: 0, header: "82 00" },
    { length: 1, header: "82 01" },
    { length: 125, header: "82 7d" },
    { length: 126, header: "82 7e 00 7e" },
    { length: 65_535, header: "82 7e ff ff" },
    { length: 65_536, header: "82 7f 00 00 00 00 00 01 00 00" },
    { length: 1_048_577, header: "82 7f 00 00 00 00 00 10 00 01" },
  ];
  for (const { length, header } of cases) {
    await t.step(`a 7/16/64-bit length for ${length} bytes`, () => {
      const expected = hex(header);
      const frame = encodeFrame(OPCODE.Binary, bytes(length));
      assertEquals(frame.length, expected.length + length);
      assertEquals(encodeHex(frame.subarray(0, expected.length)), encodeHex(expected));
      assertEquals(frameHeaderLength(length), expected.length);
    });
    await t.step(`a masked header for ${length} bytes is 4 bytes longer`, () => {
      const expected = hex(header);
      expected[1]! |= 0x80;
      const frame = encodeFrame(OPCODE.Binary, bytes(length), { mask: RFC_KEY });
      assertEquals(frame.length, expected.length + 4 + length);
      assertEquals(
        encodeHex(frame.subarray(0, expected.length + 4)),
        encodeHex(expected) + "37fa213d",
      );
      assertEquals(frameHeaderLength(length, true), expected.length + 4);
    });
  }
});

Deno.test("encodeFrame() masks with the key it was given", async (t) => {
  for (const length of [0, 3, 17, 300, 65_536]) {
    await t.step(`${length} bytes`, () => {
      const payload = bytes(length);
      const frame = encodeFrame(OPCODE.Binary, payload, { mask: RFC_KEY });
      const body = frame.slice(frameHeaderLength(length, true));
      applyMask(body, RFC_KEY);
      assertEquals(body, payload);
    });
  }
});

Deno.test("encodeFrame() with mask: true uses a random key", () => {
  const frame = encodeFrame(OPCODE.Text, HELLO, { mask: true });
  assertEquals(frame.length, 11);
  assertEquals(frame[1], 0x85);
  const body = frame.slice(6);
  applyMask(body, frame.subarray(2, 6));
  assertEquals(body, HELLO);
});

Deno.test("encodeFrame() sets the first byte from FIN, RSV1 and the opcode", async (t) => {
  const cases: { name: string; opcode: Opcode; options: EncodeFrameOptions; b0: number }[] = [
    { name: "a final text frame", opcode: OPCODE.Text, options: {}, b0: 0x81 },
    { name: "fin: false", opcode: OPCODE.Text, options: { fin: false }, b0: 0x01 },
    { name: "rsv1: true", opcode: OPCODE.Text, options: { rsv1: true }, b0: 0xc1 },
    {
      name: "rsv1 on a first fragment",
      opcode: OPCODE.Binary,
      options: { rsv1: true, fin: false },
      b0: 0x42,
    },
    {
      name: "a non-final continuation",
      opcode: OPCODE.Continuation,
      options: { fin: false },
      b0: 0x00,
    },
    { name: "a close frame", opcode: OPCODE.Close, options: {}, b0: 0x88 },
  ];
  for (const { name, opcode, options, b0 } of cases) {
    await t.step(name, () => {
      assertEquals(encodeFrame(opcode, HELLO, options)[0], b0);
    });
  }
});

Deno.test("encodeFrame() refuses control frames that RFC 6455 §5.5 forbids", async (t) => {
  for (const opcode of [OPCODE.Close, OPCODE.Ping, OPCODE.Pong]) {
    await t.step(`opcode ${opcode} with 125 bytes is allowed`, () => {
      assertEquals(encodeFrame(opcode, bytes(125)).length, 127);
    });
    await t.step(`opcode ${opcode} with 126 bytes throws RangeError`, () => {
      assertThrows(() => encodeFrame(opcode, bytes(126)), RangeError, "at most 125");
    });
    await t.step(`opcode ${opcode} with fin: false throws RangeError`, () => {
      assertThrows(() => encodeFrame(opcode, HELLO, { fin: false }), RangeError, "final");
    });
  }
});

Deno.test("encodeFrame() refuses a masking key that is not 4 bytes", async (t) => {
  for (const length of [0, 3, 5, 8]) {
    await t.step(`${length} bytes`, () => {
      assertThrows(
        () => encodeFrame(OPCODE.Text, HELLO, { mask: new Uint8Array(length) }),
        RangeError,
        "4 bytes",
      );
    });
  }
});

Deno.test("isControlOpcode() is true for close, ping and pong only", () => {
  for (const opcode of Object.values(OPCODE)) {
    assertEquals(isControlOpcode(opcode), opcode >= 8, `opcode ${opcode}`);
  }
  assert(!isControlOpcode(OPCODE.Continuation));
});

Deno.test("encodeTextFrame gives the bytes encodeFrame gives, at every length form", () => {
  const texts = [
    "",
    "Hello",
    "é".repeat(62),
    "€".repeat(42),
    "x".repeat(125),
    "x".repeat(126),
    "😀".repeat(40),
    "€".repeat(3000),
    "x".repeat(8192),
    "€".repeat(8193),
    "x".repeat(70_000),
  ];
  for (const text of texts) {
    assertEquals(
      encodeTextFrame(text),
      encodeFrame(OPCODE.Text, new TextEncoder().encode(text)),
      `${text.length} code units`,
    );
  }
});
