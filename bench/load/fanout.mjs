/**
 * Fan-out load: `connections` clients join a chat server; client 0 also
 * publishes, keeping at most `window` messages in flight, where a message is
 * in flight until every client (the publisher included: chat servers echo to
 * the sender) has received it. Every delivery is counted, checked for order
 * and timed from the send stamp in its payload.
 *
 * @module
 */
import { closeAll, connectMany } from "./clients.mjs";
import { deferred } from "./deferred.mjs";
import { Histogram } from "./histogram.mjs";
import { nowMicros, readHex, STAMP_LENGTH, writeStamp } from "./stamp.mjs";
import { clientFrame, OPCODE } from "./wire.mjs";

const SYNC_TRIES = 40;
const SYNC_WAIT_MS = 250;

/** Runs the sync, warm-up and measured phases; `mark(name)` brackets the measured one. */
export async function fanout(config, mark) {
  const n = config.connections;
  const router = { frame: null, closed: 0 };
  const clients = await connectMany(
    config.port,
    { count: n, concurrency: config.concurrency },
    {
      onFrame(client, opcode, bytes, at, prefix, _length, micros) {
        if (opcode === OPCODE.TEXT || opcode === OPCODE.BINARY) {
          router.frame?.(client.index, bytes, at, prefix, micros);
        }
      },
      onClose() {
        router.closed++;
      },
    },
    config.timeoutMs,
  );
  try {
    const publisher = clients[0];
    const syncTries = await sync(router, publisher, n, config.size);
    const phase = {
      router,
      publisher,
      n,
      size: config.size,
      window: config.window,
      drainMs: config.drainMs,
    };
    await windowed({
      ...phase,
      kind: "w",
      durationMs: config.warmupMs,
      maxMessages: config.maxMessages,
    });
    await mark("start");
    const result = await windowed({
      ...phase,
      kind: "m",
      durationMs: config.durationMs,
      maxMessages: config.maxMessages,
    });
    await mark("end");
    return {
      ...result,
      connections: n,
      size: config.size,
      window: config.window,
      syncTries,
      closed: router.closed,
    };
  } finally {
    closeAll(clients);
  }
}

/** Sends sync messages until one reaches every client: from then on, every client is subscribed. */
async function sync(router, publisher, n, size) {
  for (let attempt = 0; attempt < SYNC_TRIES; attempt++) {
    const reached = deferred();
    let count = 0;
    router.frame = (_index, bytes, at, prefix) => {
      if (
        prefix < STAMP_LENGTH || bytes[at] !== 0x73 ||
        readHex(bytes, at + 1, 8) !== attempt
      ) return;
      if (++count === n) reached.resolve(true);
    };
    publisher.send(
      clientFrame(OPCODE.TEXT, writeStamp(size, "s", attempt, nowMicros())),
    );
    const timer = setTimeout(() => reached.resolve(false), SYNC_WAIT_MS);
    const ok = await reached.promise;
    clearTimeout(timer);
    if (ok) return attempt + 1;
  }
  throw new Error(
    `Cannot sync: no broadcast reached all ${n} clients in ${SYNC_TRIES} tries`,
  );
}

/** One windowed publishing phase; resolves once every message reached every client or the drain timed out. */
function windowed(
  {
    router,
    publisher,
    n,
    size,
    window,
    kind,
    durationMs,
    maxMessages,
    drainMs,
  },
) {
  const done = deferred();
  const ring = 2 ** Math.ceil(Math.log2(window * 2));
  const pending = new Uint32Array(ring);
  const expected = new Float64Array(n);
  const delivery = new Histogram();
  const completion = new Histogram();
  const code = kind.charCodeAt(0);
  const started = performance.now();
  const deadline = started + durationMs;
  let sent = 0;
  let completed = 0;
  let received = 0;
  let misordered = 0;
  let stray = 0;
  let sending = true;
  let drainTimer;

  function finish() {
    clearTimeout(stopTimer);
    clearTimeout(drainTimer);
    router.frame = null;
    const elapsedMs = performance.now() - started;
    done.resolve({
      sent,
      received,
      lost: sent * n - received,
      misordered,
      stray,
      elapsedMs,
      deliveriesPerSecond: received / (elapsedMs / 1000),
      latencyMs: summary(delivery),
      allReceivedMs: summary(completion),
    });
  }

  function stop() {
    if (!sending) return;
    sending = false;
    drainTimer = setTimeout(finish, drainMs);
  }

  function pump() {
    while (sending && sent - completed < window) {
      if (sent >= maxMessages || performance.now() >= deadline) {
        stop();
        break;
      }
      publisher.send(
        clientFrame(OPCODE.TEXT, writeStamp(size, kind, sent, nowMicros())),
      );
      sent++;
    }
    if (!sending && completed === sent) finish();
  }

  router.frame = (index, bytes, at, prefix, micros) => {
    if (prefix < STAMP_LENGTH || bytes[at] !== code) {
      stray++;
      return;
    }
    const seq = readHex(bytes, at + 1, 8);
    const latency = micros - readHex(bytes, at + 9, 12);
    delivery.record(latency);
    received++;
    if (seq !== expected[index]) misordered++;
    expected[index] = seq + 1;
    const slot = seq & (ring - 1);
    if (++pending[slot] === n) {
      pending[slot] = 0;
      completed++;
      completion.record(latency);
      pump();
    }
  };
  const stopTimer = setTimeout(() => {
    stop();
    pump();
  }, durationMs);
  pump();
  return done.promise;
}

/** p50, p99 and max of a µs histogram, in milliseconds. */
export function summary(histogram) {
  return {
    p50: histogram.quantile(0.5) / 1000,
    p99: histogram.quantile(0.99) / 1000,
    max: histogram.max / 1000,
    count: histogram.total,
  };
}
