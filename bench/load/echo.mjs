/**
 * Echo load: `connections` clients each keep one message in flight against a
 * server in `--echo` mode, timing every round trip from the stamp it carries.
 *
 * @module
 */
import { closeAll, connectMany } from "./clients.mjs";
import { summary } from "./fanout.mjs";
import { deferred } from "./deferred.mjs";
import { Histogram } from "./histogram.mjs";
import { nowMicros, readHex, STAMP_LENGTH, writeStamp } from "./stamp.mjs";
import { clientFrame, OPCODE } from "./wire.mjs";

/** Runs a warm-up and a measured phase; `mark(name)` brackets the measured one. */
export async function echo(config, mark) {
  const router = { frame: null, closed: 0 };
  const clients = await connectMany(
    config.port,
    { count: config.connections, concurrency: config.concurrency },
    {
      onFrame(client, opcode, bytes, at, prefix, _length, micros) {
        if (opcode === OPCODE.TEXT || opcode === OPCODE.BINARY) {
          router.frame?.(client, bytes, at, prefix, micros);
        }
      },
      onClose() {
        router.closed++;
      },
    },
    config.timeoutMs,
  );
  try {
    const phase = {
      router,
      clients,
      size: config.size,
      drainMs: config.drainMs,
    };
    await rounds({ ...phase, kind: "w", durationMs: config.warmupMs });
    await mark("start");
    const result = await rounds({
      ...phase,
      kind: "e",
      durationMs: config.durationMs,
    });
    await mark("end");
    return {
      ...result,
      connections: config.connections,
      size: config.size,
      closed: router.closed,
    };
  } finally {
    closeAll(clients);
  }
}

function rounds({ router, clients, size, kind, durationMs, drainMs }) {
  const done = deferred();
  const code = kind.charCodeAt(0);
  const rtt = new Histogram();
  const started = performance.now();
  const deadline = started + durationMs;
  let sent = 0;
  let roundTrips = 0;
  let stray = 0;
  let idle = 0;

  function send(client) {
    client.send(
      clientFrame(OPCODE.TEXT, writeStamp(size, kind, sent++, nowMicros())),
    );
  }

  function finish() {
    clearTimeout(timer);
    router.frame = null;
    const elapsedMs = performance.now() - started;
    done.resolve({
      sent,
      roundTrips,
      lost: sent - roundTrips,
      stray,
      elapsedMs,
      roundTripsPerSecond: roundTrips / (elapsedMs / 1000),
      latencyMs: summary(rtt),
    });
  }

  router.frame = (client, bytes, at, prefix, micros) => {
    if (prefix < STAMP_LENGTH || bytes[at] !== code) {
      stray++;
      return;
    }
    rtt.record(micros - readHex(bytes, at + 9, 12));
    roundTrips++;
    if (performance.now() < deadline) send(client);
    else if (++idle === clients.length) finish();
  };
  const timer = setTimeout(finish, durationMs + drainMs);
  for (const client of clients) send(client);
  return done.promise;
}
