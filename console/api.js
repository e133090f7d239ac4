// Calls to charla's admin API and DOM helpers. The token lives in sessionStorage (this
// tab only) and travels only in the Authorization header: never in a URL or a cookie.
const TOKEN_KEY = "charla.token";

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }
export function clearToken() { sessionStorage.removeItem(TOKEN_KEY); }

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

// Resolves to {status, ok, data} (data: parsed JSON, or the text); never rejects for an
// HTTP status, only when charla cannot be reached.
export async function api(method, path, body, tokenOverride) {
  const headers = { "Authorization": "Bearer " + (tokenOverride ?? token()) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers, cache: "no-store", credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = text;
  try { data = JSON.parse(text); } catch (e) { /* plain text, e.g. a Mermaid graph */ }
  if (res.status === 401 && tokenOverride === undefined) onUnauthorized();
  return { status: res.status, ok: res.ok, data };
}

export function errorText(res) {
  if (res.data && typeof res.data === "object" && res.data.error) return res.data.error;
  return "HTTP " + res.status;
}

// h("div", {class: "x", onclick: fn}, "text", child): builds elements; strings become
// text nodes, so data from the server is never parsed as HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// "3 min", "2 h 5 min": how long ago `ms` was.
export function since(ms) {
  if (!ms) return "";
  let s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min";
  const hours = Math.floor(m / 60);
  if (hours < 48) return hours + " h " + (m % 60) + " min";
  return Math.floor(hours / 24) + " d";
}

export function time(ms) {
  return ms ? new Date(ms).toLocaleString() : "";
}
