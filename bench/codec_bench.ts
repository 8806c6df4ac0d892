/**
 * Micro-benchmarks of the frame codec: decode+unmask of client frames,
 * encoding of a small server frame, and masking alone.
 *
 * ```sh
 * deno bench --import-map=.ci/std/import_map.json bench/codec_bench.ts
 * ```
 *
 * Each name carries the bytes one iteration handles, so throughput is
 * `bytes / (time/iter)`: 64 KiB in 65.5 µs is 1 GB/s.
 *
 * @module
 */

import { encodeFrame, OPCODE } from "../src/protocol/frame.ts";
import { FrameDecoder } from "../src/protocol/frame_decoder.ts";
import { applyMask } from "../src/protocol/mask.ts";

const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

function payload(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + 1) & 0xff);
}

/** A masked binary frame, as a client sends it. */
function clientFrame(length: number): Uint8Array {
  return encodeFrame(OPCODE.Binary, payload(length), { mask: KEY });
}

function decodeBench(
  name: string,
  chunk: Uint8Array,
  frames: number,
  baseline = false,
): void {
  const decoder = new FrameDecoder();
  Deno.bench({
    name: `${name} (${chunk.length} B/iter)`,
    group: "decode+unmask",
    baseline,
    fn() {
      const decoded = decoder.push(chunk);
      if (decoded.length !== frames) {
        throw new Error(`decoded ${decoded.length} frames`);
      }
    },
  });
}

decodeBench("masked 16 B frame", clientFrame(16), 1);
decodeBench("masked 1 KiB frame", clientFrame(1024), 1);
decodeBench("masked 64 KiB frame", clientFrame(65_536), 1, true);
{
  // Small frames as they arrive from a busy client: many in one read.
  const one = clientFrame(16);
  const count = Math.floor(65_536 / one.length);
  const chunk = new Uint8Array(count * one.length);
  for (let i = 0; i < count; i++) chunk.set(one, i * one.length);
  decodeBench(`${count} masked 16 B frames in one chunk`, chunk, count);
}

{
  // The floor under decoding a 64 KiB frame: copying it once.
  const source = clientFrame(65_536);
  Deno.bench({
    name: `copy 64 KiB into a new buffer, for reference (${65_536} B/iter)`,
    group: "decode+unmask",
    fn() {
      const copy = new Uint8Array(65_536);
      copy.set(source.subarray(14));
    },
  });
}

{
  const text = new TextEncoder().encode("x".repeat(32));
  Deno.bench({
    name: "unmasked 32 B text frame, as a server sends it (32 B/iter)",
    group: "encode",
    baseline: true,
    fn() {
      encodeFrame(OPCODE.Text, text);
    },
  });
  Deno.bench({
    name: "masked 32 B text frame, given key (32 B/iter)",
    group: "encode",
    fn() {
      encodeFrame(OPCODE.Text, text, { mask: KEY });
    },
  });
  Deno.bench({
    name: "masked 32 B text frame, random key (32 B/iter)",
    group: "encode",
    fn() {
      encodeFrame(OPCODE.Text, text, { mask: true });
    },
  });
}

{
  const data = payload(65_536);
  Deno.bench({
    name: "applyMask on 64 KiB, aligned (65536 B/iter)",
    group: "mask",
    baseline: true,
    fn() {
      applyMask(data, KEY);
    },
  });
  const unaligned = payload(65_536 + 1).subarray(1);
  Deno.bench({
    name: "applyMask on 64 KiB, unaligned, keyOffset 3 (65536 B/iter)",
    group: "mask",
    fn() {
      applyMask(unaligned, KEY, 3);
    },
  });
}
