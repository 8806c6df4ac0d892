/**
 * RFC 6455 conformance over raw TCP against the echo server, grouped like
 * the Autobahn|Testsuite fuzzing-client cases (1 framing, 2 ping/pong,
 * 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9 large
 * messages, 10 auto-fragmentation) plus the opening handshake. Steps are
 * named after the Autobahn case they mirror.
 *
 * Checks are strict: the server's close frame must carry the expected code,
 * messages that precede a violation must be echoed before the close, and
 * invalid UTF-8 must be failed before the rest of the message is sent.
 *
 * @module
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { OPCODE } from "../src/protocol/frame.ts";
import type { Frame } from "../src/protocol/frame.ts";
import type { ServeOptions } from "../src/server/options.ts";
import { buildFrame, concat, type FrameSpec, toHex, utf8FailIndex } from "./_fuzz.ts";
import { fromHex, RawClient, rawHttp, readAll } from "./_raw_client.ts";
import { echo, withServer } from "./_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const MiB = 1024 * 1024;

// The limits of examples/echo.ts, which conformance suites drive, and a
// short close timeout: a server waiting for a peer that never answers must
// not slow the suite down.
const OPTIONS: ServeOptions = {
  maxMessageBytes: 16 * MiB,
  maxBufferedBytes: 64 * MiB,
  closeTimeout: 1000,
};

type Group = (t: Deno.TestContext, port: number) => Promise<void>;

const GROUPS: [string, Group][] = [];

/**
 * A group of cases: a test against an in-process echo server now, and a
 * step of the run against examples/echo.ts at the end of this file.
 */
function group(name: string, body: Group): void {
  GROUPS.push([name, body]);
  Deno.test(name, (t) => withServer(OPTIONS, echo, (_server, port) => body(t, port)));
}

// ---------------------------------------------------------------------------
// Helpers

type Payload = string | Uint8Array | number[];

function bytesOf(payload: Payload): Uint8Array {
  if (typeof payload === "string") return encoder.encode(payload);
  return payload instanceof Uint8Array ? payload : new Uint8Array(payload);
}

/** A masked client frame; rule-breaking fields allowed. */
function frame(opcode: number, payload: Payload = "", spec: Partial<FrameSpec> = {}): Uint8Array {
  return buildFrame({ opcode, payload: bytesOf(payload), mask: maskKey(), ...spec });
}

function maskKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(4));
}

const text = (payload: Payload, spec: Partial<FrameSpec> = {}) => frame(OPCODE.Text, payload, spec);
const binary = (payload: Payload, spec: Partial<FrameSpec> = {}) =>
  frame(OPCODE.Binary, payload, spec);
const continuation = (payload: Payload = "", spec: Partial<FrameSpec> = {}) =>
  frame(OPCODE.Continuation, payload, spec);
const ping = (payload: Payload = "", spec: Partial<FrameSpec> = {}) =>
  frame(OPCODE.Ping, payload, spec);
const pong = (payload: Payload = "", spec: Partial<FrameSpec> = {}) =>
  frame(OPCODE.Pong, payload, spec);

function close(code?: number, reason: Payload = ""): Uint8Array {
  if (code === undefined) return frame(OPCODE.Close);
  return frame(OPCODE.Close, concat([new Uint8Array([code >> 8, code & 0xff]), bytesOf(reason)]));
}

function pause(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How the client writes a sequence of frames. */
type Chopping = "one write" | "frame by frame" | "octet by octet";

const CHOPPINGS: Chopping[] = ["one write", "frame by frame", "octet by octet"];

async function send(client: RawClient, frames: Uint8Array[], chopping: Chopping): Promise<void> {
  if (chopping === "one write") return client.write(concat(frames));
  for (const bytes of frames) {
    if (chopping === "frame by frame") {
      await client.write(bytes);
      await pause(5);
    } else {
      for (let i = 0; i < bytes.length; i++) await client.write(bytes.subarray(i, i + 1));
      await pause(5);
    }
  }
}

/** Writes `bytes` in chops of `size` bytes. */
async function sendChopped(client: RawClient, bytes: Uint8Array, size: number): Promise<void> {
  for (let i = 0; i < bytes.length; i += size) await client.write(bytes.subarray(i, i + size));
}

/** Runs `fn` with a connected raw client, always closing it. */
async function session(
  port: number,
  fn: (client: RawClient) => Promise<void>,
): Promise<void> {
  const client = await RawClient.connect(port);
  try {
    (client.conn as Deno.TcpConn).setNoDelay(true);
    await fn(client);
  } finally {
    client.close();
  }
}

/** What a server frame looks like in an assertion. */
function show(f: Frame): string {
  const payload = f.opcode === OPCODE.Text
    ? JSON.stringify(decoder.decode(f.payload))
    : f.payload.length > 64
    ? `${f.payload.length} bytes`
    : toHex(f.payload);
  return `${OPCODE_NAME[f.opcode] ?? f.opcode}${f.fin ? "" : " (no FIN)"}${
    f.rsv1 ? " (RSV1)" : ""
  } ${payload}`;
}

const OPCODE_NAME: Record<number, string> = {
  0: "continuation",
  1: "text",
  2: "binary",
  8: "close",
  9: "ping",
  10: "pong",
};

/** An expected server frame (always final, never RSV1). */
function expect(opcode: number, payload: Payload = ""): string {
  return show({
    fin: true,
    rsv1: false,
    opcode: opcode as Frame["opcode"],
    payload: bytesOf(payload),
  });
}

interface Closing {
  frames: string[];
  code: number;
  reason: string;
}

/** Reads frames up to the server's close frame. */
async function readUntilClose(client: RawClient, timeout = 3000): Promise<Closing> {
  const frames: string[] = [];
  while (true) {
    const next = await client.nextFrame(timeout);
    if (next === undefined) {
      throw new Error(`the connection ended without a close frame after [${frames}]`);
    }
    if (next.opcode === OPCODE.Close) {
      const payload = next.payload;
      const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
      return { frames, code, reason: decoder.decode(payload.subarray(2)) };
    }
    frames.push(show(next));
  }
}

/** Asserts the server fails the connection with `code`, after exactly `before`. */
async function expectFailure(
  client: RawClient,
  code: number,
  before: string[] = [],
  timeout = 3000,
): Promise<void> {
  const closing = await readUntilClose(client, timeout);
  assertEquals(closing.frames, before, "frames before the close");
  assertEquals(closing.code, code, `close code (reason: ${closing.reason})`);
}

/** Asserts the next frames are exactly `expected`. */
async function expectFrames(client: RawClient, expected: string[], timeout = 3000): Promise<void> {
  const got: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const next = await client.nextFrame(timeout);
    if (next === undefined) break;
    got.push(show(next));
  }
  assertEquals(got, expected);
}

/**
 * Closes from the client side and asserts a clean closing handshake: the
 * server echoes the code (or sends 1000), sends nothing else, and ends TCP.
 */
