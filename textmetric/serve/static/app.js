// The search page: asks /info what is served, sends the query to /search, shows the hits with the
// query's words highlighted in a snippet, and adds documents through /documents when writes are on.
// Text from the index is only ever put into the page as text nodes, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SNIPPET_WORDS = 40;  // words around the best-matching stretch of a hit's text
const STOP = new Set(("a an and are as at be but by for if in into is it no not of on or such that the their " +
                      "then there these they this to was will with what how why").split(" "));

function words(text) {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []).filter((w) => w.length > 1 && !STOP.has(w));
}

// A crude stem, enough to light up "fractures" for "fracture" and "prevents" for "preventing".
function stem(word) {
  return word.replace(/(ing|edly|ed|ly|es|s)$/u, "").slice(0, 12);
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// The stretch of `text` with the most query words, as nodes: plain text and <mark>ed words.
function snippet(text, queryStems, whole) {
  const tokens = [...text.matchAll(/[\p{L}\p{N}]+/gu)];
  const hit = tokens.map((t) => queryStems.has(stem(t[0].toLowerCase())));
  let first = 0, last = tokens.length;
  if (!whole && tokens.length > SNIPPET_WORDS) {
    let best = -1, count = 0;
    for (let i = 0; i < tokens.length; i++) {
      count += hit[i] ? 1 : 0;
      if (i >= SNIPPET_WORDS) count -= hit[i - SNIPPET_WORDS] ? 1 : 0;
      if (i >= SNIPPET_WORDS - 1 && count > best) { best = count; first = i - SNIPPET_WORDS + 1; }
    }
    last = first + SNIPPET_WORDS;
  }
  const start = first === 0 ? 0 : tokens[first].index;
  const end = last >= tokens.length ? text.length : tokens[last - 1].index + tokens[last - 1][0].length;
  const nodes = [];
  if (start > 0) nodes.push("… ");
  let at = start;
  for (let i = first; i < last && i < tokens.length; i++) {
    if (!hit[i]) continue;
    const t = tokens[i];
    if (t.index > at) nodes.push(text.slice(at, t.index));
    nodes.push(el("mark", {}, t[0]));
    at = t.index + t[0].length;
  }
  if (end > at) nodes.push(text.slice(at, end));
  if (end < text.length) nodes.push(" …");
  return nodes;
}

function formatScore(score, kind) {
  return kind === "rrf" ? score.toFixed(5) : score.toFixed(4);
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function renderHits(answer, query, elapsed) {
  const list = $("results");
  list.replaceChildren();
  const result = answer.results[0];
  const stems = new Set(words(query).map(stem));
  result.hits.forEach((hit) => {
    const text = el("p", {class: "snippet"}, ...snippet(hit.text, stems, false));
    const item = el("li", {class: "hit", tabindex: "0", "data-doc-id": hit.doc_id, "data-score": String(hit.score)},
      el("div", {class: "meta"},
        el("span", {class: "rank", "aria-label": "rank"}, `#${hit.rank}`),
        el("span", {class: "score", title: answer.score_kind}, formatScore(hit.score, answer.score_kind)),
        el("code", {class: "doc-id"}, hit.doc_id)),
      el("h2", {class: "title"}, ...(hit.title ? snippet(hit.title, stems, true) : [el("span", {class: "muted"}, "untitled")])),
      text);
    item.addEventListener("click", () => toggle(item, hit, stems));
    item.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(item, hit, stems); }
    });
    list.append(item);
  });
  const count = result.hits.length;
  const warned = answer.warnings.length ? ` · ${answer.warnings.join("; ")}` : "";
  $("status").textContent = `${count} result${count === 1 ? "" : "s"} (${answer.score_kind}) in ` +
    `${elapsed.toFixed(1)} ms · server ${answer.took_ms.toFixed(1)} ms${warned}`;
  $("status").classList.remove("error");
}

