/**
 * Push-server fan-out load (bench/workers.ts): `subscribers` clients
 * subscribe to one topic (`/?topic=…`, so none of them is in the chat room),
 * then messages are published with `POST /publish` from loopback over
 * `publishers` keep-alive HTTP connections, at most `window` messages in
 * flight, where a message is in flight until every subscriber has it. Each
 * subscriber reads the stamp in the publication's `data` (the envelope's
 * first bytes are read, the rest skipped), counts it and times it from the
 * send.
 *
 * Marks `start` and `end` bracket the measured messages, after a warm-up.
 *
 * @module
 */
import http from "node:http";
import { closeAll, connectMany } from "./clients.mjs";
import { deferred } from "./deferred.mjs";
import { Histogram } from "./histogram.mjs";
import { nowMicros, readHex, STAMP_LENGTH, writeStamp } from "./stamp.mjs";
import { OPCODE } from "./wire.mjs";

/** Envelope bytes read per frame: `{"type":"publication",…,"data":"` and the stamp fit. */
const PREFIX = 200;
const DATA = Buffer.from('"data":"');
const SUBSCRIBED = Buffer.from('{"type":"subscribed"');

/** Where the stamp starts in the envelope at `bytes[at, at + prefix)`, or -1. */
function stampAt(bytes, at, prefix) {
  const end = at + prefix - DATA.length - STAMP_LENGTH;
  outer: for (let i = at + 20; i <= end; i++) {
    for (let j = 0; j < DATA.length; j++) {
      if (bytes[i + j] !== DATA[j]) continue outer;
    }
    return i + DATA.length;
  }
  return -1;
}

function startsWith(bytes, at, prefix, head) {
  if (prefix < head.length) return false;
  for (let j = 0; j < head.length; j++) if (bytes[at + j] !== head[j]) return false;
  return true;
}

/** Runs the subscribe, warm-up and measured phases; `mark(name)` brackets the measured one. */
export async function push(config, mark) {
  const n = config.subscribers;
  const router = { frame: null, subscribed: 0, closed: 0, other: 0 };
  const allSubscribed = deferred();
  const clients = await connectMany(
    config.port,
    {
      count: n,
      concurrency: config.concurrency,
      path: `/?topic=${encodeURIComponent(config.topic)}`,
      prefixOf: () => PREFIX,
    },
    {
      onFrame(client, opcode, bytes, at, prefix, _length, micros) {
        if (opcode !== OPCODE.TEXT) return;
        if (startsWith(bytes, at, prefix, SUBSCRIBED)) {
          if (++router.subscribed === n) allSubscribed.resolve(true);
          return;
        }
        const stamp = stampAt(bytes, at, prefix);
        if (stamp < 0) return void router.other++;
        router.frame?.(client.index, bytes, stamp, micros);
      },
      onClose() {
        router.closed++;
      },
    },
    config.timeoutMs,
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.publishers });
  try {
    const timer = setTimeout(() => allSubscribed.resolve(false), config.timeoutMs);
    const ok = await allSubscribed.promise;
    clearTimeout(timer);
    if (!ok) throw new Error(`Cannot subscribe: ${router.subscribed} of ${n} subscribed`);
    const phase = { router, agent, n, config };
    await windowed({ ...phase, kind: "w", messages: config.warmupMessages });
    await mark("start");
    const result = await windowed({ ...phase, kind: "m", messages: config.messages });
    await mark("end");
    return {
      ...result,
      subscribers: n,
      size: config.size,
      window: config.window,
      publishers: config.publishers,
      closed: router.closed,
      otherFrames: router.other,
    };
  } finally {
    agent.destroy();
    closeAll(clients);
  }
}

/** POST /publish of one payload; resolves with the status. */
function publish(agent, config, body) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      agent,
      host: "127.0.0.1",
      port: config.port,
      method: "POST",
      path: `/publish?topic=${encodeURIComponent(config.topic)}`,
      headers: { "Content-Type": "text/plain", "Content-Length": body.length },
    }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode));
    });
    request.on("socket", (socket) => socket.setNoDelay(true));
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * Publishes `messages` of kind `kind`, at most `window` in flight until
 * delivered to all `n`; waits for the last delivery or `drainMs` of silence.
 */
async function windowed({ router, agent, n, config, kind, messages }) {
  const code = kind.charCodeAt(0);
  const counts = new Uint32Array(messages);
  const latency = new Histogram();
  const done = deferred();
  let sent = 0;
  let completed = 0;
  let received = 0;
  let duplicates = 0;
  let failed = 0;
  let lastAt = performance.now();
  const pump = () => {
    while (sent < messages && sent - completed < config.window) {
      const seq = sent++;
      const body = Buffer.from(writeStamp(config.size, kind, seq, nowMicros()));
      publish(agent, config, body).then((status) => {
        if (status !== 200) failed++;
      }, () => failed++);
    }
  };
  router.frame = (_index, bytes, at, micros) => {
    if (bytes[at] !== code) return;
    const seq = readHex(bytes, at + 1, 8);
    if (!(seq < messages)) return;
    lastAt = performance.now();
    if (kind === "m") latency.record(micros - readHex(bytes, at + 9, 12));
    received++;
    const count = ++counts[seq];
    if (count > n) duplicates++;
    if (count === n) {
      completed++;
      if (completed === messages) done.resolve();
      else pump();
    }
  };
  const started = performance.now();
  pump();
  const watchdog = setInterval(() => {
    if (performance.now() - lastAt > config.drainMs) done.resolve();
  }, 50);
  await done.promise;
  clearInterval(watchdog);
  const elapsedMs = lastAt - started;
  router.frame = null;
  return {
    messages,
    sent,
    received,
    expected: messages * n,
    lost: messages * n - received + duplicates,
    duplicates,
    failedPublishes: failed,
    elapsedMs,
    deliveriesPerSecond: received / (elapsedMs / 1000),
    latencyMs: {
      p50: latency.quantile(0.5) / 1000,
      p99: latency.quantile(0.99) / 1000,
      max: latency.max / 1000,
    },
  };
}
