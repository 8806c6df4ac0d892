/**
 * Runs the load generator (bench/load/main.mjs) against a server and reads
 * `/proc` for both processes at each `mark` the generator makes, while its
 * load is paused.
 *
 * @module
 */
import { Launched } from "./launch.ts";
import { BUN_BIN, GENERATOR, REPO_DIR } from "./paths.ts";
import { stderrSummary } from "./servers.ts";
import { type ProcSample, sampleCores, sampleProcess } from "./proc.ts";

/** The runtime the generator runs on. */
export type ClientRuntime = "node" | "bun";

const MAX_LINES = 100;

/** Server and generator readings at one mark. */
export interface Mark {
  /** `performance.now()` in the harness, ms. */
  atMs: number;
  server: ProcSample;
  generator: ProcSample;
  /** Busy seconds of each core, whoever used them. */
  cores: number[];
}

/** What one generator run returned. */
export interface GeneratorRun {
  /** The generator's own result object (see bench/load/*.mjs). */
  result: Record<string, unknown>;
  /** Readings by mark name (`start`, `end`, `settled`, …). */
  marks: Record<string, Mark>;
  /** The generator's PID. */
  pid: number;
}

/** Options for {@linkcode runGenerator}. */
export interface GeneratorOptions {
  /** The server's PID, for `/proc` readings. */
  serverPid: number;
  /** The core to pin the generator to. */
  core?: number | undefined;
  /** The generator's runtime. @default {"node"} */
  runtime?: ClientRuntime;
  /** The bound on the whole run, ms. */
  timeoutMs: number;
}

/** Runs one generator scenario (`config.scenario`) to its result; the generator is always ended. */
export async function runGenerator(
  config: Record<string, unknown>,
  options: GeneratorOptions,
): Promise<GeneratorRun> {
  const runtime = options.runtime ?? "node";
  const binary = runtime === "bun" ? BUN_BIN : "node";
  const generator = new Launched([binary, GENERATOR, JSON.stringify(config)], {
    core: options.core,
    cwd: REPO_DIR,
  });
  const deadline = Date.now() + options.timeoutMs;
  const marks: Record<string, Mark> = {};
  try {
    for (let i = 0; i < MAX_LINES; i++) {
      const line = await generator.stdout.next(deadline - Date.now());
      const space = line.indexOf(" ");
      const word = space === -1 ? line : line.slice(0, space);
      const rest = space === -1 ? "" : line.slice(space + 1);
      if (word === "mark") {
        const [server, load, cores] = await Promise.all([
          sampleProcess(options.serverPid),
          sampleProcess(generator.pid),
          sampleCores(),
        ]);
        marks[rest] = {
          atMs: performance.now(),
          server,
          generator: load,
          cores,
        };
        await generator.writeLine("go");
      } else if (word === "result") {
        return { result: JSON.parse(rest), marks, pid: generator.pid };
      } else if (word === "error") {
        throw new Error(`Load generator failed: ${rest}`);
      }
    }
    throw new Error(
      `Load generator printed ${MAX_LINES} lines without a result`,
    );
  } catch (error) {
    const stderr = stderrSummary(generator.stderr);
    if (stderr === "") throw error;
    throw new Error(`${(error as Error).message}: ${stderr}`);
  } finally {
    await generator.stop();
  }
}