async function expectCleanClose(client: RawClient, code = 1000, before: string[] = []) {
  await client.write(close(code));
  const closing = await readUntilClose(client);
  assertEquals(closing.frames, before, "frames before the close");
  assert(closing.code === code || closing.code === 1000, `close code ${closing.code}`);
  assert(await client.waitEnd(2000), "the server ends TCP after the closing handshake");
}

/** Reads what is left until the server ends TCP; returns the frames. */
async function framesUntilEnd(client: RawClient, timeout = 2000): Promise<string[]> {
  const frames: string[] = [];
  while (true) {
    const next = await client.nextFrame(timeout);
    if (next === undefined) return frames;
    frames.push(show(next));
  }
}

function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

function asciiPattern(length: number): string {
  let out = "";
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (let i = 0; i < length; i++) out += alphabet[i % alphabet.length];
  return out;
}

/** Asserts a large frame carries exactly `expected`, without a slow deep diff. */
function assertPayload(got: Frame | undefined, opcode: number, expected: Uint8Array): void {
  assert(got !== undefined, "the connection ended");
  assertEquals([got.opcode, got.fin, got.rsv1], [opcode, true, false]);
  assertEquals(got.payload.length, expected.length, "payload length");
  for (let i = 0; i < expected.length; i++) {
    if (got.payload[i] !== expected[i]) throw new Error(`payload differs at byte ${i}`);
  }
}

// ---------------------------------------------------------------------------
// 1 Framing

group("1 framing: text and binary at every length boundary are echoed", async (t, port) => {
  const lengths = [0, 125, 126, 127, 128, 65535, 65536];
  for (const [group, opcode] of [["1.1", OPCODE.Text], ["1.2", OPCODE.Binary]] as const) {
    for (const [i, length] of lengths.entries()) {
      await t.step(`${group}.${i + 1} ${OPCODE_NAME[opcode]} of ${length} bytes`, async () => {
        await session(port, async (client) => {
          const payload = opcode === OPCODE.Text
            ? encoder.encode(asciiPattern(length))
            : pattern(length);
          await client.write(frame(opcode, payload));
          assertPayload(await client.nextFrame(), opcode, payload);
          await expectCleanClose(client);
        });
      });
    }
    await t.step(
      `${group}.8 ${OPCODE_NAME[opcode]} of 65536 bytes in 997-byte chops`,
      async () => {
        await session(port, async (client) => {
          const payload = opcode === OPCODE.Text
            ? encoder.encode(asciiPattern(65536))
            : pattern(65536);
          await sendChopped(client, frame(opcode, payload), 997);
          assertPayload(await client.nextFrame(), opcode, payload);
          await expectCleanClose(client);
        });
      },
    );
  }
});

group("1 framing: headers split at every byte and frames batched in one write", async (t, port) => {
  for (const length of [5, 200, 70000]) {
    await t.step(`a ${length}-byte frame written one header byte at a time`, async () => {
      await session(port, async (client) => {
        const payload = pattern(length, 7);
        const bytes = binary(payload);
        const header = length < 126 ? 6 : length < 65536 ? 8 : 14;
        for (let i = 0; i < header; i++) await client.write(bytes.subarray(i, i + 1));
        await client.write(bytes.subarray(header));
        assertPayload(await client.nextFrame(), OPCODE.Binary, payload);
        await expectCleanClose(client);
      });
    });
  }
  await t.step("100 messages in one write are echoed in order", async () => {
    await session(port, async (client) => {
      const messages = Array.from({ length: 100 }, (_, i) => `message ${i}`);
      await client.write(concat(messages.map((m) => text(m))));
      await expectFrames(client, messages.map((m) => expect(OPCODE.Text, m)));
      await expectCleanClose(client);
    });
  });
  await t.step("server frames are unmasked, final, and use the shortest length form", async () => {
    await session(port, async (client) => {
      const cases: [number, string][] = [[125, "827d"], [126, "827e007e"], [
        65536,
        "827f0000000000010000",
      ]];
      for (const [length, header] of cases) {
        await client.write(binary(pattern(length)));
        const expected = length + header.length / 2;
        const bytes = new Uint8Array(expected);
        let filled = 0;
        while (filled < expected) {
          const n = await client.conn.read(bytes.subarray(filled));
          assert(n !== null, "the connection ended");
          filled += n;
        }
        assertEquals(toHex(bytes.subarray(0, header.length / 2)), header);
        assertEquals(
          toHex(bytes.subarray(header.length / 2, header.length / 2 + 8)),
          toHex(pattern(8)),
        );
      }
      await expectCleanClose(client);
    });
  });
  await t.step("an unmasked client frame → 1002", async () => {
    await session(port, async (client) => {
      await client.write(text("Hello", { mask: false }));
      await expectFailure(client, 1002);
    });
  });
  await t.step("a masking key of zeros is still a masked frame", async () => {
    await session(port, async (client) => {
      await client.write(text("zero key", { mask: new Uint8Array(4) }));
      await expectFrames(client, [expect(OPCODE.Text, "zero key")]);
      await expectCleanClose(client);
    });
  });
  await t.step("a 64-bit length with the top bit set → 1002", async () => {
    await session(port, async (client) => {
      await client.write(binary("", { declaredLength: 2n ** 63n }));
      await expectFailure(client, 1002);
    });
  });
});

// ---------------------------------------------------------------------------
// 2 Pings and pongs

group("2 ping/pong: pings are answered with their payload, pongs are ignored", async (t, port) => {
  const cases: [string, Payload][] = [
    ["2.1 a ping without payload", ""],
    ["2.2 a ping with a text payload", "Hello, world!"],
    ["2.3 a ping with a binary payload", [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]],
    ["2.4 a ping with 125 bytes", pattern(125)],
  ];
  for (const [name, payload] of cases) {
    await t.step(`${name} gets a pong with the same payload`, async () => {
      await session(port, async (client) => {
        await client.write(ping(payload));
        await expectFrames(client, [expect(OPCODE.Pong, payload)]);
        await expectCleanClose(client);
      });
    });
  }
  await t.step("2.5 a ping with 126 bytes → 1002, no pong", async () => {
    await session(port, async (client) => {
      await client.write(ping(pattern(126)));
      await expectFailure(client, 1002);
    });
  });
  await t.step("2.5 (64-bit form) a ping announcing 2^62 bytes → 1002, no pong", async () => {
    await session(port, async (client) => {
      await client.write(ping("", { declaredLength: 2n ** 62n }));
      await expectFailure(client, 1002);
    });
  });
  await t.step("a pong with 126 bytes → 1002", async () => {
    await session(port, async (client) => {
      await client.write(pong(pattern(126)));
      await expectFailure(client, 1002);
    });
  });
  await t.step("2.6 a 125-byte ping in 1-byte chops gets its pong", async () => {
    await session(port, async (client) => {
      await sendChopped(client, ping(pattern(125, 3)), 1);
      await expectFrames(client, [expect(OPCODE.Pong, pattern(125, 3))]);
      await expectCleanClose(client);
    });
  });
  for (
    const [name, payload] of [["2.7 without payload", ""], ["2.8 with payload", "unsolicited"]]
  ) {
    await t.step(`${name}: an unsolicited pong is ignored`, async () => {
      await session(port, async (client) => {
        await client.write(pong(payload!));
        await expectCleanClose(client);
      });
    });
  }
  await t.step("2.9 an unsolicited pong, then a ping: one pong answers the ping", async () => {
    await session(port, async (client) => {
      await client.write(concat([pong("unsolicited"), ping("ping payload")]));
      await expectFrames(client, [expect(OPCODE.Pong, "ping payload")]);
      await expectCleanClose(client);
    });
  });
  for (const [name, chop] of [["2.10 ten pings", 0], ["2.11 ten pings in 1-byte chops", 1]]) {
    await t.step(`${name} get ten pongs in order`, async () => {
      await session(port, async (client) => {
        const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
        const bytes = concat(payloads.map((p) => ping(p)));
        if (chop === 0) await client.write(bytes);
        else await sendChopped(client, bytes, chop as number);
        await expectFrames(client, payloads.map((p) => expect(OPCODE.Pong, p)));
        await expectCleanClose(client);
      });
    });
  }
});

