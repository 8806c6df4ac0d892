/**
 * The server's connection limits from the wire: pending handshakes (closed
 * at once past `maxPendingHandshakes`), connections per address (429 past
 * `maxConnectionsPerAddress`, closed without an answer past twice it), and
 * `/healthz` counting only real handshakes. Loopback only, port 0, a few
 * connections each, bounded in time.
 *
 * @module
 */

import { assert, assertEquals, assertLess } from "@std/assert";
import { AddressLimit } from "../src/server/address_limit.ts";
import { RawClient, rawHttp, upgradeRequest } from "./_raw_client.ts";
import { until, withServer } from "./_server.ts";

const decoder = new TextDecoder();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** What the server sends first: its bytes until it ends or `timeout` ms pass, and when. */
async function firstAnswer(
  conn: Deno.Conn,
  timeout: number,
): Promise<{ text: string; ended: boolean; ms: number }> {
  const started = Date.now();
  const buffer = new Uint8Array(4096);
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeout);
  });
  try {
    while (true) {
      const n = await Promise.race([conn.read(buffer).catch(() => null), expired]);
      if (n === "timeout") return { text, ended: false, ms: Date.now() - started };
      if (n === null) return { text, ended: true, ms: Date.now() - started };
      text += decoder.decode(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Opens `count` connections that send nothing. */
function idle(port: number, count: number): Promise<Deno.Conn[]> {
  return Promise.all(
    Array.from({ length: count }, () => Deno.connect({ hostname: "127.0.0.1", port })),
  );
}

/** A metric's value from the server's own rendering (0 when absent). */
function metric(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

Deno.test("AddressLimit admits up to the limit, refuses as many again, then drops", () => {
  const limit = new AddressLimit(2);
  const verdicts = Array.from({ length: 5 }, () => limit.admit("10.0.0.7"));
  assertEquals(verdicts, ["admit", "admit", "refuse", "refuse", "drop"]);
  assertEquals(limit.admit("10.0.0.8"), "admit", "another address has its own count");
  limit.release("10.0.0.7");
  assertEquals(limit.admit("10.0.0.7"), "admit");
  limit.refused("10.0.0.7");
  limit.refused("10.0.0.7");
  limit.release("10.0.0.7");
  limit.release("10.0.0.7");
  limit.release("10.0.0.8");
  assertEquals(limit.size, 0, "an address holding nothing is forgotten");
  const off = new AddressLimit(0);
  assertEquals(Array.from({ length: 3 }, () => off.admit("10.0.0.7")), ["admit", "admit", "admit"]);
  assertEquals(off.size, 0);
});

Deno.test("past maxPendingHandshakes a connection is closed at once, unanswered; a place frees up", async () => {
  await withServer(
    { maxPendingHandshakes: 3, maxConnectionsPerAddress: 0, handshakeTimeout: 5000 },
    undefined,
    async (server, port) => {
      const waiting = await idle(port, 3);
      try {
        await sleep(200); // Let the server accept them.
        const [extra] = await idle(port, 1);
        const answer = await firstAnswer(extra!, 3000);
        closeQuietly(extra!);
        assertEquals(answer.text, "", "nothing is written to it");
        assert(answer.ended, "it is closed");
        assertLess(answer.ms, 1000, "at once, not at the handshake timeout");
        assertEquals(
          metric(
            server.metrics.render(),
            'pushwire_connections_refused_total{reason="pending-handshakes"}',
          ),
          1,
        );
      } finally {
        waiting.forEach(closeQuietly);
      }
      // The silent ones gone, connections are served again.
      await sleep(100);
      const client = await RawClient.connect(port);
      client.close();
    },
  );
});

Deno.test("past maxConnectionsPerAddress a connection gets 429 at once; sockets count; 0 turns it off", async (t) => {
  await t.step(
    "sockets and pending handshakes count; a place frees up when one closes",
    async () => {
      await withServer({ maxConnectionsPerAddress: 3 }, undefined, async (server, port) => {
        const sockets = [await RawClient.connect(port), await RawClient.connect(port)];
        const [pending] = await idle(port, 1);
        await until(() => server.sockets.size === 2);
        await sleep(100);
        const started = Date.now();
        const refused = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`));
        assert(refused.startsWith("HTTP/1.1 429 "), refused.slice(0, 60));
        assert(refused.includes("Too many connections from this address"));
        assertLess(Date.now() - started, 1500);
        sockets[0]!.close();
        await until(() => server.sockets.size === 1);
        const again = await RawClient.connect(port);
        again.close();
        sockets[1]!.close();
        closeQuietly(pending!);
        assertEquals(
          metric(
            server.metrics.render(),
            'pushwire_connections_refused_total{reason="per-address"}',
          ),
          1,
        );
      });
    },
  );

  await t.step("past twice the limit (refusals being answered), closed unanswered", async () => {
    await withServer({ maxConnectionsPerAddress: 1 }, undefined, async (_server, port) => {
      const [held, refused, dropped] = await idle(port, 3);
      try {
        // `refused` never closes: the server keeps draining it for its 2 s.
        const answer = await firstAnswer(refused!, 1000);
        assert(answer.text.startsWith("HTTP/1.1 429 "), answer.text);
        const nothing = await firstAnswer(dropped!, 1000);
        assertEquals([nothing.text, nothing.ended], ["", true]);
      } finally {
        [held, refused, dropped].forEach((conn) => closeQuietly(conn!));
      }
    });
  });

  await t.step("0 turns the limit off", async () => {
    await withServer({ maxConnectionsPerAddress: 0 }, undefined, async (server, port) => {
      const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(port)));
      await until(() => server.sockets.size === 8);
      clients.forEach((client) => client.close());
    });
  });
});

Deno.test("GET /healthz counts handshakes under way, not the request being answered", async () => {
  await withServer({}, undefined, async (_server, port) => {
    const health = async () => await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
    assertEquals((await health()).handshakes, 0, "an idle server");
    const [silent] = await idle(port, 1);
    try {
      await sleep(100);
      assertEquals((await health()).handshakes, 1, "one client that sent nothing");
    } finally {
      closeQuietly(silent!);
    }
    await sleep(100);
    assertEquals((await health()).handshakes, 0);
  });
});
