/**
 * The numbers a server keeps about itself for `GET /metrics`: sockets
 * accepted, open and closed (by close code), refused handshakes (by status),
 * plain HTTP answers, traffic, queued bytes, slow consumers and topics.
 *
 * @module
 */

import { LabeledCounter, type Metric } from "./metrics.ts";
import type { CloseResult, Socket, SocketCounters } from "./socket.ts";
import type { TopicIndex } from "./topics.ts";

/**
 * Why a connection was refused as it was accepted, before its request was
 * read: `pending-handshakes` (closed at once) or `per-address` (answered
 * 429, or closed past twice the limit).
 */
export type RefusalReason = "pending-handshakes" | "per-address";

/** The traffic counts summed over sockets. */
type Traffic =
  & Pick<SocketCounters, "messagesIn" | "bytesIn" | "framesOut" | "bytesOut">
  & { messagesDropped: number };

/** Where a fan-out came from, for `pushwire_fanout_*_total{source}`. */
export type FanoutSource = "topic" | "publish" | "room";

/**
 * The fan-out metrics of one source: how many messages were sent to many
 * sockets at once, and how many sockets they reached in all (deliveries ÷
 * messages is the mean fan-out).
 *
 * @example
 * ```ts
 * import { fanoutMetrics } from "./server_metrics.ts";
 *
 * console.log(fanoutMetrics("room", 2, 10)[1]!.samples); // [{ labels: { source: "room" }, value: 10 }]
 * ```
 *
 * @param source What fanned out: `topic` (`server.broadcast()`), `publish`
 * (the HTTP publish API) or `room` (the chat room).
 * @param messages Messages fanned out.
 * @param deliveries Sockets they were queued for, summed.
 * @returns The two counters, labelled with `source`.
 */
export function fanoutMetrics(
  source: FanoutSource,
  messages: number,
  deliveries: number,
): Metric[] {
  const labels = { source };
  return [
    {
      name: "pushwire_fanout_messages_total",
      help: "Messages sent to many sockets at once (broadcast, publish), by source.",
      type: "counter",
      samples: [{ labels, value: messages }],
    },
    {
      name: "pushwire_fanout_deliveries_total",
      help: "Sockets those messages were queued for, summed, by source.",
      type: "counter",
      samples: [{ labels, value: deliveries }],
    },
  ];
}

/**
 * A server's own counts. The server calls the `record*` methods; a scrape
 * calls {@linkcode ServerMetrics.collect}, which sums the live sockets'
 * counters with the totals of the closed ones.
 *
 * @example
 * ```ts
 * import { ServerMetrics } from "./server_metrics.ts";
 * import { TopicIndex } from "./topics.ts";
 *
 * const stats = new ServerMetrics();
 * stats.recordHandshakeFailure(403);
 * const metrics = stats.collect([], new TopicIndex());
 * console.log(metrics.find((m) => m.name === "pushwire_handshake_failures_total")?.samples);
 * // [{ labels: { status: "403" }, value: 1 }]
 * ```
 */
