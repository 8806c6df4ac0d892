import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { decodeClosePayload } from "../src/protocol/close_frame.ts";
import {
  type CloseAction,
  type ClosePhase,
  ClosingHandshake,
} from "../src/server/closing_handshake.ts";
import { fromHex } from "./_raw_client.ts";

// Each row: a step, the action it returns, and the phase after it.
type Step = [(handshake: ClosingHandshake) => CloseAction, CloseAction, ClosePhase];

const TRANSITIONS: {
  name: string;
  steps: Step[];
  result: { code: number; reason: string; wasClean: boolean };
  cause: string;
}[] = [
  {
    name: "this side closes first; the peer answers",
    steps: [
      [(h) => h.close(4000, "bye"), "send", "closing"],
      [(h) => h.drained(), "none", "closing"],
      [(h) => h.peerClosed(4000, "ok"), "drain", "draining"],
      [(h) => h.drained(), "end", "draining"],
    ],
    result: { code: 4000, reason: "ok", wasClean: true },
    cause: "local",
  },
  {
    name: "the peer closes first; the owed echo is paid",
    steps: [
      [(h) => h.peerClosed(1001, "away"), "owe", "owed"],
      [(h) => h.pay(), "send", "draining"],
      [(h) => h.pay(), "none", "draining"],
      [(h) => h.drained(), "end", "draining"],
    ],
    result: { code: 1001, reason: "away", wasClean: true },
    cause: "peer",
  },
  {
    name: "a protocol error: close, then half-close",
    steps: [
      [(h) => h.failed(1002, "bad frame"), "owe", "owed"],
      [(h) => h.pay(), "send", "draining"],
      [(h) => h.drained(), "half-close", "draining"],
    ],
    result: { code: 1002, reason: "bad frame", wasClean: false },
    cause: "protocol-error",
  },
  {
    name: "a protocol error after this side closed",
    steps: [
      [(h) => h.close(1000, ""), "send", "closing"],
      [(h) => h.failed(1002, "bad frame"), "drain", "draining"],
      [(h) => h.drained(), "half-close", "draining"],
    ],
    result: { code: 1000, reason: "", wasClean: false },
    cause: "local",
  },
  {
    name: "close() while a close is owed sends the application's frame",
    steps: [
      [(h) => h.peerClosed(1000, ""), "owe", "owed"],
      [(h) => h.close(4001, "app"), "send", "draining"],
      [(h) => h.pay(), "none", "draining"],
      [(h) => h.close(4002, "again"), "none", "draining"],
    ],
    result: { code: 1000, reason: "", wasClean: true },
    cause: "peer",
  },
  {
    name: "an abort",
    steps: [[(h) => h.abort(1008, "slow consumer: outbox full", "slow-consumer"), "end", "open"]],
    result: { code: 1008, reason: "slow consumer: outbox full", wasClean: false },
    cause: "slow-consumer",
  },
  {
    name: "the connection ends first",
    steps: [],
    result: { code: 1006, reason: "", wasClean: false },
    cause: "connection-lost",
  },
];

Deno.test("ClosingHandshake moves through its phases without I/O", async (t) => {
  for (const { name, steps, result, cause } of TRANSITIONS) {
    await t.step(name, () => {
      const handshake = new ClosingHandshake();
      for (const [step, action, phase] of steps) {
        assertEquals([step(handshake), handshake.phase], [action, phase]);
      }
      assertEquals(handshake.end(), result);
      assertEquals(handshake.phase, "closed");
      assertEquals(handshake.cause, cause);
    });
  }
});

Deno.test("ClosingHandshake maps its phases to the socket's state", () => {
  const handshake = new ClosingHandshake();
  const seen = () => [handshake.state, handshake.sending, handshake.reading];
  assertEquals(seen(), ["open", true, true]);
  handshake.peerClosed(1000, "");
  assertEquals(seen(), ["open", true, false], "owed: replies may still go out");
  handshake.pay();
  assertEquals(seen(), ["closing", false, false]);
  handshake.end();
  assertEquals(seen(), ["closed", false, false]);
});

Deno.test("ClosingHandshake payloads: the echo, none for 1005, an error cut to 123 bytes", () => {
  const echo = new ClosingHandshake();
  echo.peerClosed(4000, "a reason not echoed");
  echo.pay();
  assertEquals(echo.payload, fromHex("0fa0"));
  const empty = new ClosingHandshake();
  empty.peerClosed(CLOSE_CODE.NoStatusReceived, "");
  empty.pay();
  assertEquals(empty.payload.length, 0);
  const long = new ClosingHandshake();
  long.failed(1002, "é".repeat(100));
  long.pay();
  const { code, reason } = decodeClosePayload(long.payload);
  assertEquals(code, 1002);
  assert(long.payload.length <= 125);
  assertStrictEquals(reason, "é".repeat(60) + "...");
});
