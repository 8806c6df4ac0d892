/**
 * The CLI's operational side, as an operator meets it: JSON log lines on
 * stderr (`--log-level`), tokens read from files, `/metrics` behind a token,
 * the connection limits' flags, and a start in the background of an
 * interactive shell (under a pseudo-terminal made by `script`). Every child
 * is a process this file started, ended by its PID.
 *
 * @module
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { VERSION } from "../src/version.ts";
import { runCli } from "./_cli.ts";
import { denoRunArgs } from "./_deno_run.ts";
import { rawHttp, upgradeRequest } from "./_raw_client.ts";
import { TestClient } from "./_server.ts";

const REPO = new URL("../", import.meta.url);
const CLI = new URL("src/cli.ts", REPO);
const URL_LINE = /pushwire listening on (https?:\/\/(\S+):(\d+)\/)/;

type LogLine = Record<string, unknown> & { level: string; event: string };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The JSON log lines in some stderr text (other lines skipped). */
function logLines(stderr: string): LogLine[] {
  return stderr.split(/\r?\n/).filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line)
  );
}

/** The CLI serving on 127.0.0.1 and a free port, stdin `/dev/null`. */
class Cli {
  readonly #child: Deno.ChildProcess;
  readonly #stdout: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;
  readonly #killer: ReturnType<typeof setTimeout>;
  #buffered = "";
  port = 0;