export class ServerMetrics {
  readonly #startedAt = Date.now();
  readonly #closedByCode = new LabeledCounter("code");
  readonly #handshakeFailures = new LabeledCounter("status");
  readonly #httpResponses = new LabeledCounter("status");
  readonly #refusals = new LabeledCounter("reason");
  readonly #closedByCause = new LabeledCounter("cause");
  readonly #closedTotals: Traffic = {
    messagesIn: 0,
    bytesIn: 0,
    framesOut: 0,
    bytesOut: 0,
    messagesDropped: 0,
  };
  #accepted = 0;
  #handshakeTimeouts = 0;
  #slowConsumers = 0;
  #broadcasts = 0;
  #broadcastDeliveries = 0;

  /** Counts an accepted socket. */
  recordSocket(): void {
    this.#accepted++;
  }

  /**
   * Counts a socket's close and its traffic.
   *
   * @param socket A socket that just closed.
   * @param result How it closed.
   */
  recordClose(socket: Socket, result: CloseResult): void {
    this.#closedByCode.add(String(result.code));
    this.#closedByCause.add(socket.closeCause ?? "local");
    if (socket.closeCause === "slow-consumer") this.#slowConsumers++;
    addTraffic(this.#closedTotals, socket.counters);
  }

  /**
   * Counts an upgrade request refused with an HTTP status.
   *
   * @param status The status sent.
   */
  recordHandshakeFailure(status: number): void {
    this.#handshakeFailures.add(String(status));
  }

  /**
   * Counts a connection refused as it was accepted.
   *
   * @param reason The limit it met.
   */
  recordRefusal(reason: RefusalReason): void {
    this.#refusals.add(reason);
  }

  /** Counts a client dropped for not sending its request in time. */
  recordHandshakeTimeout(): void {
    this.#handshakeTimeouts++;
  }

  /**
   * Counts a plain HTTP response.
   *
   * @param status The status sent.
   */
  recordHttpResponse(status: number): void {
    this.#httpResponses.add(String(status));
  }

  /**
   * Counts a `server.broadcast()` to a topic.
   *
   * @param deliveries How many sockets it was queued for.
   */
  recordBroadcast(deliveries: number): void {
    this.#broadcasts++;
    this.#broadcastDeliveries += deliveries;
  }

  /**
   * The metrics now.
   *
   * @param sockets The open sockets.
   * @param topics The server's topic index.
   * @returns The server's metrics.
   */
  collect(sockets: Iterable<Socket>, topics: TopicIndex<Socket>): Metric[] {
    return [
      ...this.#connectionMetrics(sockets),
      ...this.#trafficMetrics(sockets),
      ...topicMetrics(topics),
      ...fanoutMetrics("topic", this.#broadcasts, this.#broadcastDeliveries),
    ];
  }

  /** Sockets open, accepted and closed; handshakes refused; plain HTTP. */
  #connectionMetrics(sockets: Iterable<Socket>): Metric[] {
    let open = 0;
    let streams = 0;
    for (const socket of sockets) {
      open++;
      if (socket.wire === "event-stream") streams++;
    }
    return [
      single(
        "pushwire_start_time_seconds",
        "When the server started, in Unix seconds.",
        "gauge",
        Math.floor(this.#startedAt / 1000),
      ),
      single(
        "pushwire_sockets_open",
        "Sockets open now: WebSocket connections and event streams.",
        "gauge",
        open,
      ),
      single(
        "pushwire_event_streams_open",
        "Event streams (Server-Sent Events) open now, counted in pushwire_sockets_open too.",
        "gauge",
        streams,
      ),
      single(
        "pushwire_sockets_accepted_total",
        "WebSocket connections accepted.",
        "counter",
        this.#accepted,
      ),
      ...this.#closeMetrics(),
      {
        name: "pushwire_handshake_failures_total",
        help: "Upgrade requests refused, by HTTP status.",
        type: "counter",
        samples: this.#handshakeFailures.samples(),
      },
      {
        name: "pushwire_connections_refused_total",
        help: "Connections refused as they were accepted, by the limit they met " +
          "(pending-handshakes: closed at once; per-address: answered 429).",
        type: "counter",
        samples: this.#refusals.samples(),
      },
      single(
        "pushwire_handshake_timeouts_total",
        "Connections dropped for not completing their request in time.",
        "counter",
        this.#handshakeTimeouts,
      ),
      {
        name: "pushwire_http_responses_total",
        help: "Plain HTTP responses, by status.",
        type: "counter",
        samples: this.#httpResponses.samples(),
      },
    ];
  }

  /** Sockets closed: by close code, by cause, and slow consumers. */
  #closeMetrics(): Metric[] {
    return [
      {
        name: "pushwire_sockets_closed_total",
        help: "WebSocket connections closed, by close code (1006: no close frame).",
        type: "counter",
        samples: this.#closedByCode.samples(),
      },
      {
        name: "pushwire_sockets_closed_by_cause_total",
        help: "WebSocket connections closed, by cause: local, peer, protocol-error, " +
          "slow-consumer, inflate-budget, message-rate, idle-timeout, connection-lost.",
        type: "counter",
        samples: this.#closedByCause.samples(),
      },
      single(
        "pushwire_slow_consumer_closes_total",
        "Sockets closed because their outbox passed maxBufferedBytes.",
        "counter",
        this.#slowConsumers,
      ),
    ];
  }

  /** Messages and bytes in and out, closed sockets' totals included; bytes queued now. */
  #trafficMetrics(sockets: Iterable<Socket>): Metric[] {
    const live = { ...this.#closedTotals };
    let queued = 0;
    for (const socket of sockets) {
      queued += socket.bufferedAmount;
      addTraffic(live, socket.counters);
    }
    return [
      single(
        "pushwire_messages_received_total",
        "WebSocket messages received.",
        "counter",
        live.messagesIn,
      ),
      single(
        "pushwire_messages_dropped_total",
        "WebSocket messages dropped for the message rate (messageRateAction drop).",
        "counter",
        live.messagesDropped,
      ),
      single(
        "pushwire_received_bytes_total",
        "Payload bytes of the data frames received.",
        "counter",
        live.bytesIn,
      ),
      single(
        "pushwire_frames_sent_total",
        "Data frames queued for peers.",
        "counter",
        live.framesOut,
      ),
      single(
        "pushwire_sent_bytes_total",
        "Bytes of those frames, headers included.",
        "counter",
        live.bytesOut,
      ),
      single(
        "pushwire_outbox_bytes",
        "Bytes queued for peers and not yet written.",
        "gauge",
        queued,
      ),
    ];
  }
}

/** Topics with subscribers, and subscriptions. */
function topicMetrics(topics: TopicIndex<Socket>): Metric[] {
  let subscriptions = 0;
  for (const topic of topics.names()) subscriptions += topics.count(topic);
  return [
    single("pushwire_topics", "Topics with at least one subscriber.", "gauge", topics.size),
    single("pushwire_subscriptions", "Subscriptions of sockets to topics.", "gauge", subscriptions),
  ];
}

/** Adds a socket's counts to a total. */
function addTraffic(total: Traffic, counters: SocketCounters): void {
  total.messagesIn += counters.messagesIn;
  total.bytesIn += counters.bytesIn;
  total.framesOut += counters.framesOut;
  total.bytesOut += counters.bytesOut;
  total.messagesDropped += counters.messagesDropped ?? 0;
}

/** A metric with one sample and no labels. */
function single(name: string, help: string, type: Metric["type"], value: number): Metric {
  return { name, help, type, samples: [{ value }] };
}
