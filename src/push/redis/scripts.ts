/**
 * The Redis engine's Lua scripts, how they are called and how their answers
 * read. Two scripts do all the writing and reading of topics, each in one
 * step that runs alone: one publishes (epoch, seq, stream entry, expiry and
 * announcement at once), one reads a topic's window after an id. They are
 * sent by SHA-1 (`EVALSHA`), and in full (`EVAL`) when Redis does not know
 * them yet. See `redis_engine.ts` for the key layout.
 *
 * @module
 */

import type { EngineMessage } from "../engine.ts";
import { type MessageId, newEpoch } from "../history.ts";
import type { StreamRead } from "./sequencer.ts";

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
 * KEYS: epoch, floor, stream. ARGV: candidate epoch, size, ttl (ms), channel,
 * payload. Returns { epoch, seq, time }.
 */
const PUBLISH_SCRIPT = EPOCH + `
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
local id
if redis.call('EXISTS', KEYS[3]) == 1 then
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-*', 't', now, 'p', ARGV[5])
else
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-' .. string.format('%d', floor + 1),
    't', now, 'p', ARGV[5])
end
local seq = string.sub(id, 3)
if tonumber(seq) > floor then redis.call('SET', KEYS[2], seq) end
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
redis.call('PUBLISH', ARGV[4], epoch .. ' ' .. seq .. ' ' .. now .. ' ' .. ARGV[5])
return { epoch, seq, now }
`;

/**
 * KEYS: epoch, floor, stream. ARGV: candidate epoch, since epoch, since seq
 * (-1: the position only), size, ttl (ms), batch. Returns { epoch, last,
 * seq1, time1, payload1, seq2, … }: the window's messages after `since` (or
 * from its start when `since` is from another epoch or ahead of the topic),
 * at most `batch` of them, none older than the ttl.
 */
const READ_SCRIPT = EPOCH + `
local last
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
  last = tonumber(redis.call('GET', KEYS[2]) or '0')
end
local reply = { epoch, string.format('%d', last) }
local since = tonumber(ARGV[3])
if since < 0 then return reply end
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
    local time, payload
    for i = 1, #fields, 2 do
      if fields[i] == 't' then time = fields[i + 1] elseif fields[i] == 'p' then payload = fields[i + 1] end
    end
    if count < batch and tonumber(time) > cutoff then
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

/**
 * The topics of one prefix in Redis, through the two scripts: publish, read,
 * and the channel each topic is announced on.
 */
export class RedisStreams {
  readonly #client: () => ScriptClient;
  readonly #prefix: string;
  readonly #size: string;
  readonly #ttl: string;
  readonly #batchSize: string;

  /**
   * Binds the scripts to a client and a window.
   *
   * @param client Gives the client to use, or throws when there is none.
   * @param options The prefix and the window.
   */
  constructor(client: () => ScriptClient, options: RedisStreamsOptions) {
    this.#client = client;
    this.#prefix = options.prefix;
    this.#size = String(options.size);
    this.#ttl = String(options.ttl);
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
   * (trimmed to the window) and announces it on its channel.
   *
   * @param topic A topic name.
   * @param payload The message.
   * @returns The message with its id and Redis's time.
   * @throws {Error} When Redis cannot be reached (nothing was published).
   */
  async publish(topic: string, payload: string): Promise<EngineMessage> {
    const reply = await this.#run(PUBLISH, topic, [
      this.#size,
      this.#ttl,
      this.channel(topic),
      payload,
    ]) as string[];
    return {
      topic,
      id: { epoch: String(reply[0]), seq: Number(reply[1]) },
      time: Number(reply[2]),
      payload,
    };
  }

  /**
   * Reads a topic's window after `since`, a batch at most.
   *
   * @param topic A topic name.
   * @param since The last id seen, or `undefined` for the position only.
   * @returns The epoch, the last seq, and the messages.
   * @throws {Error} When Redis cannot be reached.
   */
  async read(topic: string, since: MessageId | undefined): Promise<StreamRead> {
    const reply = await this.#run(READ, topic, [
      since?.epoch ?? "",
      String(since?.seq ?? -1),
      this.#size,
      this.#ttl,
      this.#batchSize,
    ]) as string[];
    const messages: EngineMessage[] = [];
    const epoch = String(reply[0]);
    for (let i = 2; i + 2 < reply.length; i += 3) {
      messages.push({
        topic,
        id: { epoch, seq: Number(reply[i]) },
        time: Number(reply[i + 1]),
        payload: String(reply[i + 2]),
      });
    }
    return { epoch, last: Number(reply[1]), messages };
  }

  #run(script: Script, topic: string, args: string[]): Promise<unknown> {
    const client = this.#client();
    const keys = [`${this.#prefix}epoch`, `${this.#prefix}floor`, `${this.#prefix}s:${topic}`];
    return script.run(client, keys, [newEpoch(), ...args]);
  }
}

/**
 * Reads an announcement of the publish script, `<epoch> <seq> <time>
 * <payload>`.
 *
 * @example
 * ```ts
 * import { parseAnnouncement } from "./scripts.ts";
 *
 * console.log(parseAnnouncement("news", "e1 7 1700000000000 hi there")?.payload); // "hi there"
 * console.log(parseAnnouncement("news", "garbage")); // undefined
 * ```
 *
 * @param topic The topic of the channel it came on.
 * @param text The announcement.
 * @returns The message, or `undefined` when malformed.
 */
export function parseAnnouncement(topic: string, text: string): EngineMessage | undefined {
  const a = text.indexOf(" ");
  const b = text.indexOf(" ", a + 1);
  const c = text.indexOf(" ", b + 1);
  if (a <= 0 || b <= a || c <= b) return undefined;
  const seq = Number(text.slice(a + 1, b));
  const time = Number(text.slice(b + 1, c));
  if (!Number.isSafeInteger(seq) || !Number.isFinite(time)) return undefined;
  return { topic, id: { epoch: text.slice(0, a), seq }, time, payload: text.slice(c + 1) };
}
