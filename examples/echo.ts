/**
 * An echo server: every message goes back to its sender with the same type.
 * Conformance suites drive it, so the limits fit their largest cases (16 MiB
 * messages, bursts of large echoes).
 *
 * ```sh
 * deno task std run -N examples/echo.ts [--port 8080]
 * ```
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { serve } from "../mod.ts";

const MiB = 1024 * 1024;

const { port } = parseArgs(Deno.args, { string: ["port"], default: { port: "8080" } });
const server = serve({
  port: Number(port),
  maxMessageBytes: 16 * MiB,
  maxBufferedBytes: 64 * MiB,
}, async (socket) => {
  for await (const message of socket) socket.send(message);
});
console.log(`echo example on ws://localhost:${server.addr.port}/`);
