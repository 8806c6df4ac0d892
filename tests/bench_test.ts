/**
 * The benchmark's code paths on tiny runs: correctness only (nothing lost, the
 * report's shape, parsers and the wire reader), never timing.
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { parseBenchArgs, selectScenarios } from "../bench/lib/args.ts";
import { medianRun, type Report, runBench, type RunRecord } from "../bench/lib/bench.ts";
import { parseCoreBusy, parseStatCpu, parseStatusRss } from "../bench/lib/proc.ts";
import {
  connectScenario,
  deflateScenario,
  echoScenario,
  fanoutScenario,
  planScenarios,
  type Timing,
} from "../bench/lib/scenarios.ts";
import { renderTable } from "../bench/lib/table.ts";
import { Histogram } from "../bench/load/histogram.mjs";
import { readStamp, STAMP_LENGTH, writeStamp } from "../bench/load/stamp.mjs";
import { clientFrame, FrameReader, OPCODE } from "../bench/load/wire.mjs";

const TINY: Timing = {
  durationMs: 200,
  warmupMs: 50,
  drainMs: 5000,
  settleMs: 50,
};

async function hasNode(): Promise<boolean> {
  try {
    return (await new Deno.Command("node", {
      args: ["--version"],
      stdout: "null",
    }).output())
      .success;
  } catch {
    return false;
  }
}

/** An unmasked server frame, as the peers send them. */
function serverFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const header = payload.length < 126 ? 2 : payload.length < 65536 ? 4 : 10;
  const frame = new Uint8Array(header + payload.length);
  frame[0] = 0x80 | opcode;
  if (header === 2) frame[1] = payload.length;
  if (header === 4) {
    frame[1] = 126;
    new DataView(frame.buffer).setUint16(2, payload.length);
  }
  if (header === 10) {
    frame[1] = 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(payload.length));
  }
  frame.set(payload, header);
  return frame;
}

Deno.test("FrameReader sees the same frames however the stream is split", () => {
  const payloads = [
    writeStamp(32, "m", 1, 1000),
    new Uint8Array(0),
    writeStamp(1024, "m", 2, 2000),
    new Uint8Array(5).fill(0x61),
    writeStamp(70_000, "m", 3, 3000),
  ];
  const stream = new Uint8Array(
    payloads.reduce((n, p) => n + serverFrame(OPCODE.TEXT, p).length, 0),
  );
  let offset = 0;
  for (const payload of payloads) {
    const frame = serverFrame(OPCODE.TEXT, payload);
    stream.set(frame, offset);
    offset += frame.length;
  }
  const expected = payloads.map((
    p,
  ) => [p.length, [...p.subarray(0, STAMP_LENGTH)].join()]);
  for (let split = 0; split <= stream.length; split += split < 200 ? 1 : 997) {
    const seen: [number, string][] = [];
    const reader = new FrameReader(
      STAMP_LENGTH,
      (
        _op: number,
        bytes: Uint8Array,
        at: number,
        prefix: number,
        length: number,
      ) => {
        seen.push([length, [...bytes.subarray(at, at + prefix)].join()]);
      },
    );
    reader.push(stream, 0, split);
    reader.push(stream, split, stream.length);
    assertEquals(seen, expected, `split at ${split}`);
  }
  const oneByOne: number[] = [];
  const reader = new FrameReader(
    STAMP_LENGTH,
    (_o: number, _b: Uint8Array, _a: number, _p: number, n: number) => {
      oneByOne.push(n);
    },
  );
  for (let i = 0; i < stream.length; i++) reader.push(stream, i, i + 1);
  assertEquals(oneByOne, payloads.map((p) => p.length));
});

Deno.test("clientFrame() masks the payload and keeps the stamp readable once unmasked", () => {
  const payload = writeStamp(200, "e", 0xabcdef, 123_456_789);
  const frame = clientFrame(OPCODE.TEXT, payload);
  assertEquals(frame[0], 0x81);
  assertEquals(frame[1], 0x80 | 126);
  assertEquals((frame[2]! << 8) | frame[3]!, 200);
  const mask = frame.subarray(4, 8);
  const unmasked = frame.subarray(8).map((byte, i) => byte ^ mask[i & 3]!);
  assertEquals(unmasked, payload);
  assertEquals(readStamp(unmasked, 0), {
    kind: 0x65,
    seq: 0xabcdef,
    micros: 123_456_789,
  });
});

