/**
 * `--workers`: one port served by 2 or 3 workers as one server. Real
 * sockets on 127.0.0.1: the kernel spreads them over the workers
 * (`reusePort`), and each socket learns its worker's node from its client
 * id (`<node>.<id>`, in a presence snapshot's `you` or the room's welcome).
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { denoRunArgs } from "./_deno_run.ts";
import { runCli } from "./_cli.ts";

const HELPER = new URL("./_workers_server.ts", import.meta.url);
const CLI = new URL("../src/cli.ts", import.meta.url);
const REPO = new URL("../", import.meta.url);

/** The helper server, its port, nodes and control. */
async function startWorkers(workers: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(HELPER, [String(workers)], ["-A", "--unstable-net"]),
    cwd: REPO,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 25_000);
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const line = async (prefix: string): Promise<string> => {
    while (true) {
      const at = buffer.split("\n").findIndex((each) => each.startsWith(prefix));
      if (at >= 0) {
        const all = buffer.split("\n");
        const found = all[at]!;
        buffer = all.slice(at + 1).join("\n");
        return found.slice(prefix.length).trim();
      }
      const { value, done } = await lines.read();
      if (done) throw new Error(`helper ended before "${prefix}": ${await stderr}`);
      buffer += value;
    }
  };
  const port = Number(await line("port "));
  const nodes = (await line("nodes ")).split(",");
  const writer = child.stdin.getWriter();
  const say = (text: string) => writer.write(new TextEncoder().encode(text + "\n"));
  return {
    port,
    nodes,
    line,
    say,
    async stop(): Promise<string> {
      await say("shutdown");
      const status = await child.status;
      clearTimeout(killer);
      await writer.close().catch(() => {});
      await lines.cancel().catch(() => {});
      assertEquals(status.code, 0);
      return await stderr;
    },
  };
}

/** A WebSocket with its messages as parsed JSON, waited for one by one. */
class Client {
  readonly ws: WebSocket;
  readonly seen: Record<string, unknown>[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #wake: (() => void) | undefined;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    this.closed = new Promise((resolve) => this.ws.onclose = resolve);
    this.ws.onmessage = (event) => {
      this.seen.push(JSON.parse(event.data));
      this.#wake?.();
    };
  }

