/**
 * The server against real clients: Deno's `WebSocket` in-process, and Node's
 * `ws` and Python's `websockets`, each run as a child process that prints what
 * it saw (see tests/clients/). `ws` and `websockets` offer permessage-deflate
 * by default; the server negotiates it, so every message of 128 bytes or more
 * travels compressed both ways (the 1 MiB and fragmented messages included).
 */

import { assertEquals } from "@std/assert";
import type { Server } from "../src/server/server.ts";
import type { CloseResult } from "../src/server/socket.ts";
import { echo, relay, TestClient, until, withServer } from "./_server.ts";
import {
  missingNodePackage,
  missingPythonWebsockets,
  peerTest,
  runJsonClient,
  SYSTEM_PYTHON,
} from "./clients/peers.ts";

const noWs = await missingNodePackage("ws");
const noPython = await missingPythonWebsockets();

/** An echo handler that also records how each socket was opened and closed. */
function recordingEcho(
  offers: string[],
  closes: Promise<CloseResult>[],
): Parameters<typeof withServer>[1] {
  return (socket) => {
    offers.push(socket.request.extensions);
    closes.push(socket.closed);
    return echo(socket);
  };
}

Deno.test("Deno's WebSocket: text, binary, 1 MiB and close", async () => {
  const closes: Promise<CloseResult>[] = [];
  await withServer({}, recordingEcho([], closes), async (_server, port) => {
    const [client] = await TestClient.open(port, 1);
    assertEquals(client!.ws.extensions, "");
    const large = new Uint8Array(1024 * 1024).map((_, i) => (i * 31 + 7) & 0xff);
    client!.ws.send("héllo wörld ✓ 🚀");
    client!.ws.send(new Uint8Array([0, 1, 254, 255]));
    client!.ws.send("");
    client!.ws.send(large);
    const [text, binary, empty, echoed] = await client!.waitFor(4, 10_000);
    assertEquals(text, "héllo wörld ✓ 🚀");
    assertEquals(new Uint8Array(binary as ArrayBuffer), new Uint8Array([0, 1, 254, 255]));
    assertEquals(empty, "");
    assertEquals(new Uint8Array(echoed as ArrayBuffer), large);
    const event = await client!.close(4002, "bye from deno");
    assertEquals([event.code, event.wasClean], [4002, true]);
    assertEquals(await closes[0], { code: 4002, reason: "bye from deno", wasClean: true });
  });
});

peerTest(noWs, "Node ws: text, binary, 1 MiB, fragments, ping and close", async () => {
  const offers: string[] = [];
  const closes: Promise<CloseResult>[] = [];
  await withServer({}, recordingEcho(offers, closes), async (_server, port) => {
    const result = await runJsonClient("node", [
      "ws_client.mjs",
      "echo",
      `ws://127.0.0.1:${port}/`,
    ]);
    assertEquals(result, {
      client: "ws 8.23.0",
      extensions: "permessage-deflate",
      text: true,
      binary: true,
      emptyText: true,
      oneMiB: true,
      fragmentedText: true,
      fragmentedBinary: true,
      pong: "are you there?",
      close: { code: 4000, reason: "" },
    });
    assertEquals(offers.length, 1);
    assertEquals(offers[0]!.startsWith("permessage-deflate"), true, `offered: ${offers[0]}`);
    assertEquals(await closes[0], { code: 4000, reason: "bye from ws", wasClean: true });
  });
});

peerTest(noWs, "Node ws and Deno's WebSocket chat through a relay server", async () => {
  let server: Server | undefined;
  await withServer({}, relay(() => server!), async (s, port) => {
    server = s;
    const [deno] = await TestClient.open(port, 1);
    const node = runJsonClient("node", ["ws_client.mjs", "chat", `ws://127.0.0.1:${port}/`]);
    // Deno answers once it has seen both of Node's messages.
    const [text, binary] = await deno!.waitFor(2, 15_000);
    assertEquals(text, "hello from node");
    assertEquals(new Uint8Array(binary as ArrayBuffer), new Uint8Array([1, 2, 3]));
    deno!.ws.send("hello from deno");
    deno!.ws.send(new Uint8Array([4, 5, 6]));
    assertEquals(await node, {
      client: "ws 8.23.0",
      received: [
        { text: "hello from node" },
        { binary: [1, 2, 3] },
        { text: "hello from deno" },
        { binary: [4, 5, 6] },
      ],
      close: { code: 1000, reason: "" },
    });
    await deno!.waitFor(4);
    await until(() => s.sockets.size === 1, 5000, "the Node socket to leave");
    await deno!.close();
  });
});

peerTest(
  noPython,
  "Python websockets: text, binary, 1 MiB, fragments, ping and close",
  async () => {
    const offers: string[] = [];
    const closes: Promise<CloseResult>[] = [];
    await withServer({}, recordingEcho(offers, closes), async (_server, port) => {
      const result = await runJsonClient(SYSTEM_PYTHON, [
        "py_client.py",
        `ws://127.0.0.1:${port}/`,
      ]);
      assertEquals(result, {
        client: "websockets 10.4",
        offeredExtensions: "permessage-deflate; client_max_window_bits",
        extensions: ["PerMessageDeflate"],
        responseExtensions:
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        text: true,
        binary: true,
        oneMiB: true,
        fragmentedText: true,
        pong: true,
        close: { code: 4001, reason: "" },
      });
      assertEquals(offers, ["permessage-deflate; client_max_window_bits"]);
      assertEquals(await closes[0], { code: 4001, reason: "bye from python", wasClean: true });
    });
  },
);
