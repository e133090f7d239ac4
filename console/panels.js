// Dead letters (with retry), flow diagrams, and the status panel.
import { api, clear, errorText, h, time } from "./api.js";
import { t } from "./i18n.js";
import { go } from "./app.js";
import { messageSummary } from "./conversation.js";
import { parseMermaid, renderGraph } from "./graph.js";

export async function showDeadLetters(el) {
  const res = await api("GET", "/admin/outbox?status=dead&limit=1000");
  clear(el).append(h("h2", {}, t("tab.dead")));
  if (!res.ok) { el.append(h("p", { class: "error" }, t("error") + errorText(res))); return; }
  const rows = res.data.messages || [];
  if (!rows.length) { el.append(h("p", { class: "hint" }, t("dead.none"))); return; }
  const note = h("p", { class: "hint", role: "status" });
  el.append(note, h("ul", { class: "list", id: "dead-list" }, rows.map((r) => h("li", { class: "row", "data-seq": r.seq },
    h("span", { class: "meta" }, t("seq") + r.seq + " · " + time(r.created_ms)),
    h("a", { href: "#", class: "who", onclick: (e) => { e.preventDefault(); go("conversation", r.conversation); } }, r.conversation),
    h("span", { class: "text" }, messageSummary(r.message)),
    h("span", { class: "error" }, typeof r.error === "object" ? JSON.stringify(r.error) : r.error || r.last_error || ""),
    h("button", { type: "button", class: "retry", onclick: async () => {
      const out = await api("POST", "/admin/outbox/" + encodeURIComponent(r.seq) + "/retry", {});
      note.textContent = out.ok ? t("done") : t("error") + errorText(out);
      note.className = out.ok ? "hint" : "error";
      if (out.ok) showDeadLetters(el);
    } }, t("retry"))))));
}

export async function showFlows(el, flows) {
  clear(el).append(h("h2", {}, t("tab.flows")));
  if (!flows.length) { el.append(h("p", { class: "hint" }, t("flows.none"))); return; }
  const detail = h("div", { id: "flow-detail" });
  const pick = async (name) => {
    const res = await api("GET", "/admin/flows/" + encodeURIComponent(name) + "/graph");
    clear(detail);
    if (!res.ok) { detail.append(h("p", { class: "error" }, t("error") + errorText(res))); return; }
    const text = String(res.data);
    const graph = parseMermaid(text);
    detail.append(h("h3", {}, name + " — " + t("graph")), renderGraph(graph),
      h("h3", {}, t("edges")), h("ul", { class: "edges" }, graph.edges.map((e) =>
        h("li", {}, h("b", {}, e.from), " → ", h("b", {}, e.to), e.label ? " (" + e.label + ")" : ""))),
      h("details", {}, h("summary", {}, t("mermaid")), h("pre", { id: "flow-mermaid" }, text)));
  };
  el.append(h("div", { class: "tabs-inline" }, flows.map((f) => h("button", { type: "button", "data-flow": f.name,
    onclick: () => pick(f.name) }, f.name + (f.default ? " ★" : "")))), detail);
  pick(flows[0].name);
}

function flatten(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj || {})) {
    const name = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, name, out);
    else out.push([name, Array.isArray(v) ? v.join(", ") : String(v)]);
  }
  return out;
}

export async function showStatus(el) {
  const res = await api("GET", "/admin/status");
  clear(el).append(h("h2", {}, t("status.title")));
  if (!res.ok) { el.append(h("p", { class: "error" }, t("error") + errorText(res))); return; }
  el.append(h("dl", { class: "kv", id: "status-table" }, flatten(res.data, "", []).map(([k, v]) =>
    [h("dt", {}, k), h("dd", {}, v)])));
}