  /** The first message (from `from` on) matching, within 10 s. */
  async find(match: (m: Record<string, unknown>) => boolean, from = 0) {
    const deadline = Date.now() + 10_000;
    while (true) {
      const found = this.seen.slice(from).find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`not seen in time: ${JSON.stringify(this.seen)}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  /** This socket's publications of a topic. */
  publications(topic: string) {
    return this.seen.filter((m) => m.type === "publication" && m.topic === topic);
  }

  async close() {
    this.ws.close();
    await this.closed;
  }
}

/** A socket subscribed to a presence topic, with its worker's node. */
async function subscriber(port: number, query: string) {
  const client = new Client(`ws://127.0.0.1:${port}/?${query}`);
  await client.opened;
  const snapshot = await client.find((m) => m.type === "presence");
  return { client, node: String(snapshot.you).split(".")[0]! };
}

for (const workers of [2, 3]) {
  Deno.test(`--workers ${workers}: one order and one set of ids for 60 subscribers spread over the workers`, async () => {
    const server = await startWorkers(workers);
    const subscribers: Awaited<ReturnType<typeof subscriber>>[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        subscribers.push(await subscriber(server.port, "topic=room:feed"));
      }
      const nodes = new Set(subscribers.map((s) => s.node));
      assert(nodes.size >= 2, `every socket on one worker: ${[...nodes]}`);
      for (const node of nodes) assert(server.nodes.includes(node));
      // Publish through sockets on every worker, and through HTTP.
      for (let i = 0; i < 20; i++) {
        const text = `m${i}`;
        if (i % 2 === 0) {
          subscribers[(i * 7) % 60]!.client.ws.send(
            JSON.stringify({ type: "publish", topic: "room:feed", data: text }),
          );
          await subscribers[(i * 7) % 60]!.client.find((m) => m.type === "published", 0);
        } else {
          const response = await fetch(`http://127.0.0.1:${server.port}/publish?topic=room:feed`, {
            method: "POST",
            body: text,
            headers: { "Content-Type": "text/plain" },
          });
          assertEquals(response.status, 200);
          await response.body?.cancel();
        }
      }
      const expected = subscribers[0]!;
      await expected.client.find((m) => m.type === "publication" && m.data === "m19");
      const order = expected.client.publications("room:feed").map((m) => `${m.id} ${m.data}`);
      assertEquals(order.length, 20);
      const ids = order.map((line) => Number(line.split(" ")[0]!.split(":")[1]));
      assertEquals(ids, ids.map((_, i) => ids[0]! + i));
      for (const { client } of subscribers) {
        await client.find((m) => m.type === "publication" && m.data === "m19");
        assertEquals(client.publications("room:feed").map((m) => `${m.id} ${m.data}`), order);
      }
      const health = await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json();
      assertEquals(health.workers, workers);
      assertEquals(health.sockets, 60);
      const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      assertMatch(metrics, new RegExp(`^pushwire_workers ${workers}$`, "m"));
      assertMatch(metrics, /^pushwire_sockets_open 60$/m);
    } finally {
      await Promise.all(subscribers.map(({ client }) => client.close()));
      await server.stop();
    }
  });
}

Deno.test("--workers 2: the chat room spans the workers (welcome, join, message, leave)", async () => {
  const server = await startWorkers(2);
  const clients: Client[] = [];
  try {
    const a = new Client(`ws://127.0.0.1:${server.port}/`);
    clients.push(a);
    const welcomeA = await a.find((m) => m.type === "welcome");
    const nodeA = String(welcomeA.id).split(".")[0];
    let b: Client | undefined;
    let welcomeB: Record<string, unknown> | undefined;
    for (let i = 0; i < 40 && b === undefined; i++) {
      const c = new Client(`ws://127.0.0.1:${server.port}/`);
      clients.push(c);
      const welcome = await c.find((m) => m.type === "welcome");
      if (String(welcome.id).split(".")[0] !== nodeA) [b, welcomeB] = [c, welcome];
    }
    assert(b !== undefined && welcomeB !== undefined, "no socket landed on the other worker");
    assert((welcomeB.members as { id: string }[]).some((m) => m.id === welcomeA.id));
    await a.find((m) => m.type === "join" && m.id === welcomeB!.id);
    a.ws.send("hello from A");
    const said = await b.find((m) => m.type === "message" && m.text === "hello from A");
    assertEquals(said.from, welcomeA.id);
    await b.close();
    await a.find((m) => m.type === "leave" && m.id === welcomeB!.id);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await server.stop();
  }
});

Deno.test("--workers 2: a client resumes with since on another worker", async () => {
  const server = await startWorkers(2);
  const clients: Client[] = [];
  try {
    const first = await subscriber(server.port, "topic=room:r");
    clients.push(first.client);
    for (let i = 1; i <= 5; i++) {
      first.client.ws.send(JSON.stringify({ type: "publish", topic: "room:r", data: `p${i}` }));
    }
    await first.client.find((m) => m.type === "publication" && m.data === "p5");
    const seen = first.client.publications("room:r");
    const since = String(seen[1]!.id);
    await first.client.close();
    let other: Awaited<ReturnType<typeof subscriber>> | undefined;
    for (let i = 0; i < 40 && other === undefined; i++) {
      const next = await subscriber(server.port, `topic=room:r&since=${since}`);
      clients.push(next.client);
      if (next.node !== first.node) other = next;
    }
    assert(other !== undefined, "no reconnect landed on the other worker");
    await other.client.find((m) => m.type === "publication" && m.data === "p5");
    assertEquals(
      other.client.publications("room:r").map((m) => `${m.id} ${m.data}`),
      seen.slice(2).map((m) => `${m.id} ${m.data}`),
    );
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await server.stop();
  }
});

Deno.test("--workers 2: a worker that dies is reported and replaced; the other serves on", async () => {
  const server = await startWorkers(2);
  const clients: Awaited<ReturnType<typeof subscriber>>[] = [];
  try {
    for (let i = 0; i < 16; i++) clients.push(await subscriber(server.port, "topic=room:k"));
    const victim = server.nodes[0]!;
    const survivors = clients.filter((c) => c.node !== victim);
    const dead = clients.filter((c) => c.node === victim);
    assert(survivors.length > 0 && dead.length > 0, "every socket on one worker");
    await server.say("terminate 0");
    const nodes = (await server.line("replaced ")).split(",");
    assertEquals(nodes.length, 2);
    assert(!nodes.includes(victim));
    for (const { client } of dead) await client.closed;
    // The survivor's sockets are still open and get publications from every worker.
    const fresh: Awaited<ReturnType<typeof subscriber>>[] = [];
    for (let i = 0; i < 16; i++) fresh.push(await subscriber(server.port, "topic=room:k"));
    assert(fresh.some((c) => c.node === nodes[0]), "no socket on the replacement");
    fresh[0]!.client.ws.send(JSON.stringify({ type: "publish", topic: "room:k", data: "after" }));
    for (const { client } of [...survivors, ...fresh]) {
      await client.find((m) => m.type === "publication" && m.data === "after");
    }
    const health = await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json();
    assertEquals(health.workers, 2);
    clients.push(...fresh);
  } finally {
    await Promise.all(clients.map(({ client }) => client.close()));
    const stderr = await server.stop();
    assertStringIncludes(stderr, '"worker-crashed"');
    assertStringIncludes(stderr, '"worker-replaced"');
  }
});

Deno.test("pushwire --workers: needs --unstable-net and read access, SIGTERM closes every worker's sockets", async (t) => {
  await t.step("without read access: exit 1 naming the -R to add", async () => {
    const { code, stderr } = await runCli(["--workers", "2", "--port", "0"], {
      permissions: ["--unstable-net"],
    });
    assertEquals(code, 1);
    assertMatch(stderr, /error: workers need read access to their modules: run with -R=\S*src\//);
  });
  await t.step("listens once, SIGTERM: every socket gets 1001, exit 0", async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: denoRunArgs(CLI, [
        "--workers",
        "2",
        "--port",
        "0",
        "--hostname",
        "127.0.0.1",
        "--stdin",
        "off",
      ], ["-A", "--unstable-net"]),
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) text += (await reader.read()).value ?? "";
    const match = text.match(/^pushwire listening on http:\/\/127\.0\.0\.1:(\d+)\/ \(2 workers\)/);
    assert(match !== null, text);
    const sockets = [];
    for (let i = 0; i < 8; i++) {
      const { client } = await subscriber(Number(match[1]), "topic=room:s");
      sockets.push(client);
    }
    child.kill("SIGTERM");
    const codes = await Promise.all(sockets.map(async (client) => (await client.closed).code));
    assertEquals(codes, codes.map(() => 1001));
    assertEquals((await child.status).code, 0);
    clearTimeout(killer);
    await reader.cancel();
  });
});