// ---------------------------------------------------------------------------
// 3 Reserved bits, 4 reserved opcodes

group("3 reserved bits: any RSV bit without an extension → 1002", async (t, port) => {
  await t.step("3.1 a text frame with RSV1", async () => {
    await session(port, async (client) => {
      await client.write(text("Hello", { rsv: 4 }));
      await expectFailure(client, 1002);
    });
  });
  for (const [i, chopping] of CHOPPINGS.entries()) {
    await t.step({
      name: `3.${i + 2} a text message, then text with RSV2, then a ping (${chopping}): ` +
        "the message is echoed, then 1002, no pong",
      fn: async () => {
        await session(port, async (client) => {
          await send(client, [text("Hello"), text("bad", { rsv: 2 }), ping()], chopping);
          await expectFailure(client, 1002, [expect(OPCODE.Text, "Hello")]);
        });
      },
    });
  }
  await t.step("3.5 a binary frame with RSV 5", async () => {
    await session(port, async (client) => {
      await client.write(binary(pattern(8), { rsv: 5 }));
      await expectFailure(client, 1002);
    });
  });
  await t.step("3.6 a ping with RSV 6", async () => {
    await session(port, async (client) => {
      await client.write(ping("Hello", { rsv: 6 }));
      await expectFailure(client, 1002);
    });
  });
  await t.step("3.7 a close with RSV 7", async () => {
    await session(port, async (client) => {
      await client.write(frame(OPCODE.Close, [0x03, 0xe8], { rsv: 7 }));
      await expectFailure(client, 1002);
    });
  });
});

group("4 opcodes: reserved opcodes 3–7 and 11–15 → 1002", async (t, port) => {
  for (
    const [group, opcodes] of [["4.1", [3, 4, 5, 6, 7]], ["4.2", [11, 12, 13, 14, 15]]] as const
  ) {
    await t.step(`${group}.1 opcode ${opcodes[0]} alone`, async () => {
      await session(port, async (client) => {
        await client.write(frame(opcodes[0]));
        await expectFailure(client, 1002);
      });
    });
    await t.step(`${group}.2 opcode ${opcodes[1]} with a payload`, async () => {
      await session(port, async (client) => {
        await client.write(frame(opcodes[1], "reserved opcode payload"));
        await expectFailure(client, 1002);
      });
    });
    for (const [i, chopping] of CHOPPINGS.entries()) {
      const opcode = opcodes[2 + i]!;
      await t.step({
        name: `${group}.${i + 3} text, then opcode ${opcode}, then a ping (${chopping}): ` +
          "the text is echoed, then 1002",
        fn: async () => {
          await session(port, async (client) => {
            await send(client, [text("Hello"), frame(opcode, "x"), ping()], chopping);
            await expectFailure(client, 1002, [expect(OPCODE.Text, "Hello")]);
          });
        },
      });
    }
  }
});

// ---------------------------------------------------------------------------
// 5 Fragmentation

