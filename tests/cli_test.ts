/**
 * The CLI as a user runs it: a child process with network permission only,
 * driven through its arguments, stdin and signals, with Deno WebSocket
 * clients in the chat room.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import denoJson from "../deno.json" with { type: "json" };
import type { ChatEvent } from "../src/chat/room.ts";
import { CHAT_PAGE } from "../src/chat/page.ts";
import { VERSION } from "../src/version.ts";
import { runCli, type RunOptions } from "./_cli.ts";
import { denoRunArgs } from "./_deno_run.ts";
import { RawClient, rawHttp, upgradeRequest } from "./_raw_client.ts";
import { TestClient } from "./_server.ts";
import { makeCertificate, type TestCertificate, TlsClient } from "./_tls.ts";

const REPO = new URL("../", import.meta.url);
const CLI = new URL("src/cli.ts", REPO);
const URL_LINE = /^pushwire listening on (https?:\/\/(\S+):(\d+)\/)$/;

/**
 * The CLI serving in the background: its stdout read line by line, stdin
 * writable, killed with SIGKILL if it outlives `timeout` ms.
 */
class CliProcess {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;
  readonly #killer: ReturnType<typeof setTimeout>;
  #buffered = "";
  #stdinClosed = false;

  constructor(args: string[], timeout = 30_000, options: RunOptions = {}) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: denoRunArgs(CLI, args, options.permissions),
      cwd: REPO,
      env: options.env ?? {},
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#killer = setTimeout(() => this.kill("SIGKILL"), timeout);
    this.#stdin = this.#child.stdin.getWriter();
    this.#stdout = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** Starts the CLI and reads the URL it prints. */
  static async start(
    args: string[],
    options: RunOptions = {},
  ): Promise<{ cli: CliProcess; url: URL }> {
    const cli = new CliProcess(["--port", "0", ...args], 30_000, options);
    try {
      const line = await cli.readLine();
      const match = line.match(URL_LINE);
      assert(match !== null, `unexpected first line: ${line}`);
      return { cli, url: new URL(match[1]!) };
    } catch (error) {
      const { stderr } = await cli.stop("SIGKILL");
      throw new Error(`${(error as Error).message}\nstderr: ${stderr}`);
    }
  }

  /** The next line of stdout, within `timeout` ms. */
  async readLine(timeout = 10_000): Promise<string> {
    const deadline = Date.now() + timeout;
    while (!this.#buffered.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      });
      const next = await Promise.race([this.#stdout.read(), expired]).finally(() =>
        clearTimeout(timer)
      );
      if (next === "timeout") throw new Error(`no line on stdout within ${timeout} ms`);
      if (next.done) throw new Error(`stdout ended; last output: ${this.#buffered}`);
      this.#buffered += next.value;
    }
    const end = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, end);
    this.#buffered = this.#buffered.slice(end + 1);
    return line;
  }

  /** Writes a line to stdin. */
  async writeLine(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Closes stdin: the CLI sees end of input. */
  async closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#stdin.close().catch(() => {});
  }

