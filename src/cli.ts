/**
 * `pushwire`: a chat server with its demo page. Open the printed URL in a few
 * browser tabs and chat; every line typed on stdin goes to every client as a
 * server message. Ctrl-C (or SIGTERM) shuts it down gracefully: clients are
 * closed with 1001 (going away).
 *
 * Only network permission is needed:
 *
 * ```sh
 * deno run -N jsr:@pushwire/pushwire/server --port 8080
 * echo "maintenance at noon" | deno run -N src/cli.ts
 * ```
 *
 * ```text
 * Usage: pushwire [--port 8080] [--hostname 0.0.0.0]
 *
 * Options:
 *   --port <n>         TCP port, 0 picks a free one (default 8080)
 *   --hostname <addr>  address to listen on (default 0.0.0.0)
 *   -h, --help         show this help
 *   -V, --version      show the version
 * ```
 *
 * The chat protocol is described in `src/chat.ts`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { type ChatRoom, serveChat } from "./chat.ts";
import { VERSION } from "./version.ts";

const USAGE = `Usage: pushwire [--port 8080] [--hostname 0.0.0.0]

A WebSocket chat server: open the printed URL, and type lines on stdin to
push them to every client. Ctrl-C stops it.

Options:
  --port <n>         TCP port, 0 picks a free one (default 8080)
  --hostname <addr>  address to listen on (default 0.0.0.0)
  -h, --help         show this help
  -V, --version      show the version
`;

type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "serve"; port: number; hostname: string };

/** Reads the command line; throws a `TypeError` or `RangeError` to show the user. */
function parseCommand(args: string[]): Command {
  const unknown: string[] = [];
  const flags = parseArgs(args, {
    string: ["port", "hostname"],
    boolean: ["help", "version"],
    alias: { h: "help", V: "version" },
    default: { port: "8080", hostname: "0.0.0.0" },
    unknown: (arg: string) => {
      unknown.push(arg);
      return false;
    },
  });
  if (unknown.length > 0) {
    const [arg] = unknown;
    throw new TypeError(`Unknown ${arg!.startsWith("-") ? "option" : "argument"}: ${arg}`);
  }
  if (flags.help) return { kind: "help" };
  if (flags.version) return { kind: "version" };
  const port = String(flags.port);
  if (port === "") throw new TypeError("Missing value for --port");
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw new RangeError(`Invalid --port: "${port}" is not an integer from 0 to 65535`);
  }
  const hostname = String(flags.hostname);
  if (hostname === "") throw new TypeError("Invalid --hostname: it must not be empty");
  return { kind: "serve", port: Number(port), hostname };
}

/** The URL to print: a clickable `localhost` for the wildcard addresses. */
function displayUrl(addr: Deno.NetAddr): string {
  const host = addr.hostname === "0.0.0.0" || addr.hostname === "::"
    ? "localhost"
    : addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  return `http://${host}:${addr.port}/`;
}

/** Yields the lines of stdin until it ends (at once for `/dev/null`). */
async function* stdinLines(): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    yield* lines;
  }
  if (rest !== "") yield rest;
}

async function main(args: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(args);
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${USAGE.trimEnd()}`);
    return 2;
  }
  if (command.kind === "help") {
    console.log(USAGE.trimEnd());
    return 0;
  }
  if (command.kind === "version") {
    console.log(`pushwire ${VERSION}`);
    return 0;
  }

  let room: ChatRoom;
  try {
    room = serveChat({ port: command.port, hostname: command.hostname });
  } catch (error) {
    console.error(`error: cannot listen on ${command.hostname}:${command.port}: ${error}`);
    return 1;
  }
  const { server } = room;
  const stop = () => server.shutdown().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
  console.log(`pushwire listening on ${displayUrl(server.addr)}`);

  // Stdin ending (a pipe, /dev/null) leaves the server running.
  for await (const line of stdinLines()) {
    const text = line.replace(/\r$/, "");
    if (text !== "") room.push(text);
  }
  await server.finished;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
