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
  // Columns by distance; an edge to the next column is a straight line, any other is an
  // arc: above the states when it goes forward, below (dashed) when it goes back.
  const W = 250, H = 90, BW = 140, BH = 34, M = 110;
  const pos = new Map();
  for (const [d, col] of columns) col.forEach((id, i) => pos.set(id, { x: 20 + d * W, y: M + i * H, d, i }));
  const rows = Math.max(1, ...[...columns.values()].map((c) => c.length));
  const width = 40 + maxDepth * W + BW, height = M * 2 + (rows - 1) * H + BH;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "graph", role: "img" });
  const defs = el("defs", {});
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  // Long labels are cut to fit the gap between columns; the whole text is the tooltip
  // and is in the transitions list under the diagram.
  const label = (x, y, text) => {
    const node = el("text", { x, y, class: "edge-label", "text-anchor": "middle" }, text.length > 18 ? text.slice(0, 17) + "…" : text);
    node.append(el("title", {}, text));
    svg.append(node);
  };
  for (const e of graph.edges) {
    const a = pos.get(e.fromId), b = pos.get(e.toId);
    if (!a || !b) continue;
    if (e.fromId === e.toId) {
      const x = a.x + BW / 2, y = a.y;
      svg.append(el("path", { d: `M${x - 15},${y} C${x - 35},${y - 40} ${x + 35},${y - 40} ${x + 15},${y}`, class: "edge", "marker-end": "url(#arrow)" }));
      label(x, y - 36, e.label);
      continue;
    }
    if (b.d === a.d + 1 && a.i === b.i) {
      const y = a.y + BH / 2;
      svg.append(el("line", { x1: a.x + BW, y1: y, x2: b.x, y2: y, class: "edge", "marker-end": "url(#arrow)" }));
      label((a.x + BW + b.x) / 2, y - 6, e.label);
      continue;
    }
    const forward = b.d > a.d;
    const span = Math.abs(b.d - a.d) || 1;
    const x1 = a.x + BW / 2 + (forward ? 20 : -20), x2 = b.x + BW / 2 + (forward ? -20 : 20);
    const y1 = forward ? a.y : a.y + BH, y2 = forward ? b.y : b.y + BH;
    const cx = (x1 + x2) / 2, cy = forward ? Math.min(y1, y2) - 30 - 25 * span : Math.max(y1, y2) + 30 + 25 * span;
    svg.append(el("path", { d: `M${x1},${y1} Q${cx},${cy} ${x2},${y2}`, class: "edge" + (forward ? "" : " back"), "marker-end": "url(#arrow)" }));
    label((x1 + 2 * cx + x2) / 4, (y1 + 2 * cy + y2) / 4 + (forward ? -4 : 12), e.label);
  }
  if (graph.initial && pos.get(graph.initial)) {
    const p = pos.get(graph.initial);
    svg.append(el("circle", { cx: p.x - 10, cy: p.y + BH / 2, r: 5, class: "start" }));
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
