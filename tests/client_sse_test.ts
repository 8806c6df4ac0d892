/**
 * The client over SSE, against a fake network (a `WebSocket` that never
 * connects and a `fetch` whose event streams the test writes): the fallback
 * of `transport: "auto"`, the request (topics, `Last-Event-ID`, bearer
 * token), publications and gaps as on a WebSocket, a reconnect resuming
 * from the last ids, a new topic reconnecting with the new list, `publish`
 * refused, `event: close` with 4403 and a 401 with a plain token as ends.
 */

import { assertEquals, assertRejects } from "@std/assert";
import { PublishError, PushClient, type PushClientEventMap } from "../src/client/mod.ts";
import { until } from "./_server.ts";

/** A WebSocket whose every connection fails, as when upgrades are refused. */
class RefusedWebSocket extends EventTarget {
  static attempts = 0;
  readonly readyState = 0;
  constructor(_url: string) {
    super();
    RefusedWebSocket.attempts++;
    setTimeout(() =>
      this.dispatchEvent(Object.assign(new Event("close"), { code: 1006, reason: "" }))
    );
  }
  send(): void {}
  close(): void {}
}

/** One request the fake `fetch` got, and its stream. */
interface Stream {
  url: URL;
  headers: Record<string, string>;
  write(text: string): void;
  end(): void;
}

/** A `fetch` that answers every request with an event stream the test writes. */
function fakeFetch(): {
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  streams: Stream[];
} {
  const streams: Stream[] = [];
  const fetch = (url: string, init: RequestInit) => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
    init.signal?.addEventListener(
      "abort",
      () => controller.error(new DOMException("aborted", "AbortError")),
    );
    streams.push({
      url: new URL(url),
      headers: init.headers as Record<string, string>,
      write: (text) => controller.enqueue(new TextEncoder().encode(text)),
      end: () => controller.close(),
    });
    return Promise.resolve(
      new Response(body, { headers: { "Content-Type": "text/event-stream; charset=utf-8" } }),
    );
  };
  return { fetch, streams };
}

const event = (value: { type: string }) =>
  `event: ${value.type}\ndata: ${JSON.stringify(value)}\n\n`;
const publication = (topic: string, id: string, data: unknown) =>
  event({ type: "publication", topic, id, time: 0, data } as { type: string });

function nextEvent<K extends keyof PushClientEventMap>(
  client: PushClient,
  type: K,
): Promise<PushClientEventMap[K]> {
  return new Promise((resolve) => client.addEventListener(type, resolve, { once: true }));
}

Deno.test("transport auto: WebSocket refused twice, then SSE: resume, new topics, no publish, 4403", async () => {
  const net = fakeFetch();
  RefusedWebSocket.attempts = 0;
  const client = new PushClient("wss://push.test/app/", {
    transport: "auto",
    token: () => "t0k3n",
    WebSocket: RefusedWebSocket,
    fetch: net.fetch,
    backoff: { initial: 1, max: 2 },
  });
  const errors: string[] = [];
  client.addEventListener("error", (e) => errors.push(e.detail.message));
  const news = client.subscribe("news")[Symbol.asyncIterator]();

  await until(() => net.streams.length === 1, 2000, "the SSE request");
  assertEquals([RefusedWebSocket.attempts, client.transport], [2, "sse"]);
  assertEquals(errors, ["WebSocket could not connect 2 times: falling back to SSE"]);
  const first = net.streams[0]!;
  assertEquals(first.url.href, "https://push.test/app/events?topic=news");
  assertEquals(first.headers, { Accept: "text/event-stream", Authorization: "Bearer t0k3n" });

  await until(() => client.state === "open", 2000, "the stream's answer");
  first.write(": pushwire\nretry: 2000\n\n");
  first.write(event({ type: "subscribed", topic: "news", last: "e1:0" } as { type: string }));
  first.write(publication("news", "e1:1", "a") + publication("news", "e1:2", { b: 2 }));
  assertEquals((await news.next()).value, { topic: "news", id: "e1:1", time: 0, data: "a" });
  assertEquals((await news.next()).value?.data, { b: 2 });
  const refused = await assertRejects(() => client.publish("news", 1), PublishError);
  assertEquals(refused.outcome, "refused");

  // The stream ends: the client comes back with the last id of each topic.
  first.end();
  await until(() => net.streams.length === 2, 2000, "the reconnect");
  const second = net.streams[1]!;
  assertEquals(second.headers["Last-Event-ID"], "news:e1:2");
  second.write(publication("news", "e1:2", "again") + publication("news", "e1:3", "c"));
  assertEquals((await news.next()).value?.data, "c", "e1:2 came twice: dropped");

  // A new topic: the stream is opened again with both.
  const gaps = nextEvent(client, "gap");
  const sport = client.subscribe("sport", { since: "e0:7" })[Symbol.asyncIterator]();
  await until(() => net.streams.length === 3, 2000, "the stream with both topics");
  const third = net.streams[2]!;
  assertEquals(third.url.searchParams.getAll("topic"), ["news", "sport"]);
  assertEquals(third.headers["Last-Event-ID"], "news:e1:3,sport:e0:7");
  third.write(
    event({ type: "gap", topic: "sport", since: "e0:7", reason: "restart" } as { type: string }),
  );
  assertEquals((await gaps).detail, { topic: "sport", since: "e0:7", reason: "restart" });
  third.write(publication("sport", "e1:1", "goal"));
  assertEquals((await sport.next()).value?.data, "goal");

  const closed = nextEvent(client, "close");
  third.write(`event: close\ndata: {"code":4403,"reason":"bye"}\n\n`);
  assertEquals((await closed).detail, { code: 4403, reason: "bye" });
  assertEquals(client.state, "closed");
  await assertRejects(() => news.next(), Error, "4403");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assertEquals(net.streams.length, 3, "no reconnect after 4403");
});

Deno.test("transport sse: a 401 with a plain token closes; a refused token function tries again", async () => {
  const refusing = (url: string) =>
    Promise.resolve(
      new Response(`Token expired for ${new URL(url).pathname}\n`, { status: 401 }),
    );
  const plain = new PushClient("ws://push.test/", {
    transport: "sse",
    token: "old",
    fetch: refusing,
  });
  plain.subscribe("news");
  const closed = await nextEvent(plain, "close");
  assertEquals(closed.detail, { code: 1006, reason: "Token expired for /events", status: 401 });

  let calls = 0;
  const renewing = new PushClient("ws://push.test/", {
    transport: "sse",
    token: () => `token-${++calls}`,
    fetch: refusing,
    backoff: { initial: 1, max: 2 },
  });
  renewing.subscribe("news");
  await until(() => calls >= 3, 2000, "three tries, each with a fresh token");
  assertEquals(renewing.state, "connecting");
  renewing.close();
});

Deno.test("transport sse: no topic, no request; the first subscribe opens the stream", async () => {
  const net = fakeFetch();
  const client = new PushClient("ws://push.test/", { transport: "sse", fetch: net.fetch });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assertEquals(net.streams.length, 0);
  client.subscribe("news");
  await until(() => net.streams.length === 1, 2000, "the stream");
  assertEquals(net.streams[0]!.url.href, "http://push.test/events?topic=news");
  client.close();
});
