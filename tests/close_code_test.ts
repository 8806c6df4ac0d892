import { assertEquals } from "@std/assert";
import { CLOSE_CODE, isValidCloseCode } from "../src/protocol/close_code.ts";

const VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
const PRIVATE = [3000, 3001, 3999, 4000, 4001, 4999];
const INVALID = [
  -1,
  0,
  1,
  999,
  1004,
  1005,
  1006,
  1015,
  1016,
  1100,
  2000,
  2999,
  5000,
  65535,
  1000.5,
  NaN,
  Infinity,
];

Deno.test("isValidCloseCode() accepts the codes that may be sent", async (t) => {
  for (const code of [...VALID, ...PRIVATE]) {
    await t.step(`${code}`, () => {
      assertEquals(isValidCloseCode(code), true);
    });
  }
});

Deno.test("isValidCloseCode() refuses reserved, local-only and out-of-range codes", async (t) => {
  for (const code of INVALID) {
    await t.step(`${code}`, () => {
      assertEquals(isValidCloseCode(code), false);
    });
  }
});

Deno.test("CLOSE_CODE names the codes of RFC 6455 §7.4 and the IANA registry", async (t) => {
  const cases: [keyof typeof CLOSE_CODE, number, boolean][] = [
    ["NormalClosure", 1000, true],
    ["GoingAway", 1001, true],
    ["ProtocolError", 1002, true],
    ["UnsupportedData", 1003, true],
    ["NoStatusReceived", 1005, false],
    ["AbnormalClosure", 1006, false],
    ["InvalidPayloadData", 1007, true],
    ["PolicyViolation", 1008, true],
    ["MessageTooBig", 1009, true],
    ["MandatoryExtension", 1010, true],
    ["InternalError", 1011, true],
    ["ServiceRestart", 1012, true],
    ["TryAgainLater", 1013, true],
    ["BadGateway", 1014, true],
    ["TlsHandshake", 1015, false],
  ];
  assertEquals(Object.keys(CLOSE_CODE).length, cases.length);
  for (const [name, code, sendable] of cases) {
    await t.step(`${name} is ${code}${sendable ? "" : ", never sent"}`, () => {
      assertEquals(CLOSE_CODE[name], code);
      assertEquals(isValidCloseCode(code), sendable);
    });
  }
});
