/**
 * `pushwire`: a WebSocket push server with its demo page. Clients subscribe
 * to topics (`ws://host:8080/?topic=news`) and resume after a disconnect
 * without losing or doubling a message; publishers `POST /publish?topic=news`;
 * clients that name no topic chat on the page at `/`, and every line piped
 * to stdin goes to them as a server message. `GET /metrics` serves
 * Prometheus metrics (to loopback clients, or with `--metrics-token`),
 * `GET /healthz` a health check. Ctrl-C (or SIGTERM) shuts it down
 * gracefully: clients are closed with 1001 (going away) and reconnect by
 * themselves. It logs JSON lines on stderr (`--log-level`) and prints its
 * URL on stdout.
 *
 * Network permission is all it needs, with `--redis` too; reading the
 * token from the environment needs `--allow-env=PUSHWIRE_TOKEN` (without it
 * the variable is not read), TLS and token files need read access to them:
 *
 * ```sh
 * deno run -N jsr:@pushwire/pushwire/server --port 8080
 * echo "maintenance at noon" | deno run -N jsr:@pushwire/pushwire/server
 * PUSHWIRE_TOKEN=s3cret deno run -N --allow-env=PUSHWIRE_TOKEN jsr:@pushwire/pushwire/server
 * deno run -N -R=token.txt jsr:@pushwire/pushwire/server --publish-token-file token.txt
 * deno run -N -R=cert.pem,key.pem jsr:@pushwire/pushwire/server --cert cert.pem --key key.pem
 * deno run -N jsr:@pushwire/pushwire/server --port 8081 --redis redis://127.0.0.1:6379/0
 * ```
 *
 * Started in the background from an interactive shell (`&`), it keeps
 * running: it reads stdin from a terminal only when it can tell that it is
 * in the foreground (in Deno that takes `-A`, to read `/proc/self/stat`),
 * since a background job that reads its terminal is stopped by the kernel
 * (SIGTTIN), and handling that signal instead makes the read retry in a
 * busy loop. `--stdin on` reads a terminal regardless.
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
 *                         when readable; without a token, loopback clients only,
 *                         and no web page of another site)
 *   --publish-token-file <file>
 *                         read the publish token from a file, once at start
 *                         (needs -R=<file>); keeps it out of the process list
 *   --metrics-token <t>   bearer token for GET /metrics (default: none, and
 *                         /metrics answers loopback clients only)
 *   --metrics-token-file <file>
 *                         read the metrics token from a file (needs -R=<file>)
 *   --history <n>         messages kept per topic for resume (default 100)
 *   --history-ttl <s>     seconds a message is kept, 0 for no limit (default 3600)
 *   --history-bytes <n>   bytes of history kept over all topics, 0 for no limit;
 *                         past it the oldest messages go first (default 67108864)
 *   --max-body <bytes>    largest POST /publish body (default 65536)
 *   --max-pending-handshakes <n>
 *                         connections not yet a socket or answered; past it new
 *                         ones are closed at once (default 2048)
 *   --max-connections-per-address <n>
 *                         sockets and handshakes per client address; past it
 *                         429 (default 1024; 0 turns it off: do so behind a
 *                         reverse proxy, where every client has its address)
 *   --origin <origin>     browser origin allowed to connect besides the server's
 *                         own, repeatable (default: the server's own only); '*'
 *                         lets every web page connect with the user's cookies
 *   --allowed-host <host> host name (or address) requests must name in Host,
 *                         repeatable; [:port] for one port only; others get 403,
 *                         against DNS rebinding (default: any)
 *   --cert <file>         TLS certificate chain (PEM), with --key
 *   --key <file>          TLS private key (PEM)
 *   --no-deflate          turn permessage-deflate compression off (default on)
 *   --redis <url>         share topics, ids and history with other nodes through
 *                         Redis, e.g. redis://127.0.0.1:6379/0 (default: this
 *                         process only)
 *   --redis-timeout <s>   seconds to keep trying to reach Redis at start
 *                         (default 10)
 *   --workers <n|auto>    serve the port from n workers (auto: one per core), one
 *                         set of topics, ids and rooms (with --redis, each
 *                         worker a Redis node); Linux; needs --unstable-net
 *                         and -R=<the src/ folder> (default: one)
 *   --log-level <level>   debug, info, warn, error or silent: JSON lines on
 *                         stderr (default info)
 *   --stdin <mode>        auto: read lines from a pipe or file, and from a
 *                         terminal only when sure to be in the foreground (a
 *                         background job reading it would be stopped); on:
 *                         read a terminal too; off: never (default auto)
 *   -h, --help            show this help
 *   -V, --version         show the version
 * ```
 *
 * The protocols are described in `src/chat/room.ts` (the chat room) and
 * `src/push/events.ts` (topics and resume).
 *
 * @module
 */

