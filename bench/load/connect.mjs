/**
 * Connection load: after a few warm-up connections, opens `connections` more
 * with at most `concurrency` handshakes in flight, then holds them all idle so
 * the harness can read the server's resident memory once it has settled.
 *
 * @module
 */
import { closeAll, connectMany } from "./clients.mjs";

/** Marks: `start` and `end` bracket the handshakes, `settled` follows the idle wait. */
export async function connect(config, mark) {
  let closed = 0;
  const handlers = { onFrame() {}, onClose: () => closed++ };
  const warm = await connectMany(
    config.port,
    { count: config.warmup, concurrency: config.concurrency },
    handlers,
    config.timeoutMs,
  );
  let clients = [];
  try {
    await sleep(config.settleMs);
    await mark("start");
    const started = performance.now();
    clients = await connectMany(
      config.port,
      {
        count: config.connections,
        concurrency: config.concurrency,
        first: config.warmup,
      },
      handlers,
      config.timeoutMs,
    );
    const elapsedMs = performance.now() - started;
    await mark("end");
    await sleep(config.settleMs);
    await mark("settled");
    return {
      connections: config.connections,
      warmup: config.warmup,
      elapsedMs,
      handshakesPerSecond: config.connections / (elapsedMs / 1000),
      closed,
    };
  } finally {
    closeAll(clients);
    closeAll(warm);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
