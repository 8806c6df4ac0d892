/**
 * The soak benchmark's short run, as CI runs it: 30 seconds of churn,
 * publishes, slow consumers, ping and fragment floods against the CLI; the
 * server's memory plateaus and every socket is gone once the load stops.
 */

import { assert } from "@std/assert";
import { denoRunArgs } from "./_deno_run.ts";

const SOAK = new URL("../bench/soak.ts", import.meta.url);

Deno.test({
  name: "bench/soak.ts --seconds 30: memory plateaus and every socket is closed afterwards",
  sanitizeResources: false,
  async fn() {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      // A small history budget, so that retention is full within the run; a
      // looser tolerance than a long run's, as the heap still settles.
      args: denoRunArgs(
        SOAK,
        ["--seconds", "30", "--history-bytes", "8388608", "--tolerance", "1.5"],
        ["-A"],
      ),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    console.log(out.split("\n").filter((line) => !line.startsWith("t=")).join("\n"));
    assert(code === 0, `soak failed (exit ${code}):\n${out}\n${new TextDecoder().decode(stderr)}`);
    assert(/plateau: yes/.test(out) && /sockets after the load: none/.test(out), out);
  },
});