import { type PushServer, servePush, type ServePushOptions } from "./app/serve_push.ts";
import { type PushWorkers, servePushWorkers } from "./app/workers/serve_push_workers.ts";
import {
  checkToken,
  type Command,
  parseCommand,
  type ServeCommand,
  type TokenSource,
  USAGE,
} from "./cli_command.ts";
import type { JwtOptions } from "./auth/jwt.ts";
import type { PresenceStore } from "./push/presence.ts";
import type { RedisEngine } from "./push/redis_engine.ts";
import type { Authorize } from "./server/options.ts";
import { Logger } from "./server/log.ts";
import { VERSION } from "./version.ts";

const TOKEN_VARIABLE = "PUSHWIRE_TOKEN";
const JWT_SECRET_VARIABLE = "PUSHWIRE_JWT_SECRET";
const API_KEY_VARIABLE = "PUSHWIRE_API_KEY";

/** A failure to start that the user must fix: its message is shown as is. */
class StartError extends Error {}

/** A secret from the environment, when the permission to read it was granted. */
function tokenFromEnvironment(variable: string): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable });
  if (status.state !== "granted") return undefined;
  const token = Deno.env.get(variable);
  return token === "" ? undefined : token;
}

/**
 * The `authorize` hook of the JWT flags (or of `$PUSHWIRE_JWT_SECRET`), its
 * key loaded; `undefined` without them. jose is loaded only then.
 */
async function jwtAuthorize(command: ServeCommand): Promise<Authorize | undefined> {
  const options = await jwtOptions(command);
  if (options === undefined) return undefined;
  const { jwtAuthorizer } = await import("./auth/jwt.ts");
  const authorize = jwtAuthorizer(options);
  try {
    await authorize.ready;
  } catch (error) {
    throw new StartError((error as Error).message);
  }
  return authorize;
}

/** The options of the JWT flags (or of `$PUSHWIRE_JWT_SECRET`), key files read. */
async function jwtOptions(command: ServeCommand): Promise<JwtOptions | undefined> {
  const jwt = command.jwt ?? {};
  const options: JwtOptions = { publicTopics: command.publicTopics };
  if (jwt.secret !== undefined) options.secret = await readToken(jwt.secret, "--jwt-secret");
  else if (jwt.keyFile !== undefined) {
    options.key = await readStartFile("--jwt-key", jwt.keyFile, jwt.keyFile);
  } else if (jwt.jwks !== undefined) options.jwks = jwt.jwks;
  else {
    const secret = tokenFromEnvironment(JWT_SECRET_VARIABLE);
    if (secret === undefined) return undefined;
    options.secret = secret;
  }
  if (jwt.algorithm !== undefined) options.algorithms = [jwt.algorithm];
  if (jwt.issuer !== undefined) options.issuer = jwt.issuer;
  if (jwt.audience !== undefined) options.audience = jwt.audience;
  return options;
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

/** A file's text, read at start; a clear error (with the permission to add) otherwise. */
async function readStartFile(flag: string, path: string, permission: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const hint = error instanceof Deno.errors.NotCapable ? ` (run with -R=${permission})` : "";
    throw new StartError(`cannot read ${flag} ${path}: ${(error as Error).message}${hint}`);
  }
}

/** A token from the command line, or read once from its file (one line, trimmed). */
async function readToken(source: TokenSource, flag: string): Promise<string> {
  if (source.kind === "value") return source.value;
  const token = (await readStartFile(`${flag}-file`, source.path, source.path)).trim();
  try {
    checkToken(token, `${flag}-file ${source.path}`);
  } catch (error) {
    throw new StartError((error as Error).message + (token === "" ? " (the file is empty)" : ""));
  }
  return token;
}

