/**
 * Several pushwire nodes on one Redis, each a separate `deno run -N
 * src/cli.ts --redis …` process, with clients spread over them: delivery
 * once and in order whoever publishes, resume on another node, and faults
 * (Redis away at start, Redis restarted empty, a node killed).
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { denoRunArgs } from "./_deno_run.ts";
import { freePort, type RedisProcess, redisTest } from "./_redis.ts";
import { TestClient, until } from "./_server.ts";

const CLI = new URL("../src/cli.ts", import.meta.url);
const decoder = new TextDecoder();

type Event = Record<string, unknown> & { type: string };

/** A pushwire node: the CLI as a child process, on an ephemeral loopback port. */
class Node {
  readonly #child: Deno.ChildProcess;
  readonly #output: Promise<string>;
  readonly port: Promise<number>;

  constructor(redis: string, extra: string[] = []) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: denoRunArgs(CLI, [
        "--port",
        "0",
        "--hostname",
        "127.0.0.1",
        "--redis",
        redis,
        ...extra,
      ]),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const port = Promise.withResolvers<number>();
    this.port = port.promise;
    const read = async (stream: ReadableStream<Uint8Array>) => {
      let text = "";
      for await (const chunk of stream) {
        text += decoder.decode(chunk);
        const match = text.match(/listening on http:\/\/127\.0\.0\.1:(\d+)\//);
        if (match !== null) port.resolve(Number(match[1]));
      }
      return text;
    };
    this.#output = Promise.all([read(this.#child.stdout), read(this.#child.stderr)])
      .then(([out, err]) => out + err);
    this.#output.then((text) => port.reject(new Error(`node exited before listening:\n${text}`)));
    this.port.catch(() => {});
  }

  /** Starts a node and waits until it listens. */
  static async start(redis: RedisProcess, extra: string[] = []): Promise<Node> {
    const node = new Node(redis.url, extra);
    await node.port;
    return node;
  }

