/**
 * The chat page served at `GET /`, embedded so the server needs only network
 * permission.
 *
 * @module
 */

/**
 * The demo page: one HTML document with inline CSS and JavaScript and nothing
 * loaded from elsewhere. It connects to `ws(s)://<same host>/` and reconnects
 * by itself, with backoff, when the connection drops.
 *
 * Opened as `/`, it is the chat room of `src/chat.ts`. Opened with topics,
 * `/?topic=news&topic=sport`, it subscribes to them (protocol of
 * `src/push.ts`): it shows each publication, keeps the last id of every
 * topic, and reconnects with `since` for each, so that a reconnect shows no
 * hole and no duplicate; a `gap` event shows as a notice with a reload
 * button. Its input then subscribes to one more topic.
 *
 * For browser tests: `#status` (its `data-state` is `connecting`, `connected`
 * or `reconnecting`), `#peers` (the peer count, or the topics), `#messages`
 * (one `li` per event, with `data-type` of `message`, `welcome`, `join`,
 * `leave`, `binary`, `status`, `publication`, `gap` or `error`; `data-from`
 * on messages: `you`, `server` or the peer's id; `data-topic` and `data-id`
 * on publications and `data-topic` on gaps), `#composer`, `#input` and
 * `#send`. All text is set with `textContent`.
 *
 * @example Serve the page on its own
 * ```ts ignore
 * import { CHAT_PAGE } from "./page.ts";
 *
 * Deno.serve((_request) =>
 *   new Response(CHAT_PAGE, { headers: { "content-type": "text/html; charset=utf-8" } })
 * );
 * ```
 */
export const CHAT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<title>pushwire</title>
<style>
  :root {
    --bg: #f6f7f9; --panel: #fff; --text: #1c1f24; --muted: #69707a; --line: #dde1e6;
    --mine: #2f6fed; --mine-text: #fff; --theirs: #fff; --server: #fff4d6;
    --ok: #1f9d55; --warn: #d08a00; --bad: #c9372c;
  }
  @media (prefers-color-scheme: dark) {
    :root {
      --bg: #15171b; --panel: #1d2026; --text: #e7e9ec; --muted: #959ca6; --line: #30353d;
      --mine: #3d7bf2; --theirs: #262a31; --server: #3a3220;
    }
  }
  * { box-sizing: border-box; }
  html, body { height: 100%; margin: 0; }
  body {
    display: flex; flex-direction: column; height: 100vh; height: 100dvh;
    background: var(--bg); color: var(--text);
    font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  header {
    display: flex; align-items: center; gap: .75rem; padding: .6rem 1rem;
    padding-top: max(.6rem, env(safe-area-inset-top));
    background: var(--panel); border-bottom: 1px solid var(--line);
  }
  h1 { font-size: 1.05rem; margin: 0; flex: 1; }
  #status { display: inline-flex; align-items: center; gap: .4rem; font-size: .85rem; color: var(--muted); }
  #status::before { content: ""; width: .6rem; height: .6rem; border-radius: 50%; background: var(--warn); }
  #status[data-state="connected"]::before { background: var(--ok); }
  #status[data-state="reconnecting"]::before { background: var(--bad); }
  #peers { font-size: .85rem; color: var(--muted); }
  #messages {
    flex: 1; overflow-y: auto; list-style: none; margin: 0; padding: .75rem;
    display: flex; flex-direction: column; gap: .4rem;
  }
  #messages li { max-width: min(36rem, 85%); overflow-wrap: anywhere; }
  #messages li[data-type="message"] {
    align-self: flex-start; background: var(--theirs); border: 1px solid var(--line);
    border-radius: .9rem .9rem .9rem .25rem; padding: .4rem .7rem;
  }
  #messages li[data-from="you"] {
    align-self: flex-end; background: var(--mine); color: var(--mine-text); border-color: var(--mine);
    border-radius: .9rem .9rem .25rem .9rem;
  }
  #messages li[data-from="server"] { background: var(--server); }
  #messages li[data-type="publication"] {
    align-self: flex-start; background: var(--theirs); border: 1px solid var(--line);
    border-left: 4px solid var(--mine); border-radius: .5rem; padding: .4rem .7rem;
  }

  #messages li:not([data-type="message"]):not([data-type="publication"]) {
    align-self: center; max-width: 100%; font-size: .8rem; color: var(--muted); text-align: center;
  }
  #messages li[data-type="gap"][data-topic] { color: var(--bad); }
  #messages li[data-type="gap"] button { font: inherit; margin-left: .4rem; }
  .meta { display: flex; gap: .5rem; font-size: .75rem; opacity: .75; }
  .from { font-weight: 600; }
  .text { white-space: pre-wrap; }
  form {
    display: flex; gap: .5rem; padding: .6rem; background: var(--panel); border-top: 1px solid var(--line);
    padding-bottom: max(.6rem, env(safe-area-inset-bottom));
  }
  #input {
    flex: 1; min-width: 0; font: inherit; padding: .55rem .8rem; border-radius: 1.2rem;
    border: 1px solid var(--line); background: var(--bg); color: var(--text);
  }
  #send {
    font: inherit; font-weight: 600; padding: .55rem 1.1rem; border: 0; border-radius: 1.2rem;
    background: var(--mine); color: var(--mine-text); cursor: pointer;
  }
  #send:disabled { opacity: .45; cursor: default; }
