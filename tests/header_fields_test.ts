import { assertEquals } from "@std/assert";
import { HeaderFields } from "../src/protocol/header_fields.ts";
import { RequestHeadParser } from "../src/protocol/http_head.ts";

const encoder = new TextEncoder();

Deno.test("HeaderFields answers as the Map it was made from, in the same order", () => {
  const map = new Map([["host", "a.example"], ["x-one", "1"], ["cookie", "a=1; b=2"]]);
  const fields = new HeaderFields(map);
  assertEquals(fields.size, 3);
  assertEquals(fields.get("x-one"), "1");
  assertEquals(fields.get("X-One"), undefined, "names are looked up as given (lower case)");
  assertEquals(fields.has("cookie"), true);
  assertEquals(fields.has("origin"), false);
  assertEquals([...fields], [...map]);
  assertEquals([...fields.entries()], [...map.entries()]);
  assertEquals([...fields.keys()], [...map.keys()]);
  assertEquals([...fields.values()], [...map.values()]);
  const seen: string[] = [];
  fields.forEach(function (this: unknown, value, name, self) {
    seen.push(`${name}=${value} ${self === fields} ${this}`);
  }, "t");
  assertEquals(seen, ["host=a.example true t", "x-one=1 true t", "cookie=a=1; b=2 true t"]);
  assertEquals(new HeaderFields(new Map()).size, 0);
});

Deno.test("a parsed head's headers: lower-case names, repeated fields joined, the 100th line found", () => {
  const lines = Array.from({ length: 97 }, (_, i) => `X-Field-${i}: v${i}\r\n`).join("");
  const head = new RequestHeadParser().push(encoder.encode(
    `GET / HTTP/1.1\r\nHost: a\r\n${lines}Accept: x\r\nACCEPT: y\r\n\r\n`,
  ))!;
  assertEquals(head.headers.size, 99);
  assertEquals(head.headers.get("host"), "a");
  assertEquals(head.headers.get("accept"), "x, y");
  assertEquals(head.headers.get("x-field-96"), "v96");
  assertEquals([...head.headers.keys()].slice(0, 2), ["host", "x-field-0"]);
});
