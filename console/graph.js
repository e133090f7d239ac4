// Draws the Mermaid stateDiagram that `charla graph` prints as SVG, without a library:
// states in columns by their distance from the initial state, edges as straight lines
// (self-loops as arcs), labels at the middle. Every label is set with textContent.
const SVG = "http://www.w3.org/2000/svg";

export function parseMermaid(text) {
  const names = new Map();  // id -> shown name
  const edges = [];
  let initial = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    let m = line.match(/^state "(.*)" as (\S+)$/);
    if (m) { names.set(m[2], m[1]); continue; }
    m = line.match(/^(\S+) --> (\S+)(?: : (.*))?$/);
    if (!m) continue;
    if (m[1] === "[*]") { initial = m[2]; continue; }
    for (const id of [m[1], m[2]]) if (!names.has(id)) names.set(id, id);
    edges.push({ fromId: m[1], toId: m[2], label: m[3] || "" });
  }
  for (const e of edges) { e.from = names.get(e.fromId); e.to = names.get(e.toId); }
  return { names, edges, initial };
}

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function renderGraph(graph) {
  const ids = [...graph.names.keys()];
  const depth = new Map();
  const start = graph.initial || ids[0];
  if (start) depth.set(start, 0);
  for (let queue = start ? [start] : []; queue.length;) {
    const id = queue.shift();
    for (const e of graph.edges) if (e.fromId === id && !depth.has(e.toId)) { depth.set(e.toId, depth.get(id) + 1); queue.push(e.toId); }
  }
  let maxDepth = Math.max(0, ...depth.values());
  for (const id of ids) if (!depth.has(id)) depth.set(id, ++maxDepth);  // unreachable states at the end
  const columns = new Map();
  for (const id of ids) { const d = depth.get(id); columns.set(d, [...(columns.get(d) || []), id]); }
  const W = 170, H = 70, BW = 130, BH = 34;
  const pos = new Map();
  for (const [d, col] of columns) col.forEach((id, i) => pos.set(id, { x: 20 + d * W, y: 30 + i * H }));
  const width = 40 + (maxDepth + 1) * W, height = 60 + Math.max(1, ...[...columns.values()].map((c) => c.length)) * H;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "graph", role: "img" });
  const defs = el("defs", {});
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  for (const e of graph.edges) {
    const a = pos.get(e.fromId), b = pos.get(e.toId);
    if (!a || !b) continue;
    if (e.fromId === e.toId) {
      const x = a.x + BW / 2, y = a.y;
      svg.append(el("path", { d: `M${x - 15},${y} C${x - 30},${y - 30} ${x + 30},${y - 30} ${x + 15},${y}`, class: "edge", "marker-end": "url(#arrow)" }));
      svg.append(el("text", { x, y: y - 26, class: "edge-label", "text-anchor": "middle" }, e.label));
      continue;
    }
    const back = b.x <= a.x;
    const x1 = back ? a.x : a.x + BW, x2 = back ? b.x + BW : b.x;
    const y1 = a.y + BH / 2 + (back ? 8 : 0), y2 = b.y + BH / 2 + (back ? 8 : 0);
    svg.append(el("line", { x1, y1, x2, y2, class: "edge" + (back ? " back" : ""), "marker-end": "url(#arrow)" }));
    svg.append(el("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, class: "edge-label", "text-anchor": "middle" }, e.label));
  }
  if (graph.initial && pos.get(graph.initial)) {
    const p = pos.get(graph.initial);
    svg.append(el("circle", { cx: p.x + BW / 2, cy: p.y - 14, r: 5, class: "start" }));
  }
  for (const id of ids) {
    const p = pos.get(id);
    svg.append(el("rect", { x: p.x, y: p.y, width: BW, height: BH, rx: 8, class: "state" + (id === graph.initial ? " initial" : "") }));
    svg.append(el("text", { x: p.x + BW / 2, y: p.y + BH / 2 + 4, "text-anchor": "middle", class: "state-label" }, graph.names.get(id)));
  }
  const wrap = document.createElement("div");
  wrap.className = "graph-wrap";
  wrap.append(svg);
  return wrap;
}