/** The server's options from the command, reading the token and TLS files. */
async function serveOptions(command: ServeCommand, logger: Logger): Promise<ServePushOptions> {
  const options: ServePushOptions = {
    port: command.port,
    hostname: command.hostname,
    historySize: command.history,
    historyTtl: command.historyTtlSeconds * 1000,
    historyBytes: command.historyBytes,
    maxBodyBytes: command.maxBody,
    maxPendingHandshakes: command.maxPendingHandshakes,
    maxConnectionsPerAddress: command.maxConnectionsPerAddress,
    perMessageDeflate: command.deflate,
    logger,
  };
  const token = command.token === undefined
    ? tokenFromEnvironment(TOKEN_VARIABLE)
    : await readToken(command.token, "--publish-token");
  if (token !== undefined) options.publishToken = token;
  if (command.metricsToken !== undefined) {
    options.metricsToken = await readToken(command.metricsToken, "--metrics-token");
  }
  if (command.origins !== undefined) options.origins = command.origins;
  if (command.allowedHosts !== undefined) options.allowedHosts = command.allowedHosts;
  const authorize = await jwtAuthorize(command);
  if (authorize !== undefined) options.authorize = authorize;
  if (authorize === undefined && command.publicTopics.length > 0) {
    throw new StartError("--public-topic needs --jwt-secret, --jwt-key or --jwks");
  }
  if (command.anonymousPublish !== undefined) options.anonymousPublish = command.anonymousPublish;
  if (command.presence !== undefined) options.presence = command.presence;
  const apiKey = command.apiKey === undefined
    ? tokenFromEnvironment(API_KEY_VARIABLE)
    : await readToken(command.apiKey, "--api-key");
  if (apiKey !== undefined) options.apiKey = apiKey;
  if (command.tls !== undefined) {
    const both = `${command.tls.cert},${command.tls.key}`;
    options.cert = await readStartFile("--cert", command.tls.cert, both);
    options.key = await readStartFile("--key", command.tls.key, both);
  }
  return options;
}

/**
 * The Redis engine and presence store of `--redis`, the engine open,
 * logging to `logger`; `undefined` without the flag.
 */
async function openRedis(
  command: ServeCommand,
  logger: Logger,
): Promise<{ engine: RedisEngine; presenceStore: PresenceStore } | undefined> {
  if (command.redis === undefined) return undefined;
  // Loaded only with --redis: without it, no npm package is read.
  const { RedisEngine } = await import("./push/redis_engine.ts");
  const { RedisPresence } = await import("./push/redis/presence.ts");
  const connectTimeout = command.redisTimeoutSeconds * 1000;
  const engine = new RedisEngine({
    url: command.redis,
    size: command.history,
    ttl: command.historyTtlSeconds * 1000,
    connectTimeout,
    logger,
  });
  await engine.open();
  return {
    engine,
    presenceStore: new RedisPresence({ url: command.redis, connectTimeout, logger }),
  };
}