group(
  "5 fragmentation: fragments join, control frames interleave, order is enforced",
  async (t, port) => {
    await t.step("5.1 a ping in two fragments → 1002", async () => {
      await session(port, async (client) => {
        await client.write(concat([ping("frag1", { fin: false }), continuation("frag2")]));
        await expectFailure(client, 1002);
      });
    });
    await t.step("5.2 a pong in two fragments → 1002", async () => {
      await session(port, async (client) => {
        await client.write(concat([pong("frag1", { fin: false }), continuation("frag2")]));
        await expectFailure(client, 1002);
      });
    });
    await t.step("a close in two fragments → 1002", async () => {
      await session(port, async (client) => {
        await client.write(concat([frame(OPCODE.Close, [3, 232], { fin: false }), continuation()]));
        await expectFailure(client, 1002);
      });
    });
    for (const [i, chopping] of CHOPPINGS.entries()) {
      await t.step(`5.${i + 3} text in two fragments (${chopping}) is echoed whole`, async () => {
        await session(port, async (client) => {
          await send(
            client,
            [text("fragment1", { fin: false }), continuation("fragment2")],
            chopping,
          );
          await expectFrames(client, [expect(OPCODE.Text, "fragment1fragment2")]);
          await expectCleanClose(client);
        });
      });
      await t.step(
        `5.${i + 6} text in two fragments with a ping between (${chopping}): pong, then the text`,
        async () => {
          await session(port, async (client) => {
            await send(
              client,
              [text("fragment1", { fin: false }), ping("pongme!"), continuation("fragment2")],
              chopping,
            );
            await expectFrames(client, [
              expect(OPCODE.Pong, "pongme!"),
              expect(OPCODE.Text, "fragment1fragment2"),
            ]);
            await expectCleanClose(client);
          });
        },
      );
    }
    for (const [fin, first] of [[true, 9], [false, 12]] as const) {
      for (const [i, chopping] of CHOPPINGS.entries()) {
        await t.step(
          `5.${first + i} a continuation (FIN ${fin ? 1 : 0}) with nothing to continue, ` +
            `then text (${chopping}) → 1002`,
          async () => {
            await session(port, async (client) => {
              await send(
                client,
                [
                  continuation("fragment2", { fin }),
                  text("fragment1", { fin: false }),
                  continuation("fragment2"),
                ],
                chopping,
              );
              await expectFailure(client, 1002);
            });
          },
        );
      }
    }
    for (const chopping of CHOPPINGS) {
      await t.step({
        name: `5.15 a fragmented text, then a stray continuation, then text (${chopping}): ` +
          "the first text is echoed, then 1002",
        fn: async () => {
          await session(port, async (client) => {
            await send(client, [
              text("fragment1", { fin: false }),
              continuation("fragment2"),
              continuation("fragment3", { fin: false }),
              text("fragment4"),
            ], chopping);
            await expectFailure(client, 1002, [expect(OPCODE.Text, "fragment1fragment2")]);
          });
        },
      });
    }
    for (const [name, fin] of [["5.16", false], ["5.17", true]] as const) {
      await t.step(
        `${name} twice: a stray continuation (FIN ${fin ? 1 : 0}), then text → 1002`,
        async () => {
          await session(port, async (client) => {
            const round = [
              continuation("fragment1", { fin }),
              text("fragment2", { fin: false }),
              continuation("fragment3"),
            ];
            await client.write(concat([...round, ...round]));
            await expectFailure(client, 1002);
          });
        },
      );
    }
    await t.step("5.18 text in two fragments that both say text → 1002", async () => {
      await session(port, async (client) => {
        await client.write(concat([text("fragment1", { fin: false }), text("fragment2")]));
        await expectFailure(client, 1002);
      });
    });
    for (
      const [name, chopping] of [["5.19", "frame by frame"], ["5.20", "octet by octet"]] as const
    ) {
      await t.step(
        `${name} text in five fragments with two pings, slowly (${chopping})`,
        async () => {
          await session(port, async (client) => {
            const fragments = ["fragment1", "fragment2", "fragment3", "fragment4", "fragment5"];
            await send(client, [
              text(fragments[0]!, { fin: false }),
              continuation(fragments[1]!, { fin: false }),
            ], chopping);
            await send(client, [ping("pongme 1!")], chopping);
            await expectFrames(client, [expect(OPCODE.Pong, "pongme 1!")]);
            await send(client, [
              continuation(fragments[2]!, { fin: false }),
              continuation(fragments[3]!, { fin: false }),
            ], chopping);
            await send(client, [ping("pongme 2!")], chopping);
            await expectFrames(client, [expect(OPCODE.Pong, "pongme 2!")]);
            await send(client, [continuation(fragments[4]!)], chopping);
            await expectFrames(client, [expect(OPCODE.Text, fragments.join(""))]);
            await expectCleanClose(client);
          });
        },
      );
    }
    await t.step("empty fragments: first, middle and last, text and binary", async () => {
      await session(port, async (client) => {
        await client.write(concat([
          text("", { fin: false }),
          continuation("middle", { fin: false }),
          continuation("", { fin: false }),
          continuation(""),
          binary([], { fin: false }),
          continuation([]),
          binary([1, 2], { fin: false }),
          continuation([]),
        ]));
        await expectFrames(client, [
          expect(OPCODE.Text, "middle"),
          expect(OPCODE.Binary, []),
          expect(OPCODE.Binary, [1, 2]),
        ]);
        await expectCleanClose(client);
      });
    });
    await t.step("a binary message in 1-byte chops of 1-byte fragments", async () => {
      await session(port, async (client) => {
        const payload = pattern(64, 5);
        const frames = Array.from(
          payload,
          (byte, i) =>
            frame(i === 0 ? OPCODE.Binary : OPCODE.Continuation, [byte], { fin: i === 63 }),
        );
        await sendChopped(client, concat(frames), 1);
        await expectFrames(client, [expect(OPCODE.Binary, payload)]);
        await expectCleanClose(client);
      });
    });
  },
);

// ---------------------------------------------------------------------------
// 6 UTF-8

/** [description, hex] — in the spirit of Markus Kuhn's UTF-8 decoder stress test. */
const UTF8_VECTORS: [string, string][] = [
  ["ASCII", "68656c6c6f24776f726c64"],
  ["U+00A2", "68656c6c6fc2a2776f726c64"],
  ["U+20AC", "68656c6c6fe282ac776f726c64"],
  ["U+24B62", "68656c6c6ff0a4ada2776f726c64"],
  ["κόσμε", "cebae1bdb9cf83cebcceb5"],
  ["first 1-byte", "00"],
  ["first 2-byte", "c280"],
  ["first 3-byte", "e0a080"],
  ["first 4-byte", "f0908080"],
  ["first 5-byte", "f888808080"],
  ["first 6-byte", "fc8480808080"],
  ["last 1-byte", "7f"],
  ["last 2-byte", "dfbf"],
  ["last 3-byte", "efbfbf"],
  ["last 4-byte (U+10FFFF)", "f48fbfbf"],
  ["U+1FFFFF", "f7bfbfbf"],
  ["last 5-byte", "fbbfbfbfbf"],
  ["last 6-byte", "fdbfbfbfbfbf"],
  ["U+D7FF", "ed9fbf"],
  ["U+E000", "ee8080"],
  ["U+FFFD", "efbfbd"],
  ["U+110000", "f4908080"],
  ["lone continuation 0x80", "80"],
  ["lone continuation 0xbf", "bf"],
  ["two continuations", "80bf"],
  ["three continuations", "80bf80"],
  ["six continuations", "80bf80bf80bf"],
  ["all 64 continuation bytes", range(0x80, 0xc0)],
  ["lonely 2-byte starts", lonely(0xc0, 0xe0)],
  ["lonely 3-byte starts", lonely(0xe0, 0xf0)],
  ["lonely 4-byte starts", lonely(0xf0, 0xf8)],
  ["lonely 5-byte starts", lonely(0xf8, 0xfc)],
  ["lonely 6-byte starts", lonely(0xfc, 0xfe)],
  ["2-byte, last byte missing (c0)", "c0"],
  ["3-byte, last byte missing (e0 80)", "e080"],
  ["4-byte, last byte missing (f0 80 80)", "f08080"],
  ["2-byte, last byte missing (df)", "df"],
  ["3-byte, last byte missing (ef bf)", "efbf"],
  ["4-byte, last byte missing (f4 8f bf)", "f48fbf"],
  [
    "concatenated incomplete sequences",
    "c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf",
  ],
  ["impossible fe", "fe"],
  ["impossible ff", "ff"],
  ["impossible fe fe ff ff", "fefeffff"],
  ["overlong / (2 bytes)", "c0af"],
  ["overlong / (3 bytes)", "e080af"],
  ["overlong / (4 bytes)", "f08080af"],
  ["overlong / (5 bytes)", "f8808080af"],
  ["maximum overlong (2 bytes)", "c1bf"],
  ["maximum overlong (3 bytes)", "e09fbf"],
  ["maximum overlong (4 bytes)", "f08fbfbf"],
  ["overlong NUL (2 bytes)", "c080"],
  ["overlong NUL (3 bytes)", "e08080"],
  ["overlong NUL (4 bytes)", "f0808080"],
  ["surrogate U+D800", "eda080"],
  ["surrogate U+DB7F", "edadbf"],
  ["surrogate U+DB80", "edae80"],
  ["surrogate U+DBFF", "edafbf"],
  ["surrogate U+DC00", "edb080"],
  ["surrogate U+DF80", "edbe80"],
  ["surrogate U+DFFF", "edbfbf"],
  ["surrogate pair U+D800 U+DC00", "eda080edb080"],
  ["surrogate pair U+DBFF U+DFFF", "edafbfedbfbf"],
  ["noncharacter U+FFFE", "efbfbe"],
  ["noncharacter U+FFFF", "efbfbf"],
  ["noncharacter U+1FFFE", "f09fbfbe"],
  ["noncharacter U+10FFFF", "f48fbfbf"],
  ["specials U+FFF9..U+FFFC", "efbfb9efbfbaefbfbbefbfbc"],
  ["a byte order mark first", "efbbbf41"],
  ["valid, then a surrogate mid-message", "cebae1bdb9cf83cebcceb5eda080656469746564"],
];

