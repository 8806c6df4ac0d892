import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { decodeHex } from "@std/encoding";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { ProtocolError } from "../src/protocol/errors.ts";
import {
  encodeFrame,
  type Frame,
  isControlOpcode,
  OPCODE,
  type Opcode,
} from "../src/protocol/frame.ts";
import { FrameDecoder } from "../src/protocol/frame_decoder.ts";
import { MessageAssembler } from "../src/protocol/message.ts";

const encoder = new TextEncoder();
const RFC_KEY = decodeHex("37fa213d");

function hex(text: string): Uint8Array {
  return decodeHex(text.replaceAll(" ", ""));
}

function frame(opcode: Opcode, payload: Uint8Array, fin = true): Frame {
  return { fin, rsv1: false, opcode, payload };
}

/** The frames of one message: the first fragment, then continuations. */
function fragments(opcode: Opcode, parts: Uint8Array[]): Frame[] {
  return parts.map((part, i) =>
    frame(i === 0 ? opcode : OPCODE.Continuation, part, i === parts.length - 1)
  );
}

/** Adds every frame; all but the last must return `undefined`. */
function assemble(assembler: MessageAssembler, frames: Frame[]): unknown {
  const last = frames.at(-1)!;
  for (const frame of frames.slice(0, -1)) {
    assertStrictEquals(assembler.add(frame), undefined);
  }
  return assembler.add(last);
}

function assertInvalidPayload(fn: () => unknown): void {
  const error = assertThrows(fn, ProtocolError, "invalid UTF-8");
  assertEquals(error.code, CLOSE_CODE.InvalidPayloadData);
}

Deno.test("MessageAssembler returns a single-frame message at once", async (t) => {
  const cases: { name: string; frame: Frame; message: string | Uint8Array }[] = [
    { name: "text", frame: frame(OPCODE.Text, encoder.encode("Hello")), message: "Hello" },
    { name: "empty text", frame: frame(OPCODE.Text, new Uint8Array(0)), message: "" },
    {
      name: "text with a BOM kept",
      frame: frame(OPCODE.Text, hex("efbbbf41")),
      message: "\uFEFFA",
    },
    { name: "binary", frame: frame(OPCODE.Binary, hex("00ff7f80")), message: hex("00ff7f80") },
    { name: "empty binary", frame: frame(OPCODE.Binary, new Uint8Array(0)), message: hex("") },
  ];
  for (const { name, frame, message } of cases) {
    await t.step(name, () => {
      assertEquals(new MessageAssembler().add(frame), message);
    });
  }
});

Deno.test("MessageAssembler joins fragmented messages", async (t) => {
  await t.step("text in two fragments", () => {
    const parts = [encoder.encode("Hel"), encoder.encode("lo")];
    assertEquals(assemble(new MessageAssembler(), fragments(OPCODE.Text, parts)), "Hello");
  });
  await t.step("text with empty fragments", () => {
    const parts = [hex(""), encoder.encode("Hi"), hex(""), hex("")];
    assertEquals(assemble(new MessageAssembler(), fragments(OPCODE.Text, parts)), "Hi");
  });
  await t.step("binary in three fragments", () => {
    const parts = [hex("0102"), hex("03"), hex("0405ff")];
    const message = assemble(new MessageAssembler(), fragments(OPCODE.Binary, parts));
    assertEquals(message, hex("0102030405ff"));
  });
  await t.step("binary with empty fragments", () => {
    const parts = [hex(""), hex("01"), hex("")];
    assertEquals(assemble(new MessageAssembler(), fragments(OPCODE.Binary, parts)), hex("01"));
  });
  await t.step("messages one after another, text and binary", () => {
    const assembler = new MessageAssembler();
    const parts = [encoder.encode("Hel"), encoder.encode("lo")];
    assertEquals(
      assemble(assembler, fragments(OPCODE.Binary, [hex("01"), hex("02")])),
      hex("0102"),
    );
    assertEquals(assemble(assembler, fragments(OPCODE.Text, parts)), "Hello");
    assertEquals(
      assemble(assembler, fragments(OPCODE.Binary, [hex("03"), hex("04")])),
      hex("0304"),
    );
    assertEquals(assembler.add(frame(OPCODE.Text, encoder.encode("€"))), "€");
  });
});

Deno.test("MessageAssembler decodes a code point split across fragments", async (t) => {
  const texts = ["€", "κόσμε", "𝄞 and €", "a\u0080b\u07ffc\uffffd\u{10ffff}"];
  for (const text of texts) {
    await t.step(`"${text}" split after each byte, in two fragments`, () => {
      const bytes = encoder.encode(text);
      for (let split = 0; split <= bytes.length; split++) {
        const parts = [bytes.subarray(0, split), bytes.subarray(split)];
        assertEquals(assemble(new MessageAssembler(), fragments(OPCODE.Text, parts)), text);
      }
    });
    await t.step(`"${text}" one byte per fragment`, () => {
      const bytes = encoder.encode(text);
      const parts = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
      assertEquals(assemble(new MessageAssembler(), fragments(OPCODE.Text, parts)), text);
    });
  }
});

