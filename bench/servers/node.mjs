/**
 * Peer server: Node.js with the `ws` package (npm), its documented broadcast idiom.
 *
 * Chat mode relays every message verbatim to every connected client, sender
 * included; `--echo` sends each message back to its sender only. `--deflate`
 * negotiates permessage-deflate (`perMessageDeflate: true`).
 *
 *     node bench/servers/node.mjs --port 0 [--echo] [--deflate]
 *
 * @module
 */
import { createRequire } from "node:module";

// Loaded through require so that `deno check bench` does not try to resolve the
// npm package: it lives in bench/node_modules, installed by the harness.
const WebSocket = createRequire(import.meta.url)("ws");
const { WebSocketServer } = WebSocket;

const args = process.argv.slice(2);
const portAt = args.indexOf("--port");
const port = portAt === -1 ? 0 : Number(args[portAt + 1]);
const echo = args.includes("--echo");
const deflate = args.includes("--deflate");

const server = new WebSocketServer({
  host: "127.0.0.1",
  port,
  clientTracking: true,
  perMessageDeflate: deflate,
});

server.on("listening", () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});

server.on("connection", (socket) => {
  socket.on("error", () => socket.terminate());
  socket.on("message", (data, isBinary) => {
    if (echo) {
      socket.send(data, { binary: isBinary });
      return;
    }
    for (const peer of server.clients) {
      if (peer.readyState === WebSocket.OPEN) {
        peer.send(data, { binary: isBinary });
      }
    }
  });
});
