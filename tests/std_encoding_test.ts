import { assertEquals, assertThrows } from "@std/assert";
import { decodeBase64, decodeHex, encodeBase64, encodeHex } from "@std/encoding";

const utf8 = (text: string) => new TextEncoder().encode(text);

/** RFC 4648 §10 test vectors: input, base64, base16. */
const RFC4648_VECTORS: Array<[string, string, string]> = [
  ["", "", ""],
  ["f", "Zg==", "66"],
  ["fo", "Zm8=", "666f"],
  ["foo", "Zm9v", "666f6f"],
  ["foob", "Zm9vYg==", "666f6f62"],
  ["fooba", "Zm9vYmE=", "666f6f6261"],
  ["foobar", "Zm9vYmFy", "666f6f626172"],
];

/** Every byte value once, and its encodings. */
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

Deno.test("encodeBase64() encodes the RFC 4648 vectors", async (t) => {
  for (const [input, base64] of RFC4648_VECTORS) {
    await t.step(`"${input}" -> "${base64}"`, () => {
      assertEquals(encodeBase64(input), base64);
      assertEquals(encodeBase64(utf8(input)), base64);
      assertEquals(encodeBase64(utf8(input).buffer), base64);
    });
  }
});

Deno.test("decodeBase64() decodes the RFC 4648 vectors", async (t) => {
  for (const [input, base64] of RFC4648_VECTORS) {
    await t.step(`"${base64}" -> "${input}"`, () => {
      assertEquals(decodeBase64(base64), utf8(input));
    });
  }
});

Deno.test("encodeBase64() and decodeBase64() handle any bytes", async (t) => {
  await t.step("strings are encoded as UTF-8", () => {
    assertEquals(encodeBase64("✓ à la mode"), "4pyTIMOgIGxhIG1vZGU=");
    assertEquals(new TextDecoder().decode(decodeBase64("4pyTIMOgIGxhIG1vZGU=")), "✓ à la mode");
  });
  await t.step("every byte value round-trips", () => {
    const encoded = encodeBase64(ALL_BYTES);
    assertEquals(encoded.length, 344);
    assertEquals(encoded.slice(0, 8), "AAECAwQF");
    assertEquals(encoded.slice(-8), "/P3+/w==");
    assertEquals(decodeBase64(encoded), ALL_BYTES);
  });
  await t.step("every length from 0 to 64 round-trips", () => {
    for (let length = 0; length <= 64; length++) {
      const bytes = ALL_BYTES.subarray(256 - length);
      assertEquals(decodeBase64(encodeBase64(bytes)), bytes);
    }
  });
  await t.step("a subarray encodes only its own bytes", () => {
    assertEquals(encodeBase64(utf8("xxfooxx").subarray(2, 5)), "Zm9v");
  });
  await t.step("the RFC 6455 handshake key", async () => {
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    assertEquals(decodeBase64(key), utf8("the sample nonce"));
    const digest = await crypto.subtle.digest(
      "SHA-1",
      utf8(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    assertEquals(encodeBase64(digest), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });
});

Deno.test("decodeBase64() accepts missing padding", async (t) => {
  for (const [input, base64] of RFC4648_VECTORS) {
    const unpadded = base64.replace(/=+$/, "");
    await t.step(`"${unpadded}" -> "${input}"`, () => {
      assertEquals(decodeBase64(unpadded), utf8(input));
    });
  }
});

Deno.test("decodeBase64() rejects invalid input", async (t) => {
  const invalidCharacters = [
    "Zm9v!A==",
    "Zm9v YmF",
    "Zm9v\nYmF",
    "Zm9v-_==",
    "Zg=a",
    "Zg====",
    "Zm9vé",
  ];
  for (const input of invalidCharacters) {
    await t.step(`${JSON.stringify(input)} has an invalid character`, () => {
      assertThrows(() => decodeBase64(input), TypeError);
    });
  }
  for (const input of ["Z", "Zm9vY", "Zm9vY=="]) {
    await t.step(`${JSON.stringify(input)} has an impossible length`, () => {
      assertThrows(() => decodeBase64(input), RangeError);
    });
  }
});

Deno.test("encodeHex() encodes the RFC 4648 base16 vectors in lowercase", async (t) => {
  for (const [input, , base16] of RFC4648_VECTORS) {
    await t.step(`"${input}" -> "${base16}"`, () => {
      assertEquals(encodeHex(input), base16);
      assertEquals(encodeHex(utf8(input)), base16);
      assertEquals(encodeHex(utf8(input).buffer), base16);
    });
  }
  await t.step("every byte value", () => {
    const encoded = encodeHex(ALL_BYTES);
    assertEquals(encoded.length, 512);
    assertEquals(encoded.slice(0, 8), "00010203");
    assertEquals(encoded.slice(-8), "fcfdfeff");
  });
});

Deno.test("decodeHex() decodes either case and rejects invalid input", async (t) => {
  for (const [input, , base16] of RFC4648_VECTORS) {
    await t.step(`"${base16}" and "${base16.toUpperCase()}" -> "${input}"`, () => {
      assertEquals(decodeHex(base16), utf8(input));
      assertEquals(decodeHex(base16.toUpperCase()), utf8(input));
    });
  }
  await t.step("every byte value round-trips", () => {
    assertEquals(decodeHex(encodeHex(ALL_BYTES)), ALL_BYTES);
  });
  await t.step("an odd length is a RangeError", () => {
    assertThrows(() => decodeHex("abc"), RangeError);
  });
  await t.step("a non-hex character is a TypeError", () => {
    assertThrows(() => decodeHex("0g"), TypeError);
    assertThrows(() => decodeHex("zz"), TypeError);
    assertThrows(() => decodeHex("0x12"), TypeError);
  });
});
