/**
 * permessage-deflate through the server: negotiation in the handshake,
 * compressed messages in both directions, the inflate limit, and broadcasts
 * compressed once for every socket that negotiated the extension.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { OPCODE } from "../src/protocol/frame.ts";
import type { Server } from "../src/server/server.ts";
import { RawClient } from "./_raw_client.ts";
import { echo, relay, until, withServer } from "./_server.ts";

const OFFER = { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" };
const ANSWER =
  "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover";
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function compress(text: string): Uint8Array {
  const deflated = new Uint8Array(deflateRawSync(encoder.encode(text), { finishFlush: 2 }));
  // Z_SYNC_FLUSH ends with 00 00 ff ff, which RFC 7692 §7.2.1 removes.
  return deflated.subarray(0, deflated.length - 4);
}

function inflate(payload: Uint8Array): string {
  const input = new Uint8Array(payload.length + 4);
  input.set(payload);
  input.set(TAIL, payload.length);
  return decoder.decode(inflateRawSync(input, { finishFlush: 2 }));
}

const json = (n: number) => JSON.stringify({ items: Array.from({ length: n }, (_, i) => ({ i })) });

Deno.test("the server negotiates permessage-deflate and inflates what clients send", async () => {
  await withServer({}, echo, async (_server, port) => {
    const client = await RawClient.connect(port, { headers: OFFER });
    assertStringIncludes(client.response, ANSWER);
    // RFC 7692 §7.2.3.1: "Hello" compressed; short, so echoed uncompressed.
    await client.sendFrame(
      OPCODE.Text,
      new Uint8Array([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
      {
        rsv1: true,
      },
    );
    const hello = await client.nextFrame();
    assertEquals([hello?.rsv1, decoder.decode(hello?.payload)], [false, "Hello"]);
    // A long message comes back compressed, and intact.
    const long = json(100);
    await client.sendFrame(OPCODE.Text, compress(long), { rsv1: true });
    const echoed = await client.nextFrame();
    assertEquals(echoed?.rsv1, true);
    assert(echoed!.payload.length < long.length / 2, `${echoed!.payload.length} bytes`);
    assertEquals(inflate(echoed!.payload), long);
    // A compressed message in two fragments.
    const bytes = compress(long);
    await client.sendFrame(OPCODE.Text, bytes.subarray(0, 10), { rsv1: true, fin: false });
    await client.sendFrame(OPCODE.Continuation, bytes.subarray(10));
    assertEquals(inflate((await client.nextFrame())!.payload), long);
    await client.sendClose(1000);
    assertEquals((await client.expectClose()).code, 1000);
    client.close();
  });
});

Deno.test("a compressed message that inflates past maxMessageBytes closes with 1009", async () => {
  await withServer({ maxMessageBytes: 64 * 1024 }, echo, async (_server, port) => {
    const client = await RawClient.connect(port, { headers: OFFER });
    // 16 MiB of zeros deflate to about 16 KiB.
    const bomb = new Uint8Array(
      deflateRawSync(new Uint8Array(16 * 1024 * 1024), { finishFlush: 2 }),
    );
    await client.sendFrame(OPCODE.Binary, bomb.subarray(0, bomb.length - 4), { rsv1: true });
    const { code } = await client.expectClose();
    assertEquals(code, CLOSE_CODE.MessageTooBig);
    client.close();
  });
});

Deno.test("a broadcast is compressed once: the same bytes for every socket that negotiated", async () => {
  let server: Server;
  await withServer({}, relay(() => server), async (s, port) => {
    server = s;
    const a = await RawClient.connect(port, { headers: OFFER });
    const b = await RawClient.connect(port, { headers: OFFER });
    const plain = await RawClient.connect(port);
    assert(!plain.response.includes("Sec-WebSocket-Extensions"));
    await until(() => s.sockets.size === 3);
    const message = json(50);
    assertEquals(s.sockets.broadcast(message), 3);
    const [fa, fb, fp] = await Promise.all([a.nextFrame(), b.nextFrame(), plain.nextFrame()]);
    assertEquals([fa?.rsv1, fb?.rsv1, fp?.rsv1], [true, true, false]);
    assertEquals(fa!.payload, fb!.payload);
    assertEquals(inflate(fa!.payload), message);
    assertEquals(decoder.decode(fp!.payload), message);
    for (const client of [a, b, plain]) client.close();
  });
});

Deno.test("perMessageDeflate: false declines the offer, and RSV1 is then a protocol error", async () => {
  await withServer({ perMessageDeflate: false }, echo, async (_server, port) => {
    const client = await RawClient.connect(port, { headers: OFFER });
    assert(!client.response.includes("Sec-WebSocket-Extensions"), client.response);
    await client.sendFrame(OPCODE.Text, compress("hello"), { rsv1: true });
    assertEquals((await client.expectClose()).code, CLOSE_CODE.ProtocolError);
    client.close();
  });
});
