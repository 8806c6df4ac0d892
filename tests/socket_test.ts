import { assert, assertEquals } from "@std/assert";
import { encodeHex } from "@std/encoding";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { decodeClosePayload, encodeClosePayload } from "../src/protocol/close_frame.ts";
import {
  encodeFrame,
  type EncodeFrameOptions,
  OPCODE,
  type Opcode,
} from "../src/protocol/frame.ts";
import type { UpgradeRequest } from "../src/protocol/handshake.ts";
import { ServerMetrics } from "../src/server/server_metrics.ts";
import { Socket, type SocketOptions, type Transport } from "../src/server/socket.ts";
import { TopicIndex } from "../src/server/topics.ts";
import { fromHex } from "./_raw_client.ts";

const encoder = new TextEncoder();
// The masking key of RFC 6455 §5.7.
const KEY = fromHex("37fa213d");

/**
 * An in-memory byte stream: the test feeds what the peer sends and sees
 * every write. Writes complete at once unless stalled.
 */
class FakeTransport implements Transport {
  readonly writes: Uint8Array[] = [];
  closed = false;
  writeClosed = false;
  stallWrites = false;
  failWrites = false;
  #incoming: (Uint8Array | null)[] = [];
  #read: { buffer: Uint8Array; resolve: (n: number | null) => void } | undefined;
  #stalled: (() => void)[] = [];

  /** Bytes from the peer: a hex string or bytes. */
  feed(...chunks: (string | Uint8Array)[]): void {
    for (const chunk of chunks) {
      this.#incoming.push(typeof chunk === "string" ? fromHex(chunk) : chunk);
    }
    this.#deliver();
  }

  /** The peer ends its side (TCP FIN). */
  end(): void {
    this.#incoming.push(null);
    this.#deliver();
  }

  /** Completes the stalled writes. */
  completeWrites(): void {
    for (const complete of this.#stalled.splice(0)) complete();
  }

  /** Everything written so far, as hex. */
  get written(): string {
    return this.writes.map((bytes) => encodeHex(bytes)).join("");
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.closed) return Promise.resolve(null);
    const { promise, resolve } = Promise.withResolvers<number | null>();
    this.#read = { buffer, resolve };
    this.#deliver();
    return promise;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.failWrites) return Promise.reject(new Error("connection reset"));
    this.writes.push(bytes.slice());
    if (!this.stallWrites) return Promise.resolve(bytes.length);
    return new Promise((resolve) => this.#stalled.push(() => resolve(bytes.length)));
  }

  close(): void {
    this.closed = true;
    this.#incoming = [null];
    this.#deliver();
  }

  closeWrite(): Promise<void> {
    this.writeClosed = true;
    return Promise.resolve();
  }

  #deliver(): void {
    const read = this.#read;
    if (read === undefined || this.#incoming.length === 0) return;
    this.#read = undefined;
    const chunk = this.#incoming[0]!;
    if (chunk === null) return read.resolve(null);
    const n = Math.min(chunk.length, read.buffer.length);
    read.buffer.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#incoming.shift();
    else this.#incoming[0] = chunk.subarray(n);
    read.resolve(n);
  }
}

const REQUEST: UpgradeRequest = {
  method: "GET",
  target: "/",
  path: "/",
  query: new URLSearchParams(),
  version: "HTTP/1.1",
  headers: new Map(),
  key: "dGhlIHNhbXBsZSBub25jZQ==",
  origin: undefined,
  protocols: [],
  extensions: "",
};

function open(options: SocketOptions = {}): { socket: Socket; transport: FakeTransport } {
  const transport = new FakeTransport();
  const socket = new Socket(transport, {
    id: "1",
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
    request: REQUEST,
    topics: new TopicIndex(),
  }, options);
  return { socket, transport };
}

