import { assertEquals, assertThrows } from "@std/assert";
import { decodeHex, encodeHex } from "@std/encoding";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import {
  decodeClosePayload,
  encodeClosePayload,
  MAX_CLOSE_REASON_BYTES,
} from "../src/protocol/close_frame.ts";
import { ProtocolError } from "../src/protocol/errors.ts";

function hex(text: string): Uint8Array {
  return decodeHex(text.replaceAll(" ", ""));
}

const SENDABLE = [1000, 1001, 1002, 1003, ...Array.from({ length: 8 }, (_, i) => 1007 + i)];
const PRIVATE = [3000, 3999, 4000, 4999];
const UNSENDABLE = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000];

const VECTORS: { name: string; code: number; reason: string; payload: string }[] = [
  { name: '1000 with "bye"', code: 1000, reason: "bye", payload: "03e8 627965" },
  { name: '1000 with "DONE" (ws)', code: 1000, reason: "DONE", payload: "03e8 444F4E45" },
  { name: "1001 without a reason", code: 1001, reason: "", payload: "03e9" },
  { name: "4999 with a UTF-8 reason", code: 4999, reason: "€", payload: "1387 e282ac" },
];

Deno.test("encodeClosePayload() writes the code big-endian, then the reason", async (t) => {
  for (const { name, code, reason, payload } of VECTORS) {
    await t.step(name, () => {
      assertEquals(encodeHex(encodeClosePayload(code, reason)), encodeHex(hex(payload)));
    });
  }
  await t.step("the reason defaults to empty", () => {
    assertEquals(encodeClosePayload(1000), hex("03e8"));
  });
});

Deno.test("decodeClosePayload() reads the code and the reason", async (t) => {
  for (const { name, code, reason, payload } of VECTORS) {
    await t.step(name, () => {
      assertEquals(decodeClosePayload(hex(payload)), { code, reason });
    });
  }
  await t.step("an empty payload means 1005", () => {
    assertEquals(decodeClosePayload(new Uint8Array(0)), {
      code: CLOSE_CODE.NoStatusReceived,
      reason: "",
    });
  });
  await t.step("a reason at an offset inside a larger buffer", () => {
    const buffer = hex("ff 03e8 627965 ff");
    assertEquals(decodeClosePayload(buffer.subarray(1, 6)), { code: 1000, reason: "bye" });
  });
});

Deno.test("encodeClosePayload() and decodeClosePayload() accept every sendable code", async (t) => {
  for (const code of [...SENDABLE, ...PRIVATE]) {
    await t.step(`${code}`, () => {
      assertEquals(decodeClosePayload(encodeClosePayload(code, "ok")), { code, reason: "ok" });
    });
  }
});

Deno.test("decodeClosePayload() answers an invalid code with 1002", async (t) => {
  await t.step("a 1-byte payload", () => {
    const error = assertThrows(() => decodeClosePayload(hex("03")), ProtocolError, "1-byte");
    assertEquals(error.code, CLOSE_CODE.ProtocolError);
  });
  for (const code of UNSENDABLE) {
    await t.step(`code ${code}`, () => {
      const payload = new Uint8Array([code >>> 8, code & 0xff, 0x61]);
      const error = assertThrows(() => decodeClosePayload(payload), ProtocolError, `${code}`);
      assertEquals(error.code, CLOSE_CODE.ProtocolError);
    });
  }
});

Deno.test("decodeClosePayload() answers a reason that is not UTF-8 with 1007", async (t) => {
  const reasons = ["ff", "c080", "eda080", "e282", "f4908080", "cebae1bdb9cf83cebcceb5ed"];
  for (const reason of reasons) {
    await t.step(reason, () => {
      const error = assertThrows(
        () => decodeClosePayload(hex(`03e8 ${reason}`)),
        ProtocolError,
        "UTF-8",
      );
      assertEquals(error.code, CLOSE_CODE.InvalidPayloadData);
    });
  }
  await t.step("no decoder state is carried from one payload to the next", () => {
    assertThrows(() => decodeClosePayload(hex("03e8 e282")), ProtocolError);
    // Were "e2 82" kept, "ac" would complete a "€".
    assertThrows(() => decodeClosePayload(hex("03e8 ac")), ProtocolError);
    assertEquals(decodeClosePayload(hex("03e8 627965")).reason, "bye");
  });
});

Deno.test("encodeClosePayload() refuses a code that may not be sent", async (t) => {
  for (const code of UNSENDABLE) {
    await t.step(`${code}`, () => {
      assertThrows(() => encodeClosePayload(code), RangeError, `${code}`);
    });
  }
});

Deno.test("encodeClosePayload() limits the reason to 123 bytes of UTF-8", async (t) => {
  await t.step("123 bytes fit in a 125-byte control frame", () => {
    const reason = "a".repeat(MAX_CLOSE_REASON_BYTES);
    assertEquals(encodeClosePayload(1000, reason).length, 125);
  });
  await t.step("124 bytes throw RangeError", () => {
    assertThrows(() => encodeClosePayload(1000, "a".repeat(124)), RangeError, "124 bytes");
  });
  await t.step("41 three-byte characters (123 bytes) fit, 42 do not", () => {
    assertEquals(encodeClosePayload(1000, "€".repeat(41)).length, 125);
    assertThrows(() => encodeClosePayload(1000, "€".repeat(42)), RangeError, "126 bytes");
  });
});