  private constructor(args: string[], permissions: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: denoRunArgs(CLI, ["--hostname", "127.0.0.1", "--port", "0", ...args], permissions),
      cwd: REPO,
      env: {},
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#killer = setTimeout(() => this.#kill("SIGKILL"), 30_000);
    this.#stdout = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** Starts the CLI and reads its port from the URL it prints. */
  static async start(args: string[] = [], permissions: string[] = []): Promise<Cli> {
    const cli = new Cli(args, permissions);
    const deadline = Date.now() + 15_000;
    while (!URL_LINE.test(cli.#buffered)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      });
      const next = await Promise.race([cli.#stdout.read(), expired]).finally(() =>
        clearTimeout(timer)
      );
      if (next === "timeout" || next.done) {
        const { stderr } = await cli.stop("SIGKILL");
        throw new Error(`the CLI did not start: ${stderr}`);
      }
      cli.#buffered += next.value;
    }
    cli.port = Number(cli.#buffered.match(URL_LINE)![3]);
    return cli;
  }

  #kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /** Sends `signal`, waits for the exit; the exit code, stdout and stderr. */
  async stop(signal: Deno.Signal = "SIGTERM") {
    this.#kill(signal);
    const killer = setTimeout(() => this.#kill("SIGKILL"), 10_000);
    try {
      const status = await this.#child.status;
      let stdout = this.#buffered;
      for (let next = await this.#stdout.read(); !next.done; next = await this.#stdout.read()) {
        stdout += next.value;
      }
      return { code: status.code, stdout, stderr: await this.#stderr };
    } finally {
      clearTimeout(killer);
      clearTimeout(this.#killer);
    }
  }
}

/** Runs `fn` with a temporary file holding `text`; removes it after. */
async function withFile(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile({ prefix: "pushwire-token-" });
  try {
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

/** A `POST /publish?topic=news` on loopback; its status. */
async function publish(port: number, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/publish?topic=news`, {
    method: "POST",
    headers: { "Content-Type": "text/plain", ...headers },
    body: "hi",
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test("pushwire logs JSON lines on stderr: listening, started, then signal, shutting-down, stopped", async () => {
  const cli = await Cli.start();
  const client = new TestClient(cli.port);
  await client.opened;
  const { code, stdout, stderr } = await cli.stop("SIGTERM");
  assertEquals((await client.closed).code, 1001);
  assertEquals(code, 0, stderr);
  assertEquals(
    stdout,
    `pushwire listening on http://127.0.0.1:${cli.port}/\n`,
    "stdout: the URL only",
  );
  const lines = logLines(stderr);
  const byEvent = (event: string) => lines.find((line) => line.event === event);
  assertEquals(byEvent("listening")?.address, `127.0.0.1:${cli.port}`);
  assertEquals(byEvent("listening")?.version, VERSION);
  const started = byEvent("started");
  assertEquals(
    [started?.level, started?.version, started?.engine, started?.url],
    ["info", VERSION, "memory", `http://127.0.0.1:${cli.port}/`],
  );
  assertEquals(byEvent("signal")?.signal, "SIGTERM");
  assertEquals([byEvent("shutting-down")?.sockets, byEvent("shutting-down")?.handshakes], [1, 0]);
  assert(byEvent("stopped") !== undefined, stderr);
  const order = ["listening", "started", "signal", "shutting-down", "stopped"];
  assertEquals(lines.map((line) => line.event).filter((event) => order.includes(event)), order);
  for (const line of lines) assertMatch(String(line.time), /^\d{4}-\d\d-\d\dT/);
});

Deno.test("pushwire --log-level: silent writes no line, warn no info line; a bad level exits 2", async (t) => {
  await t.step("silent", async () => {
    const cli = await Cli.start(["--log-level", "silent"]);
    const { code, stderr } = await cli.stop("SIGTERM");
    assertEquals([code, stderr], [0, ""]);
  });
  await t.step("warn: a refusal at a limit, and nothing at info", async () => {
    const cli = await Cli.start(["--log-level", "warn", "--max-connections-per-address", "1"]);
    const held = await Deno.connect({ hostname: "127.0.0.1", port: cli.port });
    await sleep(100);
    const refused = await rawHttp(cli.port, upgradeRequest(`127.0.0.1:${cli.port}`));
    held.close();
    const { code, stderr } = await cli.stop("SIGTERM");
    assert(refused.startsWith("HTTP/1.1 429 "), refused);
    assertEquals(code, 0, stderr);
    const lines = logLines(stderr);
    assertEquals(lines.map((line) => line.event), ["connection-refused"]);
    assertEquals([lines[0]?.level, lines[0]?.reason], ["warn", "per-address"]);
  });
  await t.step("a bad level", async () => {
    const { code, stderr } = await runCli(["--log-level", "loud"]);
    assertEquals(code, 2);
    assertStringIncludes(stderr, 'error: Invalid --log-level: "loud"');
  });
});

Deno.test("pushwire --publish-token-file reads the token at start, with -R for that file", async (t) => {
  await withFile("s3cret-from-file\n", async (path) => {
    await t.step("without -R: exit 1, naming the permission", async () => {
      const { code, stderr } = await runCli(["--port", "0", "--publish-token-file", path]);
      assertEquals(code, 1);
      assertStringIncludes(stderr, `error: cannot read --publish-token-file ${path}`);
      assertStringIncludes(stderr, `-R=${path}`);
    });
    await t.step("with -R: the token (its newline trimmed) is required", async () => {
      const cli = await Cli.start(["--publish-token-file", path], [`--allow-read=${path}`]);
      try {
        assertEquals(await publish(cli.port), 401);
        assertEquals(await publish(cli.port, { Authorization: "Bearer s3cret-from-file" }), 200);
      } finally {
        await cli.stop("SIGKILL");
      }
    });
    await t.step("with --publish-token too: exit 2", async () => {
      const args = ["--publish-token", "x", "--publish-token-file", path];
      const { code, stderr } = await runCli(args);
      assertEquals(code, 2);
      assertStringIncludes(stderr, "Give --publish-token or --publish-token-file, not both");
    });
  });
  await t.step("an empty file: exit 1", async () => {
    await withFile("\n", async (path) => {
      const { code, stderr } = await runCli(
        ["--port", "0", "--publish-token-file", path],
        { permissions: [`--allow-read=${path}`] },
      );
      assertEquals(code, 1);
      assertStringIncludes(stderr, "the file is empty");
    });
  });
});

Deno.test("pushwire --metrics-token (or -file) guards /metrics; /healthz stays open", async (t) => {
  const scrape = async (port: number, headers: Record<string, string> = {}) => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
    await response.body?.cancel();
    return response.status;
  };
  await t.step("--metrics-token", async () => {
    const cli = await Cli.start(["--metrics-token", "m3trics"]);
    try {
      assertEquals(await scrape(cli.port), 401);
      assertEquals(await scrape(cli.port, { Authorization: "Bearer nope" }), 403);
      assertEquals(await scrape(cli.port, { Authorization: "Bearer m3trics" }), 200);
      const health = await fetch(`http://127.0.0.1:${cli.port}/healthz`);
      assertEquals((await health.json()).handshakes, 0);
    } finally {
      await cli.stop("SIGKILL");
    }
  });
  await t.step("--metrics-token-file", async () => {
    await withFile("m3trics-file", async (path) => {
      const cli = await Cli.start(["--metrics-token-file", path], [`--allow-read=${path}`]);
      try {
        assertEquals(await scrape(cli.port), 401);
        assertEquals(await scrape(cli.port, { Authorization: "Bearer m3trics-file" }), 200);
      } finally {
        await cli.stop("SIGKILL");
      }
    });
  });
});

Deno.test("pushwire --max-pending-handshakes closes extra connections at once; bad values exit 2", async (t) => {
  await t.step("past the limit: closed, nothing written", async () => {
    const args = ["--max-pending-handshakes", "1", "--max-connections-per-address", "0"];
    const cli = await Cli.start(args);
    const held = await Deno.connect({ hostname: "127.0.0.1", port: cli.port });
    try {
      await sleep(100);
      const started = Date.now();
      const extra = await rawHttp(cli.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      assertEquals(extra, "");
      assert(Date.now() - started < 2000);
    } finally {
      held.close();
      await cli.stop("SIGKILL");
    }
  });
  for (
    const [args, error] of [
      [["--max-pending-handshakes", "0"], 'Invalid --max-pending-handshakes: "0"'],
      [["--max-connections-per-address=-1"], 'Invalid --max-connections-per-address: "-1"'],
      [["--stdin", "maybe"], 'Invalid --stdin: "maybe"'],
    ] as const
  ) {
    await t.step(args.join(" "), async () => {
      const { code, stderr } = await runCli([...args]);
      assertEquals(code, 2);
      assertStringIncludes(stderr, `error: ${error}`);
    });
  }
});

/** Whether `script` (util-linux) and bash are here to make a pseudo-terminal. */
const HAS_PTY = Deno.build.os === "linux" &&
  [
    "/usr/bin/script",
    "/bin/bash",
  ].every((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });

/**
 * An interactive bash on a pseudo-terminal (`script`), typed into through
 * its stdin, its terminal output read back. `close()` ends it.
 */
class Terminal {
  readonly #shell: Deno.ChildProcess;
  readonly #input: WritableStreamDefaultWriter<Uint8Array>;
  readonly #output: ReadableStreamDefaultReader<string>;
  readonly #killer: ReturnType<typeof setTimeout>;
  text = "";

  constructor() {
    this.#shell = new Deno.Command("/usr/bin/script", {
      args: ["-qfec", "/bin/bash --norc --noprofile -i", "/dev/null"],
      cwd: REPO,
      clearEnv: true,
      env: { TERM: "dumb", PS1: "$ ", PATH: "/usr/bin:/bin" },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#killer = setTimeout(() => this.#kill(), 60_000);
    this.#input = this.#shell.stdin.getWriter();
    this.#output = this.#shell.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Types text into the terminal. */
  async type(text: string): Promise<void> {
    await this.#input.write(new TextEncoder().encode(text));
  }

  /** Reads the terminal until `pattern` shows (in what came after `from`); its match. */
  async waitFor(pattern: RegExp, from = 0, timeout = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeout;
    while (true) {
      const match = this.text.slice(from).match(pattern);
      if (match !== null) return match;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      });
      const next = await Promise.race([this.#output.read(), expired]).finally(() =>
        clearTimeout(timer)
      );
      if (next === "timeout" || next.done) {
        throw new Error(`no ${pattern} on the terminal; it shows:\n${this.text}`);
      }
      this.text += next.value;
    }
  }

  #kill(): void {
    try {
      this.#shell.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }

  /** Leaves the shell (and ends `script`), killing it if it lingers. */
  async close(): Promise<void> {
    await this.type("exit\n").catch(() => {});
    await this.type("exit\n").catch(() => {}); // A second time, past "There are stopped jobs."
    await this.#input.close().catch(() => {});
    const lingering = setTimeout(() => this.#kill(), 5000);
    await this.#shell.status;
    clearTimeout(lingering);
    clearTimeout(this.#killer);
    await this.#output.cancel().catch(() => {});
  }
}

/** Kills a process by its PID if it still runs. */
function killPid(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** The command line that runs the CLI on a free loopback port, for the shell. */
function cliCommand(permissions: string[]): string {
  const args = denoRunArgs(CLI, ["--hostname", "127.0.0.1", "--port", "0"], permissions)
    .filter((arg) => !(arg === "-N" && permissions.includes("-A"))); // -A conflicts with -N
  return [Deno.execPath(), ...args].map((arg) => `'${arg}'`).join(" ");
}

Deno.test({
  name: "pushwire started in the background of an interactive shell keeps serving",
  ignore: !HAS_PTY,
  fn: async (t) => {
    for (const permissions of [[], ["-A"]]) {
      await t.step(permissions.length === 0 ? "with -N" : "with -A", async () => {
        const terminal = new Terminal();
        let pid = 0;
        try {
          await terminal.waitFor(/\$ $/m);
          await terminal.type(`${cliCommand(permissions)} & echo "PID=$!"\n`);
          pid = Number((await terminal.waitFor(/PID=(\d+)/))[1]);
          const port = Number((await terminal.waitFor(URL_LINE))[3]);
          await terminal.waitFor(/"event":"stdin-ignored"/);
          await sleep(1000); // Time to be stopped, were it to read the terminal.
          const mark = terminal.text.length;
          await terminal.type("jobs -l\n");
          const job = await terminal.waitFor(/\b(Running|Stopped)\b/, mark);
          assertEquals(job[1], "Running", terminal.text);
          const health = await fetch(`http://127.0.0.1:${port}/healthz`, {
            signal: AbortSignal.timeout(5000),
          });
          assertEquals(health.status, 200);
          assertEquals((await health.json()).status, "ok");
        } finally {
          if (pid > 0) killPid(pid);
          await terminal.close();
        }
      });
    }
  },
});

Deno.test({
  name: "pushwire in the foreground of a terminal, with -A, sends the lines typed to the chat",
  ignore: !HAS_PTY,
  fn: async () => {
    const terminal = new Terminal();
    let client: TestClient | undefined;
    try {
      await terminal.waitFor(/\$ $/m);
      await terminal.type(`${cliCommand(["-A"])}\n`);
      const port = Number((await terminal.waitFor(URL_LINE))[3]);
      client = new TestClient(port);
      await client.opened;
      await client.waitFor(2); // welcome, join
      await terminal.type("hello from the terminal\n");
      const messages = await client.waitFor(3);
      const event = JSON.parse(messages[2] as string);
      assertEquals([event.type, event.from, event.text], [
        "message",
        "server",
        "hello from the terminal",
      ]);
      await terminal.type("\x03"); // Ctrl-C: SIGINT to the foreground job
      assertEquals((await client.closed).code, 1001);
    } finally {
      await client?.close();
      await terminal.close();
    }
  },
});
