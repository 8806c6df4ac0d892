/**
 * Server-originated push: every second, one JSON tick to every client,
 * encoded once for all of them.
 *
 * ```sh
 * deno task std run -N examples/ticker.ts [--port 8080]
 * ```
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { serve } from "../mod.ts";

const { port } = parseArgs(Deno.args, { string: ["port"], default: { port: "8080" } });
const server = serve({ port: Number(port) }, async (socket) => {
  // Nothing to answer, but read anyway: an unread socket stops reading.
  for await (const _message of socket);
});
console.log(`ticker example on ws://localhost:${server.addr.port}/`);

let seq = 0;
setInterval(() => {
  const tick = { type: "tick", seq: ++seq, time: Date.now(), clients: server.sockets.size };
  server.sockets.broadcast(JSON.stringify(tick));
}, 1000);