function range(from: number, to: number): string {
  return toHex(Uint8Array.from({ length: to - from }, (_, i) => from + i));
}

function lonely(from: number, to: number): string {
  return toHex(Uint8Array.from({ length: 2 * (to - from) }, (_, i) => i % 2 ? 0x20 : from + i / 2));
}

group("6 UTF-8: every vector whole, in 1-byte fragments, and failed fast", async (t, port) => {
  for (const [name, hex] of UTF8_VECTORS) {
    const bytes = fromHex(hex);
    const failAt = utf8FailIndex(bytes);
    const valid = failAt === -1;
    const outcome = valid ? "echoed byte for byte" : "→ 1007";
    await t.step(`${name} in one frame is ${outcome}`, async () => {
      await session(port, async (client) => {
        await client.write(text(bytes));
        if (!valid) return await expectFailure(client, 1007);
        await expectFrames(client, [expect(OPCODE.Text, bytes)]);
        await expectCleanClose(client);
      });
    });
    await t.step(`${name} in 1-byte fragments is ${outcome}`, async () => {
      await session(port, async (client) => {
        const frames = Array.from(
          bytes,
          (byte, i) =>
            frame(i === 0 ? OPCODE.Text : OPCODE.Continuation, [byte], {
              fin: i === bytes.length - 1,
            }),
        );
        await client.write(concat(frames));
        if (!valid) return await expectFailure(client, 1007);
        await expectFrames(client, [expect(OPCODE.Text, bytes)]);
        await expectCleanClose(client);
      });
    });
    if (!valid && failAt < bytes.length) {
      await t.step(`${name}: 1007 as soon as byte ${failAt} arrives, before FIN`, async () => {
        await session(port, async (client) => {
          // The frame announces more bytes than are ever sent.
          const whole = frame(OPCODE.Text, concat([bytes, new Uint8Array(16)]));
          const header = whole.length - bytes.length - 16;
          await client.write(whole.subarray(0, header + failAt + 1));
          await expectFailure(client, 1007, [], 1000);
        });
      });
    }
  }
});

group("6 UTF-8: code points split across fragments and prefixes of κόσμε", async (t, port) => {
  const kosme = fromHex("cebae1bdb9cf83cebcceb5");
  for (let end = 1; end <= kosme.length; end++) {
    const prefix = kosme.subarray(0, end);
    const valid = utf8FailIndex(prefix) === -1;
    await t.step(
      `6.6.${end} the first ${end} bytes are ${valid ? "echoed" : "→ 1007"}`,
      async () => {
        await session(port, async (client) => {
          await client.write(text(prefix));
          if (!valid) return await expectFailure(client, 1007);
          await expectFrames(client, [expect(OPCODE.Text, prefix)]);
          await expectCleanClose(client);
        });
      },
    );
  }
  const sample = encoder.encode("Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞 €");
  await t.step("6.2.2/6.2.3 valid text split into two fragments at every byte", async () => {
    await session(port, async (client) => {
      const frames: Uint8Array[] = [];
      for (let cut = 0; cut <= sample.length; cut++) {
        frames.push(
          text(sample.subarray(0, cut), { fin: false }),
          continuation(sample.subarray(cut)),
        );
      }
      await client.write(concat(frames));
      await expectFrames(
        client,
        Array.from({ length: sample.length + 1 }, () => expect(OPCODE.Text, sample)),
      );
      await expectCleanClose(client);
    });
  });
  await t.step("6.2.4 valid text in one frame written one byte per write", async () => {
    await session(port, async (client) => {
      await sendChopped(client, text(sample), 1);
      await expectFrames(client, [expect(OPCODE.Text, sample)]);
      await expectCleanClose(client);
    });
  });
  await t.step("a 4-byte code point cut before its end at a final fragment → 1007", async () => {
    await session(port, async (client) => {
      await client.write(concat([text([0xf0, 0x9d], { fin: false }), continuation([0x84])]));
      await expectFailure(client, 1007);
    });
  });
  const part1 = [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5];
  const part2 = [0xf4, 0x90, 0x80, 0x80];
  const part3 = [0x65, 0x64, 0x69, 0x74, 0x65, 0x64];
  const cases: [string, Payload[]][] = [
    ["6.4.1 in three fragments", [part1, part2, part3]],
    ["6.4.2 in three fragments split at the offending byte", [
      [...part1, 0xf4],
      [0x90],
      [0x80, 0x80, ...part3],
    ]],
  ];
  for (const [name, parts] of cases) {
    await t.step(`${name}: 1007 after the second fragment, before the third`, async () => {
      await session(port, async (client) => {
        await client.write(text(parts[0]!, { fin: false }));
        await pause(50);
        await client.write(continuation(parts[1]!, { fin: false }));
        await expectFailure(client, 1007, [], 1000);
      });
    });
  }
  const chopCases: [string, number[][]][] = [
    ["6.4.3 in three chops of one frame", [part1, part2, part3]],
    ["6.4.4 in three chops of one frame split at the offending byte", [
      [...part1, 0xf4],
      [0x90],
      [0x80, 0x80, ...part3],
    ]],
  ];
  for (const [name, parts] of chopCases) {
    await t.step(`${name}: 1007 after the second chop, before the third`, async () => {
      await session(port, async (client) => {
        const whole = text(parts.flat());
        const header = whole.length - parts.flat().length;
        const first = header + parts[0]!.length;
        await client.write(whole.subarray(0, first));
        await pause(50);
        await client.write(whole.subarray(first, first + parts[1]!.length));
        await expectFailure(client, 1007, [], 1000);
      });
    });
  }
});

// ---------------------------------------------------------------------------
// 7 Close

