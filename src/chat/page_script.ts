/**
 * The script of the demo page ({@linkcode CHAT_PAGE} in `page.ts`), inline
 * in it as a module: plain browser JavaScript in a string that imports the
 * client library from `/client.js` (served by the same server), so the page
 * loads nothing from elsewhere and is built on what its users copy.
 *
 * @module
 */

/**
 * The page's script (without the `<script type="module">` tags). It reads
 * its mode from the page's URL: `?room=<name>` chats in the topic
 * `room:<name>` (publish, presence); `?topic=…` follows topics; neither is
 * the chat room. A `PushClient` does the connection: reconnecting with
 * backoff, resuming every topic, the nickname (`name`) and `?token=`
 * (`token`). The script only shows what it tells: the `state`, `room`,
 * `presence`, `join`, `leave`, `subscribed`, `gap`, `expiring`, `error` and
 * `close` events, and each subscription's publications. It keeps the
 * nickname in `localStorage`.
 *
 * @example Inline it in a page of your own, served with `/client.js`
 * ```ts
 * import { PAGE_SCRIPT } from "./page_script.ts";
 *
 * const html = `<ol id="messages"></ol><script type="module">${PAGE_SCRIPT}</script>`;
 * console.log(PAGE_SCRIPT.includes('from "/client.js"')); // true
 * console.log(html.endsWith("</script>") && !PAGE_SCRIPT.includes("</script")); // true
 * ```
 */
