/**
 * Peer server: Bun's native WebSocket server with its topic publish (uWebSockets).
 *
 * Chat mode relays every message verbatim to every connected client, sender
 * included (`server.publish` reaches every subscriber); `--echo` sends each
 * message back to its sender only. `--deflate` negotiates permessage-deflate.
 *
 *     bun bench/servers/bun.js --port 0 [--echo] [--deflate]
 *
 * @module
 */

const args = Bun.argv.slice(2);
const portAt = args.indexOf("--port");
const port = portAt === -1 ? 0 : Number(args[portAt + 1]);
const echo = args.includes("--echo");
const deflate = args.includes("--deflate");
const TOPIC = "chat";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(request, server) {
    if (server.upgrade(request)) return undefined;
    return new Response("WebSocket upgrade required\n", { status: 426 });
  },
  websocket: {
    perMessageDeflate: deflate,
    open(socket) {
      if (!echo) socket.subscribe(TOPIC);
    },
    message(socket, message) {
      if (echo) socket.send(message);
      else server.publish(TOPIC, message);
    },
  },
});

console.log(`listening on 127.0.0.1:${server.port}`);
