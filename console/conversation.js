// One conversation: transcript as chat bubbles, state, ctx.data, timers, outbox rows,
// the agent's reply box (template when the 24 h window is closed) and the controls
// (pause, resume, reset, set state). Refreshes every 3 s while shown.
import { api, clear, errorText, h, since, time } from "./api.js";
import { t } from "./i18n.js";
import { flowCache, go } from "./app.js";

const REFRESH_MS = 3000;
let shownKey = "";
let refreshTimer = 0;

function enc(key) { return encodeURIComponent(key); }

// The body of one transcript entry, by type: buttons, lists, media, locations.
function bubbleBody(m) {
  const parts = [];
  if (m.text) parts.push(h("div", { class: "text" }, m.text));
  if (Array.isArray(m.buttons) && m.buttons.length)
    parts.push(h("div", { class: "buttons" }, m.buttons.map((b) => h("span", { class: "chip" },
      typeof b === "string" ? b : b.title || (b.reply && b.reply.title) || b.id || JSON.stringify(b)))));
  if (Array.isArray(m.sections))
    parts.push(h("div", { class: "listmsg" }, h("div", { class: "chip" }, "☰ " + (m.button || t("list"))),
      m.sections.map((s) => h("div", { class: "section" }, s.title ? h("b", {}, s.title) : null,
        (s.rows || []).map((r) => h("div", { class: "rowitem" }, r.title || r.id, r.description ? " — " + r.description : ""))))));
  if (m.button && typeof m.button === "object") parts.push(h("div", { class: "chip picked" }, "↩ " + (m.button.title || m.button.id || "")));
  if (m.list && typeof m.list === "object") parts.push(h("div", { class: "chip picked" }, "↩ " + (m.list.title || m.list.id || "")));
  const media = m.media || m;  // inbound: {media: {id, caption}}; outbound: link/id/caption on the message
  if (["image", "document", "audio", "video", "sticker"].includes(m.type))
    parts.push(h("div", { class: "media" }, "📎 " + t("media") + " (" + m.type + ") ",
      media.link || media.filename || media.id || "", media.caption && !m.text ? " — " + media.caption : ""));
  const loc = m.location || (m.latitude !== undefined ? m : null);
  if (loc && loc.latitude !== undefined)
    parts.push(h("div", { class: "location" }, "📍 " + t("location") + ": ", [loc.name, loc.address].filter(Boolean).join(", "),
      " (" + loc.latitude + ", " + loc.longitude + ")"));
  if (m.type === "template" && !m.text) parts.push(h("div", { class: "text" }, "[" + t("template") + "]"));
  if (!parts.length) parts.push(h("div", { class: "text hint" }, "[" + (m.type || "?") + "]"));
  return parts;
}

function transcript(history) {
  const box = h("div", { class: "transcript", id: "transcript" });
  for (const m of history || []) {
    if (m.corrupt) { box.append(h("div", { class: "bubble corrupt" }, "(corrupt entry)")); continue; }
    const agent = m.agent || m.by === "agent";
    box.append(h("div", { class: "bubble " + (m.dir === "in" ? "in" : "out") + (agent ? " agent" : "") },
      agent ? h("div", { class: "tag" }, t("agent") + (typeof m.agent === "string" ? ": " + m.agent : "")) : null,
      bubbleBody(m), h("div", { class: "ts" }, time(m.ts))));
  }
  return box;
}

function keyValues(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h("p", { class: "hint" }, t("empty"));
  return h("dl", { class: "kv" }, entries.map(([k, v]) => [h("dt", {}, k),
    h("dd", {}, typeof v === "number" && v > 1e12 ? time(v) + " (" + v + ")" : typeof v === "object" ? JSON.stringify(v) : String(v))]));
}

export function messageSummary(m) {
  if (!m) return "";
  return m.text || (m.name ? m.type + " " + m.name : m.type) || "";
}

