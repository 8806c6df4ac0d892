/**
 * Readings from Linux `/proc`: CPU time (user + system, all threads) from
 * `/proc/PID/stat` and resident memory from `/proc/PID/status`.
 *
 * @module
 */

/** What a process had used at one moment. */
export interface ProcSample {
  /** utime + stime, in seconds. */
  cpuSeconds: number;
  /** VmRSS, in bytes. */
  rssBytes: number;
}

/** Clock ticks per second for `/proc/PID/stat` (`getconf CLK_TCK`; 100 on Linux). */
let clockTicks: number | undefined;

async function ticksPerSecond(): Promise<number> {
  if (clockTicks !== undefined) return clockTicks;
  clockTicks = 100;
  try {
    const output = await new Deno.Command("getconf", {
      args: ["CLK_TCK"],
      stderr: "null",
    })
      .output();
    const ticks = Number(new TextDecoder().decode(output.stdout).trim());
    if (output.success && Number.isInteger(ticks) && ticks > 0) {
      clockTicks = ticks;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return clockTicks;
}

/** CPU seconds from the text of `/proc/PID/stat`. */
export function parseStatCpu(stat: string, ticks: number): number {
  // The command name (field 2) may hold spaces and parentheses: read after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new TypeError(
      `Cannot read CPU time: unexpected /proc stat line "${stat.slice(0, 80)}"`,
    );
  }
  return (utime + stime) / ticks;
}

/** Resident bytes from the text of `/proc/PID/status` (0 when VmRSS is absent). */
export function parseStatusRss(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** The CPU time and resident memory of process `pid`. */
export async function sampleProcess(pid: number): Promise<ProcSample> {
  const [stat, status] = await Promise.all([
    Deno.readTextFile(`/proc/${pid}/stat`),
    Deno.readTextFile(`/proc/${pid}/status`),
  ]);
  return {
    cpuSeconds: parseStatCpu(stat, await ticksPerSecond()),
    rssBytes: parseStatusRss(status),
  };
}

/** Busy seconds (all but idle and iowait) of each core, from the text of `/proc/stat`. */
export function parseCoreBusy(stat: string, ticks: number): number[] {
  const busy: number[] = [];
  for (const line of stat.split("\n")) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (match === null) continue;
    const [
      user = 0,
      nice = 0,
      system = 0,
      _idle,
      _iowait,
      irq = 0,
      softirq = 0,
      steal = 0,
    ] = match[2]!.trim().split(/\s+/).map(Number);
    busy[Number(match[1])] = (user + nice + system + irq + softirq + steal) /
      ticks;
  }
  return busy;
}

/** Busy seconds of each core since boot. */
export async function sampleCores(): Promise<number[]> {
  return parseCoreBusy(
    await Deno.readTextFile("/proc/stat"),
    await ticksPerSecond(),
  );
}
