/**
 * Test helpers for Redis: a throwaway `redis-server` on a free loopback port
 * (no persistence), started and stopped by the test itself, and a test that
 * is skipped with a message when `redis-server` is not installed (an error
 * under `CI=true`: `.ci/run` installs Debian's `redis-server`).
 *
 * @module
 */

import type { EngineEvent } from "../src/push/engine.ts";
import { RedisEngine, type RedisEngineOptions } from "../src/push/redis_engine.ts";

const decoder = new TextDecoder();

/** Where Debian puts it; a `redis-server` on `PATH` is used otherwise. */
const CANDIDATES = ["/usr/bin/redis-server", "redis-server"];

/** The `redis-server` executable, or `undefined` when none is installed. */
export async function findRedisServer(): Promise<string | undefined> {
  for (const path of CANDIDATES) {
    try {
      const output = await new Deno.Command(path, {
        args: ["--version"],
        stdout: "piped",
        stderr: "null",
      }).output();
      if (output.success) return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return undefined;
}

/** A port no one listens on right now: listen on port 0, read it, close. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** A running `redis-server` child process. */
export class RedisProcess {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>/0`. */
  readonly url: string;
  readonly #executable: string;
  #child: Deno.ChildProcess | undefined;
  #output: Promise<unknown> = Promise.resolve();
  #log = "";

  private constructor(executable: string, port: number) {
    this.#executable = executable;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}/0`;
  }

  /**
   * Starts `redis-server` on a free loopback port without persistence, and
   * waits until it answers PING.
   */
  static async start(executable: string, port = freePort()): Promise<RedisProcess> {
    const redis = new RedisProcess(executable, port);
    await redis.restart();
    return redis;
  }

  /** The process id, while running. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether it is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts it again on the same port (empty: nothing is persisted). */
  async restart(): Promise<void> {
    if (this.#child !== undefined) throw new Error("redis-server is already running");
    const child = new Deno.Command(this.#executable, {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#output = Promise.all([this.#collect(child.stdout), this.#collect(child.stderr)]);
    const deadline = Date.now() + 10_000;
    while (!(await this.ping())) {
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server did not answer PING on port ${this.port}:\n${this.#log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Sends PING over a plain TCP connection; `true` on `+PONG`. */
  async ping(): Promise<boolean> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    } catch {
      return false;
    }
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      return n !== null && decoder.decode(buffer.subarray(0, n)).startsWith("+PONG");
    } catch {
      return false;
    } finally {
      conn.close();
    }
  }

  /** Stops it (SIGKILL by its pid: nothing to save) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await child.status;
    await this.#output;
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream) {
      this.#log = (this.#log + decoder.decode(chunk)).slice(-4000);
    }
  }
}

const executable = await findRedisServer();
if (executable === undefined && Deno.env.get("CI") === "true") {
  throw new Error("redis-server is required under CI=true (apt-get install redis-server)");
}

/**
 * A test that gets its own `redis-server`, stopped in a `finally`; skipped
 * with a message when `redis-server` is not installed (outside CI).
 */
export function redisTest(name: string, fn: (redis: RedisProcess) => Promise<void>): void {
  if (executable === undefined) {
    Deno.test({ name, ignore: true, fn: () => {} });
    console.warn(`skipping "${name}": redis-server not found (apt-get install redis-server)`);
    return;
  }
  Deno.test({
    name,
    fn: async () => {
      const redis = await RedisProcess.start(executable);
      try {
        await fn(redis);
      } finally {
        await redis.stop();
      }
    },
  });
}

/** An open engine (a node) and the events its sink got. */
export interface EngineNode {
  /** The engine, open. */
  engine: RedisEngine;
  /** Every event, in order. */
  events: EngineEvent[];
  /** A topic's events, as `seq:payload` or `gap:<reason>`. */
  log: (topic: string) => string[];
  /** A topic's events, as `seq` or `gap:<reason>`. */
  seqs: (topic: string) => string[];
}

/** Opens a Redis engine as one node, recording what its sink gets. */
export async function openNode(url: string, options: RedisEngineOptions = {}): Promise<EngineNode> {
  const engine = new RedisEngine({ url, ...options });
  const events: EngineEvent[] = [];
  engine.listen((event) => events.push(event));
  await engine.open();
  const of = (topic: string, text: (seq: number, payload: string) => string) =>
    events.flatMap((event) =>
      event.type === "message"
        ? event.message.topic === topic ? [text(event.message.id.seq, event.message.payload)] : []
        : event.topic === topic
        ? [`gap:${event.reason}`]
        : []
    );
  return {
    engine,
    events,
    log: (topic) => of(topic, (seq, payload) => `${seq}:${payload}`),
    seqs: (topic) => of(topic, (seq) => String(seq)),
  };
}

/** Sends one command to Redis (inline syntax) on a new connection; the raw reply. */
export async function redisCommand(port: number, line: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`${line}\r\n`));
    const buffer = new Uint8Array(65536);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}