export const PAGE_SCRIPT = `import { PushClient } from "/client.js";

const MAX_ITEMS = 500;
const MAX_ONLINE_SHOWN = 200;
const NAME_KEY = "pushwire.name";
const ROOM_NAME = /^[A-Za-z0-9_.:@\\/-]{1,120}$/;
// What the server refuses in a nickname: controls, bidirectional formatting, invisible characters.
const NOT_IN_NAME = /[\\p{Cc}\\u00ad\\u061c\\u180e\\u200b\\u200e\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]/u;
const $ = (id) => document.getElementById(id);
const statusEl = $("status"), peersEl = $("peers"), list = $("messages");
const form = $("composer"), input = $("input"), sendButton = $("send");
const panel = $("online-panel"), onlineEl = $("online"), countEl = $("online-count");
const nameForm = $("nickname"), nameInput = $("name"), nameError = $("name-error");
const params = new URLSearchParams(location.search);
const token = params.get("token");
const room = params.get("room");
// chat: the room of clients that name no topic; room: the topic room:<name>; topics: follow topics.
const mode = room !== null ? "room" : params.getAll("topic").length > 0 ? "topics" : "chat";
const roomTopic = room !== null ? "room:" + room : null;
const topics = new Set(roomTopic !== null ? [roomTopic] : params.getAll("topic"));
const handled = new Map(); // topic → the last id shown: where to start again after an overflow
const subscribed = new Set(); // topics live at least once
const online = new Map(); // id → name
const myClients = new Set(); // every client id this page had in the topic room (replays are "you")
const published = new Set(); // ids of this page's publications not shown yet
let client = null;
let nickname = "";
let me = null; // this page's id in the room (chat) or its client id (room)
let live = false; // the topic room's snapshot came on this connection: joins and leaves are news
let opened = false; // connected at least once: the next open is a reconnect
let greeted = false;
let dropNotice = null;

function setState(state) {
  statusEl.dataset.state = state;
  statusEl.textContent = state;
  sendButton.disabled = state !== "connected";
}

function setPeers(count) {
  peersEl.textContent = count === 1 ? "1 online" : count + " online";
  countEl.textContent = String(count);
}

const showTopics = () => void (peersEl.textContent = [...topics].join(", "));
const validName = (name) => name !== "" && name.length <= 32 && !NOT_IN_NAME.test(name);

function storedName() {
  try {
    return localStorage.getItem(NAME_KEY) || "";
  } catch {
    return "";
  }
}

function storeName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Private browsing: the name lasts as long as the page.
  }
}

function clock(time) {
  const date = new Date(typeof time === "number" ? time : Date.now());
  const el = document.createElement("time");
  el.dateTime = date.toISOString();
  el.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el;
}

function add(item) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  while (list.children.length > MAX_ITEMS) list.firstChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
  return item;
}

function notice(type, text, time) {
  const item = document.createElement("li");
  item.dataset.type = type;
  item.append(text + " · ", clock(time));
  return add(item);
}

function dataText(publication, data) {
  if (publication.encoding === "base64") {
    return "binary, " + Math.floor(String(data).length * 3 / 4) + " bytes (base64)";
  }
  return typeof data === "string" ? data : JSON.stringify(data);
}

// One entry with a heading (the sender, or a topic) and a text.
function entry(type, heading, time, text) {
  const item = document.createElement("li");
  item.dataset.type = type;
  const meta = document.createElement("div");
  meta.className = "meta";
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = heading;
  meta.append(from, clock(time));
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  item.append(meta, body);
  return add(item);
}

// A chat bubble: from is "you", "server" or the sender's id; who is what it shows.
function bubble(from, who, time, text) {
  const item = entry("message", who, time, text);
  item.dataset.from = from;
  return item;
}

// A presence entry's name: info.name, else the user, else "guest <client>"; at most 64 characters.
function displayName(entry) {
  const info = entry.info;
  const named = info !== null && typeof info === "object" && typeof info.name === "string";
  if (named && info.name !== "") return info.name.slice(0, 64);
  const user = typeof entry.user === "string" ? entry.user : "";
  return user !== "" ? user.slice(0, 64) : "guest " + entry.client;
}

function nameOf(id, name) {
  if (typeof name === "string" && name !== "") return name.slice(0, 64);
  return online.get(id) || "guest " + id;
}

function renderOnline(count) {
  const entries = Array.from(online, ([id, name]) => ({ id, name }));
  entries.sort((a, b) =>
    (b.id === me) - (a.id === me) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id)
  );
  const items = entries.slice(0, MAX_ONLINE_SHOWN).map((entry) => {
    const item = document.createElement("li");
    item.dataset.client = entry.id;
    item.textContent = entry.name;
    if (entry.id === me) {
      item.dataset.you = "true";
      // Its own element, so that no name can pass for "(you)".
      const mark = document.createElement("em");
      mark.className = "you";
      mark.textContent = " (you)";
      item.append(mark);
    }
    return item;
  });
  const total = typeof count === "number" ? count : online.size;
  if (total > items.length) {
    const more = document.createElement("li");
    more.className = "more";
    more.textContent = "and " + (total - items.length) + " more";
    items.push(more);
  }
  onlineEl.replaceChildren(...items);
  setPeers(total);
}

// The chat room's envelopes (the client's room events), by type.
const chatEvents = {
  welcome(event) {
    me = event.id;
    online.clear();
    for (const member of event.members) online.set(member.id, nameOf(member.id, member.name));
    renderOnline(event.peers);
    if (greeted) return;
    greeted = true;
    notice("welcome", "you joined as " + nameOf(me), event.time);
  },
  join(event) {
    online.set(event.id, nameOf(event.id, event.name));
    renderOnline(event.peers);
    if (event.id !== me) notice("join", online.get(event.id) + " joined", event.time);
  },
  leave(event) {
    const name = nameOf(event.id, event.name);
    online.delete(event.id);
    renderOnline(event.peers);
    notice("leave", name + " left", event.time);
  },
  message(event) {
    const from = event.from === me ? "you" : event.from;
    const who = from === "you" || from === "server" ? from : nameOf(from, event.name);
    bubble(from, who, event.time, "text" in event ? event.text : dataText(event, event.data));
  },
};

// The topic room's presence (the client's presence, join and leave events).
const presenceEvents = {
  presence(event) {
    if (typeof event.you === "string") myClients.add(me = event.you);
    live = true;
    online.clear();
    for (const entry of event.clients) online.set(entry.client, displayName(entry));
    renderOnline();
  },
  // A join or leave before the snapshot (this page's own join comes first) is no news.
  join(event) {
    const known = online.has(event.client); // a join may repeat what the snapshot listed
    online.set(event.client, displayName(event));
    renderOnline();
    if (!live || known || myClients.has(event.client)) return;
    notice("join", online.get(event.client) + " joined", event.time);
  },
  leave(event) {
    const name = online.get(event.client) || displayName(event);
    if (!online.delete(event.client)) return;
    renderOnline();
    if (live && !myClients.has(event.client)) notice("leave", name + " left", event.time);
  },
};

// A message of the topic room: its sender is the server's "from", never the data.
function roomMessage(publication) {
  const sender = publication.from;
  const id = sender === undefined ? null : sender.client;
  const ours = published.delete(publication.id);
  const mine = id !== null && (ours || myClients.has(id));
  const from = mine ? "you" : id === null ? "server" : id;
  const who = mine || id === null
    ? from
    : displayName({ client: id, user: sender.user, info: sender });
  const data = publication.data;
  const chat = data !== null && typeof data === "object" && typeof data.text === "string";
  const text = chat ? data.text : dataText(publication, data);
  const item = bubble(from, who, publication.time, text);
  item.dataset.topic = publication.topic;
  item.dataset.id = publication.id;
}

function show(publication) {
  if (publication.topic === roomTopic) return roomMessage(publication);
  const text = dataText(publication, publication.data);
  const item = entry("publication", "#" + publication.topic, publication.time, text);
  item.dataset.topic = publication.topic;
  item.dataset.id = publication.id;
}

// A publish of this page's was accepted: its message (shown or still to come) is "you".
function accepted(result) {
  const selector = 'li[data-type="message"][data-id="' + CSS.escape(result.id) + '"]';
  const shown = list.querySelector(selector);
  if (shown === null) return published.add(result.id);
  shown.dataset.from = "you";
  shown.querySelector(".from").textContent = "you";
}

function gap(event) {
  const item = document.createElement("li");
  item.dataset.type = "gap";
  item.dataset.topic = event.topic;
  const why = event.reason === "restart" ? "the server restarted" : "they are no longer kept";
  item.append("some messages in #" + event.topic + " were missed: " + why + " · ");
  const reload = document.createElement("button");
  reload.type = "button";
  reload.textContent = "reload";
  reload.addEventListener("click", () => location.reload());
  item.append(reload);
  add(item);
}

// Shows a topic's publications; after an overflow, starts again after the last one shown.
async function follow(topic, since) {
  let subscription;
  try {
    subscription = client.subscribe(topic, since === undefined ? {} : { since });
  } catch (error) {
    topics.delete(topic); // an invalid name
    if (mode === "topics") showTopics();
    return notice("error", error.message);
  }
  try {
    for await (const publication of subscription) {
      handled.set(topic, publication.id);
      show(publication);
    }
  } catch (error) {
    // A refusal, the server's leave or the final close are events of their own.
    if (error instanceof RangeError && client.state !== "closed") follow(topic, handled.get(topic));
  }
}

// The connection's state: one line says it dropped, and becomes "reconnected" once it is back.
function stateChanged({ state }) {
  live = false;
  if (state === "open") {
    setState("connected");
    if (opened && dropNotice === null) notice("status", "reconnected");
    else if (opened) dropNotice.replaceChildren("reconnected · ", clock());
    dropNotice = null;
    opened = true;
    return;
  }
  if (mode !== "topics") peersEl.textContent = "";
  if (state === "reconnecting" && statusEl.dataset.state === "connected" && dropNotice === null) {
    dropNotice = notice("status", "disconnected, reconnecting");
  }
  setState(state);
}

// 4401 (the token expired) and 4403 (disconnected by the server) are final: the client says why.
function closed({ code, reason }) {
  notice("error", reason || (code === 4401 ? "the token expired" : "disconnected by the server"));
}

const on = (type, listener) => client.addEventListener(type, (event) => listener(event.detail));

function connect() {
  const options = { backoff: { max: 8000 } };
  if (token !== null) options.token = token;
  else if (nickname !== "") options.name = nickname;
  client = new PushClient("/", options);
  on("state", stateChanged);
  on("close", closed);
  on("gap", gap);
  on("error", (event) => notice("error", event.message));
  on("expiring", ({ expires }) => {
    notice("status", "the token expires at " + clock(expires).textContent);
  });
  on("room", (event) => Object.hasOwn(chatEvents, event.type) && chatEvents[event.type](event));
  for (const type of ["presence", "join", "leave"]) {
    on(type, (event) => event.topic === roomTopic && presenceEvents[type](event));
  }
  on("subscribed", ({ topic }) => {
    topics.add(topic);
    if (topic === roomTopic && !greeted) {
      greeted = true;
      notice("welcome", "you joined " + room + (nickname === "" ? "" : " as " + nickname));
    } else if (!subscribed.has(topic)) notice("status", "subscribed to #" + topic);
    subscribed.add(topic);
    if (mode === "topics") showTopics();
  });
  on("unsubscribed", ({ topic }) => {
    topics.delete(topic);
    if (mode === "topics") showTopics();
  });
  for (const topic of topics) follow(topic);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (text.trim() === "" || client === null || client.state !== "open") return;
  const failed = (error) => notice("error", error.message);
  if (mode === "topics") {
    // In topic mode the input names one more topic to follow.
    if (!topics.has(text.trim())) follow(text.trim());
  } else if (mode === "room") client.publish(roomTopic, { text }).then(accepted, failed);
  else client.say(text).catch(failed);
  input.value = "";
  input.focus();
});

// Asks for a nickname once; it is kept in localStorage for the next visits.
function askName() {
  nameForm.hidden = false;
  nameInput.value = "";
  nameInput.focus();
  nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!validName(name)) {
      nameError.textContent = "1 to 32 characters, none invisible";
      return;
    }
    nickname = name;
    storeName(name);
    nameForm.hidden = true;
    input.focus();
    connect();
  });
}

function start() {
  if (mode === "topics") {
    document.querySelector("h1").textContent = "pushwire topics";
    input.placeholder = "Subscribe to a topic";
    input.setAttribute("aria-label", "Topic");
    sendButton.textContent = "Subscribe";
    panel.hidden = true;
    showTopics();
    return connect();
  }
  panel.open = !window.matchMedia("(max-width: 640px)").matches;
  if (mode === "room") {
    document.querySelector("h1").textContent = "pushwire · " + room;
    if (!ROOM_NAME.test(room)) {
      setState("closed");
      return notice("error", "Invalid room name: 1 to 120 letters, digits or _ . : @ / -");
    }
  }
  nickname = token === null ? storedName().trim() : "";
  if (token === null && !validName(nickname)) return askName();
  connect();
}

start();
`;