function outboxRows(rows) {
  if (!rows.length) return h("p", { class: "hint" }, t("empty"));
  return h("ul", { class: "list outbox" }, rows.map((r) => h("li", { class: "row", "data-seq": r.seq },
    h("span", { class: "meta" }, t("seq") + r.seq), h("span", { class: "who" }, messageSummary(r.message)),
    h("span", { class: "badge st-" + r.status }, r.status), r.error ? h("span", { class: "error" }, String(r.error)) : null)));
}

function statusLine(el, res, okText) {
  el.textContent = res.ok ? okText || t("done") : t("error") + errorText(res);
  el.className = res.ok ? "hint" : "error";
}

function controls(c, flow, note) {
  const states = (flow && flow.states) || [];
  const stateSelect = h("select", { id: "state-select" }, states.map((s) => h("option", { value: s, selected: s === c.state }, s)));
  const resumeSelect = h("select", { id: "resume-state" }, h("option", { value: "" }, t("resume.at")), states.map((s) => h("option", { value: s }, s)));
  const enter = h("input", { type: "checkbox", id: "run-enter" });
  const act = async (method, path, body) => {
    const res = await api(method, path, body);
    statusLine(note, res);
    refresh();
  };
  const base = "/admin/conversations/" + enc(c.conversation);
  return h("div", { class: "controls" },
    c.paused
      ? h("span", { class: "group" }, resumeSelect, h("button", { type: "button", id: "btn-resume", onclick: () =>
          act("POST", base + "/resume", resumeSelect.value ? { state: resumeSelect.value } : {}) }, t("resume")))
      : h("button", { type: "button", id: "btn-pause", onclick: () => act("POST", base + "/pause", {}) }, t("pause")),
    h("span", { class: "group" }, stateSelect, h("label", { class: "small" }, enter, t("runenter")),
      h("button", { type: "button", id: "btn-state", onclick: () =>
        act("POST", base + "/state", { state: stateSelect.value, enter: enter.checked }) }, t("setstate"))),
    h("button", { type: "button", id: "btn-reset", class: "danger", onclick: () => {
      if (confirm(t("confirm.reset"))) act("POST", base + "/reset", {});
    } }, t("reset")));
}

// The reply box: free text; after a 409 window_closed, a template form instead.
function replyBox(c, note) {
  const agent = h("input", { id: "reply-agent", placeholder: t("reply.agent"), value: localStorage.getItem("charla.agent") || "" });
  const text = h("textarea", { id: "reply-text", rows: 3, placeholder: t("reply.placeholder") });
  const tpl = h("div", { id: "template-box", hidden: true },
    h("p", { class: "hint" }, t("reply.closed")),
    h("input", { id: "template-name", placeholder: t("template.name") }),
    h("input", { id: "template-language", placeholder: t("template.language"), value: "es" }),
    h("textarea", { id: "template-params", rows: 2, placeholder: t("template.params") }),
    h("button", { type: "button", id: "template-send", onclick: async () => {
      const params = document.getElementById("template-params").value.split("\n").map((s) => s.trim()).filter(Boolean);
      const res = await api("POST", "/admin/send", { conversation: c.conversation, agent: agent.value || undefined,
        template: { name: document.getElementById("template-name").value, language: document.getElementById("template-language").value,
                    parameters: params } });
      statusLine(note, res, t("reply.sent") + (res.data && res.data.id));
      refresh();
    } }, t("template.send")));
  const send = async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    localStorage.setItem("charla.agent", agent.value);
    const res = await api("POST", "/admin/send", { conversation: c.conversation, text: text.value, agent: agent.value || undefined });
    if (res.status === 409 && res.data && res.data.error === "window_closed") tpl.hidden = false;
    statusLine(note, res, t("reply.sent") + (res.data && res.data.id));
    if (res.ok) text.value = "";
    refresh();
  };
  return h("form", { class: "reply", id: "reply-form", onsubmit: send }, h("h3", {}, t("reply")), agent, text,
    h("button", { type: "submit", id: "reply-send" }, t("reply.send")), tpl);
}

