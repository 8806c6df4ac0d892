/**
 * Test helper: a push server on loopback, ready, shut down afterwards.
 *
 * @module
 */

import { type PushServer, servePush, type ServePushOptions } from "../src/app/serve_push.ts";

/** Runs `fn` with a push server on an ephemeral loopback port, then shuts it down. */
export async function withPush(
  options: ServePushOptions,
  fn: (push: PushServer, port: number) => Promise<void>,
): Promise<void> {
  const push = servePush({ port: 0, hostname: "127.0.0.1", ...options });
  try {
    await push.ready;
    await fn(push, push.server.addr.port);
  } finally {
    await push.server.shutdown();
  }
}