group("7 close: the closing handshake, close payloads, codes and reasons", async (t, port) => {
  await t.step(
    "7.1.1 a message, then close (frame by frame): echo, then clean close",
    async () => {
      await session(port, async (client) => {
        await client.write(text("Hello World!"));
        await pause();
        await expectCleanClose(client, 1000, [expect(OPCODE.Text, "Hello World!")]);
      });
    },
  );
  await t.step({
    name: "7.1.1 a message, then close (one write): echo, then clean close",
    fn: async () => {
      await session(port, async (client) => {
        await client.write(concat([text("Hello World!"), close(1000)]));
        const closing = await readUntilClose(client);
        assertEquals(closing.frames, [expect(OPCODE.Text, "Hello World!")]);
        assertEquals(closing.code, 1000);
      });
    },
  });
  await t.step("7.1.2 two close frames: one clean close, the second ignored", async () => {
    await session(port, async (client) => {
      await client.write(concat([close(1000), close(1000)]));
      const closing = await readUntilClose(client);
      assertEquals(closing.code, 1000);
      assertEquals(await framesUntilEnd(client), []);
    });
  });
  await t.step("7.1.3 close, then a ping: no pong", async () => {
    await session(port, async (client) => {
      await client.write(concat([close(1000), ping("after close")]));
      assertEquals((await readUntilClose(client)).frames, []);
      assertEquals(await framesUntilEnd(client), []);
    });
  });
  await t.step("7.1.4 close, then a message: not echoed", async () => {
    await session(port, async (client) => {
      await client.write(close(1000));
      await client.write(text("after close")).catch(() => {});
      assertEquals((await readUntilClose(client)).frames, []);
      assertEquals(await framesUntilEnd(client), []);
    });
  });
  await t.step("7.1.5 fragment, close, last fragment: clean close, nothing echoed", async () => {
    await session(port, async (client) => {
      await client.write(
        concat([text("fragment1", { fin: false }), close(1000), continuation("fragment2")]),
      );
      const closing = await readUntilClose(client);
      assertEquals([closing.frames, closing.code], [[], 1000]);
      assertEquals(await framesUntilEnd(client), []);
    });
  });
  await t.step("7.1.6 256 KiB of text, close, ping: no pong after the close", async () => {
    await session(port, async (client) => {
      await client.write(concat([text(asciiPattern(256 * 1024)), close(1000), ping("after")]));
      const closing = await readUntilClose(client);
      assertEquals(closing.code, 1000);
      assert(closing.frames.every((f) => f.startsWith("text")), `${closing.frames}`);
      assertEquals(await framesUntilEnd(client), []);
    });
  });
  await t.step("7.3.1 an empty close payload: the server closes cleanly", async () => {
    await session(port, async (client) => {
      await client.write(close());
      const closing = await readUntilClose(client);
      assert([1000, 1005].includes(closing.code), `close code ${closing.code}`);
      assert(await client.waitEnd(2000));
    });
  });
  await t.step("7.3.2 a close payload of 1 byte → 1002", async () => {
    await session(port, async (client) => {
      await client.write(frame(OPCODE.Close, [0x03]));
      await expectFailure(client, 1002);
    });
  });
  await t.step("7.3.3 close with a code only", async () => {
    await session(port, async (client) => {
      await expectCleanClose(client, 1000);
    });
  });
  await t.step("7.3.4 close with a code and a reason", async () => {
    await session(port, async (client) => {
      await client.write(close(1000, "Hello World!"));
      assertEquals((await readUntilClose(client)).code, 1000);
      assert(await client.waitEnd(2000));
    });
  });
  await t.step("7.3.5 close with a 123-byte reason (125-byte payload)", async () => {
    await session(port, async (client) => {
      await client.write(close(1000, "*".repeat(123)));
      assertEquals((await readUntilClose(client)).code, 1000);
      assert(await client.waitEnd(2000));
    });
  });
  await t.step("7.3.6 close with a 124-byte reason (126-byte payload) → 1002", async () => {
    await session(port, async (client) => {
      await client.write(close(1000, "*".repeat(124)));
      await expectFailure(client, 1002);
    });
  });
  await t.step("7.5.1 a close reason that is not UTF-8 → 1007", async () => {
    await session(port, async (client) => {
      await client.write(
        close(1000, fromHex("cebae1bdb9cf83cebcceb5eda0806564")),
      );
      await expectFailure(client, 1007);
    });
  });
  await t.step("a close reason that ends in a truncated code point → 1007", async () => {
    await session(port, async (client) => {
      await client.write(close(1000, [0x6f, 0x6b, 0xe2, 0x82]));
      await expectFailure(client, 1007);
    });
  });
  await t.step("a close frame split across two writes (8806 | 03e8 444f4e45)", async () => {
    await session(port, async (client) => {
      const bytes = frame(OPCODE.Close, [0x03, 0xe8, 0x44, 0x4f, 0x4e, 0x45]);
      await client.write(bytes.subarray(0, 2));
      await pause();
      await client.write(bytes.subarray(2));
      assertEquals((await readUntilClose(client)).code, 1000);
      assert(await client.waitEnd(2000));
    });
  });
  // Valid: RFC 6455 §7.4.1, the IANA registry (1012 Service Restart, 1013
  // Try Again Later, 1014 Bad Gateway) and 3000–4999. Autobahn 7.7.x.
  const rfc6455 = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011];
  const valid = [...rfc6455, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
  for (const [i, code] of valid.entries()) {
    await t.step(`7.7.${i + 1} close code ${code} is valid: echoed, clean close`, async () => {
      await session(port, async (client) => {
        await expectCleanClose(client, code);
      });
    });
  }
  // Invalid: unused (0–999), reserved (1004), local-only (1005, 1006,
  // 1015), unassigned (1016–2999) and undefined (5000+). Autobahn 7.9.x, 7.13.x.
  const invalid = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
  for (const [i, code] of invalid.entries()) {
    await t.step(`7.9.${i + 1} close code ${code} is invalid → 1002`, async () => {
      await session(port, async (client) => {
        await client.write(close(code));
        await expectFailure(client, 1002);
      });
    });
  }
});

Deno.test({
  name: "7 close: after failing the connection the server ends TCP without waiting for the peer",
  fn: async () => {
    await withServer({ closeTimeout: 3000 }, echo, async (_server, port) => {
      await session(port, async (client) => {
        await client.write(ping(pattern(126)));
        await expectFailure(client, 1002);
        await client.write(close(1002));
        const started = Date.now();
        assert(await client.waitEnd(2500), "the server should end TCP");
        assert(Date.now() - started < 1000, `ended after ${Date.now() - started} ms`);
      });
    });
  },
});

// ---------------------------------------------------------------------------
// 9 Large messages, 10 auto-fragmentation