// Parts are replaced only when what they show changed, so a refresh never takes the
// focus from the reply box or closes a select the agent has open.
function replaceIfChanged(slot, signature, build) {
  if (slot.dataset.sig === signature) return false;
  slot.dataset.sig = signature;
  clear(slot).append(...[build()].flat().filter(Boolean));
  return true;
}

function skeleton(el, c) {
  const note = h("p", { id: "action-note", class: "hint", role: "status" });
  clear(el).append(h("div", { id: "conv-head", class: "head" }), h("div", { id: "conv-controls" }), note,
    h("div", { class: "columns" },
      h("div", { class: "col" }, h("h3", {}, t("transcript")), h("div", { id: "transcript-slot" }), replyBox(c, note)),
      h("div", { class: "col side", id: "conv-side" })));
}

async function render(el, key, firstTime) {
  const [res, outbox] = await Promise.all([api("GET", "/admin/conversations/" + enc(key)), api("GET", "/admin/outbox?limit=1000")]);
  if (shownKey !== key) return;
  if (!res.ok) {
    clear(el).append(h("button", { type: "button", id: "btn-back", onclick: () => go("conversations") }, t("back")),
                     h("p", { class: "error" }, t("error") + errorText(res)));
    return;
  }
  const c = res.data;
  if (firstTime || !el.querySelector("#conv-head")) skeleton(el, c);
  const rows = outbox.ok ? (outbox.data.messages || []).filter((r) => r.conversation === c.conversation) : [];
  const flow = flowCache.list.find((f) => f.name === c.flow);
  const note = el.querySelector("#action-note");
  replaceIfChanged(el.querySelector("#conv-head"), JSON.stringify([c.name, c.state, c.paused, c.handoff_reason, c.last_inbound_ms]), () => [
    h("button", { type: "button", id: "btn-back", onclick: () => go("conversations") }, t("back")),
    h("h2", {}, c.name || c.user || c.conversation),
    h("div", { class: "meta", id: "conv-meta" }, c.conversation, " · ", t("flow") + ": " + (c.flow || "?"), " · ",
      t("state") + ": ", h("b", { id: "conv-state" }, c.state || "?"), " ",
      c.paused ? h("span", { class: "badge paused", id: "conv-paused" }, t("paused") + (c.handoff_reason ? ": " + c.handoff_reason : "")) : null),
    c.corrupt ? h("p", { class: "error" }, c.error) : null]);
  replaceIfChanged(el.querySelector("#conv-controls"), JSON.stringify([c.state, c.paused, !!flow]), () => controls(c, flow, note));
  const slot = el.querySelector("#transcript-slot");
  if (replaceIfChanged(slot, JSON.stringify(c.history || []), () => transcript(c.history))) {
    const box = slot.querySelector("#transcript");
    if (box) box.scrollTop = box.scrollHeight;
  }
  replaceIfChanged(el.querySelector("#conv-side"), JSON.stringify([c.data, c.timers, rows]), () => [
    h("h3", {}, t("data")), h("pre", { id: "conv-data" }, JSON.stringify(c.data ?? {}, null, 2)),
    h("h3", {}, t("timers")), keyValues(c.timers), h("h3", {}, t("outbox")), outboxRows(rows)]);
}

async function refresh() {
  clearTimeout(refreshTimer);
  const el = document.getElementById("conversation-view");
  if (el.hidden || !shownKey) return;
  try { await render(el, shownKey, false); } catch (e) { /* shown on the next try */ }
  if (!el.hidden) refreshTimer = setTimeout(refresh, REFRESH_MS);
}

export function showConversation(el, key) {
  shownKey = key;
  clear(el);
  clearTimeout(refreshTimer);
  render(el, key, true).finally(() => { refreshTimer = setTimeout(refresh, REFRESH_MS); });
}