  /** Ends the process (by its pid) and returns its exit code and output. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{ code: number; output: string }> {
    try {
      this.#child.kill(signal);
    } catch {
      // Exited already.
    }
    const { code } = await this.#child.status;
    return { code, output: await this.#output };
  }

  /** Waits for the process to exit by itself. */
  async exited(): Promise<{ code: number; output: string }> {
    const { code } = await this.#child.status;
    return { code, output: await this.#output };
  }
}

/** Stops every node, whatever happens. */
async function withNodes(
  redis: RedisProcess,
  count: number,
  fn: (nodes: Node[], ports: number[]) => Promise<void>,
  extra: string[] = [],
): Promise<void> {
  const nodes = await Promise.all(Array.from({ length: count }, () => Node.start(redis, extra)));
  try {
    await fn(nodes, await Promise.all(nodes.map((node) => node.port)));
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
  }
}

/** POSTs text to a node's `/publish`; returns the status and the answer. */
async function publish(
  port: number,
  topic: string,
  text: string,
): Promise<{ status: number; id?: string; error?: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/publish?topic=${topic}`, {
    method: "POST",
    headers: { "Content-Type": "text/plain" },
    body: text,
  });
  return { status: response.status, ...(await response.json()) };
}

async function publishOk(port: number, topic: string, text: string): Promise<string> {
  const answer = await publish(port, topic, text);
  assertEquals(answer.status, 200, JSON.stringify(answer));
  return answer.id!;
}

function events(client: TestClient): Event[] {
  return client.messages.map((message) => JSON.parse(message as string));
}

function publications(client: TestClient, topic?: string): Event[] {
  return events(client).filter((e) => e.type === "publication" && (topic ?? e.topic) === e.topic);
}

async function subscribedClient(port: number, path: string, topic: string): Promise<TestClient> {
  const client = new TestClient(port, path);
  await until(
    () => events(client).some((e) => e.type === "subscribed" && e.topic === topic),
    10_000,
    `subscribed to ${topic} on port ${port}`,
  );
  return client;
}

/** Asserts that ids are `<epoch>:<seq>` of one epoch with seqs going up by one. */
function assertConsecutive(ids: string[]): void {
  const epochs = new Set(ids.map((id) => id.split(":")[0]));
  assertEquals(epochs.size, 1, `one epoch: ${[...epochs]}`);
  const seqs = ids.map((id) => Number(id.split(":")[1]));
  for (let i = 1; i < seqs.length; i++) {
    assertEquals(seqs[i], seqs[i - 1]! + 1, `seq after ${seqs[i - 1]}`);
  }
}

redisTest(
  "three nodes: a publish on any node reaches every subscriber once, in order",
  async (redis) => {
    await withNodes(redis, 3, async (_nodes, ports) => {
      const clients = await Promise.all(
        ports.flatMap((port) => [0, 1].map(() => subscribedClient(port, "/?topic=news", "news"))),
      );
      // Publishers on all three nodes at once; Redis orders them.
      const sent = await Promise.all(ports.map(async (port, n) => {
        const ids: string[] = [];
        for (let i = 0; i < 30; i++) ids.push(await publishOk(port, "news", `n${n}-${i}`));
        return ids;
      }));
      for (const client of clients) {
        await until(() => publications(client).length >= 90, 10_000, "90 publications");
      }
      const reference = publications(clients[0]!);
      assertEquals(reference.length, 90);
      assertConsecutive(reference.map((e) => e.id as string));
      for (const client of clients) {
        assertEquals(events(client).filter((e) => e.type === "gap"), [], "no gap");
        assertEquals(publications(client), reference, "the same publications in the same order");
      }
      // Every id a publisher was answered with was delivered, with its message.
      const byId = new Map(reference.map((e) => [e.id as string, e.data]));
      sent.forEach((ids, n) => ids.forEach((id, i) => assertEquals(byId.get(id), `n${n}-${i}`)));
      for (const client of clients) await client.close();
    });
  },
);

redisTest(
  "the chat room spans the nodes: each line reaches every chat client once",
  async (redis) => {
    await withNodes(redis, 2, async (_nodes, [a, b]) => {
      const onA = new TestClient(a!, "/");
      const onB = new TestClient(b!, "/");
      await Promise.all([onA.opened, onB.opened]);
      await until(() => events(onA).some((e) => e.type === "welcome"), 5000, "welcome");
      await until(() => events(onB).some((e) => e.type === "welcome"), 5000, "welcome");
      for (let i = 0; i < 5; i++) onA.ws.send(`from A ${i}`);
      onB.ws.send("from B");
      const lines = (client: TestClient) =>
        events(client).filter((e) => e.type === "message").map((e) => e.text);
      for (const client of [onA, onB]) {
        await until(() => lines(client).length >= 6, 5000, "6 chat lines");
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      assertEquals(lines(onA), lines(onB));
      assertEquals(
        lines(onA).filter((t) => String(t).startsWith("from A")),
        [0, 1, 2, 3, 4].map((i) => `from A ${i}`),
      );
      assertEquals(lines(onA).length, 6);
      await onA.close();
      await onB.close();
    });
  },
);

redisTest(
  "resume on another node: an id seen on A gets exactly what was missed on C",
  async (redis) => {
    await withNodes(redis, 3, async (_nodes, [a, b, c]) => {
      const first = await subscribedClient(a!, "/?topic=feed", "feed");
      for (let i = 1; i <= 5; i++) await publishOk(b!, "feed", `m${i}`);
      await until(() => publications(first).length === 5, 5000, "5 publications");
      const last = publications(first).at(-1)!.id as string;
      await first.close();
      for (let i = 6; i <= 25; i++) await publishOk(i % 2 === 0 ? a! : b!, "feed", `m${i}`);

      const again = await subscribedClient(c!, `/?topic=feed&since=feed:${last}`, "feed");
      const replay = events(again);
      assertEquals(replay.filter((e) => e.type === "gap"), []);
      assertEquals(
        publications(again).map((e) => e.data),
        Array.from({ length: 20 }, (_, i) => `m${i + 6}`),
      );
      assertConsecutive([last, ...publications(again).map((e) => e.id as string)]);
      const subscribed = replay.find((e) => e.type === "subscribed")!;
      assertEquals(subscribed.last, publications(again).at(-1)!.id);
      await publishOk(a!, "feed", "live");
      await until(() => publications(again).length === 21, 5000, "the live publication");
      assertEquals(publications(again).at(-1)!.data, "live");
      await again.close();
    });
  },
);

redisTest(
  "a node killed: its clients resume on another node with nothing lost or doubled",
  async (redis) => {
    await withNodes(redis, 2, async (nodes, [a, b]) => {
      const client = await subscribedClient(a!, "/?topic=ticks", "ticks");
      const seen: Event[] = [];
      let published = 0;
      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          await publishOk(b!, "ticks", `t${++published}`);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();
      await until(() => publications(client).length >= 20, 5000, "20 ticks");
      await nodes[0]!.stop("SIGKILL");
      await client.closed;
      seen.push(...publications(client));
      const last = seen.at(-1)!.id as string;

      // The client comes back, as the page does, to the node that is left.
      const again = await subscribedClient(b!, `/?topic=ticks&since=ticks:${last}`, "ticks");
      await new Promise((resolve) => setTimeout(resolve, 200));
      publishing = false;
      await publisher;
      await until(
        () => publications(again).at(-1)?.data === `t${published}`,
        5000,
        "the last tick",
      );
      const all = [...seen, ...publications(again)];
      assertEquals(events(again).filter((e) => e.type === "gap"), []);
      assertEquals(
        all.map((e) => e.data),
        Array.from({ length: published }, (_, i) => `t${i + 1}`),
      );
      assertConsecutive(all.map((e) => e.id as string));
      await again.close();
    });
  },
);

redisTest(
  "Redis restarted empty: live clients get a restart gap, then new messages; publishing meanwhile is 503",
  async (redis) => {
    await withNodes(redis, 2, async (_nodes, [a, b]) => {
      const live = await subscribedClient(b!, "/?topic=news", "news");
      const before = await publishOk(a!, "news", "before");
      await until(() => publications(live).length === 1, 5000, "first publication");
      // A client that drops out before the restart, to resume after it.
      const away = await subscribedClient(a!, "/?topic=news", "news");
      await away.close();

      await redis.stop();
      const down = await publish(a!, "news", "lost");
      assertEquals(down.status, 503);
      assertStringIncludes(down.error ?? "", "Cannot publish");
      await redis.restart();

      let after: { status: number; id?: string } = { status: 0 };
      const deadline = Date.now() + 10_000;
      while (after.status !== 200) {
        assert(Date.now() < deadline, "publishing works again once Redis is back");
        await new Promise((resolve) => setTimeout(resolve, 50));
        after = await publish(a!, "news", "after");
      }
      await until(
        () => publications(live).some((e) => e.data === "after"),
        10_000,
        "the new message",
      );
      const seen = events(live).filter((e) => e.type !== "subscribed");
      assertEquals(seen.map((e) => e.type === "gap" ? `gap:${e.reason}` : e.data), [
        "before",
        "gap:restart",
        "after",
      ]);
      assertEquals(seen[1]!.since, before);
      assertEquals(seen[2]!.id, after.id);
      assert(after.id!.split(":")[0] !== before.split(":")[0], "a new epoch");

      const back = await subscribedClient(a!, `/?topic=news&since=news:${before}`, "news");
      const resumed = events(back);
      assertEquals(resumed[0], { type: "gap", topic: "news", since: before, reason: "restart" });
      assertEquals(publications(back).map((e) => e.data), ["after"]);
      await live.close();
      await back.close();
    });
  },
);

Deno.test("a node exits 1 with a clear error when Redis cannot be reached", async () => {
  const port = freePort();
  const node = new Node(`redis://127.0.0.1:${port}/0`, ["--redis-timeout", "1"]);
  const started = Date.now();
  const { code, output } = await node.exited();
  assertEquals(code, 1);
  assertStringIncludes(output, `error: Cannot connect to Redis at redis://127.0.0.1:${port}/0`);
  assertStringIncludes(output, "within 1000 ms");
  assert(!output.includes("listening"), output);
  assert(Date.now() - started < 15_000);
});
