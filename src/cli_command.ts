/**
 * The `pushwire` command line, pure: the usage text, and the flags read into
 * a checked command (`src/cli.ts` runs it).
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { validatePattern } from "./auth/grants.ts";
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
  --jwt-secret <s>      require a JWT (HS256, this secret of 32+ bytes) from
                        every client: ?token= or Authorization: Bearer
                        (default: $PUSHWIRE_JWT_SECRET when readable)
  --jwt-secret-file <file>
                        read the JWT secret from a file (needs -R=<file>)
  --jwt-key <file>      require a JWT signed with this public key (PEM or
                        JWK: RS256, PS256 with --jwt-alg, ES256, EdDSA …)
  --jwks <url>          require a JWT signed with a key of this key set (an
                        identity provider's JWKS URL, fetched and cached)
  --jwt-alg <alg>       the algorithm of --jwt-key (default: the key's)
  --jwt-issuer <iss>    the iss a JWT must have
  --jwt-audience <aud>  the aud a JWT must have
  --public-topic <pattern>
                        topic anyone may read without a token (news, status:*),
                        repeatable
  --anonymous-publish <pattern>
                        topics clients without a token may publish to over
                        their socket, repeatable; none for none (default
                        room:*)
  --presence <pattern>  topics whose subscribers see who joins and leaves,
                        repeatable; none for none (default room:*)
  --api-key <k>         bearer key of the server API: /api/disconnect,
                        /api/unsubscribe, /api/presence, /api/topics (default:
                        $PUSHWIRE_API_KEY when readable; without one the API
                        answers 404)
  --api-key-file <file> read the API key from a file (needs -R=<file>)
  --cert <file>         TLS certificate chain (PEM), with --key
  --key <file>          TLS private key (PEM)
  --no-deflate          turn permessage-deflate compression off (default on)
  --redis <url>         share topics, ids and history with other nodes through
                        Redis, e.g. redis://127.0.0.1:6379/0 (default: this
                        process only)
  --redis-timeout <s>   seconds to keep trying to reach Redis at start
                        (default 10)
  --workers <n|auto>    serve the port from n workers (auto: one per core), one
                        set of topics, ids and rooms (with --redis, each
                        worker a Redis node); Linux; needs --unstable-net
                        and -R=<the src/ folder> (default: one)
  --log-level <level>   debug, info, warn, error or silent: JSON lines on
                        stderr (default info)
  --stdin <mode>        auto: read lines from a pipe or file, and from a
                        terminal only when sure to be in the foreground (a
                        background job reading it would be stopped); on:
                        read a terminal too; off: never (default auto)
  -h, --help            show this help
  -V, --version         show the version

Permissions: -N (network) always, --redis included; --allow-env=PUSHWIRE_TOKEN
(PUSHWIRE_JWT_SECRET, PUSHWIRE_API_KEY) to read them from the environment;
-R=<file> for each file named (TLS, token and key files). --workers: also
--unstable-net, and read access to the modules (from a checkout: -R=src).
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

/** The JWT flags: one key source, and the claims checked. */
export interface JwtCommand {
  /** `--jwt-secret` or `--jwt-secret-file`. */
  secret?: TokenSource;
  /** `--jwt-key`: the key file. */
  keyFile?: string;
  /** `--jwks`. */
  jwks?: string;
  /** `--jwt-alg`. */
  algorithm?: string;
  /** `--jwt-issuer`. */
  issuer?: string;
  /** `--jwt-audience`. */
  audience?: string;
}

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
  /** `--jwt-*` and `--jwks`: where the key that verifies tokens comes from. */
  jwt: JwtCommand | undefined;
  /** `--public-topic`, every one. */
  publicTopics: string[];
  /** `--anonymous-publish`, every one (`[]` for `none`); `undefined` for the default. */
  anonymousPublish: string[] | undefined;
  /** `--presence`, every one (`[]` for `none`); `undefined` for the default. */
  presence: string[] | undefined;
  /** `--api-key` or `--api-key-file`. */
  apiKey: TokenSource | undefined;
  /** Not `--no-deflate`. */
  deflate: boolean;
  /** `--cert` and `--key`. */
  tls: { cert: string; key: string } | undefined;
  /** `--redis`. */
  redis: string | undefined;
  /** `--redis-timeout`. */
  redisTimeoutSeconds: number;
  /** `--workers` (`auto`: the number of cores); absent for one thread. */
  workers?: number;
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

