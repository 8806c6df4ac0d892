/**
 * `--workers` with `--redis`: each worker is a Redis node, so the workers
 * and the other nodes share one view of the topics — one id per message,
 * delivered to the subscribers of every worker and node.
 */

import { assert, assertEquals } from "@std/assert";
import { servePush } from "../src/app/serve_push.ts";
import { RedisEngine } from "../src/push/redis_engine.ts";
import { startCli } from "./_cli.ts";
import { redisTest } from "./_redis.ts";
import { type JsonEvent, TestClient, waitForEvent } from "./_server.ts";

redisTest(
  "pushwire --workers 2 --redis: the workers and another node share topics and ids",
  async (redis) => {
    const cli = await startCli(["--workers", "2", "--redis", redis.url], {
      permissions: ["-A", "--unstable-net"],
    });
    const other = servePush({
      port: 0,
      hostname: "127.0.0.1",
      engine: new RedisEngine({ url: redis.url }),
    });
    const clients: TestClient[] = [];
    try {
      await other.ready;
      // Sockets spread over the workers by the kernel; each learns its node from `you`.
      const snapshots: JsonEvent[] = [];
      for (let i = 0; i < 16; i++) {
        const client = new TestClient(cli.port, "/?topic=room:r");
        clients.push(client);
        snapshots.push(await waitForEvent(client, (e) => e.type === "presence", 10_000));
      }
      const nodes = new Set(snapshots.map((e) => String(e.you).split(".")[0]));
      assert(nodes.size === 2, `sockets on ${nodes.size} worker(s)`);
      const remote = new TestClient(other.server.addr.port, "/?topic=room:r");
      clients.push(remote);
      await waitForEvent(remote, (e) => e.type === "subscribed");

      const fromNode = await other.publish("room:r", { type: "text", text: "from the other node" });
      const response = await fetch(`http://127.0.0.1:${cli.port}/publish?topic=room:r`, {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: "from a worker",
      });
      const fromWorker = await response.json();
      for (const client of clients) {
        const first = await waitForEvent(client, (e) => e.data === "from the other node", 10_000);
        const second = await waitForEvent(client, (e) => e.data === "from a worker", 10_000);
        assertEquals([first.id, second.id], [fromNode.id, fromWorker.id]);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await other.server.shutdown();
      await cli.stop();
    }
  },
);
