/**
 * The Redis engine's Lua scripts, how they are called and how their answers
 * read. Two scripts do all the writing and reading of topics, each in one
 * step that runs alone: one publishes (idempotency key, epoch, seq, stream
 * entry, expiry and announcement at once), one reads a topic's window after
 * an id (and pins the place of a topic with no stream). They are sent by
 * SHA-1 (`EVALSHA`), and in full (`EVAL`) when Redis does not know them yet,
 * each call under the engine's deadline. See {@linkcode RedisStreams} for
 * the key layout.
 *
 * @module
 */

import type { EngineMessage } from "../engine.ts";
import { type MessageId, newEpoch } from "../history.ts";
import type { CommandGuard, ReadyClient } from "./failure.ts";
import type { StreamRead } from "./stream_read.ts";

// Every script starts by reading the dataset's epoch, or making it.
const EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local clock = redis.call('TIME')
local now = clock[1] .. string.format('%03d', math.floor(tonumber(clock[2]) / 1000))
`;

/**
 * KEYS: epoch, floor, stream, pin, and the idempotency key if any. ARGV:
 * candidate epoch, size, ttl (ms), channel, payload, mark ttl (ms). Returns
 * { epoch, seq, time, flag }: flag `f` when the message is the first of its
 * stream, empty otherwise; or, for an idempotency key already used,
 * { epoch, seq, time, `r`, payload } of the first message.
 */
const PUBLISH_SCRIPT = EPOCH + `
if #KEYS > 4 then
  local prior = redis.call('GET', KEYS[5])
  if prior then
    local space = string.find(prior, ' ', 1, true)
    local seq = string.sub(prior, 1, space - 1)
    local payload = ARGV[5]
    local found = redis.call('XRANGE', KEYS[3], '0-' .. seq, '0-' .. seq)
    if #found > 0 then
      local fields = found[1][2]
      for i = 1, #fields, 2 do
        if fields[i] == 'p' then payload = fields[i + 1] end
      end
    end
    return { epoch, seq, string.sub(prior, space + 1), 'r', payload }
  end
end
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
local id
local flag = ''
if redis.call('EXISTS', KEYS[3]) == 1 then
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-*', 't', now, 'p', ARGV[5])
else
  local base = tonumber(redis.call('GET', KEYS[4]) or floor)
  redis.call('DEL', KEYS[4])
  flag = 'f'
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-' .. string.format('%d', base + 1),
    't', now, 'p', ARGV[5], 'f', '1')
end
local seq = string.sub(id, 3)
if tonumber(seq) > floor then redis.call('SET', KEYS[2], seq) end
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
if #KEYS > 4 then redis.call('SET', KEYS[5], seq .. ' ' .. now, 'PX', ARGV[6]) end
redis.call('PUBLISH', ARGV[4], epoch .. ' ' .. seq .. flag .. ' ' .. now .. ' ' .. ARGV[5])
return { epoch, seq, now, flag }
`;

/**
 * KEYS: epoch, floor, stream, pin. ARGV: candidate epoch, since epoch, since
 * seq (-1: the position only), size, ttl (ms), batch, mark ttl (ms).
 * Returns { epoch, last, state, seq1, time1, payload1, seq2, … }: the
 * window's messages after `since` (or from its start when `since` is from
 * another epoch or ahead of the topic), at most `batch` of them, none older
 * than the ttl. `state` is `e` when the topic has no stream (`last` is then
 * its pin, made from the floor if it had none, and kept for the mark ttl),
 * `f` when the first message returned is the first its stream held.
 */
const READ_SCRIPT = EPOCH + `
local last
local state = ''
if redis.call('EXISTS', KEYS[3]) == 1 then
  local top = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #top > 0 then
    last = tonumber(string.sub(top[1][1], 3))
  else
    local info = redis.call('XINFO', 'STREAM', KEYS[3])
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then last = tonumber(string.sub(info[i + 1], 3)) end
    end
  end
else
  last = tonumber(redis.call('GET', KEYS[4]) or redis.call('GET', KEYS[2]) or '0')
  redis.call('SET', KEYS[4], string.format('%d', last), 'PX', ARGV[7])
  state = 'e'
