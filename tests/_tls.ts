/**
 * Test helpers for TLS: a self-signed certificate for localhost, made by
 * openssl in a temporary directory, and a raw WebSocket client over TLS.
 *
 * @module
 */

import { encodeFrame, type Frame, type Opcode } from "../src/protocol/frame.ts";
import { FrameDecoder } from "../src/protocol/frame_decoder.ts";
import { upgradeRequest } from "./_raw_client.ts";

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
