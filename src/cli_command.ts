/**
 * The `pushwire` command line, pure: the usage text, and the flags read into
 * a checked command (`src/cli.ts` runs it).
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { DEFAULTS } from "./defaults.ts";
import { normalizeAllowedHosts, originPolicy } from "./server/access.ts";
import type { LogThreshold } from "./server/log.ts";

/** What `pushwire --help` prints. */
export const USAGE = `Usage: pushwire [--port 8080] [--hostname 0.0.0.0] [options]

A WebSocket push server. Clients subscribe to topics (ws://host:port/?topic=news)
and resume after a disconnect (&since=<last id>); publishers POST to
/publish?topic=news. Clients that name no topic chat on the page at /, and lines
piped to stdin go to them. GET /metrics and /healthz for monitoring. Ctrl-C stops
it. Log lines (JSON) go to stderr.

Options:
  --port <n>            TCP port, 0 picks a free one (default 8080)
  --hostname <addr>     address to listen on (default 0.0.0.0)
  --publish-token <t>   bearer token for POST /publish (default: $PUSHWIRE_TOKEN
                        when readable; without a token, loopback clients only,
                        and no web page of another site)
  --publish-token-file <file>
                        read the publish token from a file, once at start
                        (needs -R=<file>); keeps it out of the process list
  --metrics-token <t>   bearer token for GET /metrics (default: none, and
                        /metrics answers loopback clients only)
  --metrics-token-file <file>
                        read the metrics token from a file (needs -R=<file>)
  --history <n>         messages kept per topic for resume (default 100)
  --history-ttl <s>     seconds a message is kept, 0 for no limit (default 3600)
  --history-bytes <n>   bytes of history kept over all topics, 0 for no limit;
                        past it the oldest messages go first (default 67108864)
  --max-body <bytes>    largest POST /publish body (default 65536)
  --max-pending-handshakes <n>
                        connections not yet a socket or answered; past it new
                        ones are closed at once (default 2048)
  --max-connections-per-address <n>
                        sockets and handshakes per client address; past it
                        429 (default 1024; 0 turns it off: do so behind a
                        reverse proxy, where every client has its address)
  --origin <origin>     browser origin allowed to connect besides the server's
                        own, repeatable (default: the server's own only); '*'
                        lets every web page connect with the user's cookies
  --allowed-host <host> host name (or address) requests must name in Host,
                        repeatable; [:port] for one port only; others get 403,
                        against DNS rebinding (default: any)
  --cert <file>         TLS certificate chain (PEM), with --key
  --key <file>          TLS private key (PEM)
  --no-deflate          turn permessage-deflate compression off (default on)
  --redis <url>         share topics, ids and history with other nodes through
                        Redis, e.g. redis://127.0.0.1:6379/0 (default: this
                        process only)
  --redis-timeout <s>   seconds to keep trying to reach Redis at start
                        (default 10)
  --log-level <level>   debug, info, warn, error or silent: JSON lines on
                        stderr (default info)
  --stdin <mode>        auto: read lines from a pipe or file, and from a
                        terminal only when sure to be in the foreground (a
                        background job reading it would be stopped); on:
                        read a terminal too; off: never (default auto)
  -h, --help            show this help
  -V, --version         show the version

Permissions: -N (network) always, --redis included; --allow-env=PUSHWIRE_TOKEN
to read the token from the environment; -R=<file> for each file named (TLS,
token files).
`;

/** A token: given on the command line, or the path of a file that holds it. */
export type TokenSource =
  | {
    /** Given on the command line. */
    kind: "value";
    /** The token. */
    value: string;
  }
  | {
    /** Read from a file at start. */
    kind: "file";
    /** The file's path. */
    path: string;
  };

/** How the CLI treats its stdin (`--stdin`). */
export type StdinMode = "auto" | "on" | "off";

/** The serve command: every flag, checked. */
export interface ServeCommand {
  /** The discriminant. */
  kind: "serve";
  /** `--port`. */
  port: number;
  /** `--hostname`. */
  hostname: string;
  /** `--publish-token` or `--publish-token-file`. */
  token: TokenSource | undefined;
  /** `--metrics-token` or `--metrics-token-file`. */
  metricsToken: TokenSource | undefined;
  /** `--history`. */
  history: number;
  /** `--history-ttl`. */
  historyTtlSeconds: number;
  /** `--history-bytes`. */
  historyBytes: number;
  /** `--max-body`. */
  maxBody: number;
  /** `--max-pending-handshakes`. */
  maxPendingHandshakes: number;
  /** `--max-connections-per-address`. */
  maxConnectionsPerAddress: number;
  /** `--origin`, every one. */
  origins: string[] | undefined;
  /** `--allowed-host`, every one. */
  allowedHosts: string[] | undefined;
  /** Not `--no-deflate`. */
  deflate: boolean;
  /** `--cert` and `--key`. */
  tls: { cert: string; key: string } | undefined;
  /** `--redis`. */
  redis: string | undefined;
  /** `--redis-timeout`. */
  redisTimeoutSeconds: number;
  /** `--log-level`. */
  logLevel: LogThreshold;
  /** `--stdin`. */
  stdin: StdinMode;
}

