/**
 * Event streams without a network: the bytes of events (protocol/event_stream.ts),
 * a message prepared once as an event, a stream's resume ids and the request
 * checks (server/event_stream.ts), the outbox taking an event's parts together,
 * and the one-way close of the closing handshake.
 */

import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { PreparedMessage } from "../src/protocol/deflate.ts";
import { HttpError } from "../src/protocol/errors.ts";
import {
  closeEvent,
  encodeEvent,
  eventStreamRequest,
  eventStreamResponse,
  eventTypeOf,
  prepareEvent,
} from "../src/protocol/event_stream.ts";
import { RequestHeadParser } from "../src/protocol/http_head.ts";
import { originPolicy } from "../src/server/access.ts";
import { ClosingHandshake } from "../src/server/closing_handshake.ts";
import {
  checkEventStreamTopics,
  corsHeaders,
  eventStreamSettings,
  EventStreamWire,
  preflightHeaders,
} from "../src/server/event_stream.ts";
import { Outbox } from "../src/server/outbox.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (parts: readonly Uint8Array[]) => parts.map((part) => decoder.decode(part)).join("");

function head(lines: string) {
  return new RequestHeadParser().push(encoder.encode(`${lines}\r\n\r\n`))!;
}

Deno.test("encodeEvent() writes id, event and one data line per line", async (t) => {
  const cases: [string, Parameters<typeof encodeEvent>[0], string][] = [
    ["data only", { data: "hi" }, "data: hi\n\n"],
    [
      "named, with an id",
      { event: "note", id: "e:1", data: "x" },
      "id: e:1\nevent: note\ndata: x\n\n",
    ],
    ["every line break", { data: "a\nb\r\nc\rd" }, "data: a\ndata: b\ndata: c\ndata: d\n\n"],
    ["empty data", { data: "" }, "data: \n\n"],
    ["a leading space kept", { data: " x" }, "data:  x\n\n"],
  ];
  for (const [name, fields, expected] of cases) {
    await t.step(name, () => assertEquals(decoder.decode(encodeEvent(fields)), expected));
  }
  assertThrows(() => encodeEvent({ id: "a\nb", data: "" }), TypeError);
  assertThrows(() => encodeEvent({ event: "a\rb", data: "" }), TypeError);
});

Deno.test("eventTypeOf() reads the type a JSON object starts with", () => {
  assertEquals(eventTypeOf('{"type":"gap","topic":"a"}'), "gap");
  assertEquals(eventTypeOf('{"topic":"a","type":"gap"}'), undefined);
  assertEquals(eventTypeOf('{"type":"a b"}'), undefined);
  assertEquals(eventTypeOf("plain"), undefined);
});

Deno.test("prepareEvent() shares a JSON payload, splits text with line breaks, base64 for bytes", () => {
  const json = encoder.encode('{"type":"publication","data":"x"}');
  const shared = prepareEvent(json, true);
  assertStrictEquals(shared.chunks[1], json);
  assertEquals(shared.ownBytes, 0);
  assertEquals(text(shared.chunks), `event: publication\ndata: ${decoder.decode(json)}\n\n`);
  assertStrictEquals(prepareEvent(json, true).chunks[0], shared.chunks[0], "one prefix per name");
  assertEquals(text(prepareEvent(encoder.encode("plain"), true).chunks), "data: plain\n\n");
  const lines = prepareEvent(encoder.encode("a\nb"), true);
  assertEquals([text(lines.chunks), lines.ownBytes], ["data: a\ndata: b\n\n", 17]);
  assertEquals(
    text(prepareEvent(new Uint8Array([0, 1, 2, 255]), false).chunks),
    "event: binary\ndata: AAEC/w==\n\n",
  );
});

