/**
 * `pushwire`: a WebSocket push server with its demo page. Clients subscribe
 * to topics (`ws://host:8080/?topic=news`) and resume after a disconnect
 * without losing or doubling a message; publishers `POST /publish?topic=news`;
 * clients that name no topic chat on the page at `/`, and every line typed
 * on stdin goes to them as a server message. `GET /metrics` serves
 * Prometheus metrics, `GET /healthz` a health check. Ctrl-C (or SIGTERM)
 * shuts it down gracefully: clients are closed with 1001 (going away) and
 * reconnect by themselves.
 *
 * Network permission is all it needs, with `--redis` too; reading the
 * token from the environment needs `--allow-env=PUSHWIRE_TOKEN` (without it
 * the variable is not read), TLS needs read access to the two files:
 *
 * ```sh
 * deno run -N jsr:@pushwire/pushwire/server --port 8080
 * echo "maintenance at noon" | deno run -N jsr:@pushwire/pushwire/server
 * PUSHWIRE_TOKEN=s3cret deno run -N --allow-env=PUSHWIRE_TOKEN jsr:@pushwire/pushwire/server
 * deno run -N -R=cert.pem,key.pem jsr:@pushwire/pushwire/server --cert cert.pem --key key.pem
 * deno run -N jsr:@pushwire/pushwire/server --port 8081 --redis redis://127.0.0.1:6379/0
 * ```
 *
 * From a checkout of the repository (also where jsr.io cannot be reached),
 * the tasks run it: `deno task start [options]`, and with more permissions
 * `deno task std run -N --allow-env=PUSHWIRE_TOKEN src/cli.ts [options]`.
 *
 * ```text
 * Usage: pushwire [--port 8080] [--hostname 0.0.0.0] [options]
 *
 * Options:
 *   --port <n>            TCP port, 0 picks a free one (default 8080)
 *   --hostname <addr>     address to listen on (default 0.0.0.0)
 *   --publish-token <t>   bearer token for POST /publish (default: $PUSHWIRE_TOKEN
 *                         when readable; without a token, loopback clients only)
 *   --history <n>         messages kept per topic for resume (default 100)
 *   --history-ttl <s>     seconds a message is kept, 0 for no limit (default 3600)
 *   --max-body <bytes>    largest POST /publish body (default 65536)
 *   --origin <origin>     browser origin allowed to connect, repeatable
 *                         (default: any)
 *   --cert <file>         TLS certificate chain (PEM), with --key
 *   --key <file>          TLS private key (PEM)
 *   --no-deflate          turn permessage-deflate compression off (default on)
 *   --redis <url>         share topics, ids and history with other nodes through
 *                         Redis, e.g. redis://127.0.0.1:6379/0 (default: this
 *                         process only)
 *   --redis-timeout <s>   seconds to keep trying to reach Redis at start
 *                         (default 10)
 *   -h, --help            show this help
 *   -V, --version         show the version
 * ```
 *
 * The protocols are described in `src/chat/room.ts` (the chat room) and
 * `src/push/events.ts` (topics and resume).
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { DEFAULTS } from "./defaults.ts";
import { normalizeOrigins } from "./server/access.ts";
import { type PushServer, servePush, type ServePushOptions } from "./app/serve_push.ts";
import type { RedisEngine } from "./push/redis_engine.ts";
import { VERSION } from "./version.ts";

const USAGE = `Usage: pushwire [--port 8080] [--hostname 0.0.0.0] [options]

A WebSocket push server. Clients subscribe to topics (ws://host:port/?topic=news)
and resume after a disconnect (&since=<last id>); publishers POST to
/publish?topic=news. Clients that name no topic chat on the page at /, and lines
typed on stdin go to them. GET /metrics and /healthz for monitoring. Ctrl-C stops it.

Options:
  --port <n>            TCP port, 0 picks a free one (default 8080)
  --hostname <addr>     address to listen on (default 0.0.0.0)
  --publish-token <t>   bearer token for POST /publish (default: $PUSHWIRE_TOKEN
                        when readable; without a token, loopback clients only)
  --history <n>         messages kept per topic for resume (default 100)
  --history-ttl <s>     seconds a message is kept, 0 for no limit (default 3600)
  --max-body <bytes>    largest POST /publish body (default 65536)
  --origin <origin>     browser origin allowed to connect, repeatable
                        (default: any)
  --cert <file>         TLS certificate chain (PEM), with --key
  --key <file>          TLS private key (PEM)
  --no-deflate          turn permessage-deflate compression off (default on)
  --redis <url>         share topics, ids and history with other nodes through
                        Redis, e.g. redis://127.0.0.1:6379/0 (default: this
                        process only)
  --redis-timeout <s>   seconds to keep trying to reach Redis at start
                        (default 10)
  -h, --help            show this help
  -V, --version         show the version

Permissions: -N (network) always, --redis included; --allow-env=PUSHWIRE_TOKEN
to read the token from the environment; -R=<cert>,<key> for TLS.
`;

const TOKEN_VARIABLE = "PUSHWIRE_TOKEN";

type ServeCommand = {
  kind: "serve";
  port: number;
  hostname: string;
  token: string | undefined;
  history: number;
  historyTtlSeconds: number;
  maxBody: number;
  origins: string[] | undefined;
  deflate: boolean;
  tls: { cert: string; key: string } | undefined;
  redis: string | undefined;
  redisTimeoutSeconds: number;
};

type Command =
  | { kind: "help" }
  | { kind: "version" }
  | ServeCommand;

/** Reads the command line; throws a `TypeError` or `RangeError` to show the user. */
function parseCommand(args: string[]): Command {
  const flags = parseFlags(args);
  if (flags.help) return { kind: "help" };
  if (flags.version) return { kind: "version" };
  return serveCommand(flags);
}

