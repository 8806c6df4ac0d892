import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { builtinRoutes } from "../src/server/builtin_routes.ts";
import { LabeledCounter, Metrics, renderMetrics } from "../src/server/metrics.ts";
import type { HttpRequest } from "../src/server/routes.ts";
import { HttpError } from "../src/protocol/errors.ts";
import type { Server } from "../src/server/server.ts";
import { rawHttp, upgradeRequest } from "./_raw_client.ts";
import { relay, TestClient, until, withServer } from "./_server.ts";

Deno.test("renderMetrics() writes the Prometheus text format exactly", () => {
  const text = renderMetrics([
    { name: "a_open", help: "Open things.", type: "gauge", samples: [{ value: 3 }] },
    {
      name: "a_closed_total",
      help: "Closed, by code.",
      type: "counter",
      samples: [{ labels: { code: "1000" }, value: 2 }, { labels: { code: "1001" }, value: 1 }],
    },
    { name: "a_weird", help: "Back\\slash\nnewline.", type: "gauge", samples: [{ value: NaN }] },
    {
      name: "a_labels",
      help: "Escapes.",
      type: "gauge",
      samples: [{ labels: { path: 'a"b\\c\nd' }, value: Infinity }],
    },
    // A second report of a_closed_total is merged under the first header.
    {
      name: "a_closed_total",
      help: "ignored",
      type: "counter",
      samples: [{ labels: { code: "1006" }, value: 4 }],
    },
    { name: "a_empty_total", help: "Nothing yet.", type: "counter", samples: [] },
  ]);
  assertEquals(
    text,
    [
      "# HELP a_open Open things.",
      "# TYPE a_open gauge",
      "a_open 3",
      "# HELP a_closed_total Closed, by code.",
      "# TYPE a_closed_total counter",
      'a_closed_total{code="1000"} 2',
      'a_closed_total{code="1001"} 1',
      'a_closed_total{code="1006"} 4',
      "# HELP a_weird Back\\\\slash\\nnewline.",
      "# TYPE a_weird gauge",
      "a_weird NaN",
      "# HELP a_labels Escapes.",
      "# TYPE a_labels gauge",
      'a_labels{path="a\\"b\\\\c\\nd"} +Inf',
      "# HELP a_empty_total Nothing yet.",
      "# TYPE a_empty_total counter",
      "",
    ].join("\n"),
  );
});

Deno.test("renderMetrics() refuses bad names and one name with two types", () => {
  const metric = { help: "x", type: "gauge" as const, samples: [{ value: 1 }] };
  assertThrows(() => renderMetrics([{ ...metric, name: "9lives" }]), TypeError, "invalid name");
  assertThrows(
    () =>
      renderMetrics([{ ...metric, name: "ok", samples: [{ labels: { "a-b": "1" }, value: 1 }] }]),
    TypeError,
    "invalid name",
  );
  assertThrows(
    () => renderMetrics([{ ...metric, name: "x" }, { ...metric, name: "x", type: "counter" }]),
    TypeError,
    "two types",
  );
});

Deno.test("LabeledCounter sorts its samples with numbers in numeric order", () => {
  const counter = new LabeledCounter("code");
  for (const code of ["1006", "1000", "4000", "1000", "999"]) counter.add(code);
  counter.add("1001", 5);
  assertEquals(counter.get("1000"), 2);
  assertEquals(counter.get("3000"), 0);
  assertEquals(counter.samples().map((s) => [s.labels?.code, s.value]), [
    ["999", 1],
    ["1000", 2],
    ["1001", 5],
    ["1006", 1],
    ["4000", 1],
  ]);
});

Deno.test("Metrics calls every collector on each scrape", () => {
  const metrics = new Metrics();
  let n = 0;
  metrics.register(() => [{ name: "n", help: "n.", type: "gauge", samples: [{ value: n }] }]);
  metrics.register(() => []);
  n = 7;
  assertEquals(metrics.render(), "# HELP n n.\n# TYPE n gauge\nn 7\n");
});