</style>
</head>
<body>
<header>
  <h1>pushwire chat</h1>
  <span id="peers" aria-live="polite"></span>
  <span id="status" data-state="connecting" role="status">connecting</span>
</header>
<ol id="messages" aria-live="polite"></ol>
<form id="composer" autocomplete="off">
  <input id="input" name="text" placeholder="Message" aria-label="Message" maxlength="4000" autofocus>
  <button id="send" type="submit" disabled>Send</button>
</form>
<script>
"use strict";
(function () {
  var MAX_ITEMS = 500;
  var statusEl = document.getElementById("status");
  var peersEl = document.getElementById("peers");
  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
  // Topic mode: the topics in the page's own URL, and the last id seen in each.
  var topics = new URLSearchParams(location.search).getAll("topic");
  var topicMode = topics.length > 0;
  var lastIds = {};
  var socket = null;
  var myId = null;
  var attempt = 0;
  var retryTimer = 0;

  function setState(state) {
    statusEl.dataset.state = state;
    statusEl.textContent = state;
    sendButton.disabled = state !== "connected";
  }

  function setPeers(count) {
    peersEl.textContent = count === 1 ? "1 online" : count + " online";
  }

  function showTopics() {
    peersEl.textContent = topics.join(", ");
  }

  // The URL to (re)connect with: every topic, and where to resume each.
  function socketUrl() {
    if (!topicMode) return url;
    var query = topics.map(function (topic) {
      return "topic=" + encodeURIComponent(topic);
    });
    topics.forEach(function (topic) {
      if (lastIds[topic] !== undefined) {
        query.push("since=" + encodeURIComponent(topic + ":" + lastIds[topic]));
      }
    });
    return url + "?" + query.join("&");
  }

  function clock(time) {
    var date = new Date(typeof time === "number" ? time : Date.now());
    var el = document.createElement("time");
    el.dateTime = date.toISOString();
    el.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return el;
  }

  function add(item) {
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.appendChild(item);
    while (list.children.length > MAX_ITEMS) list.removeChild(list.firstChild);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function notice(type, text, time) {
    var item = document.createElement("li");
    item.dataset.type = type;
    item.append(text + " · ", clock(time));
    add(item);
  }

  function message(event) {
    var from = event.from === myId ? "you" : event.from;
    var item = document.createElement("li");
    item.dataset.type = "message";
    item.dataset.from = from;
    var meta = document.createElement("div");
    meta.className = "meta";
    var who = document.createElement("span");
    who.className = "from";
    who.textContent = from === "you" || from === "server" ? from : "peer " + from;
    meta.append(who, clock(event.time));
    var text = document.createElement("div");
    text.className = "text";
    text.textContent = event.encoding === "base64"
      ? "binary, " + Math.floor(String(event.data).length * 3 / 4) + " bytes (base64)"
      : String(event.text);
    item.append(meta, text);
    add(item);
  }

  function publication(event) {
    lastIds[event.topic] = event.id;
    var item = document.createElement("li");
    item.dataset.type = "publication";
    item.dataset.topic = String(event.topic);
    item.dataset.id = String(event.id);
    var meta = document.createElement("div");
    meta.className = "meta";
    var topic = document.createElement("span");
    topic.className = "from";
    topic.textContent = "#" + event.topic;
    meta.append(topic, clock(event.time));
    var text = document.createElement("div");
    text.className = "text";
    text.textContent = event.encoding === "base64"
      ? "binary, " + Math.floor(String(event.data).length * 3 / 4) + " bytes (base64)"
      : typeof event.data === "string" ? event.data : JSON.stringify(event.data);
    item.append(meta, text);
    add(item);
  }

  function gap(event) {
    var item = document.createElement("li");
    item.dataset.type = "gap";
    item.dataset.topic = String(event.topic);
    var why = event.reason === "restart" ? "the server restarted" : "they are no longer kept";
    item.append("some messages in #" + event.topic + " were missed: " + why + " · ");
    var reload = document.createElement("button");
    reload.type = "button";
    reload.textContent = "reload";
    reload.addEventListener("click", function () {
      location.reload();
    });
    item.append(reload);
    add(item);
  }

  function receive(data) {
    if (typeof data !== "string") {
      notice("binary", "binary message, " + data.byteLength + " bytes");
      return;
    }
    var event;
    try {
      event = JSON.parse(data);
    } catch (error) {
      event = { type: "message", from: "?", text: data };
    }
    if (event === null || typeof event !== "object") return;
    if (typeof event.peers === "number") setPeers(event.peers);
    if (event.type === "welcome") {
      myId = String(event.id);
      notice("welcome", "you joined as peer " + myId, event.time);
    } else if (event.type === "join") {
      if (String(event.id) !== myId) notice("join", "peer " + event.id + " joined", event.time);
    } else if (event.type === "leave") {
      notice("leave", "peer " + event.id + " left", event.time);
    } else if (event.type === "message") {
      message(event);
    } else if (event.type === "publication") {
      publication(event);
    } else if (event.type === "subscribed") {
      if (lastIds[event.topic] === undefined) notice("status", "subscribed to #" + event.topic);
      if (topics.indexOf(event.topic) === -1) topics.push(event.topic);
      lastIds[event.topic] = event.last;
      if (topicMode) showTopics();
    } else if (event.type === "unsubscribed") {
      topics = topics.filter(function (topic) { return topic !== event.topic; });
      delete lastIds[event.topic];
      if (topicMode) showTopics();
    } else if (event.type === "gap") {
      gap(event);
    } else if (event.type === "error") {
      notice("error", String(event.message));
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    setState(attempt === 0 ? "connecting" : "reconnecting");
    var ws = new WebSocket(socketUrl());
    ws.binaryType = "arraybuffer";
    socket = ws;
    ws.onopen = function () {
      attempt = 0;
      setState("connected");
    };
    ws.onmessage = function (event) {
      receive(event.data);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      var wasConnected = statusEl.dataset.state === "connected";
      if (wasConnected) notice("status", "disconnected, reconnecting");
      if (!topicMode) peersEl.textContent = "";
      attempt++;
      setState("reconnecting");
      // Exponential backoff with jitter: about 0.5 s, 1 s, 2 s ... up to 8 s.
      var delay = Math.min(8000, 500 * Math.pow(2, attempt - 1));
      retryTimer = setTimeout(connect, delay / 2 + Math.random() * delay / 2);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (text.trim() === "" || socket === null || socket.readyState !== WebSocket.OPEN) return;
    // In topic mode the input names one more topic to subscribe to.
    socket.send(topicMode ? JSON.stringify({ type: "subscribe", topic: text.trim() }) : text);
    input.value = "";
    input.focus();
  });

  window.addEventListener("online", function () {
    if (retryTimer !== 0) connect();
  });

  if (topicMode) {
    document.querySelector("h1").textContent = "pushwire topics";
    input.placeholder = "Subscribe to a topic";
    input.setAttribute("aria-label", "Topic");
    sendButton.textContent = "Subscribe";
    showTopics();
  }
  connect();
})();
</script>
</body>
</html>
`;