/** The flags as `parseArgs` reads them; an unknown flag or argument throws. */
function parseFlags(args: string[]) {
  const unknown: string[] = [];
  const flags = parseArgs(args, {
    string: [
      "port",
      "hostname",
      "publish-token",
      "history",
      "history-ttl",
      "max-body",
      "origin",
      "cert",
      "key",
      "redis",
      "redis-timeout",
    ],
    boolean: ["help", "version", "deflate"],
    negatable: ["deflate"],
    collect: ["origin"],
    alias: { h: "help", V: "version" },
    default: {
      port: String(DEFAULTS.port),
      hostname: DEFAULTS.hostname,
      history: String(DEFAULTS.historySize),
      "history-ttl": String(DEFAULTS.historyTtl / 1000),
      "redis-timeout": String(DEFAULTS.redisConnectTimeout / 1000),
      deflate: true,
    },
    unknown: (arg: string) => {
      unknown.push(arg);
      return false;
    },
  });
  if (unknown.length > 0) {
    const [arg] = unknown;
    throw new TypeError(`Unknown ${arg!.startsWith("-") ? "option" : "argument"}: ${arg}`);
  }
  return flags;
}

/** The serve command from its flags, each checked. */
function serveCommand(flags: ReturnType<typeof parseFlags>): ServeCommand {
  const port = integer(flags.port, "--port", 0, 65535);
  const hostname = String(flags.hostname);
  if (hostname === "") throw new TypeError("Invalid --hostname: it must not be empty");
  const token = flags["publish-token"];
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(String(token))) {
    throw new TypeError("Invalid --publish-token: use visible ASCII characters, no spaces");
  }
  const origins = (flags.origin as unknown[]).map(String);
  normalizeOrigins(origins);
  const cert = flags.cert;
  const key = flags.key;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError("--cert and --key go together");
  }
  const redis = flags.redis === undefined ? undefined : String(flags.redis);
  if (redis !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redis)) {
    throw new TypeError("Invalid --redis: use redis://host:port/db (or rediss:// for TLS)");
  }
  return {
    kind: "serve",
    port,
    hostname,
    token: token === undefined ? undefined : String(token),
    history: integer(flags.history, "--history", 0, 1_000_000),
    historyTtlSeconds: integer(flags["history-ttl"], "--history-ttl", 0, 365 * 24 * 3600),
    maxBody: flags["max-body"] === undefined
      ? DEFAULTS.maxBodyBytes
      : integer(flags["max-body"], "--max-body", 1, 64 * 1024 * 1024),
    origins: origins.length === 0 ? undefined : origins,
    deflate: flags.deflate !== false,
    tls: cert === undefined || key === undefined
      ? undefined
      : { cert: String(cert), key: String(key) },
    redis,
    redisTimeoutSeconds: integer(flags["redis-timeout"], "--redis-timeout", 0, 3600),
  };
}

