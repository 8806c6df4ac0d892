/**
 * A chat room on pushwire's public API, speaking the protocol of the demo
 * page: open the printed URL in a few tabs.
 *
 * ```sh
 * deno task std run -N examples/chat.ts [--port 8080]
 * ```
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { CHAT_PAGE, CHAT_PAGE_ROUTES, serve, type Socket } from "../mod.ts";

const { port } = parseArgs(Deno.args, { string: ["port"], default: { port: "8080" } });
// The page imports the client library from /client.js: CHAT_PAGE_ROUTES serves it.
const server = serve({ port: Number(port), page: CHAT_PAGE, routes: CHAT_PAGE_ROUTES });
console.log(`chat example on http://localhost:${server.addr.port}/`);

/** Sends an event to everyone: one JSON encoding, one frame for all sockets. */
function announce(event: Record<string, unknown>): void {
  server.sockets.broadcast(JSON.stringify(event));
}

async function join(socket: Socket): Promise<void> {
  const { id } = socket;
  const peers = server.sockets.size;
  socket.send(JSON.stringify({ type: "welcome", id, time: Date.now(), peers }));
  announce({ type: "join", id, time: Date.now(), peers });
  for await (const message of socket) {
    if (typeof message !== "string") server.sockets.broadcast(message); // binary: as it came
    else announce({ type: "message", from: id, time: Date.now(), text: message });
  }
  await socket.closed; // it has left server.sockets by now
  announce({ type: "leave", id, time: Date.now(), peers: server.sockets.size });
}

// Sockets that join in the same tick may see each other's join before their own
// welcome; src/chat/serve_chat.ts greets in serve()'s handler instead, which rules that out.
for await (const socket of server.sockets) join(socket);
