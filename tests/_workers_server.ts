/**
 * Test helper, run as a child process (with `--unstable-net`): a server of
 * N workers on 127.0.0.1 and a free port. It prints `port <n>` and
 * `nodes <id,…>`, then obeys stdin lines: `terminate <i>` (ends worker i as
 * a crash would, prints `replaced <nodes>` once its replacement listens)
 * and `shutdown`.
 *
 * @module
 */

import { servePushWorkers } from "../src/app/workers/serve_push_workers.ts";
import { Logger } from "../src/server/log.ts";

const push = await servePushWorkers({
  workers: Number(Deno.args[0] ?? 2),
  port: 0,
  hostname: "127.0.0.1",
  logger: new Logger({ level: "info", write: (line) => console.error(line) }),
});
console.log(`port ${push.addr.port}`);
console.log(`nodes ${push.nodes.join(",")}`);
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
for await (const chunk of lines) {
  for (const line of chunk.split("\n")) {
    const [command, arg] = line.trim().split(" ");
    if (command === "terminate") {
      const index = Number(arg);
      const old = push.nodes[index];
      push.terminate(index);
      // The replacement takes the slot once it listens.
      while (push.nodes[index] === old) await new Promise((resolve) => setTimeout(resolve, 20));
      console.log(`replaced ${push.nodes.join(",")}`);
    } else if (command === "shutdown") {
      await push.shutdown();
      Deno.exit(0);
    }
  }
}