  /** Sends `signal` if the process is still running. */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /**
   * Sends `signal`, waits for the exit (SIGKILL after 10 s), and releases the
   * pipes. Returns the exit status and what is left of stdout and stderr.
   */
  async stop(signal: Deno.Signal = "SIGTERM") {
    this.kill(signal);
    const killer = setTimeout(() => this.kill("SIGKILL"), 10_000);
    try {
      const status = await this.#child.status;
      await this.closeStdin();
      let stdout = this.#buffered;
      for (let next = await this.#stdout.read(); !next.done; next = await this.#stdout.read()) {
        stdout += next.value;
      }
      return { status, stdout, stderr: await this.#stderr };
    } finally {
      clearTimeout(killer);
      clearTimeout(this.#killer);
    }
  }
}

/** The events a client received, parsed (binary messages left out). */
function events(client: TestClient): ChatEvent[] {
  return client.messages.filter((m) => typeof m === "string").map((m) => JSON.parse(m));
}

/** Waits until `client` received `count` messages and returns its events. */
async function eventsAfter(client: TestClient, count: number): Promise<ChatEvent[]> {
  await client.waitFor(count);
  return events(client);
}

/** Checks an event's fields and that its time is the server's clock, now. */
function assertEvent(event: ChatEvent | undefined, expected: Record<string, unknown>): void {
  assert(event !== undefined, `missing event ${JSON.stringify(expected)}`);
  const { time, ...rest } = event as Extract<ChatEvent, { time: number }>;
  assertEquals(rest, expected);
  assert(Number.isInteger(time) && Math.abs(Date.now() - time) < 60_000, `bad time: ${time}`);
}

Deno.test("pushwire --help and --version print to stdout and exit 0", async (t) => {
  for (const flag of ["--help", "-h"]) {
    await t.step(flag, async () => {
      const { code, stdout, stderr } = await runCli([flag]);
      assertEquals(code, 0, stderr);
      assertMatch(stdout, /^Usage: pushwire \[--port 8080\] \[--hostname 0\.0\.0\.0\]/);
      for (
        const option of [
          "--port",
          "--hostname",
          "--publish-token",
          "--history",
          "--history-ttl",
          "--max-body",
          "--origin",
          "--cert",
          "--key",
          "--allow-env=PUSHWIRE_TOKEN",
          "--help",
          "--version",
        ]
      ) {
        assertStringIncludes(stdout, option);
      }
      assertEquals(stderr, "");
    });
  }
  await t.step("--version matches deno.json", async () => {
    assertEquals(VERSION, denoJson.version);
    const { code, stdout, stderr } = await runCli(["--version"]);
    assertEquals(code, 0, stderr);
    assertEquals(stdout, `pushwire ${VERSION}\n`);
  });
});

Deno.test("pushwire exits 2 with the error and usage on stderr for bad arguments", async (t) => {
  const cases: { args: string[]; error: string }[] = [
    { args: ["--bogus"], error: "Unknown option: --bogus" },
    { args: ["-x"], error: "Unknown option: -x" },
    { args: ["extra"], error: "Unknown argument: extra" },
    { args: ["--port", "abc"], error: 'Invalid --port: "abc"' },
    { args: ["--port", "65536"], error: 'Invalid --port: "65536"' },
    { args: ["--port=80.5"], error: 'Invalid --port: "80.5"' },
    { args: ["--port=-1"], error: 'Invalid --port: "-1"' },
    { args: ["--port"], error: "Missing value for --port" },
    { args: ["--history=abc"], error: 'Invalid --history: "abc"' },
    { args: ["--history=-1"], error: 'Invalid --history: "-1"' },
    { args: ["--history-ttl=1.5"], error: 'Invalid --history-ttl: "1.5"' },
    { args: ["--max-body=0"], error: 'Invalid --max-body: "0"' },
    { args: ["--origin", "app.example"], error: 'Invalid origin "app.example"' },
    { args: ["--origin", "https://a.example/path"], error: "Invalid origin" },
    { args: ["--cert", "cert.pem"], error: "--cert and --key go together" },
    { args: ["--publish-token", "has space"], error: "Invalid --publish-token" },
  ];
  for (const { args, error } of cases) {
    await t.step(args.join(" "), async () => {
      const { code, stdout, stderr } = await runCli(args);
      assertEquals(code, 2, stderr);
      assertEquals(stdout, "");
      assertStringIncludes(stderr, `error: ${error}`);
      assertStringIncludes(stderr, "Usage: pushwire");
    });
  }
});

Deno.test("pushwire runs the chat room, pushes stdin lines, serves the page, stops on SIGTERM", async (t) => {
  const { cli, url } = await CliProcess.start(["--hostname", "127.0.0.1"]);
  const clients: TestClient[] = [];
  try {
    assertEquals(url.hostname, "127.0.0.1");
    const port = Number(url.port);
    assert(port > 0);
    let a!: TestClient;
    let b!: TestClient;

    await t.step("a newcomer gets a welcome, everyone a join notice", async () => {
      a = new TestClient(port);
      clients.push(a);
      await a.opened;
      const [welcome, join] = await eventsAfter(a, 2);
      assert(welcome?.type === "welcome");
      const idA = welcome.id;
      assertEvent(welcome, { type: "welcome", id: idA, peers: 1, members: [{ id: idA }] });
      assertEvent(join, { type: "join", id: idA, peers: 1 });

      b = new TestClient(port);
      clients.push(b);
      await b.opened;
      const [welcomeB, joinB] = await eventsAfter(b, 2);
      assert(welcomeB?.type === "welcome");
      assert(welcomeB.id !== idA);
      assertEvent(welcomeB, {
        type: "welcome",
        id: welcomeB.id,
        peers: 2,
        members: [{ id: welcomeB.id }, { id: idA }],
      });
      assertEvent(joinB, { type: "join", id: welcomeB.id, peers: 2 });
      assertEvent((await eventsAfter(a, 3))[2], { type: "join", id: welcomeB.id, peers: 2 });
    });

    const idOf = (client: TestClient) => (events(client)[0] as { id: string }).id;

    await t.step("each client gets both messages, its own included", async () => {
      a.ws.send("hello from a");
      await a.waitFor(4);
      b.ws.send("hello <b> \u{1F600}");
      for (const client of [a, b]) {
        const messages = (await eventsAfter(client, client === a ? 5 : 4))
          .filter((event) => event.type === "message");
        assertEquals(messages.length, 2);
        assertEvent(messages[0], { type: "message", from: idOf(a), text: "hello from a" });
        assertEvent(messages[1], { type: "message", from: idOf(b), text: "hello <b> \u{1F600}" });
      }
    });

    await t.step("a binary message reaches everyone with its sender, as base64", async () => {
      const counts = [a.messages.length, b.messages.length];
      a.ws.send(new Uint8Array([0, 1, 2, 255]));
      for (const [i, client] of [a, b].entries()) {
        const received = await eventsAfter(client, counts[i]! + 1);
        assertEvent(received.at(-1), {
          type: "message",
          from: idOf(a),
          data: "AAEC/w==",
          encoding: "base64",
        });
      }
    });

    await t.step("a line on stdin reaches everyone as a server message", async () => {
      const counts = [a.messages.length, b.messages.length];
      await cli.writeLine("maintenance at noon");
      for (const [i, client] of [a, b].entries()) {
        const received = await eventsAfter(client, counts[i]! + 1);
        assertEvent(received.at(-1), {
          type: "message",
          from: "server",
          text: "maintenance at noon",
        });
      }
    });

    await t.step(
      "stdin ending leaves the server running; joins and leaves are announced",
      async () => {
        await cli.closeStdin();
        await new Promise((resolve) => setTimeout(resolve, 200));
        const counts = [a.messages.length, b.messages.length];
        const c = new TestClient(port);
        clients.push(c);
        await c.opened;
        const [welcome] = await eventsAfter(c, 1);
        assert(welcome?.type === "welcome");
        assertEvent(welcome, {
          type: "welcome",
          id: welcome.id,
          peers: 3,
          members: [{ id: welcome.id }, { id: idOf(a) }, { id: idOf(b) }],
        });
        await c.close();
        for (const [i, client] of [a, b].entries()) {
          const received = await eventsAfter(client, counts[i]! + 2);
          assertEvent(received.at(-2), { type: "join", id: welcome.id, peers: 3 });
          assertEvent(received.at(-1), { type: "leave", id: welcome.id, peers: 2 });
        }
      },
    );

    await t.step("clients that join at once each get their welcome first", async () => {
      const crowd = Array.from({ length: 6 }, () => new TestClient(port));
      clients.push(...crowd);
      await Promise.all(crowd.map((client) => client.opened));
      const firsts = await Promise.all(
        crowd.map(async (client) => (await eventsAfter(client, 1))[0]),
      );
      const peers = firsts.map((event) => {
        assert(event?.type === "welcome", `first event: ${JSON.stringify(event)}`);
        return event.peers;
      });
      assertEquals(peers.sort((x, y) => x - y), [3, 4, 5, 6, 7, 8]);
      await Promise.all(crowd.map((client) => client.close()));
    });

    await t.step("GET / serves the chat page", async () => {
      const response = await fetch(url);
      assertEquals(response.status, 200);
      assertMatch(response.headers.get("content-type") ?? "", /^text\/html/);
      assertEquals(await response.text(), CHAT_PAGE);
    });

    await t.step("SIGTERM closes clients with 1001 and exits 0", async () => {
      const { status, stdout, stderr } = await cli.stop("SIGTERM");
      const [closeA, closeB] = await Promise.all([a.closed, b.closed]);
      assertEquals(closeA.code, 1001);
      assertEquals(closeB.code, 1001);
      assertEquals(status.code, 0, stderr);
      assertEquals(stdout, "");
    });
  } finally {
    await cli.stop("SIGKILL");
    await Promise.all(clients.map((client) => client.close()));
  }
});

Deno.test("pushwire on 0.0.0.0 prints a localhost URL and stops on SIGINT", async () => {
  const { cli, url } = await CliProcess.start([]);
  try {
    assertEquals(url.hostname, "localhost");
    const response = await fetch(`http://127.0.0.1:${url.port}/healthz`);
    assertEquals(response.status, 200);
    await response.body?.cancel();
    const { status, stderr } = await cli.stop("SIGINT");
    assertEquals(status.code, 0, stderr);
  } finally {
    await cli.stop("SIGKILL");
  }
});

const TOKEN = "cli-t0ken";

/** POSTs `body` to `/publish?topic=…`; returns the status and the JSON answer. */
async function publishTo(
  url: URL,
  topic: string,
  body: string,
  headers: Record<string, string> = {},
  client?: Deno.HttpClient,
): Promise<{ status: number; answer: Record<string, unknown> }> {
  const response = await fetch(new URL(`/publish?topic=${topic}`, url), {
    method: "POST",
    headers: { "Content-Type": "text/plain", ...headers },
    body,
    ...(client === undefined ? {} : { client }),
  });
  return { status: response.status, answer: await response.json() };
}

/** The parsed JSON events a client received. */
function pushEvents(client: TestClient): Record<string, unknown>[] {
  return client.messages.map((message) => JSON.parse(message as string));
}

Deno.test("pushwire serves topics: publish with a token, resume with since, gaps, metrics", async (t) => {
  const { cli, url } = await CliProcess.start([
    "--hostname",
    "127.0.0.1",
    "--publish-token",
    TOKEN,
    "--history",
    "5",
    "--max-body",
    "100",
  ]);
  const clients: TestClient[] = [];
  const port = Number(url.port);
  const auth = { Authorization: `Bearer ${TOKEN}` };
  try {
    let subscriber!: TestClient;
    let lastId = "";

    await t.step("publishing needs the token", async () => {
      assertEquals((await publishTo(url, "news", "x")).status, 401);
      assertEquals(
        (await publishTo(url, "news", "x", { Authorization: "Bearer nope" })).status,
        403,
      );
      const big = await publishTo(url, "news", "x".repeat(101), auth);
      assertEquals(big.status, 413);
    });

    await t.step("a subscriber gets publications with their ids", async () => {
      subscriber = new TestClient(port, "/?topic=news");
      clients.push(subscriber);
      await subscriber.waitFor(1);
      const { status, answer } = await publishTo(url, "news", "first", auth);
      assertEquals([status, answer.delivered], [200, 1]);
      await subscriber.waitFor(2);
      const [hello, publication] = pushEvents(subscriber);
      assertEquals(hello?.type, "subscribed");
      assertEquals(publication?.type, "publication");
      assertEquals(publication?.id, answer.id);
      assertEquals(publication?.data, "first");
      lastId = answer.id as string;
    });

    await t.step("a client that reconnects with since gets what it missed", async () => {
      await subscriber.close();
      for (const text of ["a", "b", "c"]) await publishTo(url, "news", text, auth);
      const again = new TestClient(port, `/?topic=news&since=news:${lastId}`);
      clients.push(again);
      const received = (await again.waitFor(4)).map((m) => JSON.parse(m as string));
      assertEquals(received.map((e) => e.data ?? e.type), ["a", "b", "c", "subscribed"]);
      await again.close();
    });

    await t.step("past --history, a gap notice comes first", async () => {
      for (let i = 0; i < 5; i++) await publishTo(url, "news", `n${i}`, auth);
      const late = new TestClient(port, `/?topic=news&since=news:${lastId}`);
      clients.push(late);
      const [gap] = (await late.waitFor(7)).map((m) => JSON.parse(m as string));
      assertEquals(gap, { type: "gap", topic: "news", since: lastId, reason: "expired" });
      await late.close();
    });

    await t.step("GET /metrics reports the push server", async () => {
      const metrics = await (await fetch(new URL("/metrics", url))).text();
      assertStringIncludes(metrics, 'pushwire_fanout_messages_total{source="publish"} 9\n');
      assertStringIncludes(metrics, "pushwire_history_messages 5\n");
      assertStringIncludes(metrics, 'pushwire_resumes_total{outcome="expired"} 1\n');
    });

    await t.step("SIGTERM closes subscribers with 1001", async () => {
      const last = new TestClient(port, "/?topic=news");
      clients.push(last);
      await last.opened;
      const { status, stderr } = await cli.stop("SIGTERM");
      assertEquals(status.code, 0, stderr);
      assertEquals((await last.closed).code, 1001);
    });
  } finally {
    await cli.stop("SIGKILL");
    await Promise.all(clients.map((client) => client.close()));
  }
});

Deno.test("pushwire reads PUSHWIRE_TOKEN with --allow-env=PUSHWIRE_TOKEN, and ignores it without", async (t) => {
  const env = { PUSHWIRE_TOKEN: "from-env" };
  await t.step("with the permission, the token is required", async () => {
    const { cli, url } = await CliProcess.start(["--hostname", "127.0.0.1"], {
      permissions: ["--allow-env=PUSHWIRE_TOKEN"],
      env,
    });
    try {
      assertEquals((await publishTo(url, "t", "x")).status, 401);
      const ok = await publishTo(url, "t", "x", { Authorization: "Bearer from-env" });
      assertEquals(ok.status, 200);
    } finally {
      await cli.stop("SIGKILL");
    }
  });
  await t.step("with -N only, the CLI runs and the variable is not read", async () => {
    const { cli, url } = await CliProcess.start(["--hostname", "127.0.0.1"], { env });
    try {
      // No token configured: loopback publishers are let in.
      assertEquals((await publishTo(url, "t", "x")).status, 200);
      const { status, stderr } = await cli.stop("SIGTERM");
      assertEquals(status.code, 0, stderr);
    } finally {
      await cli.stop("SIGKILL");
    }
  });
});

Deno.test("pushwire --origin refuses other browser origins with 403", async () => {
  const { cli, url } = await CliProcess.start([
    "--hostname",
    "127.0.0.1",
    "--origin",
    "https://app.example",
    "--origin",
    "http://localhost:3000",
  ]);
  try {
    const port = Number(url.port);
    const host = `127.0.0.1:${port}`;
    const evil = await rawHttp(
      port,
      upgradeRequest(host, { headers: { Origin: "https://evil.example" } }),
    );
    assert(evil.startsWith("HTTP/1.1 403 "), evil);
    for (const origin of ["https://app.example", "http://localhost:3000", `http://${host}`]) {
      const client = await RawClient.connect(port, { headers: { Origin: origin } });
      client.close();
    }
  } finally {
    await cli.stop("SIGKILL");
  }
});

Deno.test("pushwire negotiates permessage-deflate, and --no-deflate turns it off", async () => {
  const offer = { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" };
  for (const [args, negotiated] of [[[], true], [["--no-deflate"], false]] as const) {
    const { cli, url } = await CliProcess.start(["--hostname", "127.0.0.1", ...args]);
    try {
      const client = await RawClient.connect(Number(url.port), { headers: offer });
      assertEquals(client.response.includes("permessage-deflate"), negotiated, client.response);
      client.close();
    } finally {
      await cli.stop("SIGKILL");
    }
  }
});

const certificate = await makeCertificate();

Deno.test({
  name: "pushwire --cert --key serves wss and https with -R for the two files",
  ignore: typeof certificate === "string",
  fn: async () => {
    const { cert, certFile, keyFile, remove } = certificate as TestCertificate;
    try {
      const refused = await runCli(["--port", "0", "--cert", certFile, "--key", keyFile]);
      assertEquals(refused.code, 1);
      assertStringIncludes(refused.stderr, `-R=${certFile},${keyFile}`);

      const { cli, url } = await CliProcess.start(
        ["--hostname", "127.0.0.1", "--cert", certFile, "--key", keyFile],
        { permissions: [`--allow-read=${certFile},${keyFile}`] },
      );
      const http = Deno.createHttpClient({ caCerts: [cert] });
      try {
        assertEquals(url.protocol, "https:");
        const port = Number(url.port);
        const client = await TlsClient.connect(port, cert, "/?topic=secure");
        const hello = await client.next();
        assertEquals(JSON.parse(new TextDecoder().decode(hello!.payload)).type, "subscribed");
        const local = new URL(`https://localhost:${port}/`);
        const { status, answer } = await publishTo(local, "secure", "over tls", {}, http);
        assertEquals([status, answer.delivered], [200, 1]);
        const publication = JSON.parse(new TextDecoder().decode((await client.next())!.payload));
        assertEquals(publication.data, "over tls");
        client.close();
      } finally {
        http.close();
        await cli.stop("SIGKILL");
      }
    } finally {
      await remove();
    }
  },
});
