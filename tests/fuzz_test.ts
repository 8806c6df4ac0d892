/**
 * Seeded fuzzing of the protocol core: mutated frame streams into
 * FrameDecoder + message assembly, mutated upgrade requests into the
 * handshake parser. Reproducible: set `PUSHWIRE_FUZZ_SEED` to rerun with
 * another seed; a failure names its seed and iteration, and
 * `deno task fuzz --frames --seed S --iteration I` replays it.
 * Longer runs: `deno task fuzz --seconds N`.
 *
 * @module
 */

import { assert, assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import { ProtocolError } from "../src/protocol/errors.ts";
import { OPCODE } from "../src/protocol/frame.ts";
import { FrameDecoder } from "../src/protocol/frame_decoder.ts";
import { RequestHeadParser } from "../src/protocol/http_head.ts";
import {
  buildFrame,
  checkFrameInput,
  checkHandshakeInput,
  concat,
  frameInput,
  FuzzFailure,
  fuzzFrames,
  fuzzHandshakes,
  handshakeInput,
  REJECTION_CODES,
  REJECTION_STATUSES,
  Rng,
  runPipeline,
  toHex,
  utf8FailIndex,
} from "./_fuzz.ts";

const SEED = Number(Deno.env.get("PUSHWIRE_FUZZ_SEED") ?? 0x5eed);
const FRAME_STREAMS = 200_000;
const HANDSHAKE_REQUESTS = 50_000;
const encoder = new TextEncoder();

function summary(name: string, stats: ReturnType<typeof fuzzFrames>): string {
  const perSecond = Math.round(stats.iterations / (stats.elapsedMs / 1000));
  const megabytes = (stats.bytes / 1e6).toFixed(1);
  return `${name}: seed ${SEED}, ${stats.iterations} inputs (${megabytes} MB) in ` +
    `${(stats.elapsedMs / 1000).toFixed(1)} s = ${perSecond}/s; accepted ${stats.accepted}, ` +
    `rejected ${JSON.stringify(stats.rejections)}, slowest input ${stats.slowestMs.toFixed(1)} ms`;
}

Deno.test(`fuzz: ${FRAME_STREAMS} mutated frame streams only ever fail with 1002, 1007 or 1009`, () => {
  const stats = fuzzFrames({ seed: SEED, iterations: FRAME_STREAMS, maxInputMs: 500 });
  console.log(summary("frames", stats));
  assertEquals(stats.iterations, FRAME_STREAMS);
  // Every way in was exercised: valid streams, and each kind of rejection.
  assert(stats.checkedValid > FRAME_STREAMS / 5, `${stats.checkedValid} valid streams checked`);
  for (const code of REJECTION_CODES) {
    assert(
      (stats.rejections[code] ?? 0) > 100,
      `only ${stats.rejections[code]} rejections ${code}`,
    );
  }
  assertEquals(Object.keys(stats.rejections).map(Number).sort(), [...REJECTION_CODES].sort());
});

Deno.test(`fuzz: ${HANDSHAKE_REQUESTS} mutated upgrade requests only ever get 400, 405, 426 or 431`, () => {
  const stats = fuzzHandshakes({ seed: SEED, iterations: HANDSHAKE_REQUESTS, maxInputMs: 500 });
  console.log(summary("handshake", stats));
  assertEquals(stats.iterations, HANDSHAKE_REQUESTS);
  assert(
    stats.checkedValid > HANDSHAKE_REQUESTS / 5,
    `${stats.checkedValid} valid requests checked`,
  );
  for (const status of REJECTION_STATUSES) {
    assert((stats.rejections[status] ?? 0) > 100, `only ${stats.rejections[status]} × ${status}`);
  }
});

Deno.test("fuzz inputs are rebuilt exactly from their seed and iteration", () => {
  for (const iteration of [0, 1, 99_999]) {
    const a = frameInput(SEED, iteration);
    const b = frameInput(SEED, iteration);
    assertEquals(toHex(a.bytes), toHex(b.bytes));
    assertEquals(a.chunks.map((chunk) => chunk.length), b.chunks.map((chunk) => chunk.length));
    assertEquals(
      toHex(handshakeInput(SEED, iteration).bytes),
      toHex(handshakeInput(SEED, iteration).bytes),
    );
  }
  assert(toHex(frameInput(SEED, 1).bytes) !== toHex(frameInput(SEED, 2).bytes));
  const rng = new Rng(42);
  const first = [rng.next(), rng.next(), rng.next()];
  const again = new Rng(42);
  assertEquals([again.next(), again.next(), again.next()], first);
});

Deno.test("a fuzz failure names its seed, iteration, replay command and input", () => {
  const failure = new FuzzFailure("frames", 7, 1234, new Uint8Array([0x81, 0x00]), "why");
  for (const part of ["seed 7", "iteration 1234", "--seed 7 --iteration 1234", "8100", "why"]) {
    assert(failure.message.includes(part), `${part} in ${failure.message}`);
  }
});

Deno.test("the reference UTF-8 validator agrees with TextDecoder on every code point", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  const accepts = (bytes: Uint8Array) => {
    try {
      fatal.decode(bytes);
      return true;
    } catch {
      return false;
    }
  };
  for (let code = 0; code <= 0x10ffff; code += code < 0x10000 ? 1 : 7) {
    const bytes = encodeCodePoint(code);
    const surrogate = code >= 0xd800 && code <= 0xdfff;
    assertEquals(utf8FailIndex(bytes) === -1, !surrogate, `U+${code.toString(16)}`);
    assertEquals(accepts(bytes), !surrogate, `TextDecoder on U+${code.toString(16)}`);
  }
  // Random byte strings, biased towards the bytes that start sequences.
  const rng = new Rng(SEED);
  for (let i = 0; i < 50_000; i++) {
    const bytes = rng.bytes(rng.int(1, 8)).map((byte) => rng.chance(0.5) ? byte | 0x80 : byte);
    assertEquals(utf8FailIndex(bytes) === -1, accepts(bytes), toHex(bytes));
  }
});

