/**
 * Compression conformance in the style of Autobahn|Testsuite 12.x and 13.x:
 * for each permessage-deflate offer those cases make, messages of 16 B to
 * 128 KiB are sent compressed (text and binary, back to back) to the echo
 * server and must come back intact and in order.
 */

import { assert, assertEquals } from "@std/assert";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { OPCODE } from "../src/protocol/frame.ts";
import { RawClient } from "./_raw_client.ts";
import { echo, withServer } from "./_server.ts";

const OFFERS: [string, string][] = [
  ["12.x default offer", "permessage-deflate; client_no_context_takeover; client_max_window_bits"],
  ["13.1 plain offer", "permessage-deflate"],
  ["13.2 client_no_context_takeover", "permessage-deflate; client_no_context_takeover"],
  [
    "13.3 server_max_window_bits=8",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8",
  ],
  [
    "13.4 server_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15",
  ],
  [
    "13.5 server_no_context_takeover, server_max_window_bits=8",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
    "server_no_context_takeover; server_max_window_bits=8",
  ],
  [
    "13.6 server_no_context_takeover, server_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
    "server_no_context_takeover; server_max_window_bits=15",
  ],
  [
    "13.7 three offers",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
    "server_no_context_takeover; server_max_window_bits=8, " +
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; " +
    "server_no_context_takeover, permessage-deflate",
  ],
  ["client window of 9 bits", "permessage-deflate; client_max_window_bits=9"],
];
const SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];
const MESSAGES_PER_SIZE = 4;
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// JSON-like text that compresses as real traffic does: repeated keys, varied values.
function payload(size: number, seed: number): string {
  let text = "";
  for (let i = 0; text.length < size; i++) {
    text += `{"id":${seed * 1000 + i},"user":"u${(i * 7919 + seed) % 997}","ok":${i % 3 === 0}},`;
  }
  return text.slice(0, size);
}

function compress(bytes: Uint8Array, windowBits: number): Uint8Array {
  const out = new Uint8Array(deflateRawSync(bytes, { finishFlush: 2, windowBits }));
  return out.subarray(0, out.length - 4);
}

function inflate(bytes: Uint8Array): Uint8Array {
  const input = new Uint8Array(bytes.length + 4);
  input.set(bytes);
  input.set(TAIL, bytes.length);
  return new Uint8Array(inflateRawSync(input, { finishFlush: 2 }));
}

Deno.test("permessage-deflate: every Autobahn 12.x/13.x offer, 16 B to 128 KiB, echoed intact and in order", async (t) => {
  await withServer({ maxMessageBytes: 16 * 1024 * 1024 }, echo, async (_server, port) => {
    for (const [name, offer] of OFFERS) {
      await t.step(name, async () => {
        const client = await RawClient.connect(port, {
          headers: { "Sec-WebSocket-Extensions": offer },
        });
        const answer = /sec-websocket-extensions: *(.*)/i.exec(client.response)?.[1] ?? "";
        assert(answer.startsWith("permessage-deflate"), client.response);
        // The client compresses with the window the server allowed it (zlib's minimum is 9).
        const clientBits = Math.max(
          9,
          Number(/client_max_window_bits=(\d+)/.exec(answer)?.[1] ?? 15),
        );
        const sent: { text: boolean; bytes: Uint8Array }[] = [];
        for (const size of SIZES) {
          for (let i = 0; i < MESSAGES_PER_SIZE; i++) {
            const text = i % 2 === 0;
            const bytes = encoder.encode(payload(size, i));
            sent.push({ text, bytes });
            await client.sendFrame(
              text ? OPCODE.Text : OPCODE.Binary,
              compress(bytes, clientBits),
              {
                rsv1: true,
              },
            );
          }
        }
        for (const [index, { text, bytes }] of sent.entries()) {
          const frame = await client.nextFrame(10_000);
          assert(frame !== undefined, `message ${index} missing`);
          assertEquals(frame.opcode, text ? OPCODE.Text : OPCODE.Binary);
          const received = frame.rsv1 ? inflate(frame.payload) : frame.payload;
          if (bytes.length >= 256) assert(frame.rsv1, `message ${index} came back uncompressed`);
          assertEquals(received.length, bytes.length, `message ${index}`);
          assertEquals(decoder.decode(received), decoder.decode(bytes), `message ${index}`);
        }
        await client.sendClose(1000);
        assertEquals((await client.expectClose()).code, 1000);
        client.close();
      });
    }
  });
});
