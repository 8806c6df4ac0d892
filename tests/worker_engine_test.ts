/**
 * The coordinator of a server's workers and the workers' engines and
 * presence stores, without sockets or workers: each "worker" is a
 * `MessageChannel` in this thread, as structured-clone as a real one.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import type { EngineEvent } from "../src/push/engine.ts";
import { EngineUnavailableError } from "../src/push/engine_errors.ts";
import { formatId } from "../src/push/history.ts";
import type { PresenceEntry } from "../src/push/presence.ts";
import { Coordinator, type CoordinatorOptions } from "../src/push/workers/coordinator.ts";
import { WorkerLink } from "../src/push/workers/link.ts";
import { WorkerEngine } from "../src/push/workers/worker_engine.ts";
import { WorkerPresence } from "../src/push/workers/worker_presence.ts";

/** A worker in this thread: its engine, presence store, and what its sink got. */
interface FakeWorker {
  node: string;
  link: WorkerLink;
  engine: WorkerEngine;
  presence: WorkerPresence;
  got: string[];
  close: () => void;
}

function setup(nodes: string[], options: CoordinatorOptions = { epoch: "e1" }) {
  const coordinator = new Coordinator(options);
  const workers = nodes.map((node): FakeWorker => {
    const channel = new MessageChannel();
    const member = coordinator.attach(channel.port1, node);
    const link = new WorkerLink(channel.port2);
    const engine = new WorkerEngine(link);
    const got: string[] = [];
    engine.listen((event: EngineEvent) => {
      if (event.type === "message") {
        got.push(`${event.message.topic} ${formatId(event.message.id)} ${event.message.payload}`);
      } else got.push(`gap ${event.topic}`);
    });
    return {
      node,
      link,
      engine,
      presence: new WorkerPresence(link, node),
      got,
      close: () => {
        coordinator.detach(member);
        link.close();
        channel.port1.close();
        channel.port2.close();
      },
    };
  });
  const stop = () => {
    for (const worker of workers) worker.close();
    coordinator.close();
  };
  return { coordinator, workers, stop };
}

/** Lets every message already posted arrive (a round trip through each channel). */
async function settle(workers: FakeWorker[]) {
  for (const worker of workers) await worker.presence.nodes().catch(() => {});
}

Deno.test("WorkerEngine: publications from every worker get one id order, delivered to every watcher", async () => {
  const { workers, stop } = setup(["a", "b", "c"]);
  try {
    for (const worker of workers) await worker.engine.watch("news");
    const appends = [];
    for (let i = 0; i < 30; i++) {
      appends.push(workers[i % 3]!.engine.append("news", `m${i}`));
    }
    const ids = (await Promise.all(appends)).map((message) => message.id.seq);
    assertEquals(ids, Array.from({ length: 30 }, (_, i) => i + 1));
    await settle(workers);
    const expected = Array.from({ length: 30 }, (_, i) => `news e1:${i + 1} m${i}`);
    for (const worker of workers) assertEquals(worker.got, expected);
    assertEquals(workers[1]!.engine.position("news"), { epoch: "e1", seq: 30 });
  } finally {
    stop();
  }
});

Deno.test("WorkerEngine: a worker's own publication is delivered before its append resolves", async () => {
  const { workers, stop } = setup(["a"]);
  try {
    const [a] = workers as [FakeWorker];
    await a.engine.watch("t");
    const message = await a.engine.append("t", "x");
    assertEquals(a.got, ["t e1:1 x"]);
    assertEquals(a.engine.position("t"), message.id);
  } finally {
    stop();
  }
});

Deno.test("WorkerEngine: only watched topics are delivered; watch tells where the topic stands", async () => {
  const { workers, stop } = setup(["a", "b"]);
  try {
    const [a, b] = workers as [FakeWorker, FakeWorker];
    await a.engine.append("t", "before");
    await a.engine.append("other", "x");
    await b.engine.watch("t");
    assertEquals(b.engine.position("t"), { epoch: "e1", seq: 1 });
    await a.engine.append("t", "after");
    await settle(workers);
    assertEquals(b.got, ["t e1:2 after"]);
    assertEquals([...b.engine.watched()], ["t"]);
    b.engine.unwatch("t");
    await a.engine.append("t", "unwatched");
    await settle(workers);
    assertEquals(b.got, ["t e1:2 after"]);
    assertEquals([...b.engine.watched()], []);
    // Watched again: from the topic's place now, then live.
    await b.engine.watch("t");
    assertEquals(b.engine.position("t"), { epoch: "e1", seq: 3 });
    await a.engine.append("t", "again");
    await settle(workers);
    assertEquals(b.got, ["t e1:2 after", "t e1:4 again"]);
  } finally {
    stop();
  }
});