// Encodes any code point, surrogates included, the way UTF-8 would.
function encodeCodePoint(code: number): Uint8Array {
  if (code < 0x80) return new Uint8Array([code]);
  if (code < 0x800) return new Uint8Array([0xc0 | (code >> 6), 0x80 | (code & 0x3f)]);
  if (code < 0x10000) {
    return new Uint8Array([0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]);
  }
  return new Uint8Array([
    0xf0 | (code >> 18),
    0x80 | ((code >> 12) & 0x3f),
    0x80 | ((code >> 6) & 0x3f),
    0x80 | (code & 0x3f),
  ]);
}

// ---------------------------------------------------------------------------
// Regressions: inputs the fuzzer found, kept as plain tests.

Deno.test("regression: a control frame announcing a 64-bit length fails 1002, not 1009", () => {
  // Found by the fuzzer: a close frame with the 64-bit length form was
  // judged by its size (1009) before its kind (a control frame, 1002).
  for (const opcode of [OPCODE.Close, OPCODE.Ping, OPCODE.Pong]) {
    for (const declaredLength of [126, 2n ** 53n, 2n ** 62n]) {
      const bytes = buildFrame({ opcode, payload: new Uint8Array(0), declaredLength });
      const error = assertThrows(() => new FrameDecoder().push(bytes));
      assertInstanceOf(error, ProtocolError);
      assertEquals(error.code, 1002, `opcode ${opcode}, length ${declaredLength}`);
    }
  }
  // The same frame behind a valid one: the valid frame comes out first.
  const outcome = runPipeline([
    concat([
      buildFrame({ opcode: OPCODE.Text, payload: encoder.encode("ok") }),
      buildFrame({ opcode: OPCODE.Close, payload: new Uint8Array(0), declaredLength: 2n ** 53n }),
    ]),
  ], { maxMessageBytes: 1024 });
  assertEquals(outcome, { events: ["text:2:ok"], error: 1002 });
});

Deno.test("regression: absolute-form targets are accepted and '//' paths stay paths", () => {
  const parse = (target: string) =>
    new RequestHeadParser().push(encoder.encode(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`));
  assertEquals(parse("http://example.com:8080/chat?room=1")?.path, "/chat");
  assertEquals(parse("http://example.com:8080/chat?room=1")?.query.get("room"), "1");
  assertEquals(parse("wss://example.com/live")?.path, "/live");
  // A protocol-relative reading would make "healthz" a host and "/" the path.
  assertEquals(parse("//healthz")?.path, "//healthz");
  assertEquals(parse("/a/b/../c?x=%20")?.path, "/a/c");
  for (const target of ["chat", "*", "ftp://example.com/x", "http:/x"]) {
    assertThrows(() => parse(target), Error, "Malformed request target", target);
  }
});

Deno.test("regression: only spaces and tabs are trimmed around a header value, in linear time", () => {
  const parse = (value: string | Uint8Array, maxHeadBytes = 8192) => {
    const start = encoder.encode("GET / HTTP/1.1\r\nHost: h\r\nX: ");
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    const head = concat([start, bytes, encoder.encode("\r\n\r\n")]);
    return new RequestHeadParser({ maxHeadBytes }).push(head)?.headers.get("x");
  };
  assertEquals(parse(" \t value \t "), "value");
  // VT and FF are not allowed in a value, even at its edges: String#trim()
  // used to remove them first.
  for (const control of ["\x0b", "\x0c"]) {
    const error = assertThrows(() => parse(`${control}value`), Error);
    assertEquals((error as { status?: number }).status, 400);
  }
  // NBSP (0xA0, obs-text) is part of the value.
  assertEquals(parse(new Uint8Array([0x62, 0xa0])), "b\xa0");
  // A long run of spaces inside a value must not take quadratic time.
  const spaces = " ".repeat(60_000);
  const started = performance.now();
  assertEquals(parse(`${spaces}x${spaces}y${spaces}`, 256 * 1024), `x${spaces}y`);
  const elapsed = performance.now() - started;
  assert(elapsed < 100, `parsed in ${elapsed.toFixed(1)} ms`);
});

Deno.test("every replayed check of a few known inputs still passes", () => {
  // Cheap smoke test of the harness itself on inputs of each kind.
  for (let iteration = 0; iteration < 200; iteration++) {
    assert(typeof checkFrameInput(frameInput(1, iteration)) !== "string", `frames ${iteration}`);
    assert(
      typeof checkHandshakeInput(handshakeInput(1, iteration)) !== "string",
      `handshake ${iteration}`,
    );
  }
});