function toggle(item, hit, stems) {
  const whole = !item.classList.contains("open");
  item.classList.toggle("open", whole);
  item.querySelector(".snippet").replaceChildren(...snippet(hit.text, stems, whole));
}

async function search(event) {
  if (event) event.preventDefault();
  const query = $("q").value;
  if (!query.trim()) return;
  const k = Number($("k").value) || 10;
  const body = {query, k, mode: $("mode").value};
  $("status").textContent = "searching…";
  const started = performance.now();
  try {
    const answer = await api("search", {method: "POST", headers: {"Content-Type": "application/json"},
                                        body: JSON.stringify(body)});
    renderHits(answer, query, performance.now() - started);
    const params = new URLSearchParams({q: query, mode: body.mode, k: String(k)});
    history.replaceState(null, "", `?${params}`);
  } catch (error) {
    $("results").replaceChildren();
    $("status").textContent = error.message;
    $("status").classList.add("error");
  }
}

function parseDocuments(text) {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("no documents");
  try {
    const value = JSON.parse(trimmed);
    return Array.isArray(value) ? value : [value];
  } catch (e) {
    return trimmed.split("\n").filter((line) => line.trim()).map((line, i) => {
      try { return JSON.parse(line); } catch (error) { throw new Error(`line ${i + 1}: not JSON (${error.message})`); }
    });
  }
}

async function addDocuments(event) {
  event.preventDefault();
  const status = $("add-status");
  try {
    const documents = parseDocuments($("docs").value);
    status.textContent = "adding…";
    const answer = await api("documents", {method: "POST", body: JSON.stringify(documents),
      headers: {"Content-Type": "application/json", "X-API-Key": $("key").value}});
    status.textContent = `added ${answer.added}, replaced ${answer.replaced}: the index holds ` +
      `${answer.documents.toLocaleString()} documents`;
    status.classList.remove("error");
    await loadInfo();
  } catch (error) {
    status.textContent = error.message;
    status.classList.add("error");
  }
}

async function loadInfo() {
  try {
    const info = await api("info");
    const model = info.model.name ? info.model.name.split("/").pop() : "model";
    $("summary").textContent = `${info.documents.toLocaleString()} documents · ${model} (${info.model.backend}) · ` +
      `${info.space}`;
    for (const option of $("mode").options) option.disabled = !info.modes.includes(option.value);
    $("k").max = String(info.limits.max_k);
    $("add").hidden = !info.writes;
    return info;
  } catch (error) {
    $("summary").textContent = `cannot reach the service: ${error.message}`;
    return null;
  }
}

function moveFocus(step) {
  const hits = [...document.querySelectorAll("#results .hit")];
  if (!hits.length) return;
  const at = hits.indexOf(document.activeElement);
  if (at === -1) { if (step > 0) hits[0].focus(); return; }
  const next = at + step;
  if (next < 0) $("q").focus();
  else hits[Math.min(next, hits.length - 1)].focus();
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (event.key === "/" && !typing) { event.preventDefault(); $("q").focus(); $("q").select(); }
  else if (event.key === "Escape") { $("q").focus(); }
  else if (event.key === "ArrowDown" && (!typing || document.activeElement === $("q"))) {
    event.preventDefault(); moveFocus(1);
  } else if (event.key === "ArrowUp" && !typing) { event.preventDefault(); moveFocus(-1); }
});

window.addEventListener("DOMContentLoaded", async () => {
  $("search").addEventListener("submit", search);
  $("add-form").addEventListener("submit", addDocuments);
  const info = await loadInfo();
  const params = new URLSearchParams(location.search);
  if (params.get("mode") && info && info.modes.includes(params.get("mode"))) $("mode").value = params.get("mode");
  if (params.get("k")) $("k").value = params.get("k");
  if (params.get("q")) { $("q").value = params.get("q"); await search(); }
  document.body.dataset.ready = "true";
});
