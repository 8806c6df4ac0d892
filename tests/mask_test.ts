import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { applyMask, randomMaskKey } from "../src/protocol/mask.ts";

const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

/** The definition of RFC 6455 §5.3, one byte at a time. */
function referenceMask(data: Uint8Array, key: Uint8Array, keyOffset: number): Uint8Array {
  return data.map((byte, i) => byte ^ key[(keyOffset + i) & 3]!);
}

/** `length` distinct-looking bytes at `byteOffset` inside a larger buffer. */
function bytesAt(length: number, byteOffset: number): Uint8Array {
  const buffer = new Uint8Array(byteOffset + length + 3);
  for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 151 + 7) & 0xff;
  return buffer.subarray(byteOffset, byteOffset + length);
}

Deno.test("applyMask() matches the byte-by-byte definition", async (t) => {
  // Lengths 0..70 cross the word threshold (16) with every remainder mod 4.
  for (const byteOffset of [0, 1, 2, 3]) {
    for (const keyOffset of [0, 1, 2, 3, 65_537]) {
      await t.step(`at byteOffset ${byteOffset}, keyOffset ${keyOffset}, lengths 0..70`, () => {
        for (let length = 0; length <= 70; length++) {
          const data = bytesAt(length, byteOffset);
          const expected = referenceMask(data, KEY, keyOffset);
          applyMask(data, KEY, keyOffset);
          assertEquals(data, expected, `length ${length}`);
        }
      });
    }
  }
});

Deno.test("applyMask() touches only the bytes of its subarray", () => {
  const buffer = new Uint8Array(80).fill(0xaa);
  applyMask(buffer.subarray(3, 75), KEY);
  assertEquals(buffer.subarray(0, 3), new Uint8Array(3).fill(0xaa));
  assertEquals(buffer.subarray(75), new Uint8Array(5).fill(0xaa));
});

Deno.test("applyMask() restores the input when applied twice", async (t) => {
  for (const length of [0, 1, 5, 16, 17, 70, 65_536]) {
    await t.step(`${length} bytes`, () => {
      const data = bytesAt(length, 1);
      const original = data.slice();
      applyMask(data, KEY);
      if (length > 0) assertNotEquals(data, original);
      applyMask(data, KEY);
      assertEquals(data, original);
    });
  }
});

Deno.test("applyMask() unmasks a payload split at any point with keyOffset", () => {
  const data = bytesAt(70, 0);
  const expected = referenceMask(data, KEY, 0);
  for (let split = 0; split <= data.length; split++) {
    const copy = data.slice();
    applyMask(copy.subarray(0, split), KEY, 0);
    applyMask(copy.subarray(split), KEY, split);
    assertEquals(copy, expected, `split at ${split}`);
  }
});

Deno.test("applyMask() unmasks the RFC 6455 §5.7 masked Hello", () => {
  const data = new Uint8Array([0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  applyMask(data, KEY);
  assertEquals(new TextDecoder().decode(data), "Hello");
});

Deno.test("randomMaskKey() returns 4 fresh bytes", () => {
  const keys = Array.from({ length: 8 }, () => randomMaskKey());
  for (const key of keys) assertEquals(key.length, 4);
  assert(new Set(keys.map((key) => key.join())).size > 1);
});
