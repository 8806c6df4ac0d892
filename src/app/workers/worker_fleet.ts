/**
 * The workers of {@linkcode servePushWorkers}, as the main thread keeps
 * them: started one by one on the same port, attached to the coordinator,
 * replaced when one crashes, and shut down together.
 *
 * @module
 */

import type { Coordinator, Member } from "../../push/workers/coordinator.ts";
import { newNodeId } from "../../push/presence.ts";
import type { Logger } from "../../server/log.ts";
import type { FromWorker, ToWorker, WorkerStart } from "./worker_messages.ts";

/** Milliseconds the workers have to finish a shutdown before they are ended. */
const SHUTDOWN_GRACE_MS = 15_000;

/** What every worker of a fleet is started with. */
export interface WorkerFleetOptions {
  /** The worker's module. */
  url: URL;
  /** The coordinator every worker is attached to. */
  coordinator: Coordinator;
  /** Where crashes and replacements are logged. */
  logger: Logger;
  /** Milliseconds a worker has to start listening. */
  startTimeout: number;
  /** The start message, without the node id and the port. */
  start: Omit<WorkerStart, "kind" | "node">;
  /** The port (0: the first worker picks one, and the others join it). */
  port: number;
}

/** One worker, as this thread tracks it. */
interface Slot {
  readonly index: number;
  readonly node: string;
  readonly worker: Worker;
  readonly member: Member;
  readonly channel: MessageChannel;
  listening: boolean;
  readonly finished: PromiseWithResolvers<void>;
}

/** The workers of one server. */
export class WorkerFleet {
  readonly #options: WorkerFleetOptions;
  readonly #slots: Slot[] = [];
  readonly #finished = Promise.withResolvers<void>();
  #stopping: Promise<void> | undefined;
  #replaced = 0;
  #port: number;

  /**
   * Makes a fleet; {@linkcode WorkerFleet.start} starts it.
   *
   * @param options The module, the coordinator and the start message.
   */
  constructor(options: WorkerFleetOptions) {
    this.#options = options;
    this.#port = options.port;
  }

  /** The port every worker listens on. */
  get port(): number {
    return this.#port;
  }

  /** How many workers were replaced after a crash. */
  get replaced(): number {
    return this.#replaced;
  }

  /** Each worker's node id, by index. */
  get nodes(): string[] {
    return this.#slots.map((slot) => slot.node);
  }

  /** Resolves once shut down. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Starts the workers: the first alone (it may pick the port), then the
   * others on its port.
   *
   * @param count How many.
   * @returns Resolves once every worker listens.
   * @throws {Error} When a worker fails to start (the others are ended).
   */
  async start(count: number): Promise<void> {
    try {
      this.#slots.push(await this.#spawn(0));
      const rest = Array.from({ length: count - 1 }, (_, i) => this.#spawn(i + 1));
      this.#slots.push(...await Promise.all(rest));
    } catch (error) {
      for (const slot of this.#slots) this.#end(slot);
      this.#options.coordinator.close();
      throw error;
    }
  }

  /**
   * Ends a worker at once, as a crash would; it is replaced as a crash is.
   *
   * @param index The worker, from 0.
   * @throws {RangeError} For no such worker.
   */
  terminate(index: number): void {
    const slot = this.#slots[index];
    if (slot === undefined) throw new RangeError(`Invalid worker: ${index}`);
    slot.worker.terminate();
    this.#lost(slot, "terminated");
  }

  /**
   * Every worker closes its sockets with 1001 and finishes (or is ended
   * after a grace period); then the coordinator stops.
   *
   * @returns Resolves once done; the same promise every time.
   */
  shutdown(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const slot of this.#slots) post(slot, { kind: "shutdown" });
      const grace = Promise.withResolvers<void>();
      const timer = setTimeout(grace.resolve, SHUTDOWN_GRACE_MS);
      await Promise.race([
        Promise.all(this.#slots.map((slot) => slot.finished.promise)),
        grace.promise,
      ]);
      clearTimeout(timer);
      for (const slot of this.#slots) this.#end(slot);
      this.#options.coordinator.close();
      this.#finished.resolve();
    })();
    return this.#stopping;
  }

  /** Starts worker `index` and resolves once it listens. */
  #spawn(index: number): Promise<Slot> {
    const { url, coordinator, startTimeout, start } = this.#options;
    const node = newNodeId();
    const worker = new Worker(url, { type: "module", name: `pushwire-worker-${index}` });
    const channel = new MessageChannel();
    const member = coordinator.attach(channel.port1, node);
    const slot: Slot = {
      index,
      node,
      worker,
      member,
      channel,
      listening: false,
      finished: Promise.withResolvers(),
    };
    const started = Promise.withResolvers<number>();
    const timer = setTimeout(
      () => started.reject(new Error(`worker ${index} did not listen within ${startTimeout} ms`)),
      startTimeout,
    );
    worker.onmessage = (event) => {
      const message = event.data as FromWorker;
      if (message.kind === "listening") {
        slot.listening = true;
        started.resolve(message.port);
      } else if (message.kind === "failed") started.reject(new Error(message.message));
      else slot.finished.resolve();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      if (!slot.listening) started.reject(new Error(event.message));
      else this.#lost(slot, event.message);
    };
    const message: ToWorker = {
      kind: "start",
      node,
      ...start,
      options: { ...start.options, port: this.#port },
    };
    worker.postMessage(message, [channel.port2]);
    return started.promise.then((port) => {
      clearTimeout(timer);
      this.#port = port;
      return slot;
    }, (error) => {
      clearTimeout(timer);
      this.#end(slot);
      throw error;
    });
  }

  /** Lets a worker go: the thread, its channel, its place in the coordinator. */
  #end(slot: Slot): void {
    slot.worker.terminate();
    this.#options.coordinator.detach(slot.member);
    slot.channel.port1.close();
    slot.finished.resolve();
  }

  /** A worker crashed: it is logged, ended and replaced (retried every second). */
  #lost(slot: Slot, error: string): void {
    if (this.#stopping !== undefined || this.#slots[slot.index] !== slot) return;
    const { logger } = this.#options;
    logger.error("worker-crashed", { worker: slot.index, node: slot.node, error });
    this.#end(slot);
    this.#replaced++;
    const replace = (): void => {
      if (this.#stopping !== undefined) return;
      this.#spawn(slot.index).then((next) => {
        if (this.#stopping !== undefined) return this.#end(next);
        this.#slots[slot.index] = next;
        logger.info("worker-replaced", { worker: slot.index, node: next.node });
      }, (failure) => {
        logger.error("worker-replace-failed", { worker: slot.index, error: failure });
        setTimeout(replace, 1000);
      });
    };
    replace();
  }
}

/** Posts a message to a worker. */
function post(slot: Slot, message: ToWorker): void {
  slot.worker.postMessage(message);
}
