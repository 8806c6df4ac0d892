/**
 * Fan-out load: `connections` clients join a chat server; client 0 also
 * publishes, keeping at most `window` messages in flight, where a message is
 * in flight until every client (the publisher included: chat servers echo to
 * the sender) has received it. Every delivery is counted, checked for order
 * and timed from the send stamp in its payload.
 *
 * With `deflate`, permessage-deflate is negotiated and the payload is
 * JSON-like: compressed frames hide the stamp, so every client counts frames
 * instead (per connection the Nth frame is message N) and only the publisher
 * inflates its own to read the stamp; marks `before` and `joined` bracket
 * connecting, for RSS per connection.
 *
 * @module
 */
import { closeAll, connectMany } from "./clients.mjs";
import { deferred } from "./deferred.mjs";
import { Histogram } from "./histogram.mjs";
import { MessageInflater } from "./inflate.mjs";
import { nowMicros, readHex, STAMP_LENGTH, writeJsonStamp, writeStamp } from "./stamp.mjs";
import { clientFrame, OPCODE } from "./wire.mjs";

const SYNC_TRIES = 40;
const SYNC_WAIT_MS = 250;
/** The most payload bytes the publisher reads, whole, to inflate them. */
const MAX_COMPRESSED = 64 * 1024;

/** Runs the sync, warm-up and measured phases; `mark(name)` brackets the measured one. */
export async function fanout(config, mark) {
  const n = config.connections;
  const deflate = config.deflate === true;
  const router = { frame: null, closed: 0, compressed: 0 };
  const inflater = new MessageInflater();
  if (deflate) await mark("before");
  const clients = await connectMany(
    config.port,
    {
      count: n,
      concurrency: config.concurrency,
      deflate,
      prefixOf: (index) => (deflate && index === 0 ? MAX_COMPRESSED : STAMP_LENGTH),
    },
    {
      onFrame(client, opcode, bytes, at, prefix, length, micros, compressed) {
        if (opcode !== OPCODE.TEXT && opcode !== OPCODE.BINARY) return;
        if (!compressed) {
          return void router.frame?.(client.index, bytes, at, prefix, micros);
        }
        router.compressed++;
        if (client.index !== 0) {
          return void router.frame?.(client.index, bytes, at, 0, micros);
        }
        if (length > prefix) {
          throw new Error(`Cannot inflate a ${length}-byte message`);
        }
        const text = inflater.inflate(bytes, at, length);
        router.frame?.(0, text, 0, Math.min(text.length, STAMP_LENGTH), micros);
      },
      onClose() {
        router.closed++;
      },
    },
    config.timeoutMs,
  );
  try {
    const publisher = clients[0];
    const write = deflate ? writeJsonStamp : writeStamp;
    const syncTries = deflate
      ? await countedSync(router, publisher, n, config.size)
      : await sync(router, publisher, n, config.size);
    if (deflate) await mark("joined");
    const phase = {
      router,
      publisher,
      n,
      deflate,
      write,
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
      deflate,
      // Frames with RSV1 set, over all phases.
      compressedFrames: router.compressed,
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

/**
 * sync() for frames that cannot be read: sends one message at a time until
 * every client gets exactly one frame, so all are subscribed and no frame of
 * an earlier try is still on its way.
 */
async function countedSync(router, publisher, n, size) {
  for (let attempt = 0; attempt < SYNC_TRIES; attempt++) {
    const seen = new Uint8Array(n);
    let clients = 0;
    let frames = 0;
    router.frame = (index) => {
      frames++;
      if (seen[index] === 0) {
        seen[index] = 1;
        clients++;
      }
    };
    publisher.send(
      clientFrame(OPCODE.TEXT, writeJsonStamp(size, "s", attempt, nowMicros())),
    );
    await new Promise((resolve) => setTimeout(resolve, SYNC_WAIT_MS));
    if (clients === n && frames === n) return attempt + 1;
  }
  throw new Error(
    `Cannot sync: no broadcast reached all ${n} clients once in ${SYNC_TRIES} tries`,
  );
}

/** One windowed publishing phase; resolves once every message reached every client or the drain timed out. */
function windowed(
  {
    router,
    publisher,
    n,
    deflate = false,
    write = writeStamp,
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
  const sentAt = new Float64Array(ring);
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
      const micros = nowMicros();
      sentAt[sent & (ring - 1)] = micros;
      publisher.send(clientFrame(OPCODE.TEXT, write(size, kind, sent, micros)));
      sent++;
    }
    if (!sending && completed === sent) finish();
  }

  /** A delivery counted by frames: the stamp is read only where it is readable. */
  function counted(index, bytes, at, prefix, micros) {
    const seq = expected[index]++;
    if (prefix >= STAMP_LENGTH) {
      if (bytes[at] !== code || readHex(bytes, at + 1, 8) !== seq) misordered++;
      delivery.record(micros - readHex(bytes, at + 9, 12));
    }
    const slot = seq & (ring - 1);
    if (seq >= sent) {
      stray++;
      return;
    }
    received++;
    if (++pending[slot] === n) {
      pending[slot] = 0;
      completed++;
      completion.record(micros - sentAt[slot]);
      pump();
    }
  }

  router.frame = deflate ? counted : (index, bytes, at, prefix, micros) => {
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