interface InvalidCase {
  name: string;
  /** Fragments in hex; the last one is where the error must be found. */
  accepted: string[];
  failing: string;
}

// Autobahn 6.x: the error must come with the fragment holding the first bad
// byte, not with the final one.
const INVALID_FRAGMENTS: InvalidCase[] = [
  { name: "a 0xff byte", accepted: ["48656c"], failing: "ff6c6f" },
  { name: "a lone continuation byte", accepted: [], failing: "80" },
  { name: "an overlong NUL (c0 80)", accepted: ["41"], failing: "c080" },
  { name: "a surrogate (ed a0 80)", accepted: ["ed"], failing: "a080" },
  {
    name: "a code point over U+10FFFF (Autobahn 6.4.1)",
    accepted: ["cebae1bdb9cf83cebcceb5f4"],
    failing: "90",
  },
  {
    name: "a 3-byte sequence cut by ASCII",
    accepted: ["cebae1bdb9cf83cebcceb5", "e282"],
    failing: "41",
  },
];

Deno.test("MessageAssembler fails with 1007 on the fragment with invalid UTF-8", async (t) => {
  for (const { name, accepted, failing } of INVALID_FRAGMENTS) {
    await t.step(name, () => {
      const assembler = new MessageAssembler();
      const frames = fragments(OPCODE.Text, [...accepted, failing, "41"].map(hex));
      const failingFrame = frames[accepted.length]!;
      for (const frame of frames.slice(0, accepted.length)) {
        assertStrictEquals(assembler.add(frame), undefined);
      }
      // Not the final fragment: the error comes before the message ends.
      assertEquals(failingFrame.fin, false);
      assertInvalidPayload(() => assembler.add(failingFrame));
    });
  }
  await t.step("a code point cut short by the final fragment", () => {
    const assembler = new MessageAssembler();
    assertStrictEquals(assembler.add(frame(OPCODE.Text, hex("41e2"), false)), undefined);
    assertInvalidPayload(() => assembler.add(frame(OPCODE.Continuation, hex("82"))));
  });
  await t.step("a single frame with invalid UTF-8", () => {
    assertInvalidPayload(() => new MessageAssembler().add(frame(OPCODE.Text, hex("cebae1bd"))));
  });
  await t.step("invalid UTF-8 in a binary message is fine", () => {
    const message = new MessageAssembler().add(frame(OPCODE.Binary, hex("ff c0 80")));
    assertEquals(message, hex("ffc080"));
  });
});

/** A decoder and an assembler fed together, as the socket does: data frames only. */
class Receiver {
  readonly decoder = new FrameDecoder();
  readonly assembler = new MessageAssembler();
  readonly messages: unknown[] = [];

  push(chunk: Uint8Array): void {
    for (const frame of this.decoder.push(chunk)) {
      if (isControlOpcode(frame.opcode)) continue;
      const message = this.assembler.add(frame);
      if (message !== undefined) this.messages.push(message);
    }
    const partial = this.decoder.partial;
    if (partial !== undefined) this.assembler.check(partial);
  }
}

function maskedText(payload: Uint8Array, opcode: Opcode = OPCODE.Text, fin = true): Uint8Array {
  return encodeFrame(opcode, payload, { fin, mask: RFC_KEY });
}

Deno.test("MessageAssembler.check() fails fast inside a frame still arriving", async (t) => {
  await t.step("invalid bytes in the received part of a text frame", () => {
    const wire = maskedText(hex("48656c ff 6c6f"));
    const decoder = new FrameDecoder();
    assertEquals(decoder.push(wire.subarray(0, 6 + 4)), []);
    assertInvalidPayload(() => new MessageAssembler().check(decoder.partial!));
  });
  await t.step("a code point over U+10FFFF found at its second byte (Autobahn 6.4.3)", () => {
    const wire = maskedText(hex("cebae1bdb9cf83cebcceb5 f4 90 8080 656469746564"));
    const receiver = new Receiver();
    receiver.push(wire.subarray(0, 6 + 12));
    assertInvalidPayload(() => receiver.push(wire.subarray(6 + 12, 6 + 13)));
  });
  await t.step("invalid bytes in a continuation frame still arriving", () => {
    const receiver = new Receiver();
    receiver.push(maskedText(encoder.encode("Hel"), OPCODE.Text, false));
    const wire = maskedText(hex("6c ff 6f"), OPCODE.Continuation);
    assertInvalidPayload(() => receiver.push(wire.subarray(0, 6 + 2)));
  });
  await t.step("a binary frame still arriving is not checked", () => {
    const receiver = new Receiver();
    const wire = maskedText(hex("ff ff ff ff"), OPCODE.Binary);
    receiver.push(wire.subarray(0, 8));
    receiver.push(wire.subarray(8));
    assertEquals(receiver.messages, [hex("ffffffff")]);
  });
});

