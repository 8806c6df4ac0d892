/**
 * `POST /publish` of the push server against retries and faults, end to end
 * on loopback: an `Idempotency-Key` makes a retry answer the first id, an
 * engine that cannot answer gets 503 with what is known of the outcome, and
 * a cross-site page cannot publish without a token.
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { withPush } from "./_push.ts";
import { EngineUnavailableError, MemoryEngine } from "../src/push/engine.ts";

function post(port: number, headers: Record<string, string> = {}, body = "hello") {
  return fetch(`http://127.0.0.1:${port}/publish?topic=news`, {
    method: "POST",
    headers: { "Content-Type": "text/plain", ...headers },
    body,
  });
}

Deno.test("a retry with the same Idempotency-Key answers the first id and publishes nothing", async () => {
  await withPush({}, async (_push, port) => {
    const first = await (await post(port, { "Idempotency-Key": "order-17" })).json();
    const retry = await (await post(port, { "Idempotency-Key": "order-17" })).json();
    const other = await (await post(port, { "Idempotency-Key": "order-18" })).json();
    assertEquals(retry, { ...first, delivered: 0, repeated: true });
    assertEquals(first.repeated, undefined);
    assertEquals(Number(other.id.split(":")[1]), Number(first.id.split(":")[1]) + 1);
    const bad = await post(port, { "Idempotency-Key": "two words" });
    assertEquals(bad.status, 400);
    await bad.body?.cancel();
  });
});

/** A memory engine whose appends fail as a Redis that stopped answering would. */
class UnansweringEngine extends MemoryEngine {
  constructor(readonly outcomeUnknown: boolean) {
    super();
  }
  override appendNow(): never {
    throw new EngineUnavailableError("Redis did not answer within 2000 ms", {
      outcomeUnknown: this.outcomeUnknown,
    });
  }
}

Deno.test("an engine that timed out: 503 saying the outcome is unknown; one that refused: 503", async () => {
  for (const unknown of [true, false]) {
    await withPush({ engine: new UnansweringEngine(unknown) }, async (_push, port) => {
      const response = await post(port, { "Idempotency-Key": "k" });
      assertEquals(response.status, 503);
      assertEquals(response.headers.get("retry-after"), "1");
      const body = await response.text();
      if (unknown) {
        assertStringIncludes(body, "Outcome unknown");
        assertStringIncludes(body, "retry with the same Idempotency-Key");
      } else {
        assertStringIncludes(body, "Cannot publish: Redis did not answer");
      }
    });
  }
});

Deno.test("without a token, a cross-site page cannot publish; with one, the token decides", async () => {
  await withPush({}, async (_push, port) => {
    for (
      const headers of [
        { Origin: "https://evil.example" },
        { "Sec-Fetch-Site": "cross-site" },
      ]
    ) {
      const response = await post(port, headers);
      assertEquals(response.status, 403, JSON.stringify(headers));
      await response.body?.cancel();
    }
    const own = await post(port, { Origin: `http://127.0.0.1:${port}` });
    assertEquals(own.status, 200);
    await own.body?.cancel();
  });
  await withPush({ origins: ["https://app.example"] }, async (_push, port) => {
    const listed = await post(port, { Origin: "https://app.example" });
    assertEquals(listed.status, 200);
    await listed.body?.cancel();
  });
  await withPush({ publishToken: "t0k3n" }, async (_push, port) => {
    const response = await post(port, {
      Origin: "https://evil.example",
      Authorization: "Bearer t0k3n",
    });
    assertEquals(response.status, 200);
    await response.body?.cancel();
  });
});
