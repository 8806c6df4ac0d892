import { assertEquals } from "@std/assert";
import { RequestHeadParser } from "../src/protocol/http_head.ts";
import { readHead } from "../src/server/conn_io.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connection that hands out the given chunks, then its end. */
function chunked(...chunks: string[]) {
  const left = chunks.map((chunk) => encoder.encode(chunk));
  const buffers: Uint8Array[] = [];
  return {
    buffers,
    read(buffer: Uint8Array): Promise<number | null> {
      buffers.push(buffer);
      const chunk = left.shift();
      if (chunk === undefined) return Promise.resolve(null);
      buffer.set(chunk);
      return Promise.resolve(chunk.length);
    },
  };
}

Deno.test("readHead() reuses its read buffer for the next head; what a head kept is its own", async () => {
  const first = new RequestHeadParser();
  const a = chunked("GET /a HTTP/1.1\r\nHo", "st: a\r\n\r\nXYZ");
  const headA = await readHead(a, first);
  const second = new RequestHeadParser();
  const b = chunked("GET /b HTTP/1.1\r\nHost: b\r\n\r\nQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ");
  const headB = await readHead(b, second);
  assertEquals(b.buffers[0], a.buffers[0], "the same buffer, read into again");
  assertEquals([headA?.path, headA?.headers.get("host")], ["/a", "a"]);
  assertEquals(decoder.decode(first.rest), "XYZ", "the bytes after the first head survive");
  assertEquals([headB?.path, decoder.decode(second.rest).length], ["/b", 34]);
  // A client that leaves before its head is complete: undefined, the buffer back in the pool.
  const gone = chunked("GET / HTTP/1.1\r\n");
  assertEquals(await readHead(gone, new RequestHeadParser()), undefined);
  assertEquals(gone.buffers[0], a.buffers[0]);
});
