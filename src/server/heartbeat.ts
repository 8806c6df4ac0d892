/**
 * One timer for many sockets: everything watched with the same interval is
 * checked by a single `setInterval`, which stops when nothing is watched.
 * Cheaper in memory than a timer per socket.
 *
 * @module
 */

// Each interval's callbacks and the timer that runs them.
const sweeps = new Map<
  number,
  { checks: Set<() => void>; timer: ReturnType<typeof setInterval> }
>();

/**
 * Calls `check` every `interval` milliseconds until the returned function is
 * called.
 *
 * @example
 * ```ts
 * import { watch } from "./heartbeat.ts";
 *
 * const unwatch = watch(1000, () => console.log("tick"));
 * unwatch();
 * ```
 *
 * @param interval Milliseconds between checks.
 * @param check What to call.
 * @returns A function that stops the checks.
 */
export function watch(interval: number, check: () => void): () => void {
  let sweep = sweeps.get(interval);
  if (sweep === undefined) {
    const checks = new Set<() => void>();
    const timer = setInterval(() => {
      for (const each of checks) each();
    }, interval);
    sweep = { checks, timer };
    sweeps.set(interval, sweep);
  }
  sweep.checks.add(check);
  const { checks, timer } = sweep;
  return () => {
    if (!checks.delete(check) || checks.size > 0) return;
    clearInterval(timer);
    sweeps.delete(interval);
  };
}
