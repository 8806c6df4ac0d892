/**
 * Our server for the side-by-side benchmark, written against pushwire's public
 * API only: `serve`, the socket registry, `broadcast`.
 *
 * Chat mode relays every message verbatim to every connected client, sender
 * included; `--echo` sends each message back to its sender only. pushwire
 * negotiates permessage-deflate by default; `--deflate` asks for it explicitly.
 *
 * ```sh
 * deno task std run -N bench/servers/pushwire.ts --port 0 [--echo] [--deflate]
 * ```
 *
 * @module
 */
import { serve } from "../../mod.ts";

const port = Number(flag("--port") ?? "0");
const echo = Deno.args.includes("--echo");

function flag(name: string): string | undefined {
  const at = Deno.args.indexOf(name);
  return at === -1 ? undefined : Deno.args[at + 1];
}

// The peers cap nothing; the connection caps are lifted to match (every client of the
// bench comes from one address, 127.0.0.1).
const server = serve({
  port,
  hostname: "127.0.0.1",
  maxConnections: 1_000_000,
  maxPendingHandshakes: 1_000_000,
  maxConnectionsPerAddress: 0,
  ...(Deno.args.includes("--deflate") ? { perMessageDeflate: true } : {}),
});
console.log(`listening on 127.0.0.1:${server.addr.port}`);

for await (const socket of server.sockets) {
  (async () => {
    for await (const message of socket) {
      if (echo) socket.send(message);
      else server.sockets.broadcast(message);
    }
  })();
}