group("9 large messages: up to 16 MiB, in one frame, many frames and chops", async (t, port) => {
  const big = (size: number, opcode: number) =>
    opcode === OPCODE.Text ? encoder.encode(asciiPattern(size)) : pattern(size, 11);
  for (const [group, opcode] of [["9.1", OPCODE.Text], ["9.2", OPCODE.Binary]] as const) {
    for (const [i, size] of [64 * 1024, 256 * 1024, MiB, 4 * MiB, 8 * MiB, 16 * MiB].entries()) {
      await t.step(
        `${group}.${i + 1} ${OPCODE_NAME[opcode]} of ${size / 1024} KiB in one frame`,
        async () => {
          await session(port, async (client) => {
            const payload = big(size, opcode);
            await client.write(frame(opcode, payload));
            assertPayload(await client.nextFrame(10_000), opcode, payload);
            await expectCleanClose(client);
          });
        },
      );
    }
  }
  for (const [group, opcode] of [["9.3", OPCODE.Text], ["9.4", OPCODE.Binary]] as const) {
    for (const [i, size] of [64, 4096, 65536, MiB].entries()) {
      await t.step(
        `${group}.${i + 1} 4 MiB of ${OPCODE_NAME[opcode]} in ${size}-byte frames`,
        async () => {
          await session(port, async (client) => {
            const payload = big(4 * MiB, opcode);
            const frames: Uint8Array[] = [];
            for (let at = 0; at < payload.length; at += size) {
              frames.push(
                frame(at === 0 ? opcode : OPCODE.Continuation, payload.subarray(at, at + size), {
                  fin: at + size >= payload.length,
                }),
              );
            }
            await client.write(concat(frames));
            assertPayload(await client.nextFrame(10_000), opcode, payload);
            await expectCleanClose(client);
          });
        },
      );
    }
  }
  for (const [group, opcode] of [["9.5", OPCODE.Text], ["9.6", OPCODE.Binary]] as const) {
    for (const [i, chop] of [64, 2048, 65536].entries()) {
      await t.step(
        `${group}.${i + 1} 1 MiB of ${OPCODE_NAME[opcode]} in ${chop}-byte chops`,
        async () => {
          await session(port, async (client) => {
            const payload = big(MiB, opcode);
            await sendChopped(client, frame(opcode, payload), chop);
            assertPayload(await client.nextFrame(10_000), opcode, payload);
            await expectCleanClose(client);
          });
        },
      );
    }
  }
  for (const [group, opcode] of [["9.7", OPCODE.Text], ["9.8", OPCODE.Binary]] as const) {
    await t.step(
      `${group} 1000 ${OPCODE_NAME[opcode]} round trips of 0 to 4096 bytes`,
      async () => {
        await session(port, async (client) => {
          for (const size of [0, 16, 64, 256, 1024, 4096]) {
            const payload = big(size, opcode);
            for (let i = 0; i < 1000 / 6; i++) {
              await client.write(frame(opcode, payload));
              assertPayload(await client.nextFrame(), opcode, payload);
            }
          }
          await expectCleanClose(client);
        });
      },
    );
  }
  await t.step("16 MiB + 1 byte → 1009, before the payload is sent", async () => {
    await session(port, async (client) => {
      await client.write(binary("", { declaredLength: 16 * MiB + 1 }));
      await expectFailure(client, 1009, [], 1000);
    });
  });
  await t.step(
    "fragments summing past 16 MiB → 1009 at the fragment that crosses it",
    async () => {
      await session(port, async (client) => {
        await client.write(binary(pattern(8 * MiB), { fin: false }));
        await client.write(continuation("", { fin: false, declaredLength: 8 * MiB + 1 }));
        await expectFailure(client, 1009, [], 2000);
      });
    },
  );
});

group(
  "10 auto-fragmentation: a message in many small fragments is echoed whole",
  async (t, port) => {
    await t.step("10.1.1 64 KiB of text in 1300-byte fragments", async () => {
      await session(port, async (client) => {
        const payload = encoder.encode(asciiPattern(65536));
        const frames: Uint8Array[] = [];
        for (let at = 0; at < payload.length; at += 1300) {
          frames.push(
            frame(at === 0 ? OPCODE.Text : OPCODE.Continuation, payload.subarray(at, at + 1300), {
              fin: at + 1300 >= payload.length,
            }),
          );
        }
        await client.write(concat(frames));
        assertPayload(await client.nextFrame(), OPCODE.Text, payload);
        await expectCleanClose(client);
      });
    });
    await t.step("multi-byte text in 1-byte fragments, each code point split", async () => {
      await session(port, async (client) => {
        const payload = encoder.encode("κόσμε 𝄞 € ".repeat(200));
        const frames = Array.from(
          payload,
          (byte, i) =>
            frame(i === 0 ? OPCODE.Text : OPCODE.Continuation, [byte], {
              fin: i === payload.length - 1,
            }),
        );
        await client.write(concat(frames));
        assertPayload(await client.nextFrame(), OPCODE.Text, payload);
        await expectCleanClose(client);
      });
    });
  },
);

// ---------------------------------------------------------------------------
// Opening handshake

/** Sends a request and reads the response head (the connection stays open for a 101). */
async function handshake(port: number, request: string | Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(typeof request === "string" ? encoder.encode(request) : request);
    let head = "";
    const buffer = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      head += decoder.decode(buffer.subarray(0, n));
    }
    return head;
  } finally {
    conn.close();
  }
}

function request(lines: string[], target = "/"): string {
  return `GET ${target} HTTP/1.1\r\n` + lines.map((line) => line + "\r\n").join("") + "\r\n";
}

function baseLines(port: number): string[] {
  return [
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
  ];
}

function without(lines: string[], name: string): string[] {
  return lines.filter((line) => !line.toLowerCase().startsWith(name.toLowerCase() + ":"));
}

function replace(lines: string[], name: string, value: string): string[] {
  return [...without(lines, name), `${name}: ${value}`];
}

