/**
 * The soak benchmark: the push server (the CLI, as a child process) under
 * every kind of load at once for minutes — connection churn over many
 * topics, publishes, slow consumers, ping floods and fragment floods — with
 * its resident memory and open sockets printed as it goes. Memory must
 * plateau: the highest RSS of the last third of the run may not pass the
 * highest of the middle third by more than the tolerance, and once the load
 * stops every socket must be gone. Exit code 1 when either fails or the
 * server died.
 *
 * ```sh
 * deno task std run -A bench/soak.ts                 # 10 minutes
 * deno task std run -A bench/soak.ts --seconds 30    # what CI runs
 * deno task std run -A bench/soak.ts --minutes 60 --churners 200
 * ```
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { denoRunArgs } from "../tests/_deno_run.ts";
import { runLoad, type SoakLoad } from "./lib/soak_load.ts";
import { sampleProcess } from "./lib/proc.ts";

const CLI = new URL("../src/cli.ts", import.meta.url);
const MiB = 1024 * 1024;

/** One reading of the server. */
interface Sample {
  seconds: number;
  rssBytes: number;
  sockets: number;
  handshakes: number;
}

const HELP = `Usage: deno task std run -A bench/soak.ts [options]

  --minutes <n>        how long the load runs (default 10)
  --seconds <n>        the same in seconds (overrides --minutes)
  --interval <s>       seconds between readings (default: a twentieth of the run, 1 to 15)
  --churners <n>       clients that come and go (default 60)
  --topics <n>         topics they pick from (default 500)
  --publish-rate <n>   publishes per second (default 200)
  --slow <n>           slow consumers (default 4)
  --ping-floods <n>    ping flooders (default 2)
  --fragment-floods <n> fragment flooders (default 2)
  --tolerance <x>      allowed RSS growth, last third over middle third (default 1.25)
  --history-bytes <n>  the server's --history-bytes (default: its own, 64 MiB); a
                       short run needs a small one for the history to fill up
  --json               print the readings as JSON at the end
`;

async function main(): Promise<number> {
  const flags = parseArgs(Deno.args, {
    string: [
      "minutes",
      "seconds",
      "interval",
      "churners",
      "topics",
      "publish-rate",
      "slow",
      "ping-floods",
      "fragment-floods",
      "tolerance",
      "history-bytes",
    ],
    boolean: ["json", "help"],
  });
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  const num = (value: string | undefined, fallback: number) =>
    value === undefined ? fallback : Number(value);
  const seconds = num(flags.seconds, num(flags.minutes, 10) * 60);
  const interval = num(
    flags.interval,
    Math.min(15, Math.max(1, Math.round(seconds / 20))),
  );
  const tolerance = num(flags.tolerance, 1.25);
  const load: SoakLoad = {
    churners: num(flags.churners, 60),
    topics: num(flags.topics, 500),
    publishRate: num(flags["publish-rate"], 200),
    slowConsumers: num(flags.slow, 4),
    pingFlooders: num(flags["ping-floods"], 2),
    fragmentFlooders: num(flags["fragment-floods"], 2),
  };
  const extra = flags["history-bytes"] === undefined
    ? []
    : ["--history-bytes", String(flags["history-bytes"])];
  const server = await startServer(extra);
  console.log(
    `soak: ${seconds} s against pid ${server.pid} on port ${server.port}`,
  );
  console.log(JSON.stringify(load));
  const samples: Sample[] = [];
  const started = Date.now();
  const sampling = sampleEvery(server, interval, started, samples);
  const counts = await runLoad(server.port, load, started + seconds * 1000);
  sampling.stop();
  await new Promise((resolve) => setTimeout(resolve, 3000)); // let the last closes finish
  const after = await sample(server, started);
  const verdict = judge(samples, after, tolerance);
  console.log(`load: ${JSON.stringify(counts)}`);
  console.log(`after the load: ${describe(after)}`);
  for (const line of verdict.lines) console.log(line);
  if (flags.json) console.log(JSON.stringify({ load, counts, samples, after }));
  server.process.kill("SIGTERM");
  await server.process.status;
  return verdict.ok ? 0 : 1;
}

interface Running {
  process: Deno.ChildProcess;
  pid: number;
  port: number;
}

async function startServer(extra: string[]): Promise<Running> {
  const process = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(CLI, [
      "--port",
      "0",
      "--hostname",
      "127.0.0.1",
      "--history",
      "200",
      "--log-level",
      "silent",
      ...extra,
    ]),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening on \S+:(\d+)\//.test(text)) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`the server did not start: ${text}`);
    text += value;
  }
  lines.releaseLock();
  process.stdout.cancel().catch(() => {});
  const port = Number(/listening on \S+:(\d+)\//.exec(text)![1]);
  return { process, pid: process.pid, port };
}

async function sample(server: Running, started: number): Promise<Sample> {
  const { rssBytes } = await sampleProcess(server.pid);
  const response = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  const health = await response.json();
  return {
    seconds: Math.round((Date.now() - started) / 1000),
    rssBytes,
    sockets: health.sockets,
    handshakes: health.handshakes,
  };
}

function sampleEvery(
  server: Running,
  seconds: number,
  started: number,
  samples: Sample[],
) {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      if (stopped) break;
      const reading = await sample(server, started);
      samples.push(reading);
      console.log(describe(reading));
    }
  })();
  return {
    stop: () => {
      stopped = true;
      return loop;
    },
  };
}

function describe(sample: Sample): string {
  return `t=${String(sample.seconds).padStart(5)} s  rss=${
    (sample.rssBytes / MiB).toFixed(1).padStart(7)
  } MiB  sockets=${String(sample.sockets).padStart(5)}  handshakes=${sample.handshakes}`;
}

/** Whether memory plateaued and the sockets are gone once the load stopped. */
function judge(samples: Sample[], after: Sample, tolerance: number) {
  const third = Math.floor(samples.length / 3);
  const peak = (list: Sample[]) => Math.max(...list.map((s) => s.rssBytes));
  const lines: string[] = [];
  let ok = true;
  if (third < 1) {
    lines.push("plateau: too few readings to judge");
    ok = false;
  } else {
    const middle = peak(samples.slice(third, 2 * third));
    const last = peak(samples.slice(2 * third));
    const plateau = last <= middle * tolerance;
    ok &&= plateau;
    lines.push(
      `plateau: ${plateau ? "yes" : "NO"} (highest RSS of the last third ${
        (last / MiB).toFixed(1)
      } MiB, of the middle third ${(middle / MiB).toFixed(1)} MiB, tolerance ${tolerance}×)`,
    );
  }
  const drained = after.sockets === 0 && after.handshakes <= 1;
  ok &&= drained;
  lines.push(
    `sockets after the load: ${drained ? "none" : "LEFT OPEN"} (${after.sockets})`,
  );
  return { ok, lines };
}

if (import.meta.main) Deno.exit(await main());
