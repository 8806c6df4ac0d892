/**
 * The examples as a user runs them: each a child process with network
 * permission only on port 0, checked with Deno WebSocket clients.
 */

import { assert, assertEquals, assertInstanceOf, assertLess } from "@std/assert";
import { denoRunArgs } from "./_deno_run.ts";
import { TestClient } from "./_server.ts";

const REPO = new URL("../", import.meta.url);
const URL_LINE = /^\w+ example on (?:http|ws):\/\/localhost:(\d+)\/$/;

/** Reads up to the first newline, within `timeout` ms. */
async function firstLine(
  reader: ReadableStreamDefaultReader<string>,
  timeout: number,
): Promise<string> {
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeout);
  });
  try {
    while (!text.includes("\n")) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === "timeout") throw new Error(`no line on stdout within ${timeout} ms`);
      if (next.done) throw new Error(`stdout ended after: ${text}`);
      text += next.value;
    }
    return text.slice(0, text.indexOf("\n"));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `examples/<name>.ts --port 0`, calls `fn` with the port it printed,
 * then stops it and releases its pipes. The process is killed after 30 s
 * whatever happens.
 */
async function withExample(name: string, fn: (port: number) => Promise<void>): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(new URL(`examples/${name}.ts`, REPO), ["--port", "0"]),
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
  };
  const killer = setTimeout(() => kill("SIGKILL"), 30_000);
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let port: number;
    try {
      const line = await firstLine(stdout, 15_000);
      const match = line.match(URL_LINE);
      assert(match !== null, `unexpected first line: ${line}`);
      port = Number(match[1]);
    } catch (error) {
      kill("SIGKILL");
      throw new Error(`${(error as Error).message}\nstderr: ${await stderr}`);
    }
    await fn(port);
  } finally {
    kill("SIGTERM");
    await child.status;
    while (!(await stdout.read()).done) {
      // Drain what is left so the pipe is released.
    }
    await stderr;
    clearTimeout(killer);
  }
}

/** Runs `fn` with open clients and closes them afterwards. */
async function withClients(
  port: number,
  count: number,
  fn: (clients: TestClient[]) => Promise<void>,
): Promise<void> {
  const clients = Array.from({ length: count }, () => new TestClient(port));
  try {
    await Promise.all(clients.map((client) => client.opened));
    await fn(clients);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}

/** The message at `index`, once it has arrived. */
async function messageAt(client: TestClient, index: number): Promise<string | ArrayBuffer> {
  const messages = await client.waitFor(index + 1);
  return messages[index]!;
}

Deno.test("examples/echo.ts echoes text and binary with the same type", async () => {
  await withExample("echo", (port) =>
    withClients(port, 1, async ([client]) => {
      const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => i * 7);
      const sent: (string | Uint8Array)[] = [
        "hello",
        "h\u00e9llo \u{1F30D}",
        "",
        new Uint8Array([0, 1, 2, 255]),
        new Uint8Array(0),
        big, // past the default 1 MiB message limit
      ];
      for (const [i, message] of sent.entries()) {
        client!.ws.send(message);
        const echoed = await messageAt(client!, i);
        if (typeof message === "string") {
          assertEquals(echoed, message);
        } else {
          assertInstanceOf(echoed, ArrayBuffer);
          assertEquals(echoed.byteLength, message.length);
          assert(new Uint8Array(echoed).every((byte, j) => byte === message[j]), "same bytes");
        }
      }
    }));
});

Deno.test("examples/chat.ts relays every message to every client", async () => {
  await withExample("chat", (port) =>
    withClients(port, 1, async ([a]) => {
      // a: welcome, join a. b joins once a is in the room, so the notices
      // arrive in a known order: b: welcome, join b; a: join b.
      const welcomeA = JSON.parse(await messageAt(a!, 0) as string);
      assertEquals(welcomeA.type, "welcome");
      await a!.waitFor(2);
      await withClients(port, 1, async ([b]) => {
        const welcomeB = JSON.parse(await messageAt(b!, 0) as string);
        assertEquals(welcomeB.type, "welcome");
        await b!.waitFor(2);
        await a!.waitFor(3);

        a!.ws.send("from a");
        await a!.waitFor(4);
        b!.ws.send("from b");
        for (const [client, seen] of [[a!, 3], [b!, 2]] as const) {
          await client.waitFor(seen + 2);
          const messages = client.messages.slice(seen).map((m) => JSON.parse(m as string));
          assertEquals(
            messages.map(({ type, from, text }) => ({ type, from, text })),
            [
              { type: "message", from: welcomeA.id, text: "from a" },
              { type: "message", from: welcomeB.id, text: "from b" },
            ],
          );
          for (const { time } of messages) assertLess(Math.abs(Date.now() - time), 60_000);
        }
      });
    }));
});

Deno.test("examples/ticker.ts pushes a tick every second", async () => {
  await withExample("ticker", (port) =>
    withClients(port, 1, async ([client]) => {
      const tick = JSON.parse(await client!.waitFor(1, 2500).then(([first]) => first as string));
      assertEquals(tick.type, "tick");
      assert(Number.isInteger(tick.seq) && tick.seq > 0, `seq: ${tick.seq}`);
      assertLess(Math.abs(Date.now() - tick.time), 60_000);
      assertEquals(tick.clients, 1);
    }));
});