group("opening handshake: accepted requests (RFC 6455 §4.2)", async (t, port) => {
  const lines = baseLines(port);
  await t.step(
    "the §1.3 key gets 101 with Sec-WebSocket-Accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    async () => {
      const head = await handshake(port, request(lines));
      assert(head.startsWith("HTTP/1.1 101 Switching Protocols\r\n"), head);
      assertMatchHeader(head, "upgrade", "websocket");
      assertMatchHeader(head, "connection", "upgrade");
      assertMatchHeader(head, "sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    },
  );
  const accepted: [string, string][] = [
    [
      "header names in any case",
      request(lines.map((l) => l.replace(/^[^:]+/, (n) => n.toUpperCase()))),
    ],
    [
      "Upgrade: WebSocket (case-insensitive value)",
      request(replace(lines, "Upgrade", "WebSocket")),
    ],
    [
      "Connection: keep-alive, Upgrade (a token list)",
      request(replace(lines, "Connection", "keep-alive, Upgrade")),
    ],
    [
      "whitespace around values",
      request(replace(lines, "Sec-WebSocket-Key", "  dGhlIHNhbXBsZSBub25jZQ==\t")),
    ],
    ["headers in another order", request([...lines].reverse())],
    ["a path and a query", request(lines, "/chat?room=1&x=%20")],
    [
      "an absolute-form target (RFC 6455 §4.2.1, RFC 9112 §3.2.2)",
      request(lines, `http://127.0.0.1:${port}/chat`),
    ],
    [
      "the server's own Origin (its host and port those of Host)",
      request([...lines, `Origin: http://127.0.0.1:${port}`]),
    ],
    ["bare LF line endings", request(lines).replaceAll("\r\n", "\n")],
  ];
  for (const [name, raw] of accepted) {
    await t.step(`${name} → 101`, async () => {
      const head = await handshake(port, raw);
      assert(head.startsWith("HTTP/1.1 101 "), head.split("\r\n")[0]);
      assertMatchHeader(head, "sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    });
  }
  await t.step(
    "unsupported subprotocols and extensions are not echoed; permessage-deflate is accepted",
    async () => {
      const head = await handshake(
        port,
        request([
          ...lines,
          "Sec-WebSocket-Protocol: chat, superchat",
          "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
        ]),
      );
      assert(head.startsWith("HTTP/1.1 101 "), head);
      assert(!/sec-websocket-protocol/i.test(head), head);
      assertMatchHeader(
        head,
        "sec-websocket-extensions",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
      );
    },
  );
  await t.step("the request written one byte at a time → 101", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const bytes = encoder.encode(request(lines));
      for (let i = 0; i < bytes.length; i++) await conn.write(bytes.subarray(i, i + 1));
      const buffer = new Uint8Array(1024);
      const n = await conn.read(buffer);
      assert(decoder.decode(buffer.subarray(0, n ?? 0)).startsWith("HTTP/1.1 101 "));
    } finally {
      conn.close();
    }
  });
  await t.step("frames sent with the request are handled after the 101", async () => {
    const client = await RawClient.connect(port, {
      pipelined: concat([text("first"), text("second")]),
    });
    try {
      await expectFrames(client, [expect(OPCODE.Text, "first"), expect(OPCODE.Text, "second")]);
      await expectCleanClose(client);
    } finally {
      client.close();
    }
  });
});

function assertMatchHeader(head: string, name: string, value: string): void {
  const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(name + ":"));
  assert(line !== undefined, `no ${name} header in ${head}`);
  assertEquals(line.slice(name.length + 1).trim().toLowerCase(), value.toLowerCase());
}

group("opening handshake: refused requests get their status and close", async (t, port) => {
  const lines = baseLines(port);
  const refused: [string, string, number, string?][] = [
    ["POST", request(lines).replace("GET", "POST"), 405, "Allow: GET"],
    ["HEAD", request(lines).replace("GET", "HEAD"), 405],
    ["HTTP/1.0", request(lines).replace("HTTP/1.1", "HTTP/1.0"), 400],
    ["no Host", request(without(lines, "Host")), 400],
    ["two Host headers", request([...lines, "Host: other"]), 400],
    ["Upgrade: h2c", request(replace(lines, "Upgrade", "h2c")), 400],
    ["no Connection: Upgrade", request(replace(lines, "Connection", "keep-alive")), 400],
    ["no Sec-WebSocket-Key", request(without(lines, "Sec-WebSocket-Key")), 400],
    [
      "a key of 15 bytes",
      request(replace(lines, "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")),
      400,
    ],
    [
      "a key that is not base64",
      request(replace(lines, "Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==")),
      400,
    ],
    ["two keys", request([...lines, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]), 400],
    [
      "no Sec-WebSocket-Version",
      request(without(lines, "Sec-WebSocket-Version")),
      426,
      "Sec-WebSocket-Version: 13",
    ],
    [
      "Sec-WebSocket-Version: 8",
      request(replace(lines, "Sec-WebSocket-Version", "8")),
      426,
      "Sec-WebSocket-Version: 13",
    ],
    [
      "a malformed subprotocol list",
      request([...lines, "Sec-WebSocket-Protocol: a b"]),
      400,
    ],
    ["a header line without a colon", request([...lines, "NoColon"]), 400],
    ["an obs-fold continuation line", request([...lines, " folded"]), 400],
    ["a NUL in a header value", request([...lines, "X-Nul: a\x00b"]), 400],
    ["a target that is not a path", request(lines, "chat"), 400],
    [
      "an Origin of another host (no origins configured)",
      request([...lines, "Origin: http://example.com"]),
      403,
    ],
    ["Origin: null", request([...lines, "Origin: null"]), 403],
    ["64 KiB of headers", request([...lines, `X-Big: ${"a".repeat(64 * 1024)}`]), 431],
    [
      "200 header fields",
      request([...lines, ...Array.from({ length: 200 }, (_, i) => `X-${i}: ${i}`)]),
      431,
    ],
  ];
  for (const [name, raw, status, header] of refused) {
    await t.step(`${name} → ${status}`, async () => {
      const response = await rawHttp(port, raw);
      assert(response.startsWith(`HTTP/1.1 ${status} `), response.split("\r\n")[0]);
      assertStringIncludes(response, "Connection: close");
      if (header !== undefined) assertStringIncludes(response, header);
    });
  }
  await t.step("a TLS ClientHello is refused with 400", async () => {
    const response = await rawHttp(
      port,
      fromHex("16030100a5010000a10303" + "00".repeat(32) + "0d0a0d0a"),
    );
    assert(response.startsWith("HTTP/1.1 400 "), response.split("\r\n")[0]);
  });
  await t.step("the connection is closed after a refusal", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode(request(without(lines, "Host"))));
    const started = Date.now();
    const all = await readAll(conn, 2000);
    assert(decoder.decode(all).startsWith("HTTP/1.1 400 "));
    assert(Date.now() - started < 1500, "the server ends the connection itself");
    try {
      conn.close();
    } catch {
      // Closed by readAll's timer.
    }
  });
});

// ---------------------------------------------------------------------------
// The same groups against examples/echo.ts, the server the suites drive

Deno.test("examples/echo.ts, run as a child process, passes every group", async (t) => {
  await withEchoExample(async (port) => {
    for (const [name, body] of GROUPS) await t.step(name, (t) => body(t, port));
  });
});

const REPO = new URL("../", import.meta.url);

/** Runs `deno run -N examples/echo.ts --port 0` for the length of `fn`. */
async function withEchoExample(fn: (port: number) => Promise<void>): Promise<void> {
  // The child resolves @std the way this test run does (JSR or the offline fallback).
  const fallback = new URL(".ci/std/", REPO);
  const importMap = import.meta.resolve("@std/cli").startsWith(fallback.href)
    ? [`--import-map=${new URL("import_map.json", fallback).pathname}`]
    : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-N", ...importMap, new URL("examples/echo.ts", REPO).pathname, "--port", "0"],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let first = "";
    while (!first.includes("\n")) {
      const next = await lines.read();
      if (next.done) throw new Error(`examples/echo.ts exited after printing: ${first}`);
      first += next.value;
    }
    const port = Number(first.match(/localhost:(\d+)\//)?.[1]);
    assert(port > 0, `no port in: ${first}`);
    await fn(port);
  } finally {
    clearTimeout(killer);
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await lines.cancel();
    await child.status;
  }
}