end
local reply = { epoch, string.format('%d', last), state }
local since = tonumber(ARGV[3])
if since < 0 or state == 'e' then return reply end
local size = tonumber(ARGV[4])
local start = last - size + 1
if ARGV[2] == epoch and since <= last and since + 1 > start then start = since + 1 end
if start < 1 then start = 1 end
local cutoff = -1
if tonumber(ARGV[5]) > 0 then cutoff = tonumber(now) - tonumber(ARGV[5]) end
local batch = tonumber(ARGV[6])
local count = 0
while count < batch and start <= last do
  local entries = redis.call('XRANGE', KEYS[3], '0-' .. string.format('%d', start), '+',
    'COUNT', batch)
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    local time, payload, first
    for i = 1, #fields, 2 do
      if fields[i] == 't' then time = fields[i + 1]
      elseif fields[i] == 'p' then payload = fields[i + 1]
      elseif fields[i] == 'f' then first = true end
    end
    if count < batch and tonumber(time) > cutoff then
      if count == 0 and first then reply[3] = 'f' end
      reply[#reply + 1] = string.sub(entry[1], 3)
      reply[#reply + 1] = time
      reply[#reply + 1] = payload
      count = count + 1
    end
  end
  start = tonumber(string.sub(entries[#entries][1], 3)) + 1
end
return reply
`;

/** What a script needs of a Redis client: sending one command. */
export interface ScriptClient {
  /**
   * Sends a command and resolves with Redis's reply.
   *
   * @param args The command and its arguments.
   */
  sendCommand(args: string[]): Promise<unknown>;
}

/** A Lua script and its SHA-1, sent with `EVALSHA` and an `EVAL` fallback. */
export class Script {
  /** The Lua source. */
  readonly source: string;
  #sha: Promise<string> | undefined;

  /**
   * Wraps a script.
   *
   * @param source The Lua source.
   */
  constructor(source: string) {
    this.source = source;
  }

  /** The hex SHA-1 of the source, as Redis names the script (computed once). */
  sha(): Promise<string> {
    this.#sha ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.source))
      .then((digest) =>
        Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("")
      );
    return this.#sha;
  }

  /**
   * Runs the script by its SHA-1, sending it in full when Redis does not
   * know it (`NOSCRIPT`).
   *
   * @param client The client to send with.
   * @param keys `KEYS`.
   * @param args `ARGV`.
   * @returns The script's reply.
   * @throws {Error} When Redis cannot be reached, or the script fails.
   */
  async run(
    client: ScriptClient,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      return await client.sendCommand(["EVALSHA", await this.sha(), ...rest]);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return await client.sendCommand(["EVAL", this.source, ...rest]);
    }
  }
}

/** Publishes one message: see `PUBLISH_SCRIPT`. */
const PUBLISH = new Script(PUBLISH_SCRIPT);
/** Reads a topic's window: see `READ_SCRIPT`. */
const READ = new Script(READ_SCRIPT);

/** Options for {@linkcode RedisStreams}: every node of a deployment uses the same. */
export interface RedisStreamsOptions {
  /** The prefix of every key and channel. */
  prefix: string;
  /** Messages kept per topic. */
  size: number;
  /** Milliseconds a message is kept; `0` for no time bound. */
  ttl: number;
  /** Messages read at a time. */
  batchSize: number;
}

/** What the publish script answered. */
export interface Published {
  /** The message appended, or the first one for a repeated idempotency key. */
  readonly message: EngineMessage;
  /** It is the first its stream held (nothing of the topic lies between its floor and it). */
  readonly fresh: boolean;
  /** An earlier append with the same idempotency key made it: nothing was appended. */
  readonly repeated: boolean;
}

/** A client the scripts can run on: sending, and whether it can send now. */
export type StreamsClient = ScriptClient & ReadyClient;

/**
 * Milliseconds a topic's pin and its idempotency keys live without a window
 * ttl (with one, they live as long as the ttl).
 */
const MARK_TTL_WITHOUT_WINDOW_TTL = 3_600_000;

/**
 * The topics of one prefix in Redis, through the two scripts: publish, read,
 * and the channel each topic is announced on. Keys: `<prefix>epoch`,
 * `<prefix>floor`, `<prefix>s:<topic>` (the stream), `<prefix>p:<topic>`
 * (the pin of a topic with no stream: the seq its first message will come
 * after, so that every node tells the same place for it) and
 * `<prefix>i:<topic> <key>` (an idempotency key: the seq and time it made).
 */
export class RedisStreams {
  readonly #client: () => StreamsClient | undefined;
  readonly #guard: CommandGuard;
  readonly #prefix: string;
  readonly #size: string;
  readonly #ttl: string;
  readonly #markTtl: string;
  readonly #batchSize: string;

  /**
   * Binds the scripts to a client and a window.
   *
   * @param client Gives the client to use, or `undefined` when there is none.
   * @param guard Runs each call under the engine's deadline.
   * @param options The prefix and the window.
   */
  constructor(
    client: () => StreamsClient | undefined,
    guard: CommandGuard,
    options: RedisStreamsOptions,
  ) {
    this.#client = client;
    this.#guard = guard;
    this.#prefix = options.prefix;
    this.#size = String(options.size);
    this.#ttl = String(options.ttl);
    this.#markTtl = String(options.ttl > 0 ? options.ttl : MARK_TTL_WITHOUT_WINDOW_TTL);
    this.#batchSize = String(options.batchSize);
  }

  /**
   * The Pub/Sub channel a topic's messages are announced on.
   *
   * @param topic A topic name.
   * @returns `<prefix>c:<topic>`.
   */
  channel(topic: string): string {
    return `${this.#prefix}c:${topic}`;
  }

  /**
   * Assigns the next id of `topic`, appends the message to its stream
   * (trimmed to the window) and announces it on its channel; or, for an
   * idempotency key already used for the topic, answers the first message.
   *
   * @param topic A topic name.
   * @param payload The message.
   * @param key Its idempotency key (already checked), if any.
   * @returns The message with its id and Redis's time, and what it was.
   * @throws {EngineUnavailableError} When Redis cannot be reached or did not
   * answer in time (`outcomeUnknown` then says whether it may have been appended).
   */
  async publish(topic: string, payload: string, key?: string): Promise<Published> {
    const keys = this.#keys(topic);
    if (key !== undefined) keys.push(`${this.#prefix}i:${topic} ${key}`);
    const args = [this.#size, this.#ttl, this.channel(topic), payload, this.#markTtl];
    const reply = await this.#run(`append to topic "${topic}"`, true, PUBLISH, keys, args);
    const repeated = reply[3] === "r";
    return {
      message: {
        topic,
        id: { epoch: String(reply[0]), seq: Number(reply[1]) },
        time: Number(reply[2]),
        payload: repeated ? String(reply[4]) : payload,
      },
      fresh: reply[3] === "f",
      repeated,
    };
  }

  /**
   * Reads a topic's window after `since`, a batch at most. A topic with no
   * stream gets a pin (or its pin lives on), which is its `last`.
   *
   * @param topic A topic name.
   * @param since The last id seen, or `undefined` for the position only.
   * @returns The epoch, the last seq, the messages, and whether the topic
   * holds none or the first of them is its stream's first.
   * @throws {EngineUnavailableError} When Redis cannot be reached or did not answer in time.
   */
  async read(topic: string, since: MessageId | undefined): Promise<StreamRead> {
    const args = [
      since?.epoch ?? "",
      String(since?.seq ?? -1),
      this.#size,
      this.#ttl,
      this.#batchSize,
      this.#markTtl,
    ];
    const reply = await this.#run(`read topic "${topic}"`, false, READ, this.#keys(topic), args);
    const messages: EngineMessage[] = [];
    const epoch = String(reply[0]);
    for (let i = 3; i + 2 < reply.length; i += 3) {
      messages.push({
        topic,
        id: { epoch, seq: Number(reply[i]) },
        time: Number(reply[i + 1]),
        payload: String(reply[i + 2]),
      });
    }
    const state = reply[2];
    return { epoch, last: Number(reply[1]), messages, empty: state === "e", fresh: state === "f" };
  }

  #keys(topic: string): string[] {
    const prefix = this.#prefix;
    return [`${prefix}epoch`, `${prefix}floor`, `${prefix}s:${topic}`, `${prefix}p:${topic}`];
  }

  #run(
    what: string,
    write: boolean,
    script: Script,
    keys: string[],
    args: string[],
  ): Promise<unknown[]> {
    return this.#guard.run(
      this.#client(),
      { what, write },
      (client) => script.run(client, keys, [newEpoch(), ...args]) as Promise<unknown[]>,
    );
  }
}

const DIGITS = /^[0-9]+$/;

/** An announcement of the publish script, read. */
export interface Announcement {
  /** The message. */
  readonly message: EngineMessage;
  /** It is the first its stream held. */
  readonly fresh: boolean;
}

/**
 * Reads an announcement of the publish script, `<epoch> <seq> <time>
 * <payload>`, where `<seq>` ends with `f` for the first message of its
 * stream (which earlier nodes read as malformed, and fetch from the stream).
 *
 * @example
 * ```ts
 * import { parseAnnouncement } from "./scripts.ts";
 *
 * console.log(parseAnnouncement("news", "e1 7 1700000000000 hi there")?.message.payload);
 * // "hi there"
 * console.log(parseAnnouncement("news", "e1 8f 1700000000000 first")?.fresh); // true
 * console.log(parseAnnouncement("news", "garbage")); // undefined
 * ```
 *
 * @param topic The topic of the channel it came on.
 * @param text The announcement.
 * @returns The message and whether it is fresh, or `undefined` when malformed.
 */
export function parseAnnouncement(topic: string, text: string): Announcement | undefined {
  const a = text.indexOf(" ");
  const b = text.indexOf(" ", a + 1);
  const c = text.indexOf(" ", b + 1);
  if (a <= 0 || b <= a || c <= b) return undefined;
  const fresh = text[b - 1] === "f";
  const digits = text.slice(a + 1, fresh ? b - 1 : b);
  const seq = Number(digits);
  const time = Number(text.slice(b + 1, c));
  if (!DIGITS.test(digits) || !Number.isSafeInteger(seq) || !Number.isFinite(time)) {
    return undefined;
  }
  return {
    message: { topic, id: { epoch: text.slice(0, a), seq }, time, payload: text.slice(c + 1) },
    fresh,
  };
}