Deno.test("Histogram quantiles stay within a bucket of the exact value", () => {
  const histogram = new Histogram();
  for (let v = 1; v <= 10_000; v++) histogram.record(v);
  const p50 = histogram.quantile(0.5);
  const p99 = histogram.quantile(0.99);
  assert(Math.abs(p50 - 5000) / 5000 < 0.02, `p50 ${p50}`);
  assert(Math.abs(p99 - 9900) / 9900 < 0.02, `p99 ${p99}`);
  assertEquals(histogram.quantile(0), 1);
  assertEquals(new Histogram().quantile(0.5), 0);
});

Deno.test("/proc parsers read CPU ticks, VmRSS and per-core busy time", () => {
  const stat = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 8 0 100";
  assertEquals(parseStatCpu(stat, 100), 4);
  assertEquals(
    parseStatusRss("Name:\tdeno\nVmRSS:\t   2048 kB\nThreads: 8\n"),
    2048 * 1024,
  );
  assertEquals(parseStatusRss("Name:\tzombie\n"), 0);
  const cores = "cpu  1 1 1 1\ncpu0 100 0 50 900 10 0 50 0 0 0\ncpu1 10 0 10 1000 0 0 0 0 0 0\n";
  assertEquals(parseCoreBusy(cores, 100), [2, 0.2]);
});

Deno.test("parseBenchArgs() and selectScenarios() pick servers and scenarios", () => {
  const args = parseBenchArgs([
    "--quick",
    "--servers",
    "bun,deno",
    "--scenarios",
    "fanout,echo-10",
  ]);
  assertEquals(args.servers, ["deno", "bun"]);
  const plan = planScenarios({ quick: true, window: 32 });
  assertEquals(
    selectScenarios(plan, args.scenarios).map((s) => s.id),
    ["fanout-100-32", "fanout-100-1024", "echo-10"],
  );
  assertEquals(planScenarios({ quick: false, window: 32 }).length, 10);
  assertEquals(parseBenchArgs([]).repeat, 1);
  assertEquals(parseBenchArgs(["--repeat", "3"]).repeat, 3);
  assertThrows(() => parseBenchArgs(["--repeat", "0"]), RangeError, "--repeat");
});

Deno.test("medianRun() keeps the median run, the most lost, and a failure over any success", () => {
  const run = (perCpu: number, lost: number, ok = true): RunRecord => ({
    ok,
    figures: [
      { key: "perCpu", label: "per CPU-s", value: perCpu, better: "higher" },
      { key: "lost", label: "lost", value: lost },
    ],
    warnings: [`w${perCpu}`],
  });
  const median = medianRun([run(30, 0), run(10, 2), run(20, 0)]);
  assertEquals(median.figures[0]!.value, 20);
  assertEquals(median.figures[1]!.value, 2, "a loss in any run shows");
  assertEquals(median.repeats, [30, 10, 20]);
  assertEquals(median.warnings, ["w30", "w10", "w20"]);
  assertEquals(medianRun([run(30, 0), run(10, 0, false)]).ok, false);
  const single = run(5, 0);
  assertStrictEquals(medianRun([single]), single);
});

Deno.test({
  name: "runBench() loses no message on the Deno peer and reports every figure",
  ignore: !(await hasNode()),
  async fn() {
    const fanout = fanoutScenario(5, 32, TINY, { window: 4, maxMessages: 20 });
    const report: Report = await runBench({
      servers: ["deno"],
      scenarios: [fanout, connectScenario(20, TINY), echoScenario(3, TINY)],
    });
    assertEquals(report.schema, 1);
    assertEquals(report.servers.deno, { available: true });
    assertEquals(report.scenarios.map((s) => s.id), [
      "fanout-5-32",
      "connect-20",
      "echo-3",
    ]);
    const [fan, connect, echo] = report.scenarios.map((s) => s.runs.deno!);

    assert(fan!.ok, fan!.error);
    assertEquals(fan!.result!.sent, 20);
    assertEquals(fan!.result!.received, 100);
    assertEquals(fan!.result!.lost, 0);
    assertEquals(fan!.result!.misordered, 0);
    assertEquals(fan!.figures.map((f) => f.key), [
      "perCpu",
      "rate",
      "p50",
      "p99",
      "lost",
      "cpu",
    ]);
    assertEquals(Object.keys(fan!.marks!).sort(), ["end", "start"]);

    assert(connect!.ok, connect!.error);
    assertEquals(connect!.result!.connections, 20);
    assertEquals(connect!.result!.closed, 0);
    assertEquals(Object.keys(connect!.marks!).sort(), [
      "end",
      "settled",
      "start",
    ]);
    assertGreater(connect!.marks!.settled!.server.rssBytes, 0);

    assert(echo!.ok, echo!.error);
    assertEquals(echo!.result!.lost, 0);
    assertGreater(echo!.result!.roundTrips as number, 0);

    assertEquals(JSON.parse(JSON.stringify(report)), report);
    const table = renderTable(report);
    assertMatch(table, /^\| scenario \| figure \| deno \|$/m);
    assertMatch(table, /^\| fan-out 5 × 32 B \| lost \| 0 \|$/m);
  },
});

