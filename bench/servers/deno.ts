/**
 * Peer server: Deno's native WebSocket (`Deno.serve` + `Deno.upgradeWebSocket`).
 *
 * Chat mode relays every message verbatim to every connected client, sender
 * included; `--echo` sends each message back to its sender only.
 *
 * ```sh
 * deno run -N bench/servers/deno.ts --port 0 [--echo]
 * ```
 *
 * @module
 */

const port = Number(flag("--port") ?? "0");
const echo = Deno.args.includes("--echo");
const sockets = new Set<WebSocket>();

function flag(name: string): string | undefined {
  const at = Deno.args.indexOf(name);
  return at === -1 ? undefined : Deno.args[at + 1];
}

function handle(request: Request): Response {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("WebSocket upgrade required\n", { status: 426 });
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => sockets.add(socket);
  socket.onclose = () => sockets.delete(socket);
  socket.onerror = () => sockets.delete(socket);
  socket.onmessage = echo ? (event) => socket.send(event.data) : (event) => {
    for (const peer of sockets) {
      if (peer.readyState === WebSocket.OPEN) peer.send(event.data);
    }
  };
  return response;
}

Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ port }) => console.log(`listening on 127.0.0.1:${port}`),
}, handle);