Deno.test("PreparedMessage makes its event and id line once and counts them", () => {
  const message = new PreparedMessage('{"type":"publication","data":"a\\nb"}', {
    resume: { topic: "news", id: "e1:4" },
  });
  const before = message.byteLength;
  assertStrictEquals(message.event(), message.event());
  assertStrictEquals(message.idLine(), message.idLine());
  assertEquals(decoder.decode(message.idLine()), "id: e1:4\n");
  assertEquals(message.byteLength, before + "id: e1:4\n".length, "a shared prefix is not counted");
  assertEquals(new PreparedMessage("x").idLine(), undefined);
  assertThrows(() => new PreparedMessage("x", { resume: { topic: "a,b", id: "e:1" } }), TypeError);
});

Deno.test("EventStreamWire: the id alone for one topic, every topic's for several", () => {
  const publication = (topic: string, id: string) =>
    new PreparedMessage(`{"type":"publication","topic":"${topic}","id":"${id}"}`, {
      resume: { topic, id },
    });
  const one = new EventStreamWire({ topics: 1, heartbeat: 0 });
  const message = publication("a", "e:1");
  const parts = one.prepared(message);
  assertStrictEquals(parts[0], message.idLine(), "a stream of one topic shares the id line");
  assertEquals(text(parts).split("\n")[0], "id: e:1");

  const two = new EventStreamWire({ topics: 2, heartbeat: 0 });
  const ids = () => text(two.prepared(publication("b", "e:2"))).split("\n")[0];
  assertEquals(
    text(two.message('{"type":"subscribed"}', { topic: "a", id: "e:0" })).split("\n")[0],
    "id: a:e:0",
  );
  assertEquals(ids(), "id: a:e:0,b:e:2");
  assertEquals(text(two.prepared(publication("a", "e:5"))).split("\n")[0], "id: a:e:5,b:e:2");
  assertEquals(text(two.message("no id")), "data: no id\n\n");
  assertEquals(
    decoder.decode(two.close(new Uint8Array([0x0f, 0xa0, 0x62]))),
    decoder.decode(closeEvent(4000, "b")),
  );
  assertThrows(() => two.message("x", { topic: "a", id: "e\n1" }), TypeError);
});

Deno.test("checkEventStreamTopics(): at most 16, and room for a reconnect's Last-Event-ID", () => {
  const request = (query: string, pad = 0) =>
    eventStreamRequest(
      head(`GET /events?${query} HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(pad)}`),
    );
  assertEquals(checkEventStreamTopics(request("topic=a&topic=a"), 8192), 1);
  const sixteen = Array.from({ length: 16 }, (_, i) => `topic=${"t".repeat(126)}${i}`).join("&");
  assertEquals(checkEventStreamTopics(request(sixteen), 8192), 16);
  const status = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return (error as HttpError).status;
    }
  };
  assertEquals(status(() => checkEventStreamTopics(request(`${sixteen}&topic=x`), 8192)), 400);
  // 16 topics of 128 characters: a resume id of up to 2607 bytes must still fit.
  assertEquals(status(() => checkEventStreamTopics(request(sixteen, 3400), 8192)), 431);
  assertEquals(checkEventStreamTopics(request(sixteen, 3000), 8192), 16);
});

Deno.test("eventStreamRequest(): GET without a body; the response's head and first bytes", () => {
  const request = eventStreamRequest(
    head("GET /events?topic=a HTTP/1.1\r\nHost: x\r\nOrigin: https://o.example"),
  );
  assertEquals([request.origin, request.key, request.protocols, request.query.get("topic")], [
    "https://o.example",
    "",
    [],
    "a",
  ]);
  const error = assertThrows(
    () => eventStreamRequest(head("POST /events HTTP/1.1\r\nHost: x")),
    HttpError,
  );
  assertEquals([error.status, error.headers], [405, { Allow: "GET, OPTIONS" }]);
  assertEquals(
    assertThrows(
      () => eventStreamRequest(head("GET /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2")),
      HttpError,
    )
      .status,
    400,
  );
  const response = decoder.decode(
    eventStreamResponse({ retry: 1500, headers: { Vary: "Origin" } }),
  );
  assertEquals(
    response,
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\n" +
      "X-Accel-Buffering: no\r\nConnection: close\r\nVary: Origin\r\n\r\n: pushwire\nretry: 1500\n\n",
  );
});