Deno.test({
  name: "runBench() loses no compressed message on pushwire and skips the Deno peer",
  ignore: !(await hasNode()),
  async fn() {
    const deflate = deflateScenario(5, 1024, TINY, { window: 4, maxMessages: 20 });
    const report: Report = await runBench({
      servers: ["deno", "pushwire"],
      scenarios: [deflate],
    });
    const [record] = report.scenarios;
    assertEquals(record!.id, "deflate-5-1024");
    assertEquals(record!.runs.deno, undefined);
    const run = record!.runs.pushwire!;
    assert(run.ok, run.error);
    assertEquals(run.result!.sent, 20);
    assertEquals(run.result!.lost, 0);
    assertEquals(run.result!.misordered, 0);
    assertGreater(run.result!.compressedFrames as number, 0);
    assertEquals(run.figures.map((f) => f.key), [
      "perCpu",
      "rate",
      "p50",
      "p99",
      "lost",
      "rss",
      "cpu",
    ]);
    assertMatch(renderTable(report), /^\| deflate fan-out 5 × 1 KiB JSON \| lost \| n\/a \| 0 \|/m);
  },
});

Deno.test({
  name: "runBench() runs the floor reference in every scenario but deflate, losing nothing",
  ignore: !(await hasNode()),
  async fn() {
    const fanout = fanoutScenario(5, 32, TINY, { window: 4, maxMessages: 20 });
    const latency = fanoutScenario(5, 32, TINY, { window: 1, maxMessages: 20 });
    const report: Report = await runBench({
      servers: ["floor"],
      scenarios: [fanout, connectScenario(20, TINY), echoScenario(3, TINY), latency],
      repeat: 2,
    });
    assertEquals(report.repeat, 2);
    const [fan, connect, echo, oneInFlight] = report.scenarios.map((s) => s.runs.floor);
    assert(fan!.ok, fan!.error);
    assertEquals(fan!.result!.lost, 0);
    assert(oneInFlight!.ok, oneInFlight!.error);
    assertEquals(oneInFlight!.result!.lost, 0);
    assertGreater(oneInFlight!.result!.sent as number, 0);
    assert(connect!.ok, connect!.error);
    assertEquals(connect!.result!.connections, 20);
    assertEquals(connect!.result!.closed, 0);
    assertEquals(connect!.repeats?.length, 2);
    assert(echo!.ok, echo!.error);
    assertEquals(echo!.result!.lost, 0);
    assertEquals(echo!.result!.stray, 0);
    assertGreater(echo!.result!.roundTrips as number, 0);
    assertMatch(renderTable(report), /median of 2 runs per server/);
  },
});

Deno.test({
  name: "runBench() reports a server that cannot start as unavailable",
  ignore: !(await hasNode()),
  async fn() {
    const missing = "/nonexistent/deno";
    const execPath = Deno.execPath;
    // A Deno peer whose runtime cannot be found stands in for any server that fails to start.
    Object.defineProperty(Deno, "execPath", {
      value: () => missing,
      configurable: true,
    });
    let report: Report;
    try {
      report = await runBench({
        servers: ["deno"],
        scenarios: [echoScenario(1, TINY)],
      });
    } finally {
      Object.defineProperty(Deno, "execPath", {
        value: execPath,
        configurable: true,
      });
    }
    assertEquals(report.servers.deno?.available, false);
    assertMatch(report.servers.deno!.reason!, /^Cannot start deno/);
    assertEquals(report.scenarios[0]!.runs, {});
    assertMatch(renderTable(report), /deno: unavailable/);
  },
});
