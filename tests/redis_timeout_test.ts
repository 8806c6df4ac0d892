/**
 * The Redis engine when Redis is up but does not answer (`DEBUG SLEEP`),
 * and when it is down: every call fails within `commandTimeout` with an
 * `EngineUnavailableError` that says whether an append may have been
 * applied; a retry with the same idempotency key then finds it. The test
 * starts its own `redis-server` that accepts `DEBUG` from loopback.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { EngineUnavailableError } from "../src/push/engine.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { Logger } from "../src/server/log.ts";
import { findRedisServer, freePort, redisTest } from "./_redis.ts";
import { until } from "./_server.ts";

const executable = await findRedisServer();

/** A redis-server that accepts DEBUG from loopback, stopped by the test. */
async function debuggableRedis(): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = freePort();
  const child = new Deno.Command(executable!, {
    args: [
      ...["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      ...["--enable-debug-command", "local"],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    child.kill("SIGKILL");
    await child.status;
  };
  const deadline = Date.now() + 10_000;
  while (!(await answers(port, "PING", "+PONG"))) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error("redis-server did not start");
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { port, stop };
}

/** Sends one command on a new connection; whether the reply starts as expected. */
async function answers(port: number, line: string, expected: string): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false;
  }
  try {
    await conn.write(new TextEncoder().encode(`${line}\r\n`));
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith(expected);
  } finally {
    conn.close();
  }
}

/** How long a promise takes to settle, and its error. */
async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = Date.now();
  try {
    await promise;
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
  throw new Error("expected a rejection");
}

Deno.test({
  name: "RedisEngine: with Redis asleep, append, recover and watch fail within commandTimeout",
  ignore: executable === undefined,
  fn: async () => {
    const redis = await debuggableRedis();
    const lines: string[] = [];
    const logger = new Logger({ level: "debug", write: (line) => lines.push(line) });
    const engine = new RedisEngine({
      url: `redis://127.0.0.1:${redis.port}/0`,
      commandTimeout: 300,
      logger,
    });
    try {
      await engine.open();
      const before = await engine.append("t", "before");
      // Redis stops answering for 2 s; the commands already sent wait.
      const sleeping = answers(redis.port, "DEBUG SLEEP 2", "+OK");
      await new Promise((resolve) => setTimeout(resolve, 100));

      const append = await timed(engine.append("t", "during", { idempotencyKey: "k1" }));
      assert(append.error instanceof EngineUnavailableError, String(append.error));
      assertEquals(append.error.outcomeUnknown, true);
      assertStringIncludes(append.error.message, "did not answer within 300 ms");
      assert(append.ms >= 250 && append.ms < 1500, `append failed after ${append.ms} ms`);

      const recover = await timed(engine.recover("u", before.id));
      assert(recover.error instanceof EngineUnavailableError);
      assertEquals(recover.error.outcomeUnknown, false);
      assert(recover.ms < 1500, `recover failed after ${recover.ms} ms`);

      const watch = await timed(engine.watch("w"));
      assert(watch.error instanceof EngineUnavailableError);
      assert(watch.ms < 1500, `watch failed after ${watch.ms} ms`);
      assertEquals([...engine.watched()], []);

      assert(await sleeping, "DEBUG SLEEP answered once Redis woke up");
      // The append that timed out was applied after all: a retry with the
      // same key gets it back instead of a second message.
      const retry = await engine.append("t", "during", { idempotencyKey: "k1" });
      assertEquals([retry.repeated, retry.id.seq, retry.payload], [
        true,
        before.id.seq + 1,
        "during",
      ]);
      const recovery = await engine.recover("t", before.id);
      assertEquals(recovery.messages.map((m) => m.payload), ["during"]);

      const timeouts = engine.metrics().find((m) =>
        m.name === "pushwire_redis_command_timeouts_total"
      );
      assert(timeouts!.samples[0]!.value >= 3);
      assert(lines.some((line) => line.includes('"event":"redis-command-timeout"')));
    } finally {
      await engine.close();
      await redis.stop();
    }
  },
});

redisTest(
  "RedisEngine: with Redis down, an append is refused at once, nothing appended",
  async (redis) => {
    const lines: string[] = [];
    const logger = new Logger({ level: "info", write: (line) => lines.push(line) });
    const engine = new RedisEngine({ url: redis.url, logger });
    try {
      await engine.open();
      await engine.watch("t");
      await redis.stop();
      await until(() => engine.metrics()[0]!.samples[0]!.value === 0, 5000, "Redis seen away");
      // One connection may see the loss a moment after the other: an append
      // sent on it meanwhile is lost in flight (its outcome unknown). Once
      // both know, an append is refused before anything is sent.
      let refused = await timed(engine.append("t", "x"));
      for (let i = 0; i < 50 && (refused.error as EngineUnavailableError).outcomeUnknown; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        refused = await timed(engine.append("t", "x"));
      }
      assert(refused.error instanceof EngineUnavailableError);
      assertEquals(refused.error.outcomeUnknown, false);
      assertStringIncludes(refused.error.message, "nothing was written");
      assert(refused.ms < 200, `refused after ${refused.ms} ms`);
      await assertRejects(
        () => engine.recover("t", { epoch: "e", seq: 0 }),
        EngineUnavailableError,
      );
      assert(lines.some((line) => line.includes('"event":"redis-connection-lost"')));

      await redis.restart();
      await until(
        () => lines.some((line) => line.includes('"event":"redis-connection-back"')),
        10_000,
        "the connection back, logged",
      );
    } finally {
      await engine.close();
    }
  },
);

Deno.test("RedisEngine refuses a negative or fractional commandTimeout", () => {
  let message = "";
  try {
    new RedisEngine({ commandTimeout: -1 });
  } catch (error) {
    message = (error as Error).message;
  }
  assertStringIncludes(message, "Invalid Redis engine commandTimeout");
});
