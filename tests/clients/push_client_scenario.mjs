// One scenario for the client (src/client/) in every runtime: Node 22 and Bun
// (push_client_runtime.mjs) and Chromium (push_client_browser.mjs) run it
// against a push server that tests/client_runtimes_test.ts owns.
//
// It imports the client from `moduleUrl` (the served /client.js, or a copy
// of it), subscribes to news and room:1, posts to news over HTTP and gets
// the publication, publishes to room:1 and gets its id and its echo; a
// second client that follows no topic is in the chat room, gets its welcome
// and says something that comes back as a room message. It closes both and
// returns what they saw. Self-contained: Chromium gets its source.

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
    const chat = await chatRoom();
    return {
      posted: posted.id,
      received: received.id,
      data: received.data,
      published: published.id,
      echoed: echoed.id,
      echoedData: echoed.data,
      from: echoed.from?.name,
      states,
      chat,
    };
  } finally {
    client.close();
  }

  /** A client in the chat room: its welcome, then what it said, back as a message. */
  async function chatRoom() {
    const chatter = new PushClient(serverUrl, { name: "chatter" });
    const events = [];
    const said = new Promise((resolve) => {
      chatter.addEventListener("room", (event) => {
        events.push(event.detail.type);
        if (event.detail.type === "message") resolve(event.detail);
      });
    });
    try {
      await within(chatter.say("hello room"), "say()");
      const message = await within(said, "the room message");
      return { events, name: message.name, text: message.text };
    } finally {
      chatter.close();
    }
  }
}
