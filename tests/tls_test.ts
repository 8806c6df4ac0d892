/**
 * TLS: the server with a self-signed certificate made here by openssl, a raw
 * WebSocket client over `Deno.connectTls` (Deno's WebSocket cannot be given
 * a CA), and `fetch` through `Deno.createHttpClient({ caCerts })`.
 */

import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { CLOSE_CODE } from "../src/protocol/close_code.ts";
import { decodeClosePayload } from "../src/protocol/close_frame.ts";
import { OPCODE } from "../src/protocol/frame.ts";
import { serve, type Server } from "../src/server/server.ts";
import { echo, until, withServer } from "./_server.ts";
import { makeCertificate, type TestCertificate, TlsClient } from "./_tls.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const certificate = await makeCertificate();
if (typeof certificate !== "string") await certificate.remove();

/** A test that is skipped, with a message, without a certificate. */
function tlsTest(name: string, fn: (certificate: TestCertificate) => Promise<void>): void {
  if (typeof certificate === "string") {
    Deno.test({ name, ignore: true, fn: () => {} });
    console.warn(`skipping "${name}": ${certificate}`);
    return;
  }
  Deno.test(name, () => fn(certificate));
}

tlsTest(
  "serve({ cert, key }) speaks wss: messages, the closing handshake",
  async ({ cert, key }) => {
    await withServer({ cert, key }, echo, async (server, port) => {
      assertEquals(server.secure, true);
      const client = await TlsClient.connect(port, cert);
      await client.send(OPCODE.Text, encoder.encode("héllo over TLS"));
      const echoed = await client.next();
      assertEquals(echoed?.opcode, OPCODE.Text);
      assertEquals(decoder.decode(echoed!.payload), "héllo over TLS");
      await client.send(OPCODE.Binary, new Uint8Array([0, 255]));
      assertEquals((await client.next())?.payload, new Uint8Array([0, 255]));
      await client.send(OPCODE.Close, new Uint8Array([0x03, 0xe8]));
      const close = await client.next();
      assertEquals(close?.opcode, OPCODE.Close);
      assertEquals(decodeClosePayload(close!.payload).code, 1000);
      assertEquals(await client.next(), undefined, "the server ends the connection");
      client.close();
      await until(() => server.sockets.size === 0);
    });
  },
);

tlsTest("serve({ cert, key }) answers HTTPS: /healthz and /metrics", async ({ cert, key }) => {
  await withServer({ cert, key }, undefined, async (_server, port) => {
    const client = Deno.createHttpClient({ caCerts: [cert] });
    try {
      const health = await fetch(`https://localhost:${port}/healthz`, { client });
      assertEquals(health.status, 200);
      assertEquals((await health.json()).status, "ok");
      const metrics = await fetch(`https://localhost:${port}/metrics`, { client });
      assertStringIncludes(await metrics.text(), "pushwire_sockets_open 0\n");
    } finally {
      client.close();
    }
  });
});

tlsTest("a TLS server refuses plain TCP and keeps serving TLS", async ({ cert, key }) => {
  await withServer({ cert, key, handshakeTimeout: 500 }, echo, async (_server, port) => {
    const plain = await Deno.connect({ hostname: "127.0.0.1", port });
    await plain.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buffer = new Uint8Array(1024);
    const n = await plain.read(buffer).catch(() => null);
    assert(n === null || !decoder.decode(buffer.subarray(0, n)).startsWith("HTTP/1.1 200"));
    plain.close();
    const client = await TlsClient.connect(port, cert);
    await client.send(OPCODE.Text, encoder.encode("still fine"));
    assertEquals(decoder.decode((await client.next())!.payload), "still fine");
    client.close();
  });
});

tlsTest("shutdown() closes TLS sockets with 1001", async ({ cert, key }) => {
  let server: Server | undefined;
  await withServer({ cert, key }, undefined, async (s, port) => {
    server = s;
    const clients = await Promise.all([1, 2, 3].map(() => TlsClient.connect(port, cert)));
    await until(() => s.sockets.size === 3);
    const shutdown = server.shutdown();
    for (const client of clients) {
      const frame = await client.next();
      assertEquals(frame?.opcode, OPCODE.Close);
      assertEquals(decodeClosePayload(frame!.payload).code, CLOSE_CODE.GoingAway);
      await client.send(OPCODE.Close, new Uint8Array([0x03, 0xe9]));
    }
    await shutdown;
    clients.forEach((client) => client.close());
  });
});

Deno.test("serve() refuses a certificate without its key, and a key without its certificate", () => {
  assertThrows(() => serve({ port: 0, cert: "x" }), TypeError, "cert and key");
  assertThrows(() => serve({ port: 0, key: "x" }), TypeError, "cert and key");
});