/** Every flag that takes a value. */
const STRING_FLAGS = [
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
  "jwt-secret",
  "jwt-secret-file",
  "jwt-key",
  "jwks",
  "jwt-alg",
  "jwt-issuer",
  "jwt-audience",
  "public-topic",
  "anonymous-publish",
  "presence",
  "api-key",
  "api-key-file",
  "cert",
  "key",
  "redis",
  "redis-timeout",
  "workers",
  "log-level",
  "stdin",
] as const;

/** The flags as `parseArgs` reads them; an unknown flag or argument throws. */
function parseFlags(args: string[]) {
  const unknown: string[] = [];
  const flags = parseArgs(args, {
    string: STRING_FLAGS,
    boolean: ["help", "version", "deflate"],
    negatable: ["deflate"],
    collect: ["origin", "allowed-host", "public-topic", "anonymous-publish", "presence"],
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
  const workers = workerCount(flags.workers);
  return {
    ...(workers === undefined ? {} : { workers }),
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
    jwt: jwtCommand(flags),
    publicTopics: patterns(flags["public-topic"], "--public-topic") ?? [],
    anonymousPublish: patterns(flags["anonymous-publish"], "--anonymous-publish"),
    presence: patterns(flags.presence, "--presence"),
    apiKey: tokenSource(flags["api-key"], flags["api-key-file"], "--api-key"),
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

/** `--workers`: a count from 1 to 256, or `auto` for every core. */
function workerCount(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (String(value) === "auto") return Math.max(1, navigator.hardwareConcurrency);
  return integer(value, "--workers", 1, 256);
}

/** The JWT flags, checked: at most one key source; the others need one. */
function jwtCommand(flags: ReturnType<typeof parseFlags>): JwtCommand | undefined {
  const secret = tokenSource(flags["jwt-secret"], flags["jwt-secret-file"], "--jwt-secret");
  const keyFile = optionalText(flags["jwt-key"], "--jwt-key");
  const jwks = optionalText(flags.jwks, "--jwks");
  const sources = [secret, keyFile, jwks].filter((source) => source !== undefined).length;
  if (sources > 1) throw new TypeError("Give one of --jwt-secret, --jwt-key and --jwks");
  if (jwks !== undefined && !/^https?:\/\/\S+$/.test(jwks)) {
    throw new TypeError("Invalid --jwks: use the https:// URL of a key set");
  }
  const command: JwtCommand = {};
  if (secret !== undefined) command.secret = secret;
  if (keyFile !== undefined) command.keyFile = keyFile;
  if (jwks !== undefined) command.jwks = jwks;
  const claims = [["jwt-alg", "algorithm"], ["jwt-issuer", "issuer"], [
    "jwt-audience",
    "audience",
  ]] as const;
  for (const [flag, field] of claims) {
    const value = optionalText(flags[flag], `--${flag}`);
    if (value === undefined) continue;
    if (sources === 0) throw new TypeError(`--${flag} needs --jwt-secret, --jwt-key or --jwks`);
    command[field] = value;
  }
  return sources === 0 ? undefined : command;
}

/** A repeatable topic-pattern flag: its patterns, `[]` for `none`, `undefined` when absent. */
function patterns(values: unknown, flag: string): string[] | undefined {
  const list = (values as unknown[]).map(String);
  if (list.length === 0) return undefined;
  if (list.length === 1 && list[0] === "none") return [];
  for (const pattern of list) {
    try {
      validatePattern(pattern);
    } catch (error) {
      throw new TypeError(`Invalid ${flag}: ${(error as Error).message}`);
    }
  }
  return list;
}

/** A flag's text, or `undefined` when absent; an empty value is refused. */
function optionalText(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (String(value) === "") throw new TypeError(`Missing value for ${flag}`);
  return String(value);
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