/** A masked client frame, with the key of RFC 6455 §5.7. */
function client(
  opcode: Opcode,
  payload: string | Uint8Array = new Uint8Array(0),
  options: EncodeFrameOptions = {},
): Uint8Array {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  return encodeFrame(opcode, bytes, { mask: KEY, ...options });
}

/** A masked client close frame. */
function clientClose(code?: number, reason = ""): Uint8Array {
  return client(
    OPCODE.Close,
    code === undefined ? new Uint8Array(0) : encodeClosePayload(code, reason),
  );
}

function hex(text: string): string {
  return text.replaceAll(" ", "");
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Lets the read, the outbox flush (setImmediate) and the write settle.
function settle(): Promise<void> {
  return delay(5);
}

async function until(condition: () => boolean, what: string, timeout = 2000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

Deno.test("Socket reads the masked frame of RFC 6455 §5.7 and writes unmasked frames", async () => {
  const { socket, transport } = open();
  transport.feed("8185 37fa213d 7f9f4d5158");
  const iterator = socket[Symbol.asyncIterator]();
  assertEquals(await iterator.next(), { value: "Hello", done: false });
  assertEquals(socket.send("Hello"), true);
  assertEquals(socket.send(new Uint8Array([1, 2])), true);
  await settle();
  assertEquals(transport.written, hex("8105 48656c6c6f 8202 0102"));
  assertEquals(socket.counters, { messagesIn: 1, bytesIn: 5, framesOut: 2, bytesOut: 11 });
  transport.end();
  assertEquals(await iterator.next(), { value: undefined, done: true });
});

Deno.test("Socket answers a ping with a pong carrying its payload", async () => {
  const { socket, transport } = open();
  transport.feed(client(OPCODE.Ping, "hi"));
  await settle();
  assertEquals(transport.written, hex("8a02 6869"));
  transport.end();
  await socket.closed;
});

Deno.test("Socket close(): the server closes first, the peer answers, the server ends TCP", async () => {
  const { socket, transport } = open();
  socket.close(4000, "bye");
  assertEquals(socket.state, "closing");
  assertEquals(socket.send("late"), false, "nothing is sent after the close frame");
  await settle();
  assertEquals(transport.written, hex("8805 0fa0 627965"));
  assertEquals(transport.closed, false, "TCP stays open until the peer answers");
  transport.feed(client(OPCODE.Text, "ignored"), clientClose(4000, "ok"));
  assertEquals(await socket.closed, { code: 4000, reason: "ok", wasClean: true });
  assertEquals(socket.closeCause, "local");
  assertEquals(socket.state, "closed");
  assertEquals(transport.closed, true);
  assertEquals(transport.written, hex("8805 0fa0 627965"), "one close frame, nothing else");
  for await (const _ of socket) throw new Error("no message after the close");
});

Deno.test("Socket echoes the peer's close code, then ends TCP", async (t) => {
  await t.step("with a code and reason", async () => {
    const { socket, transport } = open();
    transport.feed(clientClose(1001, "away"));
    assertEquals(await socket.closed, { code: 1001, reason: "away", wasClean: true });
    assertEquals(transport.written, hex("8802 03e9"));
    assertEquals(socket.closeCause, "peer");
    assertEquals(transport.closed, true);
  });
  await t.step("without a code: an empty close frame, and 1005", async () => {
    const { socket, transport } = open();
    transport.feed(clientClose());
    assertEquals(await socket.closed, { code: 1005, reason: "", wasClean: true });
    assertEquals(transport.written, hex("8800"));
  });
  await t.step("a close frame split over two reads (ws: '8806' then '03e8444F4E45')", async () => {
    const { socket, transport } = open();
    const frame = clientClose(1000, "DONE");
    transport.feed(frame.subarray(0, 2));
    await settle();
    assertEquals(socket.state, "open");
    transport.feed(frame.subarray(2));
    assertEquals(await socket.closed, { code: 1000, reason: "DONE", wasClean: true });
    assertEquals(transport.written, hex("8802 03e8"));
  });
});

Deno.test("Socket ends the connection at the close timeout when the peer never answers", async () => {
  const { socket, transport } = open({ closeTimeout: 30 });
  const started = Date.now();
  socket.close();
  assertEquals(await socket.closed, { code: 1000, reason: "", wasClean: false });
  assert(Date.now() - started >= 25, "not before the close timeout");
  assertEquals(transport.written, hex("8802 03e8"));
  assertEquals(socket.closeCause, "local");
  assertEquals(transport.closed, true);
});

Deno.test("Socket closes with 1006 when the transport ends without a close frame", async (t) => {
  await t.step("the peer's end of stream", async () => {
    const { socket, transport } = open();
    const next = socket[Symbol.asyncIterator]().next();
    transport.end();
    assertEquals(await socket.closed, { code: 1006, reason: "", wasClean: false });
    assertEquals(await next, { value: undefined, done: true }, "a waiting consumer is released");
    assertEquals(socket.closeCause, "connection-lost");
    assertEquals(transport.written, "");
  });
  await t.step("a failed write", async () => {
    const { socket, transport } = open();
    transport.failWrites = true;
    socket.send("x");
    assertEquals(await socket.closed, { code: 1006, reason: "", wasClean: false });
    assertEquals(socket.closeCause, "connection-lost");
    assertEquals(transport.closed, true);
  });
});

const PROTOCOL_ERRORS: { name: string; bytes: Uint8Array; code: number }[] = [
  { name: "an unmasked frame", bytes: fromHex("8105 48656c6c6f"), code: 1002 },
  { name: "RSV2 set", bytes: fromHex("a180 37fa213d"), code: 1002 },
  { name: "a reserved opcode", bytes: fromHex("8380 37fa213d"), code: 1002 },
  { name: "a fragmented ping", bytes: fromHex("0980 37fa213d"), code: 1002 },
  { name: "a continuation with no message", bytes: client(OPCODE.Continuation, "x"), code: 1002 },
  { name: "a 1-byte close payload", bytes: client(OPCODE.Close, fromHex("03")), code: 1002 },
  { name: "close code 1005 on the wire", bytes: client(OPCODE.Close, fromHex("03ed")), code: 1002 },
  {
    name: "a text message that is not UTF-8",
    bytes: client(OPCODE.Text, fromHex("ff")),
    code: 1007,
  },
  {
    name: "a message over maxMessageBytes",
    bytes: client(OPCODE.Binary, "x".repeat(17)),
    code: 1009,
  },
];

Deno.test("Socket answers each protocol error with its close code, then half-closes", async (t) => {
  for (const { name, bytes, code } of PROTOCOL_ERRORS) {
    await t.step(`${name} → ${code}`, async () => {
      const { socket, transport } = open({ maxMessageBytes: 16 });
      transport.feed(bytes);
      await until(() => transport.writeClosed, "the half-close");
      const written = fromHex(transport.written);
      assertEquals(written[0], 0x88, "a close frame");
      assertEquals(written.length, 2 + written[1]!, "one frame, nothing else");
      const sent = decodeClosePayload(written.subarray(2));
      assertEquals(sent.code, code);
      assertEquals(socket.state, "closing", "waiting for the peer's end");
      transport.end();
      assertEquals(await socket.closed, { code, reason: sent.reason, wasClean: false });
      assertEquals(socket.closeCause, "protocol-error");
    });
  }
  await t.step("the exact bytes for invalid UTF-8", async () => {
    const { socket, transport } = open();
    transport.feed(client(OPCODE.Text, fromHex("ceba e1bd b9cf 83ce bcce b5ed a080")));
    await until(() => transport.writeClosed, "the half-close");
    const reason = encodeHex(encoder.encode("Cannot read message: invalid UTF-8"));
    assertEquals(transport.written, hex(`8824 03ef ${reason}`));
    transport.end();
    await socket.closed;
  });
  await t.step("the frames before the error are delivered, then the iteration ends", async () => {
    const { socket, transport } = open();
    transport.feed(client(OPCODE.Text, "a"), fromHex("8105 48656c6c6f"));
    const messages = [];
    for await (const message of socket) messages.push(message);
    assertEquals(messages, ["a"]);
    transport.end();
    assertEquals((await socket.closed).code, 1002);
  });
});

Deno.test("Socket sends a close owed to the peer after the replies to the messages before it", async (t) => {
  await t.step("once the consumer has read them", async () => {
    const { socket, transport } = open();
    transport.feed(client(OPCODE.Text, "one"), client(OPCODE.Text, "two"), clientClose(1000));
    await settle();
    assertEquals(transport.written, "", "the close waits for the consumer");
    assertEquals(socket.state, "open");
    for await (const message of socket) socket.send(`re:${message}`);
    assertEquals(await socket.closed, { code: 1000, reason: "", wasClean: true });
    const replies = encodeHex(encoder.encode("re:one")) + "8106" +
      encodeHex(encoder.encode("re:two"));
    assertEquals(transport.written, hex(`8106 ${replies} 8802 03e8`));
    assertEquals(socket.closeCause, "peer");
  });
  await t.step("a consumer holding the last message still replies first", async () => {
    const { socket, transport } = open();
    const iterator = socket[Symbol.asyncIterator]();
    const first = iterator.next();
    transport.feed(client(OPCODE.Text, "one"), clientClose(1000));
    assertEquals(await first, { value: "one", done: false });
    await settle();
    assertEquals(transport.written, "", "the consumer has not asked for the next message");
    socket.send("re");
    assertEquals(await iterator.next(), { value: undefined, done: true });
    await socket.closed;
    assertEquals(transport.written, hex("8102 7265 8802 03e8"));
  });
  await t.step("stopping the iteration pays it", async () => {
    const { socket, transport } = open();
    transport.feed(client(OPCODE.Text, "one"), clientClose(1000));
    for await (const _ of socket) break;
    assertEquals(await socket.closed, { code: 1000, reason: "", wasClean: true });
    assertEquals(transport.written, hex("8802 03e8"));
  });
  await t.step(
    "at most min(1 s, closeTimeout) when nobody reads; the messages stay readable",
    async () => {
      const { socket, transport } = open({ closeTimeout: 30 });
      transport.feed(client(OPCODE.Text, "unread"), clientClose(1001));
      assertEquals(await socket.closed, { code: 1001, reason: "", wasClean: true });
      assertEquals(transport.written, hex("8802 03e9"));
      const messages = [];
      for await (const message of socket) messages.push(message);
      assertEquals(messages, ["unread"]);
    },
  );
});

Deno.test("Socket hands a message to a consumer already waiting in for await", async () => {
  const { socket, transport } = open();
  const iterator = socket[Symbol.asyncIterator]();
  const first = iterator.next();
  const second = iterator.next();
  await settle();
  transport.feed(client(OPCODE.Text, "a"));
  assertEquals(await first, { value: "a", done: false });
  transport.feed(client(OPCODE.Text, "b"), client(OPCODE.Binary, fromHex("0102")));
  assertEquals(await second, { value: "b", done: false }, "the second call waited its turn");
  assertEquals(await iterator.next(), { value: new Uint8Array([1, 2]), done: false });
  transport.end();
  assertEquals(await iterator.next(), { value: undefined, done: true });
});

Deno.test("Socket stops reading while its inbox is full and resumes as it is read", async () => {
  const { socket, transport } = open();
  const frames = Array.from({ length: 300 }, (_, i) => client(OPCODE.Text, `${i}`));
  transport.feed(...frames, clientClose(1000));
  await settle();
  assertEquals(socket.counters.messagesIn, 256, "the read loop waits at 256 unread messages");
  const messages = [];
  for await (const message of socket) messages.push(message);
  assertEquals(messages.length, 300);
  assertEquals(messages.at(-1), "299");
  assertEquals((await socket.closed).wasClean, true);
});

Deno.test("Socket pings a silent peer, then closes it with 1001 at the idle timeout", async () => {
  const { socket, transport } = open({ idleTimeout: 15 });
  await until(() => transport.written === hex("8900"), "the ping");
  assertEquals(await socket.closed, { code: 1001, reason: "idle timeout", wasClean: false });
  assertEquals(socket.closeCause, "idle-timeout");
  assertEquals(transport.written, hex("8900"), "no close frame: the peer is gone");
  assertEquals(transport.closed, true);
});

Deno.test("Socket keeps a peer that answers its pings past the idle timeout", async () => {
  const { socket, transport } = open({ idleTimeout: 40 });
  const deadline = Date.now() + 250;
  while (Date.now() < deadline) {
    await until(() => transport.written.endsWith("8900"), "a ping");
    transport.writes.length = 0;
    transport.feed(client(OPCODE.Pong));
  }
  assertEquals(socket.state, "open");
  transport.end();
  assertEquals((await socket.closed).code, 1006);
});

Deno.test("Socket closes a slow consumer with 1008 once maxBufferedBytes is passed", async (t) => {
  await t.step("the frame past the cap closes it", async () => {
    const { socket, transport } = open({ maxBufferedBytes: 10 });
    transport.stallWrites = true;
    assertEquals(socket.sendFrame(new Uint8Array(6)), true);
    await settle();
    assertEquals(transport.writes.length, 1, "one write in flight");
    assertEquals(socket.sendFrame(new Uint8Array(4)), true, "exactly at the cap");
    assertEquals(socket.bufferedAmount, 10);
    assertEquals(socket.sendFrame(new Uint8Array(1)), false);
    assertEquals(socket.state, "closed");
    assertEquals(await socket.closed, {
      code: CLOSE_CODE.PolicyViolation,
      reason: "slow consumer: outbox full",
      wasClean: false,
    });
    assertEquals(socket.closeCause, "slow-consumer");
    assertEquals(socket.bufferedAmount, 0);
    assertEquals(transport.closed, true);
    assertEquals(socket.send("x"), false);
  });
  await t.step("a single frame larger than the cap still goes out alone", async () => {
    const { socket, transport } = open({ maxBufferedBytes: 4 });
    assertEquals(socket.sendFrame(new Uint8Array(8)), true);
    await settle();
    assertEquals(transport.written, "00".repeat(8));
    transport.end();
    await socket.closed;
  });
});

Deno.test("Socket.bufferedAmount counts queued and in-flight bytes until written", async () => {
  const { socket, transport } = open();
  transport.stallWrites = true;
  assertEquals(socket.bufferedAmount, 0);
  socket.send("Hello");
  assertEquals(socket.bufferedAmount, 7);
  await settle();
  socket.send("!");
  assertEquals(socket.bufferedAmount, 10, "one write in flight, one frame queued");
  transport.completeWrites();
  await settle();
  assertEquals(socket.bufferedAmount, 3);
  transport.completeWrites();
  await settle();
  assertEquals(socket.bufferedAmount, 0);
  assertEquals(transport.written, hex("8105 48656c6c6f 8101 21"));
  transport.end();
  await socket.closed;
});

Deno.test("ServerMetrics counts slow-consumer closes by cause, not by reason text", async () => {
  const stats = new ServerMetrics();
  const slow = open({ maxBufferedBytes: 1 });
  slow.transport.stallWrites = true;
  const mimic = open();
  for (const { socket } of [slow, mimic]) {
    stats.recordSocket();
    socket.closed.then((result) => stats.recordClose(socket, result));
  }
  slow.socket.sendFrame(new Uint8Array(1));
  slow.socket.sendFrame(new Uint8Array(1));
  mimic.transport.feed(clientClose(1008, "slow consumer: says the peer"));
  await Promise.all([slow.socket.closed, mimic.socket.closed]);
  await settle();
  const metric = stats.collect([], new TopicIndex())
    .find((m) => m.name === "pushwire_slow_consumer_closes_total");
  assertEquals(metric?.samples, [{ value: 1 }]);
});

Deno.test("Socket keeps at most 16 pongs waiting: past them, the latest ping's pong takes the newest's place", async () => {
  const { socket, transport } = open();
  transport.stallWrites = true;
  transport.feed(client(OPCODE.Ping, "a"));
  await until(() => transport.writes.length === 1, "the first pong in flight");
  // 26 pings, "b" to "z", while the first pong is being written.
  const letters = Array.from({ length: 25 }, (_, i) => String.fromCharCode(0x62 + i));
  transport.feed(...letters.map((letter) => client(OPCODE.Ping, letter)));
  await settle();
  assertEquals(socket.bufferedAmount, 3 + 16 * 3, "the pong in flight and 16 waiting");
  transport.completeWrites();
  await until(() => transport.writes.length === 2, "the second write");
  const answered = [..."abcdefghijklmnop", "z"].map((c) => `8a01${c.charCodeAt(0).toString(16)}`);
  assertEquals(transport.written, hex(answered.join("")), "a, b to p, then only the latest: z");
  transport.completeWrites();
  transport.end();
  await socket.closed;
});

Deno.test("Socket counts pongs and pings inside maxBufferedBytes: past it, the slow-consumer close", async (t) => {
  await t.step("a pong that does not fit", async () => {
    const { socket, transport } = open({ maxBufferedBytes: 10 });
    transport.stallWrites = true;
    assertEquals(socket.sendFrame(new Uint8Array(8)), true);
    await settle();
    transport.feed(client(OPCODE.Ping, "xy"));
    assertEquals((await socket.closed).code, CLOSE_CODE.PolicyViolation);
    assertEquals(socket.closeCause, "slow-consumer");
  });
  await t.step("pongs that fit, then one that does not", async () => {
    const { socket, transport } = open({ maxBufferedBytes: 16 });
    transport.stallWrites = true;
    assertEquals(socket.sendFrame(new Uint8Array(8)), true);
    await settle();
    transport.feed(client(OPCODE.Ping, "ab"), client(OPCODE.Ping, "cd"));
    await settle();
    assertEquals([socket.state, socket.bufferedAmount], ["open", 16], "exactly at the cap");
    transport.feed(client(OPCODE.Ping, "e"));
    assertEquals((await socket.closed).code, CLOSE_CODE.PolicyViolation);
    assertEquals(socket.closeCause, "slow-consumer");
  });
  await t.step("ping()", async () => {
    const { socket, transport } = open({ maxBufferedBytes: 8 });
    transport.stallWrites = true;
    assertEquals(socket.sendFrame(new Uint8Array(8)), true);
    await settle();
    socket.ping();
    assertEquals((await socket.closed).code, CLOSE_CODE.PolicyViolation);
    assertEquals(socket.closeCause, "slow-consumer");
  });
  await t.step("a close frame still goes out past the cap", async () => {
    const { socket, transport } = open({ maxBufferedBytes: 8 });
    transport.stallWrites = true;
    assertEquals(socket.sendFrame(new Uint8Array(8)), true);
    await settle();
    socket.close(1000);
    transport.completeWrites();
    await until(() => transport.written.endsWith("880203e8"), "the close frame");
    transport.completeWrites();
    transport.feed(clientClose(1000));
    assertEquals((await socket.closed).wasClean, true);
  });
});

Deno.test("Socket closes a message of more than maxFragments frames with 1009", async () => {
  const { socket, transport } = open({ maxFragments: 3 });
  transport.feed(
    client(OPCODE.Text, "a", { fin: false }),
    client(OPCODE.Continuation, "b", { fin: false }),
    client(OPCODE.Ping),
    client(OPCODE.Continuation, "c"),
    client(OPCODE.Binary, "d", { fin: false }),
    client(OPCODE.Continuation, "", { fin: false }),
    client(OPCODE.Continuation, "", { fin: false }),
    client(OPCODE.Continuation, "", { fin: false }),
  );
  const messages = [];
  for await (const message of socket) messages.push(message);
  assertEquals(messages, ["abc"], "three frames and a ping between them: one message");
  await until(() => transport.writeClosed, "the half-close");
  const written = fromHex(transport.written);
  const close = written.subarray(written.indexOf(0x88));
  assertEquals(decodeClosePayload(close.subarray(2)), {
    code: CLOSE_CODE.MessageTooBig,
    reason: "Cannot decode frame: message exceeds 3 fragments",
  });
  transport.end();
  await socket.closed;
  assertEquals(socket.closeCause, "protocol-error");
});

Deno.test("Socket drops messages past maxMessagesPerSecond, with a notice at most once a second", async () => {
  const { socket, transport } = open({
    maxMessagesPerSecond: 1,
    messageBurst: 2,
    messageRateAction: "drop",
    messageRateNotice: "slow down",
  });
  transport.feed(...["a", "b", "c", "d", "e"].map((text) => client(OPCODE.Text, text)));
  await until(() => socket.counters.messagesDropped === 3, "three dropped");
  assertEquals(socket.counters.messagesIn, 2);
  assertEquals(transport.written, hex("8109 736c6f7720646f776e"), "one notice: 'slow down'");
  transport.feed(clientClose(1000));
  const messages = [];
  for await (const message of socket) messages.push(message);
  assertEquals(messages, ["a", "b"]);
  assertEquals((await socket.closed).code, 1000);
});

Deno.test("Socket closes with 1008 past maxMessagesPerSecond by default, after the messages before", async () => {
  const { socket, transport } = open({ maxMessagesPerSecond: 1, messageBurst: 2 });
  transport.feed(...["a", "b", "c", "d"].map((text) => client(OPCODE.Text, text)));
  const messages = [];
  for await (const message of socket) messages.push(message);
  assertEquals(messages, ["a", "b"]);
  await until(() => transport.writeClosed, "the half-close");
  const reason = encodeHex(encoder.encode("message rate exceeded"));
  assertEquals(transport.written, hex(`8817 03f0 ${reason}`));
  transport.end();
  assertEquals((await socket.closed).code, CLOSE_CODE.PolicyViolation);
  assertEquals(socket.closeCause, "message-rate");
  assertEquals(socket.counters.messagesDropped, 0);
});

Deno.test("Socket tells onClose first, then closed resolves; closed asked for later resolves alike", async () => {
  const told: string[] = [];
  const transport = new FakeTransport();
  const socket = new Socket(transport, {
    id: "7",
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
    request: REQUEST,
    onClose: (closing, result) => {
      told.push(`${closing.id} ${result.code} ${closing.state}`);
    },
  });
  transport.feed(clientClose(1000, "bye"));
  await until(() => told.length === 1, "onClose");
  assertEquals(told, ["7 1000 closed"]);
  // No one asked for `closed` before the close: it is made now, settled.
  assertEquals(await socket.closed, { code: 1000, reason: "bye", wasClean: true });
  assertEquals(socket.closed, socket.closed, "the same promise each time");
});

Deno.test("Socket still settles when its onClose throws; the error is thrown on its own", async () => {
  const errors: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    errors.push(event.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    const transport = new FakeTransport();
    const socket = new Socket(transport, {
      id: "8",
      remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
      request: REQUEST,
      onClose: () => {
        throw new Error("a failing listener");
      },
    });
    transport.feed(clientClose(1000));
    assertEquals((await socket.closed).code, 1000);
    await until(() => errors.length === 1, "the error, thrown on its own");
    assertEquals((errors[0] as Error).message, "a failing listener");
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});
