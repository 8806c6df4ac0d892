// A Node `ws` client that tests/clients_test.ts runs against pushwire.
//
//   node ws_client.mjs echo ws://127.0.0.1:PORT/   (against an echo server)
//   node ws_client.mjs chat ws://127.0.0.1:PORT/   (against a relay server)
//
// Prints one JSON line on stdout with what it saw; the Deno test compares it
// with what it expects. Exits 1 (after printing {"error": ...}) on a failure
// it cannot describe otherwise, and gives up after 20 seconds.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

// require() rather than `import "ws"`: `deno check tests` reads this file too,
// and it does not resolve this folder's node_modules.
const WebSocket = createRequire(import.meta.url)("ws");

const TIMEOUT_MS = 20_000;
const [mode, url] = process.argv.slice(2);

const version = JSON.parse(
  readFileSync(
    new URL("./node_modules/ws/package.json", import.meta.url),
    "utf8",
  ),
).version;

/** Messages and events of one socket, as promises to await in order. */
class Client {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.inbox = [];
    this.waiters = [];
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
    // Errors after opening end in a close event; keep them from being thrown.
    this.ws.on("error", (error) => (this.error = error));
    this.closed = new Promise((resolve) => {
      this.ws.once(
        "close",
        (code, reason) => resolve({ code, reason: reason.toString() }),
      );
    });
    this.ws.on("message", (data, isBinary) => {
      this.inbox.push(
        isBinary ? { binary: Buffer.from(data) } : { text: data.toString() },
      );
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** The next message: `{ text }` or `{ binary }`. */
  async next() {
    while (this.inbox.length === 0) {
      await new Promise((resolve) => this.waiters.push(resolve));
    }
    return this.inbox.shift();
  }

  /** Sends `data` and resolves once `ws` has written it. */
  send(data, options = {}) {
    return new Promise((resolve, reject) => {
      this.ws.send(
        data,
        options,
        (error) => (error ? reject(error) : resolve()),
      );
    });
  }
}

function pattern(length) {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

/** `true` when `message` is the text `expected`, else a description of it. */
function sameText(message, expected) {
  if (message.text === expected) return true;
  return message.text === undefined
    ? `binary of ${message.binary.length} bytes`
    : `text ${JSON.stringify(message.text.slice(0, 80))}`;
}

/** `true` when `message` is binary equal to `expected`, else a description of it. */
function sameBytes(message, expected) {
  if (message.binary !== undefined && message.binary.equals(expected)) {
    return true;
  }
  return message.binary === undefined
    ? `text of ${message.text.length} chars`
    : `binary of ${message.binary.length} bytes, differs from ${expected.length}`;
}

async function echo(url) {
  const client = new Client(url);
  await client.opened;
  const result = { client: `ws ${version}`, extensions: client.ws.extensions };

  const text = "héllo wörld ✓ 🚀";
  await client.send(text);
  result.text = sameText(await client.next(), text);

  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await client.send(bytes);
  result.binary = sameBytes(await client.next(), bytes);

  await client.send("");
  result.emptyText = sameText(await client.next(), "");

  const large = pattern(1024 * 1024);
  await client.send(large);
  result.oneMiB = sameBytes(await client.next(), large);

  // One text message in three frames, with a ping between two of them.
  await client.send("frag", { fin: false });
  client.ws.ping(Buffer.from("mid-message"));
  await client.send("men", { fin: false });
  await client.send("ted ✓", { fin: true });
  result.fragmentedText = sameText(await client.next(), "fragmented ✓");

  const part = pattern(70_000);
  await client.send(part.subarray(0, 1), { binary: true, fin: false });
  await client.send(part.subarray(1), { binary: true, fin: true });
  result.fragmentedBinary = sameBytes(await client.next(), part);

  const pong = new Promise((resolve) => {
    client.ws.on("pong", (data) => {
      if (data.toString() === "are you there?") resolve(data.toString());
    });
  });
  client.ws.ping(Buffer.from("are you there?"));
  result.pong = await pong;

  client.ws.close(4000, "bye from ws");
  result.close = await client.closed;
  return result;
}

async function chat(url) {
  const client = new Client(url);
  await client.opened;
  await client.send("hello from node");
  await client.send(Buffer.from([1, 2, 3]));
  const received = [];
  while (received.length < 4) {
    const message = await client.next();
    received.push(
      message.text !== undefined ? { text: message.text } : { binary: [...message.binary] },
    );
  }
  client.ws.close(1000, "node done");
  return { client: `ws ${version}`, received, close: await client.closed };
}

const modes = { echo, chat };
if (!(mode in modes) || url === undefined) {
  console.error("usage: node ws_client.mjs echo|chat ws://host:port/");
  process.exit(2);
}
const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: `timed out after ${TIMEOUT_MS} ms` }));
  process.exit(1);
}, TIMEOUT_MS);
try {
  console.log(JSON.stringify(await modes[mode](url)));
  clearTimeout(timer);
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.stack ?? error) }));
  process.exit(1);
}