Deno.test("MessageAssembler.check() then add() yields the text exactly once", async (t) => {
  const text = "Hello, κόσμε € 𝄞!";
  const bytes = encoder.encode(text);
  await t.step("a single frame split at every byte", () => {
    const wire = maskedText(bytes);
    for (let split = 0; split <= wire.length; split++) {
      const receiver = new Receiver();
      receiver.push(wire.subarray(0, split));
      receiver.push(wire.subarray(split));
      assertEquals(receiver.messages, [text], `split at ${split}`);
    }
  });
  await t.step("a single frame fed one byte at a time", () => {
    const wire = maskedText(bytes);
    const receiver = new Receiver();
    for (let i = 0; i < wire.length; i++) receiver.push(wire.subarray(i, i + 1));
    assertEquals(receiver.messages, [text]);
  });
  await t.step("check() repeated on the same partial adds nothing", () => {
    const wire = maskedText(bytes);
    const decoder = new FrameDecoder();
    const assembler = new MessageAssembler();
    decoder.push(wire.subarray(0, 10));
    assembler.check(decoder.partial!);
    assembler.check(decoder.partial!);
    const [complete] = decoder.push(wire.subarray(10));
    assertEquals(assembler.add(complete!), text);
  });
  await t.step("fragments, each fed one byte at a time, then another message", () => {
    const wire = new Uint8Array([
      ...maskedText(bytes.subarray(0, 9), OPCODE.Text, false),
      ...encodeFrame(OPCODE.Ping, encoder.encode("ping"), { mask: RFC_KEY }),
      ...maskedText(bytes.subarray(9, 20), OPCODE.Continuation, false),
      ...maskedText(bytes.subarray(20), OPCODE.Continuation),
      ...maskedText(encoder.encode("next")),
    ]);
    const receiver = new Receiver();
    for (let i = 0; i < wire.length; i++) receiver.push(wire.subarray(i, i + 1));
    assertEquals(receiver.messages, [text, "next"]);
  });
});

Deno.test("MessageAssembler gathers many fragments in one buffer, intact", async (t) => {
  await t.step("100 000 one-byte fragments and empty ones between", () => {
    const assembler = new MessageAssembler();
    const expected = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
    assertStrictEquals(
      assembler.add(frame(OPCODE.Binary, expected.subarray(0, 1), false)),
      undefined,
    );
    for (let i = 1; i < expected.length; i++) {
      assembler.add(frame(OPCODE.Continuation, new Uint8Array(0), false));
      assembler.add(frame(OPCODE.Continuation, expected.subarray(i, i + 1), false));
    }
    const message = assembler.add(frame(OPCODE.Continuation, new Uint8Array(0)));
    assertEquals(message, expected);
    assertEquals((message as Uint8Array).buffer.byteLength, expected.length, "an exact buffer");
  });
  await t.step("empty fragments before the only bytes", () => {
    const parts = [new Uint8Array(0), new Uint8Array(0), hex("0102")];
    assertEquals(assemble(new MessageAssembler(), fragments(OPCODE.Binary, parts)), hex("0102"));
  });
  await t.step("the buffer is not shared with the next message", () => {
    const assembler = new MessageAssembler();
    const first = assemble(assembler, fragments(OPCODE.Binary, [hex("01"), hex("02")]));
    const second = assemble(assembler, fragments(OPCODE.Binary, [hex("03"), hex("04")]));
    assertEquals([first, second], [hex("0102"), hex("0304")]);
  });
  await t.step("frames added are not changed or retained", () => {
    const assembler = new MessageAssembler();
    const part = hex("0102");
    assembler.add(frame(OPCODE.Binary, part, false));
    part.fill(0);
    assertEquals(assembler.add(frame(OPCODE.Continuation, hex("03"))), hex("010203"));
  });
});

Deno.test("MessageAssembler inflates a compressed message gathered from fragments", async () => {
  const { createInflater } = await import("../src/protocol/deflate.ts");
  const inflater = createInflater({ clientNoContextTakeover: true, clientMaxWindowBits: 15 }, 1024);
  const assembler = new MessageAssembler({ inflater });
  // RFC 7692 §7.2.3.1: "Hello", compressed, in three fragments (one empty).
  const compressed = hex("f2 48 cd c9 c9 07 00");
  const first = { fin: false, rsv1: true, opcode: OPCODE.Text, payload: compressed.subarray(0, 2) };
  assertStrictEquals(assembler.add(first), undefined);
  assertStrictEquals(
    assembler.add(frame(OPCODE.Continuation, new Uint8Array(0), false)),
    undefined,
  );
  assertEquals(assembler.add(frame(OPCODE.Continuation, compressed.subarray(2))), "Hello");
  const whole = { fin: true, rsv1: true, opcode: OPCODE.Text, payload: compressed };
  assertEquals(assembler.add(whole), "Hello", "and a whole one after it");
});