/** A whole number from `min` to `max`, from a flag's text. */
function integer(value: unknown, flag: string, min: number, max: number): number {
  const text = String(value);
  if (text === "") throw new TypeError(`Missing value for ${flag}`);
  if (!/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new RangeError(`Invalid ${flag}: "${text}" is not an integer from ${min} to ${max}`);
  }
  return Number(text);
}

/** The token from the environment, when the permission to read it was granted. */
function tokenFromEnvironment(): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable: TOKEN_VARIABLE });
  if (status.state !== "granted") return undefined;
  const token = Deno.env.get(TOKEN_VARIABLE);
  return token === "" ? undefined : token;
}

/** The URL to print: a clickable `localhost` for the wildcard addresses. */
function displayUrl(addr: Deno.NetAddr, secure: boolean): string {
  const host = addr.hostname === "0.0.0.0" || addr.hostname === "::"
    ? "localhost"
    : addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  return `${secure ? "https" : "http"}://${host}:${addr.port}/`;
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

/** The server's options from the command, reading the TLS files. */
async function serveOptions(command: ServeCommand): Promise<ServePushOptions> {
  const options: ServePushOptions = {
    port: command.port,
    hostname: command.hostname,
    historySize: command.history,
    historyTtl: command.historyTtlSeconds * 1000,
    maxBodyBytes: command.maxBody,
    perMessageDeflate: command.deflate,
  };
  const token = command.token ?? tokenFromEnvironment();
  if (token !== undefined) options.publishToken = token;
  if (command.origins !== undefined) options.origins = command.origins;
  if (command.tls !== undefined) {
    const read = async (flag: string, path: string) => {
      try {
        return await Deno.readTextFile(path);
      } catch (error) {
        const hint = error instanceof Deno.errors.NotCapable
          ? ` (run with -R=${command.tls!.cert},${command.tls!.key})`
          : "";
        throw new Error(`cannot read ${flag} ${path}: ${(error as Error).message}${hint}`);
      }
    };
    options.cert = await read("--cert", command.tls.cert);
    options.key = await read("--key", command.tls.key);
  }
  return options;
}

/** The Redis engine of `--redis`, open; `undefined` without the flag. */
async function openRedis(command: ServeCommand): Promise<RedisEngine | undefined> {
  if (command.redis === undefined) return undefined;
  // Loaded only with --redis: without it, no npm package is read.
  const { RedisEngine } = await import("./push/redis_engine.ts");
  const redis = new RedisEngine({
    url: command.redis,
    size: command.history,
    ttl: command.historyTtlSeconds * 1000,
    connectTimeout: command.redisTimeoutSeconds * 1000,
  });
  await redis.open();
  return redis;
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

  let engine: RedisEngine | undefined;
  try {
    engine = await openRedis(command);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
  let push: PushServer;
  try {
    const options = await serveOptions(command);
    push = servePush(engine === undefined ? options : { ...options, engine });
  } catch (error) {
    const message = error instanceof Error && error.message.startsWith("cannot read")
      ? error.message
      : `cannot listen on ${command.hostname}:${command.port}: ${error}`;
    console.error(`error: ${message}`);
    await engine?.close();
    return 1;
  }
  const { server } = push;
  try {
    await push.ready;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    await server.shutdown();
    return 1;
  }
  const stop = () => server.shutdown().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
  const shared = engine === undefined ? "" : ` (topics shared through Redis at ${engine.url})`;
  console.log(`pushwire listening on ${displayUrl(server.addr, server.secure)}${shared}`);

  await pushStdin(push);
  await server.finished;
  return 0;
}

/** Pushes each line of stdin to the chat room; stdin ending (a pipe, /dev/null) leaves the server running. */
async function pushStdin(push: PushServer): Promise<void> {
  for await (const line of stdinLines()) {
    const text = line.replace(/\r$/, "");
    if (text !== "") push.push(text);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
