// The console's shell: sign-in, tabs, and the live conversation list with the handoff
// queue on top. Views live in conversation.js and panels.js.
import { api, clear, clearToken, errorText, h, setToken, since, token, whenUnauthorized } from "./api.js";
import { t, toggleLanguage, translatePage } from "./i18n.js";
import { showConversation } from "./conversation.js";
import { showDeadLetters, showFlows, showStatus } from "./panels.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const VIEWS = ["signin-view", "conversations-view", "conversation-view", "dead-view", "flows-view", "status-view"];
let current = "";      // the view shown
let currentArg;        // its argument (the conversation key)
let pollTimer = 0;
export const flowCache = { list: [] };

function show(view) {
  current = view;
  for (const v of VIEWS) $(v).hidden = v !== view;
  for (const b of document.querySelectorAll("#tabs button"))
    b.classList.toggle("active", view.startsWith(b.dataset.tab));
}

export function go(tab, arg) {
  stopPolling();
  currentArg = arg;
  if (tab === "conversations") { show("conversations-view"); poll(); return; }
  if (tab === "conversation") { show("conversation-view"); showConversation($("conversation-view"), arg); return; }
  if (tab === "dead") { show("dead-view"); showDeadLetters($("dead-view")); return; }
  if (tab === "flows") { show("flows-view"); showFlows($("flows-view"), flowCache.list); return; }
  if (tab === "status") { show("status-view"); showStatus($("status-view")); }
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = 0;
}

// Refreshes the queue and the list, then again after POLL_MS while the list is shown.
async function poll() {
  try {
    await Promise.all([renderHandoffs(), renderList()]);
    $("live").textContent = t("live") + new Date().toLocaleTimeString();
  } catch (e) {
    $("live").textContent = t("error") + e.message;
  }
  if (current === "conversations-view") pollTimer = setTimeout(poll, POLL_MS);
}

async function renderHandoffs() {
  const box = $("handoffs");
  const res = await api("GET", "/admin/handoffs");
  clear(box).append(h("h2", {}, t("handoffs")));
  if (res.status === 404 || res.status === 405) { box.append(h("p", { class: "hint" }, t("handoffs.unavailable"))); return; }
  if (!res.ok) { box.append(h("p", { class: "error" }, t("error") + errorText(res))); return; }
  const items = res.data.handoffs || [];
  if (!items.length) { box.append(h("p", { class: "hint" }, t("handoffs.none"))); return; }
  const ul = h("ul", { class: "list", id: "handoff-list" });
  for (const item of items) {
    const key = item.conversation || item.key;
    // GET /admin/handoffs: oldest first, with since_ms and waiting_seconds.
    const waitedMs = item.waiting_seconds !== undefined ? item.waiting_seconds * 1000
      : item.since_ms ? Date.now() - item.since_ms : 0;
    ul.append(h("li", { class: "row handoff", "data-key": key, onclick: () => go("conversation", key) },
      h("span", { class: "who" }, item.name || item.phone || key),
      h("span", { class: "reason" }, item.reason || ""),
      item.last_message ? h("span", { class: "meta" }, "“" + String(item.last_message).slice(0, 80) + "”") : null,
      h("span", { class: "badge wait" }, t("waiting") + " " + since(Date.now() - waitedMs))));
  }
  box.append(ul);
}

function filterQuery() {
  const q = new URLSearchParams({ limit: "200" });
  if ($("filter-state").value.trim()) q.set("state", $("filter-state").value.trim());
  if ($("filter-flow").value) q.set("flow", $("filter-flow").value);
  if ($("filter-paused").value) q.set("paused", $("filter-paused").value);
  return q.toString();
}

async function renderList() {
  const res = await api("GET", "/admin/conversations?" + filterQuery());
  const list = clear($("conversation-list"));
  if (!res.ok) { list.append(h("li", { class: "error" }, t("error") + errorText(res))); return; }
  const items = (res.data.conversations || []).slice().sort((a, b) => (b.updated_ms || 0) - (a.updated_ms || 0));
  if (!items.length) list.append(h("li", { class: "hint" }, t("none")));
  // The API pages in key order: past 200, say so rather than hide that the list is cut.
  if (res.data.next_cursor) list.append(h("li", { class: "hint", id: "list-cut" }, t("list.cut")));
  for (const c of items) {
    list.append(h("li", { class: "row" + (c.corrupt ? " corrupt" : ""), "data-key": c.conversation,
                          onclick: () => go("conversation", c.conversation) },
      h("span", { class: "who" }, c.name || c.user || c.conversation),
      h("span", { class: "meta" }, [c.flow, c.state].filter(Boolean).join(" · ")),
      c.paused ? h("span", { class: "badge paused" }, t("paused")) : null,
      h("span", { class: "when" }, since(c.updated_ms))));
  }
}

async function loadFlows() {
  const res = await api("GET", "/admin/flows");
  flowCache.list = res.ok ? res.data.flows || [] : [];
  const select = clear($("filter-flow"));
  select.append(h("option", { value: "" }, t("filter.anyflow")));
  for (const f of flowCache.list) select.append(h("option", { value: f.name }, f.name));
}

function signedIn() {
  $("signin-view").hidden = true;
  $("tabs").hidden = false;
  $("signout").hidden = false;
  loadFlows().finally(() => go("conversations"));
}

function signOut() {
  stopPolling();
  clearToken();
  $("tabs").hidden = true;
  $("signout").hidden = true;
  $("token").value = "";
  show("signin-view");
}

async function signIn(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  $("signin-error").textContent = "";
  try {
    const res = await api("GET", "/admin/status", undefined, value);
    if (res.status === 401) { $("signin-error").textContent = t("signin.wrong"); return; }
    if (!res.ok) { $("signin-error").textContent = t("signin.failed") + errorText(res); return; }
    setToken(value);
    signedIn();
  } catch (e) {
    $("signin-error").textContent = t("signin.failed") + e.message;
  }
}

function start() {
  translatePage();
  whenUnauthorized(signOut);
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("lang").addEventListener("click", () => {
    toggleLanguage();
    translatePage();
    if (current !== "signin-view") go(current.replace("-view", ""), currentArg);
  });
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => go(b.dataset.tab));
  for (const id of ["filter-state", "filter-flow", "filter-paused"])
    $(id).addEventListener(id === "filter-state" ? "input" : "change", () => { stopPolling(); poll(); });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  if (token()) signedIn(); else show("signin-view");
}

start();
