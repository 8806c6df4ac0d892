// One scenario for the client (src/client/) in every runtime: Node 22 and Bun
// (push_client_runtime.mjs) and Chromium (push_client_browser.mjs) run it
// against a push server that tests/client_runtimes_test.ts owns.
//
// It imports the client from `moduleUrl` (the served /client.js, or a copy
// of it), subscribes to news and room:1, posts to news over HTTP and gets
// the publication, publishes to room:1 and gets its id and its echo, closes,
// and returns what it saw. Self-contained: Chromium gets its source.

/**
 * @param {{ moduleUrl: string, serverUrl: string }} where The client module and the server.
 * @returns {Promise<Record<string, unknown>>} What the client saw.
 */
export async function scenario({ moduleUrl, serverUrl }) {
  const within = (promise, what, ms = 10_000) =>
    Promise.race([
      promise,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)),
    ]);
  const { PushClient } = await import(moduleUrl);
  const client = new PushClient(serverUrl, { name: "runtime" });
  const states = [];
  client.addEventListener("state", (event) => states.push(event.detail.state));
  const live = new Set();
  const bothLive = new Promise((resolve) => {
    client.addEventListener("subscribed", (event) => {
      live.add(event.detail.topic);
      if (live.size === 2) resolve();
    });
  });
  const news = client.subscribe("news")[Symbol.asyncIterator]();
  const room = client.subscribe("room:1")[Symbol.asyncIterator]();
  try {
    await within(bothLive, "both subscriptions live");
    const response = await fetch(new URL("/publish?topic=news", serverUrl), {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: "hello from the server",
    });
    const posted = await response.json();
    const received = (await within(news.next(), "the news publication")).value;
    const published = await within(client.publish("room:1", { text: "hi" }), "the publish");
    const echoed = (await within(room.next(), "the room:1 publication")).value;
    return {
      posted: posted.id,
      received: received.id,
      data: received.data,
      published: published.id,
      echoed: echoed.id,
      echoedData: echoed.data,
      from: echoed.from?.name,
      states,
    };
  } finally {
    client.close();
  }
}