/** Scrapes `/metrics` into a map of `name{labels}` → value. */
async function scrape(port: number): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assertEquals(response.status, 200);
  assertMatch(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const values = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

Deno.test("GET /metrics counts sockets, closes by code, refusals, traffic and fan-out", async () => {
  let server: Server;
  // Every scrape rendered afresh: this test scrapes within milliseconds.
  await withServer({ metricsCacheTtl: 0 }, relay(() => server), async (s, port) => {
    server = s;
    const [a, b] = await TestClient.open(port, 2);
    await until(() => s.sockets.size === 2);
    let m = await scrape(port);
    assertEquals(m.get("pushwire_sockets_open"), 2);
    assertEquals(m.get("pushwire_sockets_accepted_total"), 2);
    assert((m.get("pushwire_start_time_seconds") ?? 0) <= Date.now() / 1000);

    a!.ws.send("hello"); // relayed to both
    await b!.waitFor(1);
    await a!.waitFor(1);
    // Only the version header changes ("13" may also be part of the port).
    const bad = await rawHttp(
      port,
      upgradeRequest(`127.0.0.1:${port}`).replace(
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Version: 8",
      ),
    );
    assert(bad.startsWith("HTTP/1.1 426 "));
    await rawHttp(port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals(s.broadcast("nobody-listens", "x"), 0);

    m = await scrape(port);
    assertEquals(m.get("pushwire_messages_received_total"), 1);
    assertEquals(m.get("pushwire_received_bytes_total"), 5);
    assertEquals(m.get("pushwire_frames_sent_total"), 2);
    assertEquals(m.get("pushwire_sent_bytes_total"), 14);
    assertEquals(m.get('pushwire_handshake_failures_total{status="426"}'), 1);
    assertEquals(m.get('pushwire_http_responses_total{status="404"}'), 1);
    assertEquals(m.get('pushwire_http_responses_total{status="200"}'), 1, "the first scrape");
    assertEquals(m.get('pushwire_fanout_messages_total{source="topic"}'), 1);
    assertEquals(m.get('pushwire_fanout_deliveries_total{source="topic"}'), 0);
    assertEquals(m.get("pushwire_outbox_bytes"), 0);

    await a!.close(4001);
    await b!.close(1000);
    await until(() => s.sockets.size === 0);
    await new Promise((resolve) => setTimeout(resolve, 0));
    m = await scrape(port);
    assertEquals(m.get("pushwire_sockets_open"), 0);
    assertEquals(m.get('pushwire_sockets_closed_total{code="1000"}'), 1);
    assertEquals(m.get('pushwire_sockets_closed_total{code="4001"}'), 1);
    // Closed sockets' traffic stays counted.
    assertEquals(m.get("pushwire_messages_received_total"), 1);
    assertEquals(m.get("pushwire_sent_bytes_total"), 14);
  });
});

Deno.test("serve({ metrics: false }) serves no /metrics", async () => {
  await withServer({ metrics: false }, undefined, async (_server, port) => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    assertEquals(response.status, 404);
    await response.body?.cancel();
  });
});

/** A `GET /metrics` request to the route directly, from any address. */
function scrapeRequest(hostname: string, headers: Record<string, string> = {}): HttpRequest {
  return {
    method: "GET",
    path: "/metrics",
    query: new URLSearchParams(),
    headers: new Map(Object.entries(headers)),
    remoteAddr: { transport: "tcp", hostname, port: 5000 },
    body: () => Promise.resolve(new Uint8Array()),
  };
}

/** Metrics whose one collector counts how often it is called. */
function countingMetrics(): { metrics: Metrics; calls: () => number } {
  const metrics = new Metrics();
  let calls = 0;
  metrics.register(() => [
    { name: "scrapes", help: "Renderings.", type: "counter", samples: [{ value: ++calls }] },
  ]);
  return { metrics, calls: () => calls };
}

Deno.test("GET /metrics without a token serves loopback clients only", async () => {
  const { metrics } = countingMetrics();
  const route = builtinRoutes({
    health: () => ({ status: "ok", sockets: 0, handshakes: 0, uptimeSeconds: 0 }),
    metrics,
    page: false,
  })["/metrics"]!;
  for (const local of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
    assertEquals((await route.handle(scrapeRequest(local))).status, 200, local);
  }
  const refused = await Promise.resolve(route.handle(scrapeRequest("192.0.2.7"))).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert(refused instanceof HttpError, "another machine is refused");
  assertEquals(refused.status, 403);
  assertMatch(refused.message, /loopback clients only/);
});

Deno.test("serve({ metricsToken }) requires the bearer token for /metrics, loopback included", async () => {
  await withServer({ metricsToken: "m3trics" }, undefined, async (_server, port) => {
    const get = (headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${port}/metrics`, { headers });
    const none = await get();
    assertEquals(none.status, 401);
    assertMatch(none.headers.get("www-authenticate") ?? "", /^Bearer /);
    await none.body?.cancel();
    const wrong = await get({ Authorization: "Bearer guess" });
    assertEquals(wrong.status, 403);
    await wrong.body?.cancel();
    const right = await get({ Authorization: "Bearer m3trics" });
    assertEquals(right.status, 200);
    assertMatch(await right.text(), /pushwire_sockets_open 0\n/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assertEquals(health.status, 200, "/healthz stays public");
    await health.body?.cancel();
  });
});

Deno.test("GET /metrics renders at most once per metricsCacheTtl, however often it is scraped", async (t) => {
  await t.step("over the wire: ten scrapes, one rendering", async () => {
    await withServer({ metricsCacheTtl: 60_000 }, undefined, async (server, port) => {
      let renderings = 0;
      server.metrics.register(() => {
        renderings++;
        return [];
      });
      const bodies = [];
      for (let i = 0; i < 10; i++) {
        bodies.push(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      }
      assertEquals(renderings, 1);
      assertEquals(new Set(bodies).size, 1, "the same text each time");
    });
  });
  await t.step(
    "with a clock: afresh once the period has passed; 0 renders every time",
    async () => {
      let now = 1000;
      const health = () => ({ status: "ok" as const, sockets: 0, handshakes: 0, uptimeSeconds: 0 });
      const cached = countingMetrics();
      const route = builtinRoutes({
        health,
        metrics: cached.metrics,
        metricsCacheTtl: 1000,
        now: () => now,
        page: false,
      })["/metrics"]!;
      const scrape = async () => String((await route.handle(scrapeRequest("127.0.0.1"))).body);
      const first = await scrape();
      now += 999;
      assertEquals(await scrape(), first);
      now += 1;
      assertMatch(await scrape(), /scrapes 2\n/);
      assertEquals(cached.calls(), 2);
      const fresh = countingMetrics();
      const uncached = builtinRoutes({
        health,
        metrics: fresh.metrics,
        metricsCacheTtl: 0,
        page: false,
      })["/metrics"]!;
      for (let i = 0; i < 3; i++) await uncached.handle(scrapeRequest("127.0.0.1"));
      assertEquals(fresh.calls(), 3);
    },
  );
});
