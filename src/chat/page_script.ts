/**
 * The script of the demo page ({@linkcode CHAT_PAGE} in `page.ts`), inline
 * in it: plain browser JavaScript in a string, so the server needs no file
 * and the page loads nothing from elsewhere.
 *
 * @module
 */

/**
 * The page's script (without the `<script>` tags). It reads its mode from
 * the page's URL: `?room=<name>` chats in the topic `room:<name>` (publish,
 * presence, resume with `since`); `?topic=…` follows topics; neither is the
 * chat room. It keeps the nickname in `localStorage`, and a `?token=` of
 * the page's URL goes on to the socket's.
 *
 * @example Inline it in a page of your own
 * ```ts
 * import { PAGE_SCRIPT } from "./page_script.ts";
 *
 * const html = `<!doctype html><ol id="messages"></ol><script>${PAGE_SCRIPT}</script>`;
 * console.log(html.includes("</script>") && !PAGE_SCRIPT.includes("</script")); // true
 * ```
 */
export const PAGE_SCRIPT = `"use strict";
(function () {
  var MAX_ITEMS = 500;
  var MAX_ONLINE_SHOWN = 200;
  var NAME_KEY = "pushwire.name";
  var ROOM_NAME = /^[A-Za-z0-9_.:@\\/-]{1,120}$/;
  // What the server refuses in a nickname: controls, bidirectional formatting, invisible characters.
  var NOT_IN_NAME = /[\\p{Cc}\\u00ad\\u061c\\u180e\\u200b\\u200e\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]/u;
  var $ = function (id) { return document.getElementById(id); };
  var statusEl = $("status"), peersEl = $("peers"), list = $("messages");
  var form = $("composer"), input = $("input"), sendButton = $("send");
  var panel = $("online-panel"), onlineEl = $("online"), countEl = $("online-count");
  var nameForm = $("nickname"), nameInput = $("name"), nameError = $("name-error");
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
  var params = new URLSearchParams(location.search);
  var token = params.get("token");
  var room = params.get("room");
  // chat: the room of clients that name no topic; room: the topic room:<name>; topics: follow topics.
  var mode = room !== null ? "room" : params.getAll("topic").length > 0 ? "topics" : "chat";
  var roomTopic = room !== null ? "room:" + room : null;
  var topics = roomTopic !== null ? [roomTopic] : params.getAll("topic");
  var lastIds = Object.create(null); // no prototype: a topic named toString is a topic
  var nickname = "";
  var socket = null;
  var me = null; // this page's id in the room (chat) or its client id (room)
  var myClients = Object.create(null); // every client id this page had in the topic room, for replayed messages
  var live = false; // the topic room's snapshot came on this connection: joins and leaves are news
  var attempt = 0;
  var retryTimer = 0;
  var opened = false; // connected at least once: the next open is a reconnect
  var greeted = false;
  var dropNotice = null;
  var online = new Map(); // id → name
  var nextRef = 1;
  var published = Object.create(null); // ids of this page's publications not shown yet

  function setState(state) {
    statusEl.dataset.state = state;
    statusEl.textContent = state;
    sendButton.disabled = state !== "connected";
  }

  function setPeers(count) {
    peersEl.textContent = count === 1 ? "1 online" : count + " online";
    countEl.textContent = String(count);
  }

  function showTopics() {
    peersEl.textContent = topics.join(", ");
  }

  function validName(name) {
    return name !== "" && name.length <= 32 && !NOT_IN_NAME.test(name);
  }

  function storedName() {
    try {
      return localStorage.getItem(NAME_KEY) || "";
    } catch (error) {
      return "";
    }
  }

  function storeName(name) {
    try {
      localStorage.setItem(NAME_KEY, name);
    } catch (error) {
      // Private browsing: the name lasts as long as the page.
    }
  }

  // The URL to (re)connect with: the topics and where to resume each, the name, the token.
  function socketUrl() {
    var query = topics.map(function (topic) {
      var since = lastIds[topic] === undefined ? "" : "&since=" + encodeURIComponent(topic + ":" + lastIds[topic]);
      return "topic=" + encodeURIComponent(topic) + since;
    });
    if (nickname !== "") query.push("name=" + encodeURIComponent(nickname));
    if (token !== null) query.push("token=" + encodeURIComponent(token));
    return query.length === 0 ? url : url + "?" + query.join("&");
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
    return item;
  }

  function dataText(event, data) {
    if (event.encoding === "base64") {
      return "binary, " + Math.floor(String(data).length * 3 / 4) + " bytes (base64)";
    }
    return typeof data === "string" ? data : JSON.stringify(data);
  }

  // One chat bubble: from is "you", "server" or the sender's id; who is what it shows.
  function bubble(from, who, time, text) {
    var item = document.createElement("li");
    item.dataset.type = "message";
    item.dataset.from = from;
    var meta = document.createElement("div");
    meta.className = "meta";
    var name = document.createElement("span");
    name.className = "from";
    name.textContent = who;
    meta.append(name, clock(time));
    var body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    item.append(meta, body);
    add(item);
    return item;
  }

  function message(event) {
    var from = event.from === me ? "you" : String(event.from);
    var who = from === "you" || from === "server" ? from : nameOf(from, event.name);
    bubble(from, who, event.time, event.encoding === "base64" ? dataText(event, event.data) : String(event.text));
  }

  // A message of the topic room: its sender is the server's "from", never the data.
  function roomMessage(event) {
    var sender = event.from !== null && typeof event.from === "object" ? event.from : null;
    var client = sender === null ? null : String(sender.client);
    var mine = client !== null && (myClients[client] === true || published[event.id] === true);
    delete published[event.id];
    var from = mine ? "you" : client === null ? "server" : client;
    var who = mine || client === null ? from : displayName({ client: client, user: sender.user, info: sender });
    var data = event.data;
    var text = data !== null && typeof data === "object" && typeof data.text === "string" ? data.text : dataText(event, data);
    var item = bubble(from, who, event.time, text);
    item.dataset.topic = String(event.topic);
    item.dataset.id = String(event.id);
  }

  function publication(event) {
    lastIds[event.topic] = event.id;
    if (event.topic === roomTopic) return roomMessage(event);
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
    text.textContent = dataText(event, event.data);
    item.append(meta, text);
    add(item);
  }

  // A publish of this page's was accepted: its message (shown or still to come) is "you".
  function accepted(event) {
    var shown = list.querySelector('li[data-type="message"][data-id="' + CSS.escape(String(event.id)) + '"]');
    if (shown === null) published[event.id] = true;
    else {
      shown.dataset.from = "you";
      shown.querySelector(".from").textContent = "you";
    }
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

  // A presence entry's name: info.name, else the user, else "guest <client>".
  function displayName(entry) {
    var info = entry.info;
    if (info !== null && typeof info === "object" && typeof info.name === "string" && info.name !== "") {
      return info.name.slice(0, 64);
    }
    return typeof entry.user === "string" && entry.user !== "" ? entry.user : "guest " + entry.client;
  }

  function nameOf(id, name) {
    if (typeof name === "string" && name !== "") return name;
    return online.get(String(id)) || "guest " + id;
  }

  function renderOnline(count) {
    var entries = Array.from(online, function (pair) { return { id: pair[0], name: pair[1] }; });
    entries.sort(function (a, b) {
      return (b.id === me) - (a.id === me) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
    });
    var items = entries.slice(0, MAX_ONLINE_SHOWN).map(function (entry) {
      var item = document.createElement("li");
      item.dataset.client = entry.id;
      if (entry.id === me) item.dataset.you = "true";
      item.textContent = entry.name;
      if (entry.id === me) {
        // Its own element, so that no name can pass for "(you)".
        var mark = document.createElement("em");
        mark.className = "you";
        mark.textContent = " (you)";
        item.append(mark);
      }
      return item;
    });
    var total = typeof count === "number" ? count : online.size;
    if (total > items.length) {
      var more = document.createElement("li");
      more.className = "more";
      more.textContent = "and " + (total - items.length) + " more";
      items.push(more);
    }
    onlineEl.replaceChildren.apply(onlineEl, items);
    setPeers(total);
  }

  var chatEvents = {
    welcome: function (event) {
      me = String(event.id);
      online.clear();
      (Array.isArray(event.members) ? event.members : []).forEach(function (member) {
        online.set(String(member.id), nameOf(member.id, member.name));
      });
      renderOnline(event.peers);
      if (greeted) return;
      greeted = true;
      notice("welcome", "you joined as " + online.get(me), event.time);
    },
    join: function (event) {
      var id = String(event.id);
      online.set(id, nameOf(id, event.name));
      renderOnline(event.peers);
      if (id !== me) notice("join", online.get(id) + " joined", event.time);
    },
    leave: function (event) {
      var id = String(event.id);
      var name = nameOf(id, event.name);
      online.delete(id);
      renderOnline(event.peers);
      notice("leave", name + " left", event.time);
    },
    message: message,
  };

  var roomEvents = {
    presence: function (event) {
      if (event.topic !== roomTopic) return;
      if (typeof event.you === "string") myClients[me = event.you] = true;
      live = true;
      online.clear();
      (Array.isArray(event.clients) ? event.clients : []).forEach(function (entry) {
        online.set(String(entry.client), displayName(entry));
      });
      renderOnline();
    },
    // A join or leave before the snapshot (this page's own join comes first) is no news.
    join: function (event) {
      if (event.topic !== roomTopic) return;
      var id = String(event.client);
      var known = online.has(id); // a join may repeat what the snapshot listed
      online.set(id, displayName(event));
      renderOnline();
      if (live && !known && myClients[id] !== true) notice("join", online.get(id) + " joined", event.time);
    },
    leave: function (event) {
      if (event.topic !== roomTopic) return;
      var id = String(event.client);
      var name = online.get(id) || displayName(event);
      if (!online.delete(id)) return;
      renderOnline();
      if (live && myClients[id] !== true) notice("leave", name + " left", event.time);
    },
  };

  var pushEvents = {
    publication: publication,
    published: accepted,
    gap: gap,
    subscribed: function (event) {
      var first = lastIds[event.topic] === undefined;
      if (topics.indexOf(event.topic) === -1) topics.push(event.topic);
      lastIds[event.topic] = event.last;
      if (event.topic === roomTopic && first && !greeted) {
        greeted = true;
        notice("welcome", "you joined " + room + (nickname === "" ? "" : " as " + nickname));
      } else if (first) notice("status", "subscribed to #" + event.topic);
      if (mode === "topics") showTopics();
    },
    unsubscribed: function (event) {
      topics = topics.filter(function (topic) { return topic !== event.topic; });
      delete lastIds[event.topic];
      if (mode === "topics") showTopics();
    },
    expiring: function (event) {
      notice("status", "the token expires at " + clock(event.expires).textContent);
    },
    error: function (event) {
      notice("error", String(event.message));
    },
  };

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
    var own = mode === "chat" ? chatEvents : roomEvents;
    var handle = Object.prototype.hasOwnProperty.call(own, event.type) ? own[event.type]
      : Object.prototype.hasOwnProperty.call(pushEvents, event.type) ? pushEvents[event.type]
      : null;
    if (handle !== null) handle(event);
  }

  // The connection is back: one line says so, in place of the one that said it dropped.
  function reconnected() {
    if (dropNotice === null) return notice("status", "reconnected");
    dropNotice.replaceChildren("reconnected · ", clock());
    dropNotice = null;
  }

  function closed(ws, event) {
    if (socket !== ws) return;
    socket = null;
    if (mode !== "topics") peersEl.textContent = "";
    // 4401: the token expired; 4403: the server disconnected this client. Retrying would not help.
    if (event.code === 4401 || event.code === 4403) {
      setState("closed");
      var why = event.code === 4401 ? "the token expired" : "disconnected by the server";
      notice("error", event.reason || why);
      return;
    }
    if (statusEl.dataset.state === "connected" && dropNotice === null) {
      dropNotice = notice("status", "disconnected, reconnecting");
    }
    attempt++;
    setState("reconnecting");
    // Exponential backoff with jitter: about 0.5 s, 1 s, 2 s ... up to 8 s.
    var delay = Math.min(8000, 500 * Math.pow(2, attempt - 1));
    retryTimer = setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    setState(attempt === 0 && !opened ? "connecting" : "reconnecting");
    var ws = new WebSocket(socketUrl());
    ws.binaryType = "arraybuffer";
    socket = ws;
    live = false;
    ws.onopen = function () {
      attempt = 0;
      setState("connected");
      if (opened) reconnected();
      opened = true;
    };
    ws.onmessage = function (event) {
      receive(event.data);
    };
    ws.onclose = function (event) {
      closed(ws, event);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (text.trim() === "" || socket === null || socket.readyState !== WebSocket.OPEN) return;
    if (mode === "topics") {
      // In topic mode the input names one more topic to subscribe to.
      socket.send(JSON.stringify({ type: "subscribe", topic: text.trim() }));
    } else if (mode === "room") {
      socket.send(JSON.stringify({ type: "publish", topic: roomTopic, data: { text: text }, ref: nextRef++ }));
    } else socket.send(text);
    input.value = "";
    input.focus();
  });

  window.addEventListener("online", function () {
    if (retryTimer !== 0) connect();
  });

  // Asks for a nickname once; it is kept in localStorage for the next visits.
  function askName() {
    nameForm.hidden = false;
    nameInput.value = "";
    nameInput.focus();
    nameForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = nameInput.value.trim();
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
        notice("error", "Invalid room name: 1 to 120 letters, digits or _ . : @ / -");
        return;
      }
    }
    nickname = token === null ? storedName().trim() : "";
    if (token === null && !validName(nickname)) return askName();
    connect();
  }

  start();
})();
`;
