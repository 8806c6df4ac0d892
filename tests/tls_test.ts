/**
 * TLS: the server with a self-signed certificate made here by openssl, a raw
 * WebSocket client over `Deno.connectTls` (Deno's WebSocket cannot be given
 * a CA), and `fetch` through `Deno.createHttpClient({ caCerts })`.
 */

import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { CLOSE_CODE } from "../src/close_code.ts";
import { decodeClosePayload } from "../src/close_frame.ts";
import { encodeFrame, type Frame, OPCODE, type Opcode } from "../src/frame.ts";
import { FrameDecoder } from "../src/frame_decoder.ts";
import { serve, type Server } from "../src/server.ts";
import { upgradeRequest } from "./_raw_client.ts";
import { echo, until, withServer } from "./_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A self-signed certificate for localhost and 127.0.0.1, in PEM, and its files. */
export interface TestCertificate {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** Deletes the files. */
  remove(): Promise<void>;
}

/**
 * Makes a certificate with openssl in a temporary directory, or returns why
 * it cannot (openssl missing). Under `CI=true` a missing openssl is an error.
 */
export async function makeCertificate(): Promise<TestCertificate | string> {
  const dir = await Deno.makeTempDir({ prefix: "pushwire-tls-" });
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        // A leaf, not a CA: rustls refuses a CA certificate as the server's.
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    if (Deno.env.get("CI") === "true") throw new Error("openssl is required under CI=true");
    return "openssl not found (apt-get install openssl)";
  }
  if (!output.success) throw new Error(`openssl failed: ${decoder.decode(output.stderr)}`);
  return {
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
    certFile,
    keyFile,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

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

/** A WebSocket client over TLS, speaking raw frames. */
export class TlsClient {
  readonly #conn: Deno.TlsConn;
  readonly #decoder = new FrameDecoder({ requireMask: false });
  readonly #frames: Frame[] = [];
  readonly #buffer = new Uint8Array(64 * 1024);
  /** The response head of the handshake. */
  readonly head: string;

  private constructor(conn: Deno.TlsConn, head: string, rest: Uint8Array) {
    this.#conn = conn;
    this.head = head;
    if (rest.length > 0) this.#frames.push(...this.#decoder.push(rest));
  }

  /** Connects over TLS trusting `ca`, and completes the opening handshake. */
  static async connect(port: number, ca: string, path = "/"): Promise<TlsClient> {
    const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca] });
    await conn.write(encoder.encode(upgradeRequest(`localhost:${port}`, { path })));
    let received = new Uint8Array(0);
    while (true) {
      const buffer = new Uint8Array(4096);
      const n = await conn.read(buffer);
      if (n === null) throw new Error("connection closed during the handshake");
      const joined = new Uint8Array(received.length + n);
      joined.set(received);
      joined.set(buffer.subarray(0, n), received.length);
      received = joined;
      const end = decoder.decode(received).indexOf("\r\n\r\n");
      if (end === -1) continue;
      const head = decoder.decode(received.subarray(0, end));
      if (!head.startsWith("HTTP/1.1 101 ")) {
        conn.close();
        throw new Error(`handshake refused: ${head}`);
      }
      return new TlsClient(conn, head, received.subarray(end + 4));
    }
  }

  /** Sends one masked frame. */
  async send(opcode: Opcode, payload: Uint8Array): Promise<void> {
    const bytes = encodeFrame(opcode, payload, { mask: true });
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  /** The next frame from the server, or `undefined` at the end of the stream. */
  async next(): Promise<Frame | undefined> {
    while (this.#frames.length === 0) {
      const n = await this.#conn.read(this.#buffer).catch(() => null);
      if (n === null) return undefined;
      this.#frames.push(...this.#decoder.push(this.#buffer.subarray(0, n)));
    }
    return this.#frames.shift();
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
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
