/**
 * Long fuzz runs of the protocol core, for `deno task fuzz`:
 *
 * ```sh
 * deno task fuzz --seconds 600                         # both targets, a random seed
 * deno task fuzz --seconds 60 --seed 42                # a chosen seed
 * deno task fuzz --frames --seed 42 --iteration 1234   # replay one input
 * ```
 *
 * `--frames` and `--handshake` pick a target (both by default). The seed is
 * printed first; a failure prints its seed, iteration and input, and the
 * process exits with status 1.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import {
  checkFrameInput,
  checkHandshakeInput,
  frameInput,
  FuzzFailure,
  fuzzFrames,
  fuzzHandshakes,
  type FuzzStats,
  handshakeInput,
  newStats,
  toHex,
} from "./_fuzz.ts";

const USAGE = `Usage: deno task fuzz [--seconds N] [--seed S] [--frames] [--handshake]
       deno task fuzz (--frames | --handshake) --seed S --iteration I

  --seconds N    run for N seconds (default 60)
  --seed S       the run's seed (default: random, printed)
  --frames       fuzz the frame decoder and message assembly
  --handshake    fuzz the handshake parser and validator
  --iteration I  replay one input of the seed and print it
`;

interface Totals {
  stats: FuzzStats;
  next: number;
}

function main(args: string[]): number {
  const flags = parseArgs(args, {
    string: ["seconds", "seed", "iteration"],
    boolean: ["frames", "handshake", "help"],
    alias: { h: "help" },
  });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const seconds = Number(flags.seconds ?? 60);
  const seed = flags.seed === undefined
    ? crypto.getRandomValues(new Uint32Array(1))[0]!
    : Number(flags.seed);
  if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(seed)) {
    console.error(USAGE);
    return 2;
  }
  const both = !flags.frames && !flags.handshake;
  const targets = {
    frames: both || Boolean(flags.frames),
    handshake: both || Boolean(flags.handshake),
  };
  if (flags.iteration !== undefined) return replay(seed, Number(flags.iteration), targets);

  console.log(`fuzzing for ${seconds} s with seed ${seed}`);
  const frames: Totals = { stats: newStats(), next: 0 };
  const handshake: Totals = { stats: newStats(), next: 0 };
  const deadline = performance.now() + seconds * 1000;
  let report = performance.now() + 10_000;
  try {
    while (performance.now() < deadline) {
      const slice = Math.min(1000, deadline - performance.now());
      // Frames get most of the time; requests are cheaper and simpler.
      if (targets.frames) {
        add(frames, fuzzFrames({ seed, start: frames.next, budgetMs: slice * 0.8 }));
      }
      if (targets.handshake) {
        add(handshake, fuzzHandshakes({ seed, start: handshake.next, budgetMs: slice * 0.2 }));
      }
      if (performance.now() > report) {
        report += 10_000;
        print(frames, handshake, targets);
      }
    }
  } catch (error) {
    if (!(error instanceof FuzzFailure)) throw error;
    console.error(error.message);
    return 1;
  }
  print(frames, handshake, targets);
  console.log("no failures");
  return 0;
}

function replay(
  seed: number,
  iteration: number,
  targets: { frames: boolean; handshake: boolean },
): number {
  let failed = false;
  if (targets.frames) {
    const input = frameInput(seed, iteration);
    const outcome = checkFrameInput(input);
    console.log(`frames, seed ${seed}, iteration ${iteration}:`);
    console.log(`  limit ${input.maxMessageBytes}, chunks ${input.chunks.map((c) => c.length)}`);
    console.log(`  input ${toHex(input.bytes)}`);
    console.log(
      `  ${typeof outcome === "string" ? "FAILED: " + outcome : JSON.stringify(outcome)}`,
    );
    failed ||= typeof outcome === "string";
  }
  if (targets.handshake) {
    const input = handshakeInput(seed, iteration);
    const outcome = checkHandshakeInput(input);
    console.log(`handshake, seed ${seed}, iteration ${iteration}:`);
    console.log(`  limit ${input.maxHeadBytes}, chunks ${input.chunks.map((c) => c.length)}`);
    console.log(`  input ${JSON.stringify(new TextDecoder("latin1").decode(input.bytes))}`);
    console.log(
      `  ${typeof outcome === "string" ? "FAILED: " + outcome : JSON.stringify(outcome)}`,
    );
    failed ||= typeof outcome === "string";
  }
  return failed ? 1 : 0;
}

function add(totals: Totals, stats: FuzzStats): void {
  const sum = totals.stats;
  sum.iterations += stats.iterations;
  sum.accepted += stats.accepted;
  sum.checkedValid += stats.checkedValid;
  sum.bytes += stats.bytes;
  sum.elapsedMs += stats.elapsedMs;
  sum.slowestMs = Math.max(sum.slowestMs, stats.slowestMs);
  for (const [key, count] of Object.entries(stats.rejections)) {
    sum.rejections[Number(key)] = (sum.rejections[Number(key)] ?? 0) + count;
  }
  totals.next += stats.iterations;
}

function print(
  frames: Totals,
  handshake: Totals,
  targets: { frames: boolean; handshake: boolean },
): void {
  const line = (name: string, { stats }: Totals) => {
    const rate = Math.round(stats.iterations / Math.max(stats.elapsedMs / 1000, 1e-3));
    console.log(
      `  ${name}: ${stats.iterations} inputs (${rate}/s, ${(stats.bytes / 1e6).toFixed(1)} MB), ` +
        `accepted ${stats.accepted}, rejected ${JSON.stringify(stats.rejections)}, ` +
        `slowest ${stats.slowestMs.toFixed(1)} ms`,
    );
  };
  if (targets.frames) line("frames", frames);
  if (targets.handshake) line("handshake", handshake);
}

if (import.meta.main) Deno.exit(main(Deno.args));
