/**
 * The chat page served at `GET /`, embedded so the server needs only network
 * permission.
 *
 * @module
 */

import { CLIENT_JS, CLIENT_JS_ETAG } from "../client/client_js.ts";
import { scriptRoute } from "../server/builtin_routes.ts";
import type { HttpRoutes } from "../server/routes.ts";
import { PAGE_SCRIPT } from "./page_script.ts";

/**
 * The demo page: one HTML document with inline CSS and an inline module
 * script built on the client library, which it imports from `/client.js` of
 * the same server (nothing is loaded from elsewhere; serve `/client.js` with
 * it, as `serveChat` and `servePush` do). The client connects to
 * `ws(s)://<same host>/` and reconnects by itself, with backoff, when the
 * connection drops (not after a close with 4401, token expired, or 4403,
 * disconnected by the server: the page shows the reason instead). A
 * reconnect shows one "reconnected" line.
 *
 * Opened as `/`, it is the chat room of `room.ts` (the client's `say` and
 * `room` events), with who is online. Opened as `/?room=lobby`, it chats in
 * the topic `room:lobby` (protocol of `src/push/events.ts`): it publishes
 * what is typed, shows who is online from the room's presence, and the
 * client resumes with `since` after a drop. In both it asks for a nickname
 * once (kept in `localStorage`, the client's `name`) unless the page's URL
 * has `?token=<jwt>`, which is the client's `token` and whose identity names
 * the page. Opened with topics, `/?topic=news&topic=sport`, it follows them:
 * it shows each publication, and the client resumes every topic after a
 * drop, so that a reconnect shows no hole and no duplicate; a `gap` event
 * shows as a notice with a reload button. Its input then follows one more
 * topic.
 *
 * For browser tests: `#status` (its `data-state` is `connecting`,
 * `connected`, `reconnecting` or `closed`), `#peers` (the online count, or
 * the topics), `#nickname` (the form asking for a name: `#name`, `#join`),
 * `#online` (one `li` per client online, its name, `data-client` its id,
 * `data-you` on this page's own), `#messages` (one `li` per event, with
 * `data-type` of `message`, `welcome`, `join`, `leave`, `binary`, `status`,
 * `publication`, `gap` or `error`; `data-from` on messages: `you`, `server`
 * or the sender's id; `data-topic` and `data-id` on publications and room
 * messages, `data-topic` on gaps), `#composer`, `#input` and `#send`. All
 * text is set with `textContent`.
 *
 * @example Serve the page on `serve()`, with the client it imports
 * ```ts ignore
 * import { CHAT_PAGE, CHAT_PAGE_ROUTES, serve } from "jsr:@pushwire/pushwire";
 *
 * const server = serve({ port: 8080, page: CHAT_PAGE, routes: CHAT_PAGE_ROUTES });
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
  [hidden] { display: none !important; }
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
  #status[data-state="reconnecting"]::before, #status[data-state="closed"]::before { background: var(--bad); }
  #peers { font-size: .85rem; color: var(--muted); }
  main { flex: 1; display: flex; min-height: 0; }
  #messages {
    flex: 1; overflow-y: auto; list-style: none; margin: 0; padding: .75rem;
    display: flex; flex-direction: column; gap: .4rem;
  }
  #online-panel {
    order: 1; width: 13rem; overflow-y: auto; padding: .6rem .9rem; font-size: .9rem;
    background: var(--panel); border-left: 1px solid var(--line);
  }
  #online-panel summary { font-weight: 600; cursor: pointer; color: var(--muted); }
  #online { list-style: none; margin: .4rem 0 0; padding: 0; }
  #online li { padding: .15rem 0; overflow-wrap: anywhere; }
  #online li::before { content: "● "; color: var(--ok); font-size: .7rem; }
  #online li[data-you] { font-weight: 600; }
  #online li.more::before { content: ""; }
  #online li.more { color: var(--muted); }
  @media (max-width: 640px) {
    main { flex-direction: column; }
    #online-panel { order: 0; width: auto; max-height: 40vh; border-left: 0; border-bottom: 1px solid var(--line); }
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
  #nickname {
    display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; padding: .6rem 1rem;
    background: var(--server); border-bottom: 1px solid var(--line);
  }
  #nickname label { font-weight: 600; }
  #name-error { flex-basis: 100%; font-size: .8rem; color: var(--bad); }
  #name-error:empty { display: none; }
  #composer {
    display: flex; gap: .5rem; padding: .6rem; background: var(--panel); border-top: 1px solid var(--line);
    padding-bottom: max(.6rem, env(safe-area-inset-bottom));
  }
  #input, #name {
    flex: 1; min-width: 0; font: inherit; padding: .55rem .8rem; border-radius: 1.2rem;
    border: 1px solid var(--line); background: var(--bg); color: var(--text);
  }
  #send, #join {
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
<form id="nickname" autocomplete="off" hidden>
  <label for="name">Your name</label>
  <input id="name" name="name" placeholder="Nickname" maxlength="32" required>
  <button id="join" type="submit">Join</button>
  <span id="name-error" role="alert"></span>
</form>
<main>
  <details id="online-panel" open>
    <summary>Online (<span id="online-count">0</span>)</summary>
    <ul id="online" aria-live="polite"></ul>
  </details>
  <ol id="messages" aria-live="polite"></ol>
</main>
<form id="composer" autocomplete="off">
  <input id="input" name="text" placeholder="Message" aria-label="Message" maxlength="4000" autofocus>
  <button id="send" type="submit" disabled>Send</button>
</form>
<script type="module">
${PAGE_SCRIPT}</script>
</body>
</html>
`;

/**
 * What {@linkcode CHAT_PAGE} loads besides itself, as routes for `serve()`:
 * `GET /client.js`, the client library its script imports (JavaScript,
 * `Cache-Control: no-cache` with an `ETag`). `serveChat` and `servePush`
 * serve it already; a server of your own that serves the page needs it too.
 *
 * @example
 * ```ts
 * import { CHAT_PAGE_ROUTES } from "./page.ts";
 *
 * console.log(Object.keys(CHAT_PAGE_ROUTES)); // [ "/client.js" ]
 * ```
 */
export const CHAT_PAGE_ROUTES: HttpRoutes = {
  "/client.js": scriptRoute(CLIENT_JS, CLIENT_JS_ETAG),
};
