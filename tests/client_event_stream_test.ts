/**
 * The client's event stream reader (src/client/event_stream.ts): the
 * fields of the HTML standard's format, every line ending, a byte order
 * mark, comments, and every vector split at every character.
 */

import { assertEquals, assertThrows } from "@std/assert";
import {
  EventStreamParser,
  MAX_EVENT_STREAM_LINE,
  readEventStream,
} from "../src/client/event_stream.ts";

const VECTORS: [string, string, object[]][] = [
  ["one event", "event: publication\ndata: {}\n\n", [{ event: "publication", data: "{}" }]],
  ["no event name: message", "data: x\n\n", [{ event: "message", data: "x" }]],
  ["data lines joined", "data: a\ndata: b\n\n", [{ event: "message", data: "a\nb" }]],
  ["CRLF", "event: e\r\ndata: x\r\n\r\n", [{ event: "e", data: "x" }]],
  ["CR", "event: e\rdata: x\r\r", [{ event: "e", data: "x" }]],
  ["a byte order mark first", "\ufeffdata: x\n\n", [{ event: "message", data: "x" }]],
  ["comments and heartbeats", ": pushwire\n\n: \n\ndata: x\n\n", [{ event: "message", data: "x" }]],
  ["no space after the colon", "data:x\n\n", [{ event: "message", data: "x" }]],
  ["only one space is dropped", "data:  x\n\n", [{ event: "message", data: " x" }]],
  ["a field without a colon", "data\n\n", [{ event: "message", data: "" }]],
  ["no data: nothing", "event: e\n\n", []],
  ["unknown fields ignored", "foo: bar\ndata: x\n\n", [{ event: "message", data: "x" }]],
  [
    "the last id and retry stay",
    "id: e1:1\nretry: 2000\ndata: a\n\ndata: b\n\n",
    [{ event: "message", data: "a", id: "e1:1", retry: 2000 }, {
      event: "message",
      data: "b",
      id: "e1:1",
      retry: 2000,
    }],
  ],
  ["a bad retry is ignored", "retry: soon\ndata: a\n\n", [{ event: "message", data: "a" }]],
  ["an id with NUL is ignored", "id: a\0b\ndata: a\n\n", [{ event: "message", data: "a" }]],
  ["an event cut off by the end", "data: a\n\ndata: b\n", [{ event: "message", data: "a" }]],
];

Deno.test("EventStreamParser reads the format's fields", async (t) => {
  for (const [name, text, expected] of VECTORS) {
    await t.step(name, () => assertEquals(new EventStreamParser().push(text), expected));
  }
});

Deno.test("EventStreamParser reads every vector split at every character", () => {
  for (const [name, text, expected] of VECTORS) {
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new EventStreamParser();
      const messages = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      assertEquals(messages, expected, `${name}, cut at ${cut}`);
    }
  }
});

Deno.test("EventStreamParser refuses a line longer than its limit", () => {
  const parser = new EventStreamParser();
  parser.push("data: ");
  assertThrows(
    () => parser.push("x".repeat(MAX_EVENT_STREAM_LINE)),
    RangeError,
    "Cannot read an event stream line over",
  );
});

Deno.test("readEventStream() reads a body in chunks split inside UTF-8 characters", async () => {
  const bytes = new TextEncoder().encode('event: publication\ndata: {"data":"✓ é"}\n\n');
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.subarray(i, i + 3));
      controller.close();
    },
  });
  const messages = [];
  for await (const message of readEventStream(body)) messages.push(message);
  assertEquals(messages, [{ event: "publication", data: '{"data":"✓ é"}' }]);
});