Deno.test("CORS: the allowed origin with credentials, * without, none for others", () => {
  const listed = originPolicy(["https://app.example"]);
  const from = (origin: string) => ({ origin, headers: new Map([["host", "push.example"]]) });
  assertEquals(
    corsHeaders(from("https://app.example"), listed)["Access-Control-Allow-Origin"],
    "https://app.example",
  );
  assertEquals(
    corsHeaders(from("http://push.example"), listed)["Access-Control-Allow-Origin"],
    "http://push.example",
  );
  assertEquals(corsHeaders(from("https://evil.example"), listed), {});
  assertEquals(corsHeaders(from("https://any.example"), originPolicy(["*"])), {
    "Access-Control-Allow-Origin": "*",
  });
  assertEquals(corsHeaders({ origin: undefined, headers: new Map() }, listed), {});
  const preflight = preflightHeaders(new Map([["origin", "https://app.example"]]), listed);
  assertEquals(preflight["Access-Control-Allow-Headers"], "Authorization, Last-Event-ID");
  assertEquals(preflightHeaders(new Map(), listed), { Allow: "GET, OPTIONS" });
  assertThrows(
    () => preflightHeaders(new Map([["origin", "https://evil.example"]]), listed),
    HttpError,
  );
});

Deno.test("eventStreamSettings() reads a path or options, and refuses bad ones", () => {
  assertEquals(eventStreamSettings(undefined), undefined);
  assertEquals(eventStreamSettings({ heartbeat: 50 }), {
    path: "/events",
    heartbeat: 50,
    retry: 2000,
  });
  assertThrows(() => eventStreamSettings("events"), TypeError);
  assertThrows(() => eventStreamSettings("/a?b"), TypeError);
  assertThrows(() => eventStreamSettings({ retry: -1 }), RangeError);
  assertThrows(() => eventStreamSettings({ heartbeat: 1.5 }), RangeError);
});

Deno.test("Outbox.pushAll() takes an event's parts together, or none past the cap", async () => {
  const written: number[][] = [];
  const outbox = new Outbox(
    {
      write: (bytes) => {
        written.push([...bytes]);
        return Promise.resolve(bytes.length);
      },
    },
    4,
    { onError: () => {}, onDrain: () => {} },
    undefined,
  );
  assert(outbox.pushAll([new Uint8Array([1]), new Uint8Array([2, 3])]));
  assert(!outbox.pushAll([new Uint8Array([4]), new Uint8Array([5])]), "5 bytes > the cap of 4");
  assertEquals(outbox.queuedBytes, 3);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(written, [[1, 2, 3]]);
  assert(outbox.pushAll([new Uint8Array(9)]), "alone, a message larger than the cap is taken");
});

Deno.test("ClosingHandshake.sentOneWay(): an event stream's close is done once written", () => {
  const local = new ClosingHandshake();
  assertEquals(local.sentOneWay(), "none", "nothing sent yet");
  assertEquals(local.close(4403, "bye"), "send");
  assertEquals(local.sentOneWay(), "drain");
  assertEquals(local.drained(), "end");
  assertEquals(local.end(), { code: 4403, reason: "bye", wasClean: true });
  assertEquals(local.cause, "local");

  const failed = new ClosingHandshake();
  assertEquals(failed.failed(1002, "unexpected bytes"), "owe");
  assertEquals(failed.pay(), "send");
  assertEquals(failed.sentOneWay(), "drain");
  assertEquals(failed.drained(), "end");
  assertEquals(failed.end().code, 1002);
  assertEquals(failed.cause, "protocol-error");
});