Deno.test("WorkerEngine: unwatch and watch at once deliver nothing twice and miss nothing", async () => {
  const { workers, stop } = setup(["a", "b"]);
  try {
    const [a, b] = workers as [FakeWorker, FakeWorker];
    await b.engine.watch("t");
    const appends = [a.engine.append("t", "1"), a.engine.append("t", "2")];
    b.engine.unwatch("t");
    const watching = b.engine.watch("t");
    appends.push(a.engine.append("t", "3"));
    await Promise.all([...appends, watching]);
    await settle(workers);
    const position = b.engine.position("t").seq;
    // What b got after its new watch continues from its position, once each.
    const seqs = b.got.map((line) => Number(line.split(" ")[1]!.split(":")[1]));
    assertEquals(new Set(seqs).size, seqs.length);
    assertEquals(position, 3);
  } finally {
    stop();
  }
});

Deno.test("WorkerEngine: position of a topic not watched is a TypeError", () => {
  const { workers, stop } = setup(["a"]);
  try {
    let error: unknown;
    try {
      workers[0]!.engine.position("t");
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof TypeError);
  } finally {
    stop();
  }
});

Deno.test("WorkerEngine: resume on another worker from the coordinator's window, gaps included", async () => {
  const { workers, stop } = setup(["a", "b"], { epoch: "e1", size: 3 });
  try {
    const [a, b] = workers as [FakeWorker, FakeWorker];
    const first = await a.engine.append("t", "1");
    for (const text of ["2", "3"]) await a.engine.append("t", text);
    const recovered = await b.engine.recover("t", first.id);
    assertEquals(recovered.kind, "complete");
    assertEquals(recovered.messages.map((m) => m.payload), ["2", "3"]);
    assertEquals(recovered.last, { epoch: "e1", seq: 3 });
    for (const text of ["4", "5"]) await a.engine.append("t", text);
    const gap = await b.engine.recover("t", first.id);
    assertEquals(gap.kind, "gap");
    assertEquals(gap.messages.map((m) => m.payload), ["3", "4", "5"]);
    const restart = await b.engine.recover("t", { epoch: "old", seq: 1 });
    assertEquals(restart.kind === "gap" ? restart.reason : undefined, "restart");
  } finally {
    stop();
  }
});

Deno.test("WorkerEngine: an idempotency key is one message whatever worker retries it", async () => {
  const { workers, stop } = setup(["a", "b"]);
  try {
    const [a, b] = workers as [FakeWorker, FakeWorker];
    const first = await a.engine.append("t", "x", { idempotencyKey: "k1" });
    const again = await b.engine.append("t", "x", { idempotencyKey: "k1" });
    assertEquals(again.id, first.id);
    assertEquals(again.repeated, true);
    await assertRejects(() => b.engine.append("t", "x", { idempotencyKey: "" }), TypeError);
  } finally {
    stop();
  }
});

Deno.test("WorkerEngine: a closed engine rejects with EngineUnavailableError", async () => {
  const { workers, stop } = setup(["a"]);
  try {
    await workers[0]!.engine.close();
    await assertRejects(() => workers[0]!.engine.append("t", "x"), EngineUnavailableError);
  } finally {
    stop();
  }
});

Deno.test("WorkerPresence: entries of every worker; a detached worker's entries go to a live one", async () => {
  const { workers, stop } = setup(["a", "b", "c"]);
  try {
    const [a, b, c] = workers as [FakeWorker, FakeWorker, FakeWorker];
    const expired: [string, PresenceEntry[]][] = [];
    b.presence.listen((topic, entries) => expired.push([topic, entries]));
    c.presence.listen((topic, entries) => expired.push([topic, entries]));
    await a.presence.add("room:1", { client: "a.1", user: "ada" });
    await b.presence.add("room:1", { client: "b.1" });
    await a.presence.add("#room", { client: "a.2" });
    assertEquals((await c.presence.list("room:1")).map((e) => e.client).sort(), ["a.1", "b.1"]);
    assertEquals((await c.presence.nodes()).sort(), ["a", "b", "c"]);
    await b.presence.remove("room:1", "b.1");
    assertEquals(await c.presence.list("room:1"), [{ client: "a.1", user: "ada" }]);
    a.close();
    await settle([b, c]);
    assertEquals((await c.presence.nodes()).sort(), ["b", "c"]);
    assertEquals(await c.presence.list("room:1"), []);
    // Handed to one live worker only.
    assertEquals(expired.sort(), [["#room", [{ client: "a.2" }]], [
      "room:1",
      [{ client: "a.1", user: "ada" }],
    ]]);
  } finally {
    stop();
  }
});

Deno.test("Coordinator: gather asks every live worker and adds the history's sizes", async () => {
  const { workers, coordinator, stop } = setup(["a", "b"], { epoch: "e1", askTimeout: 200 });
  try {
    const [a, b] = workers as [FakeWorker, FakeWorker];
    a.link.onAsk = (what) => ({ node: "a", what });
    b.link.onAsk = () => Promise.resolve({ node: "b" });
    await a.engine.append("t", "hello");
    const gathered = await a.link.request("gather", { what: "health" });
    assertEquals(gathered.asked, 2);
    assertEquals(gathered.answers, [{ node: "a", what: "health" }, { node: "b" }]);
    assertEquals(gathered.stats.messages, 1);
    // A worker that does not answer in time is left out.
    b.link.onAsk = () => new Promise(() => {});
    assertEquals((await coordinator.gather("x")).answers.length, 1);
  } finally {
    stop();
  }
});