/** What the command line asks for. */
export type Command =
  | {
    /** `--help`. */
    kind: "help";
  }
  | {
    /** `--version`. */
    kind: "version";
  }
  | ServeCommand;

const LOG_LEVELS: readonly LogThreshold[] = ["debug", "info", "warn", "error", "silent"];
const STDIN_MODES: readonly StdinMode[] = ["auto", "on", "off"];
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Reads the command line.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./cli_command.ts";
 *
 * const command = parseCommand(["--port", "0", "--log-level", "warn"]);
 * console.log(command.kind === "serve" && command.logLevel); // "warn"
 * ```
 *
 * @param args The arguments after the script.
 * @returns The command.
 * @throws {TypeError} For an unknown flag or argument, or a bad value.
 * @throws {RangeError} For a number out of its range.
 */
export function parseCommand(args: string[]): Command {
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
      "publish-token-file",
      "metrics-token",
      "metrics-token-file",
      "history",
      "history-ttl",
      "history-bytes",
      "max-body",
      "max-pending-handshakes",
      "max-connections-per-address",
      "origin",
      "allowed-host",
      "cert",
      "key",
      "redis",
      "redis-timeout",
      "log-level",
      "stdin",
    ],
    boolean: ["help", "version", "deflate"],
    negatable: ["deflate"],
    collect: ["origin", "allowed-host"],
    alias: { h: "help", V: "version" },
    default: {
      port: String(DEFAULTS.port),
      hostname: DEFAULTS.hostname,
      history: String(DEFAULTS.historySize),
      "history-ttl": String(DEFAULTS.historyTtl / 1000),
      "history-bytes": String(DEFAULTS.historyBytes),
      "redis-timeout": String(DEFAULTS.redisConnectTimeout / 1000),
      "max-pending-handshakes": String(DEFAULTS.maxPendingHandshakes),
      "max-connections-per-address": String(DEFAULTS.maxConnectionsPerAddress),
      "log-level": "info",
      stdin: "auto",
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
  const origins = (flags.origin as unknown[]).map(String);
  originPolicy(origins);
  const allowedHosts = (flags["allowed-host"] as unknown[]).map(String);
  if (allowedHosts.length > 0) normalizeAllowedHosts(allowedHosts);
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
    token: tokenSource(flags["publish-token"], flags["publish-token-file"], "--publish-token"),
    metricsToken: tokenSource(
      flags["metrics-token"],
      flags["metrics-token-file"],
      "--metrics-token",
    ),
    history: integer(flags.history, "--history", 0, 1_000_000),
    historyTtlSeconds: integer(flags["history-ttl"], "--history-ttl", 0, 365 * 24 * 3600),
    historyBytes: integer(flags["history-bytes"], "--history-bytes", 0, 2 ** 40),
    maxBody: flags["max-body"] === undefined
      ? DEFAULTS.maxBodyBytes
      : integer(flags["max-body"], "--max-body", 1, 64 * 1024 * 1024),
    maxPendingHandshakes: integer(
      flags["max-pending-handshakes"],
      "--max-pending-handshakes",
      1,
      1_000_000,
    ),
    maxConnectionsPerAddress: integer(
      flags["max-connections-per-address"],
      "--max-connections-per-address",
      0,
      1_000_000,
    ),
    origins: origins.length === 0 ? undefined : origins,
    allowedHosts: allowedHosts.length === 0 ? undefined : allowedHosts,
    deflate: flags.deflate !== false,
    tls: cert === undefined || key === undefined
      ? undefined
      : { cert: String(cert), key: String(key) },
    redis,
    redisTimeoutSeconds: integer(flags["redis-timeout"], "--redis-timeout", 0, 3600),
    logLevel: oneOf(flags["log-level"], "--log-level", LOG_LEVELS),
    stdin: oneOf(flags.stdin, "--stdin", STDIN_MODES),
  };
}

/** A token flag and its `-file` twin: at most one of them. */
function tokenSource(value: unknown, file: unknown, flag: string): TokenSource | undefined {
  if (value !== undefined && file !== undefined) {
    throw new TypeError(`Give ${flag} or ${flag}-file, not both`);
  }
  if (file !== undefined) {
    if (String(file) === "") throw new TypeError(`Missing value for ${flag}-file`);
    return { kind: "file", path: String(file) };
  }
  if (value === undefined) return undefined;
  checkToken(String(value), flag);
  return { kind: "value", value: String(value) };
}

/**
 * Checks a token's characters.
 *
 * @param token The token.
 * @param what Where it came from, for the message (`--publish-token`).
 * @throws {TypeError} For a token with spaces or other invisible characters.
 */
export function checkToken(token: string, what: string): void {
  if (!VISIBLE_ASCII.test(token)) {
    throw new TypeError(`Invalid ${what}: use visible ASCII characters, no spaces`);
  }
}

/** One of a flag's allowed values. */
function oneOf<T extends string>(value: unknown, flag: string, allowed: readonly T[]): T {
  const text = String(value);
  const found = allowed.find((option) => option === text);
  if (found === undefined) {
    throw new TypeError(`Invalid ${flag}: "${text}" is not one of ${allowed.join(", ")}`);
  }
  return found;
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