/** A Redis URL without its password, for a log line. */
function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)[^@/]*@/, "$1***@");
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
  const logger = new Logger({ level: command.logLevel, write: (line) => console.error(line) });
  let options: ServePushOptions;
  try {
    options = await serveOptions(command, logger);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
  if (command.workers !== undefined) return await serveWorkers(command, options, logger);
  const push = await start(command, options, logger);
  if (push === undefined) return 1;
  const { server } = push;
  const stop = (signal: Deno.Signal) => {
    logger.info("signal", { signal });
    server.shutdown().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  const engine = push.hub.engine.shared ? "redis" : "memory";
  const shared = command.redis === undefined
    ? ""
    : ` (topics shared through Redis at ${redactUrl(command.redis)})`;
  const url = displayUrl(server.addr, server.secure);
  console.log(`pushwire listening on ${url}${shared}`);
  logger.info("started", {
    version: VERSION,
    url,
    engine,
    ...(command.redis === undefined ? {} : { redis: redactUrl(command.redis) }),
  });
  await pushStdin(push, command.stdin, logger);
  await server.finished;
  return 0;
}

/**
 * `--workers`: the server on every core, until a signal shuts it down.
 * Lines on stdin are not read (the chat room lives in the workers).
 */
async function serveWorkers(
  command: ServeCommand,
  options: ServePushOptions,
  logger: Logger,
): Promise<number> {
  const { logger: _logger, authorize: _authorize, ...data } = options;
  let push: PushWorkers;
  try {
    const jwt = await jwtOptions(command);
    push = await servePushWorkers({
      ...data,
      workers: command.workers ?? 1,
      logger,
      logLevel: command.logLevel,
      ...(jwt === undefined ? {} : { jwt }),
      ...(command.redis === undefined ? {} : {
        redis: {
          url: command.redis,
          size: command.history,
          ttl: command.historyTtlSeconds * 1000,
          connectTimeout: command.redisTimeoutSeconds * 1000,
        },
      }),
    });
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
  const stop = (signal: Deno.Signal) => {
    logger.info("signal", { signal });
    push.shutdown().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  const url = displayUrl(push.addr, push.secure);
  console.log(`pushwire listening on ${url} (${push.workers} workers)`);
  logger.info("started", { version: VERSION, url, engine: "workers", workers: push.workers });
  if (command.stdin !== "off") {
    logger.info("stdin-ignored", { reason: "--workers: the chat room lives in the workers" });
  }
  await push.finished;
  return 0;
}

/** Opens the engine and starts the server; `undefined` (the error printed) when either fails. */
async function start(
  command: ServeCommand,
  options: ServePushOptions,
  logger: Logger,
): Promise<PushServer | undefined> {
  let redis: Awaited<ReturnType<typeof openRedis>>;
  try {
    redis = await openRedis(command, logger);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return undefined;
  }
  let push: PushServer;
  try {
    push = servePush(redis === undefined ? options : { ...options, ...redis });
  } catch (error) {
    console.error(`error: cannot listen on ${command.hostname}:${command.port}: ${error}`);
    await redis?.engine.close();
    return undefined;
  }
  try {
    await push.ready;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    await push.server.shutdown();
    return undefined;
  }
  return push;
}

/**
 * Whether this process has the terminal (its process group is the
 * terminal's foreground group): `undefined` when it cannot tell. Only Linux
 * tells, through `/proc/self/stat`, which Deno lets a program read only with
 * `-A`; the permission is queried first, so that no prompt reads the
 * terminal.
 */
function inForeground(): boolean | undefined {
  if (Deno.build.os !== "linux") return undefined;
  for (const name of ["read", "run", "ffi"] as const) {
    if (Deno.permissions.querySync({ name }).state !== "granted") return undefined;
  }
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    // After "pid (comm) ": state ppid pgrp session tty_nr tpgid …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[2]) === Number(fields[5]);
  } catch {
    return undefined;
  }
}

/** Why stdin is not read (`undefined`: it is), by `--stdin`. */
function stdinSkipped(mode: ServeCommand["stdin"]): string | undefined {
  if (mode === "off") return "--stdin off";
  if (mode === "on" || !Deno.stdin.isTerminal()) return undefined;
  const foreground = inForeground();
  if (foreground === true) return undefined;
  return foreground === false
    ? "stdin is a terminal and this process runs in the background"
    : "stdin is a terminal, and whether this process runs in the foreground is unknown";
}

/**
 * Pushes each line of stdin to the chat room; stdin ending (a pipe,
 * /dev/null), failing or not being read leaves the server running.
 */
async function pushStdin(push: PushServer, mode: ServeCommand["stdin"], log: Logger) {
  const skipped = stdinSkipped(mode);
  if (skipped !== undefined) {
    log.info("stdin-ignored", {
      reason: skipped,
      hint: "pipe lines in, or start with --stdin on in the foreground, to send them to the chat",
    });
    return;
  }
  try {
    for await (const line of stdinLines()) {
      const text = line.replace(/\r$/, "");
      if (text !== "") push.push(text);
    }
  } catch (error) {
    log.warn("stdin-failed", { error });
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
