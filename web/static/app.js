// Selection web page: plan a scenario, edit the plan, preview, save a pool, follow it live.
// Plain JavaScript against the public /v1 API; no build step.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const main = $("#main");
let timers = [];

// ---- API key: #key=... once, then localStorage ----
// On load and on every fragment change (a #key= link opened in a tab that shows the page). The
// fragment is replaced in place (history.replaceState): setting location.hash would add a
// history entry and leave the one with the key behind.
// A hashchange passes the fragment it changed to: by the time the event runs, a later change
// may have replaced it, and the key must not be lost.
function takeKeyFromFragment(hash = location.hash) {
  const m = hash.match(/[#&]key=([^&]+)/);
  if (m) localStorage.setItem("selection.key", decodeURIComponent(m[1]));
  if (/[#&]key=/.test(location.hash)) {
    const rest = location.hash.replace(/[#&]?key=[^&]+/, "").replace(/^#?&/, "#");
    history.replaceState(history.state, "", location.pathname + location.search + (rest && rest !== "#" ? rest : "#/"));
  }
}
takeKeyFromFragment();
const apiKey = () => localStorage.getItem("selection.key") || "";
function askKey() {
  const dlg = $("#keydlg");
  $("#keyinput").value = apiKey();
  dlg.showModal();
}
$("#keybtn").addEventListener("click", askKey);
$("#keyform").addEventListener("submit", () => {
  localStorage.setItem("selection.key", $("#keyinput").value.trim());
  route();
});

function toast(msg) {
  const t = $("#toast");
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(t._h);
  t._h = setTimeout(() => t.classList.remove("show"), 2600);
}

async function api(method, path, body, extra = {}) {
  const headers = { "X-API-Key": apiKey(), ...(extra.headers || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) {
    askKey();
    throw new Error("an API key is needed");
  }
  if (res.status === 304) return { notModified: true };
  const ct = res.headers.get("Content-Type") || "";
  const data = ct.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw Object.assign(new Error(data && data.detail ? data.detail : `HTTP ${res.status}`), { status: res.status });
  if (extra.withHeaders) return { data, headers: res.headers };
  return data;
}

const money = (minor, cur) => {
  const exp = cur === "VND" ? 0 : 2;
  const v = minor / Math.pow(10, exp);
  return `${cur || ""} ${v.toLocaleString(undefined, { minimumFractionDigits: exp, maximumFractionDigits: exp })}`.trim();
};

// ---- filter expressions as text ----
function exprText(e) {
  if (!e) return "";
  if (e.and) return e.and.map((x) => (x.or ? `(${exprText(x)})` : exprText(x))).join(" and ");
  if (e.or) return e.or.map(exprText).join(" or ");
  if (e.not) return "not " + (e.not.and || e.not.or ? `(${exprText(e.not)})` : exprText(e.not));
  if (e.all) return "all";
  if (e.tag) return `tag = ${e.tag}`;
  if (e.attr) return e.attr.in ? `${e.attr.field} in (${e.attr.in.join(", ")})` : `${e.attr.field} = ${e.attr.value}`;
  if (e.range) {
    const r = e.range, f = r.field;
    if (r.eq !== undefined) return `${f} = ${r.eq}`;
    const parts = [];
    if (r.gte !== undefined) parts.push(`${f} >= ${r.gte}`);
    if (r.gt !== undefined) parts.push(`${f} > ${r.gt}`);
    if (r.lte !== undefined) parts.push(`${f} <= ${r.lte}`);
    if (r.lt !== undefined) parts.push(`${f} < ${r.lt}`);
    return parts.join(" and ");
  }
  return JSON.stringify(e);
}
const clauses = (f) => (!f ? [] : f.and ? f.and.slice() : [f]);
const fromClauses = (cs) => (cs.length === 0 ? undefined : cs.length === 1 ? cs[0] : { and: cs });

// ---- items table ----
function itemsTable(items, opts = {}) {
  if (!items.length) return `<p class="muted">No products.</p>`;
  const rows = items.map((it) => `
    <tr class="${it.pinned ? "pinned" : ""}${opts.changed && opts.changed.has(it.sku_id) ? " changed" : ""}" data-id="${esc(it.sku_id)}">
      <td class="num">${it.rank}</td>
      <td><div>${esc(it.title)}</div><div class="muted">${esc(it.sku_id)} · ${esc(it.market)}${it.live ? "" : ' · <span class="err">deleted</span>'}</div></td>
      <td>${esc(it.brand)}</td>
      <td class="num">${money(it.price, it.currency)}${it.discount_pct ? `<div class="added">-${it.discount_pct}%</div>` : ""}</td>
      <td class="num">${it.stock > 0 ? it.stock : '<span class="err">0</span>'}</td>
      <td class="num">${it.sales_7d}</td>
      <td>${(it.tags || []).map((t) => `<span class="tag">${esc(t)}</span>`).join("")}</td>
      <td>${it.slot ? `<span class="chip badge">slot: ${esc(it.slot)}</span> ` : ""}${(it.rules || []).map((r) => `<span class="chip badge${r.includes(" -") ? " bury" : ""}">${esc(r)}</span> `).join("")}<div class="why">${esc(it.pinned ? "pinned" : it.why || "")}</div></td>
      ${opts.actions ? `<td><button class="small ghost" data-act="pin">${it.pinned ? "Unpin" : "Pin"}</button> <button class="small ghost" data-act="exclude">Exclude</button></td>` : ""}
    </tr>`).join("");
  return `<table><thead><tr><th class="num">#</th><th>Product</th><th>Brand</th><th class="num">Price</th><th class="num">Stock</th><th class="num">Sold 7d</th><th>Tags</th><th>Why</th>${opts.actions ? "<th></th>" : ""}</tr></thead><tbody>${rows}</tbody></table>`;
}

function changedIDs(prev, next) {
  const before = new Map((prev || []).map((it) => [it.sku_id, `${it.price}|${it.stock}|${it.rank}`]));
  return new Set(next.filter((it) => before.has(it.sku_id) && before.get(it.sku_id) !== `${it.price}|${it.stock}|${it.rank}`).map((it) => it.sku_id));
}

// ---- the planning page ----
const state = { scenario: "", plan: null, understood: [], notes: [], warnings: [], items: [], result: null, types: [] };

function planPage() {
  main.innerHTML = `
    <h1>New pool</h1>
    <div class="panel">
      <label for="scenario">Describe the campaign <span class="kbd">/</span> to focus, <span class="kbd">Ctrl</span>+<span class="kbd">Enter</span> to plan</label>
      <textarea id="scenario" placeholder="gaming accessories under $50 for the 11.11 sale, in stock, no refurbished">${esc(state.scenario)}</textarea>
      <div class="row" style="margin-top:8px">
        <button id="planbtn" type="button">Plan</button>
        <label class="row" style="margin:0"><input type="checkbox" id="usellm"> ask the LLM planner</label>
        <span class="grow"></span><span id="planmsg" class="muted"></span>
      </div>
    </div>
    <div id="planbox"></div>
    <div id="previewbox"></div>`;
  const sc = $("#scenario");
  sc.focus();
  sc.addEventListener("keydown", (e) => { if ((e.ctrlKey || e.metaKey) && e.key === "Enter") doPlan(); });
  $("#planbtn").addEventListener("click", doPlan);
  if (state.plan) { renderPlan(); renderPreview(); }
}

async function doPlan() {
  state.scenario = $("#scenario").value.trim();
  if (!state.scenario) return;
  $("#planmsg").textContent = "planning…";
  try {
    const r = await api("POST", "/v1/plan", { scenario: state.scenario, planner: $("#usellm").checked ? "llm" : "deterministic" });
    Object.assign(state, { plan: r.plan, understood: r.understood || [], notes: r.notes || [], warnings: r.warnings || [] });
    if (!state.types.length) {
      try {
        const f = await api("GET", "/v1/fields");
        state.types = ((f.fields || []).find((x) => x.name === "product_type") || {}).values || [];
      } catch { /* the list only helps typing */ }
    }
    $("#planmsg").textContent = `planned by the ${r.planner} planner`;
    renderPlan();
    await preview();
  } catch (err) { $("#planmsg").innerHTML = `<span class="err">${esc(err.message)}</span>`; }
}

function renderPlan() {
  const p = state.plan;
  const cs = clauses(p.filter);
  $("#planbox").innerHTML = `
    <div class="panel">
      <h2 style="margin-top:0">Plan <span class="muted" style="font-weight:400">— edit any part, then preview again</span></h2>
      ${state.understood.length ? `<div class="chips" style="margin-bottom:10px">${state.understood.map((m) => `<span class="chip understood" title="understood">“${esc(m.text)}” → ${esc(m.meaning)}</span>`).join("")}</div>` : ""}
      ${[...state.notes, ...state.warnings].map((n) => `<div class="warn">${esc(n)}</div>`).join("")}
      <div class="grid2">
        <div>
          <label for="q">Semantic query (what the products are)</label>
          <input id="q" style="width:100%" value="${esc(p.query)}">
        </div>
        <div class="row">
          <div><label for="rank">Ranking</label>
            <select id="rank">${["relevance", "sales", "price_asc", "price_desc", "newest", "rating", "blend"].map((r) => `<option ${r === p.ranking.by ? "selected" : ""}>${r}</option>`).join("")}</select></div>
          <div><label for="limit">Pool size</label><input id="limit" type="number" min="1" max="10000" value="${p.limit}" style="width:90px"></div>
          <div class="grow"><label for="excl">Exclude words</label><input id="excl" style="width:100%" value="${esc((p.exclude_terms || []).join(", "))}"></div>
        </div>
      </div>
      <label style="margin-top:10px" for="addt">Product types (the pool holds SKUs of these, and those of other types holding every word of the query)</label>
      <div class="chips" id="types">${((p.intent && p.intent.types) || []).map((t, i) => `<span class="chip" title="${esc(t.why || "")}">${esc(t.name)}${t.kind === "accessory" ? ' <span class="muted">accessory</span>' : ""}<button type="button" data-rmt="${i}" aria-label="remove product type ${esc(t.name)}">×</button></span>`).join("") || '<span class="muted">none: the query\'s words and meaning select</span>'}</div>
      <div class="row" style="margin-top:8px">
        <input id="addt" class="grow" list="typelist" placeholder="add a product type: notebook case, toner cartridge, mouse">
        <datalist id="typelist">${state.types.map((t) => `<option value="${esc(t)}">`).join("")}</datalist>
        <button class="ghost" id="addtbtn" type="button">Add type</button>
      </div>
      <label style="margin-top:10px">Filters (all must hold)</label>
      <div class="chips" id="clauses">${cs.map((c, i) => `<span class="chip"><code>${esc(exprText(c))}</code><button type="button" data-rm="${i}" aria-label="remove filter">×</button></span>`).join("") || '<span class="muted">none: every live SKU</span>'}</div>
      <div class="row" style="margin-top:8px">
        <input id="addf" class="grow" placeholder="add a filter: brand = Logitech, price <= 5000, market in (SG, MY), tag = gaming, in_stock = true">
        <button class="ghost" id="addbtn" type="button">Add filter</button>
      </div>
      <label style="margin-top:10px">Boost and bury rules (a factor of 1 lifts a SKU by half the list at most; −1 sinks it as far)</label>
      <div class="chips" id="rules">${(p.rules || []).map((r, i) => `<span class="chip"><code>${esc(r.name ? r.name + ": " : "")}${esc(r.filter)}</code> ${r.factor > 0 ? "+" : ""}${esc(r.factor)}<button type="button" data-rmr="${i}" aria-label="remove rule ${esc(r.filter)}">×</button></span>`).join("") || '<span class="muted">none</span>'}</div>
      <div class="row" style="margin-top:8px">
        <input id="addr" class="grow" aria-label="rule filter" placeholder="boost or bury: brand = Logitech, stock < 5, tag = clearance">
        <label class="inline" for="addrf">factor</label><input id="addrf" type="number" min="-1" max="1" step="0.1" value="0.3" style="width:80px">
        <button class="ghost" id="addrbtn" type="button">Add rule</button>
      </div>
      <label style="margin-top:10px">Slots (positions reserved for SKUs of a filter; pins keep theirs first)</label>
      <div class="chips" id="slots">${(p.slots || []).map((sl, i) => `<span class="chip">positions ${esc(sl.from)}–${esc(sl.to)}: <code>${esc(sl.filter)}</code><button type="button" data-rms="${i}" aria-label="remove slot ${esc(sl.from)} to ${esc(sl.to)}">×</button></span>`).join("") || '<span class="muted">none</span>'}</div>
      <div class="row" style="margin-top:8px">
        <label class="inline" for="addsfrom">positions</label><input id="addsfrom" type="number" min="1" value="1" style="width:70px">
        <label class="inline" for="addsto">to</label><input id="addsto" type="number" min="1" value="3" style="width:70px">
        <input id="adds" class="grow" aria-label="slot filter" placeholder="for: brand = Razer">
        <button class="ghost" id="addsbtn" type="button">Add slot</button>
      </div>
      <div class="muted" style="margin-top:6px">Pinned: ${(p.pins || []).length} · Excluded: ${(p.exclusions || []).length}</div>
      <div class="row" style="margin-top:12px">
        <button id="prevbtn" type="button">Preview</button>
        <input id="poolname" placeholder="pool name" value="${esc(state.scenario.slice(0, 60))}" class="grow">
        <button id="savebtn" type="button">Save pool</button>
      </div>
    </div>`;
  const readEdits = () => {
    p.query = $("#q").value;
    p.ranking = { by: $("#rank").value, ...(($("#rank").value === "blend") ? { weights: { relevance: 1, sales: 0.5 } } : {}) };
    p.limit = Math.max(1, Math.min(10000, parseInt($("#limit").value, 10) || 100));
    const ex = $("#excl").value.split(",").map((s) => s.trim()).filter(Boolean);
    p.exclude_terms = ex.length ? ex : undefined;
  };
  $("#clauses").addEventListener("click", (e) => {
    const i = e.target.dataset.rm;
    if (i === undefined) return;
    readEdits();
    const next = clauses(p.filter);
    next.splice(Number(i), 1);
    p.filter = fromClauses(next);
    renderPlan(); preview();
  });
  $("#types").addEventListener("click", (e) => {
    const i = e.target.dataset.rmt;
    if (i === undefined) return;
    readEdits();
    p.intent.types.splice(Number(i), 1);
    if (!p.intent.types.length) p.intent = undefined;
    renderPlan(); preview();
  });
  const addType = () => {
    const name = $("#addt").value.trim().toLowerCase();
    if (!name) return;
    readEdits();
    p.intent = p.intent || { types: [], confidence: 1, named: true, widen: true };
    if (!p.intent.types.some((t) => t.name === name)) p.intent.types.push({ name, score: 1, why: "added by the planner" });
    renderPlan(); preview();
  };
  $("#addtbtn").addEventListener("click", addType);
  $("#addt").addEventListener("keydown", (e) => { if (e.key === "Enter") addType(); });
  const addFilter = async () => {
    const text = $("#addf").value.trim();
    if (!text) return;
    try {
      const r = await api("POST", "/v1/filters/parse", { text });
      readEdits();
      p.filter = fromClauses([...clauses(p.filter), r.filter]);
      renderPlan(); preview();
    } catch (err) { toast(err.message); }
  };
  // Rules and slots keep the filter's text; the parser checks it first.
  const parsed = async (text) => { await api("POST", "/v1/filters/parse", { text }); return text; };
  const addRule = async () => {
    const text = $("#addr").value.trim();
    const factor = Math.max(-1, Math.min(1, parseFloat($("#addrf").value) || 0));
    if (!text) return;
    if (!factor) { toast("a rule needs a factor between -1 and 1 other than 0"); return; }
    try {
      await parsed(text);
      readEdits();
      p.rules = [...(p.rules || []), { filter: text, factor }];
      renderPlan(); preview();
    } catch (err) { toast(err.message); }
  };
  const addSlot = async () => {
    const text = $("#adds").value.trim();
    const from = parseInt($("#addsfrom").value, 10), to = parseInt($("#addsto").value, 10);
    if (!text) return;
    if (!(from >= 1 && to >= from)) { toast("a slot needs positions from 1 up, from <= to"); return; }
    try {
      await parsed(text);
      readEdits();
      p.slots = [...(p.slots || []), { from, to, filter: text }];
      renderPlan(); preview();
    } catch (err) { toast(err.message); }
  };
  const removeFrom = (key, attr) => (e) => {
    const i = e.target.dataset[attr];
    if (i === undefined) return;
    readEdits();
    p[key].splice(Number(i), 1);
    if (!p[key].length) p[key] = undefined;
    renderPlan(); preview();
  };
  $("#rules").addEventListener("click", removeFrom("rules", "rmr"));
  $("#slots").addEventListener("click", removeFrom("slots", "rms"));
  $("#addrbtn").addEventListener("click", addRule);
  $("#addr").addEventListener("keydown", (e) => { if (e.key === "Enter") addRule(); });
  $("#addsbtn").addEventListener("click", addSlot);
  $("#adds").addEventListener("keydown", (e) => { if (e.key === "Enter") addSlot(); });
  $("#addbtn").addEventListener("click", addFilter);
  $("#addf").addEventListener("keydown", (e) => { if (e.key === "Enter") addFilter(); });
  for (const id of ["#q", "#limit", "#excl"]) $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") { readEdits(); preview(); } });
  $("#rank").addEventListener("change", () => { readEdits(); preview(); });
  $("#prevbtn").addEventListener("click", () => { readEdits(); preview(); });
  $("#savebtn").addEventListener("click", async () => {
    readEdits();
    const name = $("#poolname").value.trim() || "untitled pool";
    try {
      const pool = await api("POST", "/v1/pools", { name, scenario: state.scenario, plan: p });
      toast(`saved pool ${pool.name}`);
      location.hash = `#/pools/${pool.id}`;
    } catch (err) { toast(err.message); }
  });
}

async function preview(quiet) {
  if (!state.plan) return;
  try {
    const r = await api("POST", "/v1/search", { plan: state.plan });
    const changed = quiet ? changedIDs(state.items, r.items) : new Set();
    state.items = r.items; state.result = r;
    renderPreview(changed);
  } catch (err) { if (!quiet) $("#previewbox").innerHTML = `<div class="panel err">${esc(err.message)}</div>`; }
}

function renderPreview(changed) {
  const r = state.result;
  if (!r) return;
  const box = $("#previewbox");
  if (!box) return;
  box.innerHTML = `
    <div class="panel">
      <div class="stats"><span><b>${r.items.length}</b> products</span><span><b>${r.candidates}</b> pass the filters</span><span><b>${r.matched ?? r.candidates}</b> match</span>
        <span>method <b>${esc(r.method)}</b></span><span>confidence <b>${(r.confidence ?? 0).toFixed(2)}</b></span>
        <span>${Object.entries(r.timings_ms || {}).map(([k, v]) => `${k} ${v} ms`).join(" · ")}</span><span class="muted">follows live data</span></div>
      ${r.stop ? `<div class="muted" id="stop">Stops at ${r.items.length}: ${esc(r.stop)}</div>` : ""}
      ${(r.warnings || []).map((w) => `<div class="warn">${esc(w)}</div>`).join("")}
      <div id="items" style="margin-top:10px">${itemsTable(r.items, { actions: true, changed })}</div>
    </div>`;
  $("#items").addEventListener("click", (e) => {
    const act = e.target.dataset.act;
    if (!act) return;
    const id = e.target.closest("tr").dataset.id;
    const p = state.plan;
    if (act === "pin") {
      const pins = new Set(p.pins || []);
      pins.has(id) ? pins.delete(id) : pins.add(id);
      p.pins = [...pins];
    } else {
      p.exclusions = [...new Set([...(p.exclusions || []), id])];
      p.pins = (p.pins || []).filter((x) => x !== id);
    }
    renderPlan(); preview();
  });
}

// ---- pools ----
async function poolsPage() {
  main.innerHTML = `<h1>Pools</h1><div class="panel"><div id="pl">loading…</div>
    <div class="row" style="margin-top:8px"><button class="ghost" id="morepools" type="button" hidden>More</button></div></div>`;
  // GET /v1/pools pages summaries (the scenario's beginning, no plan); next_before is the cursor.
  let next = "";
  const rows = (pools) => pools.map((p) => `
      <tr><td><a href="#/pools/${esc(p.id)}">${esc(p.name)}</a></td><td class="muted">${esc(p.scenario)}${p.scenario_truncated ? "…" : ""}</td><td><span class="state ${esc(p.state)}">${esc(stateName(p.state))}</span></td><td class="num">${p.current_version}</td><td class="muted">${new Date(p.updated_at).toLocaleString()}</td></tr>`).join("");
  const page = async () => {
    const r = await api("GET", `/v1/pools?limit=100${next ? `&before=${encodeURIComponent(next)}` : ""}`);
    next = r.next_before || "";
    $("#morepools").hidden = !next;
    return r.pools;
  };
  try {
    const pools = await page();
    $("#pl").innerHTML = pools.length ? `<table><thead><tr><th>Pool</th><th>Scenario</th><th>State</th><th class="num">Version</th><th>Updated</th></tr></thead><tbody id="plrows">${rows(pools)}</tbody></table>`
      : `<p class="muted">No pools yet. <a href="#/">Plan one.</a></p>`;
  } catch (err) { $("#pl").innerHTML = `<span class="err">${esc(err.message)}</span>`; }
  $("#morepools").addEventListener("click", async () => {
    try { $("#plrows").insertAdjacentHTML("beforeend", rows(await page())); } catch (err) { toast(err.message); }
  });
}

// Pool states and the moves the page offers from each (the server decides who may make them).
const stateName = (s) => ({ draft: "draft", in_review: "in review", published: "published", archived: "archived" })[s] || s || "";
const stateMoves = {
  draft: [["in_review", "Submit for review"], ["published", "Publish"], ["archived", "Archive"]],
  in_review: [["published", "Approve and publish"], ["draft", "Back to draft"], ["archived", "Archive"]],
  published: [["draft", "Unpublish"], ["archived", "Archive"]],
  archived: [["draft", "Reopen as draft"]],
};

// freshText says when a refresh last checked the pool and how many catalogue events came after
// what its version reflects.
function freshText(pool) {
  if (!pool.refreshed_at) return "not refreshed yet";
  const ago = Math.max(0, Math.round((Date.now() - new Date(pool.refreshed_at).getTime()) / 1000));
  const when = ago < 90 ? `${ago} s ago` : ago < 5400 ? `${Math.round(ago / 60)} min ago` : new Date(pool.refreshed_at).toLocaleString();
  const behind = pool.events_behind > 0 ? `, ${pool.events_behind} catalogue events since` : ", up to date with the catalogue";
  return `refreshed ${when}${behind}`;
}

async function poolPage(id) {
  main.innerHTML = `<div id="ph">loading…</div>`;
  let pool, versions, poolTag;
  try {
    let got;
    [got, versions] = await Promise.all([api("GET", `/v1/pools/${id}`, undefined, { withHeaders: true }), api("GET", `/v1/pools/${id}/versions?limit=20`)]);
    pool = got.data;
    poolTag = got.headers.get("ETag") || ""; // the pool's edit revision: edits send it back as If-Match
  } catch (err) { main.innerHTML = `<div class="panel err">${esc(err.message)}</div>`; return; }
  const vs = versions.versions; // the newest 20; "older" pages the rest (GET .../versions?before=)
  let olderThan = versions.next_before || "";
  const versionText = (v) => `v${v.version} (${v.member_count}, ${new Date(v.created_at).toLocaleTimeString()})`;
  main.innerHTML = `
    <h1>${esc(pool.name)} <span class="muted" style="font-weight:400">pool ${esc(pool.id)}</span> <span class="state ${esc(pool.state)}" id="state">${esc(stateName(pool.state))}</span></h1>
    <div class="panel">
      <div class="row" id="moves" style="margin-bottom:8px">${(stateMoves[pool.state] || []).map(([to, label]) => `<button class="${to === "published" ? "" : "ghost"}" type="button" data-to="${to}">${label}</button>`).join("")}
        <input id="statenote" class="grow" aria-label="note for the history" placeholder="note for the history (optional)"></div>
      <div class="muted">${esc(pool.scenario)}</div>
      <div style="margin-top:6px"><b>query</b> ${esc(pool.plan.query) || '<span class="muted">none</span>'} · <b>ranking</b> ${esc(pool.plan.ranking.by)} · <b>size</b> ${pool.plan.limit}
        ${pool.plan.filter ? ` · <b>filters</b> <code>${esc(exprText(pool.plan.filter))}</code>` : ""}
        ${(pool.plan.rules || []).length ? ` · <b>rules</b> ${(pool.plan.rules || []).map((r) => `<code>${esc(r.filter)} ${r.factor > 0 ? "+" : ""}${esc(r.factor)}</code>`).join(" ")}` : ""}
        ${(pool.plan.slots || []).length ? ` · <b>slots</b> ${(pool.plan.slots || []).map((sl) => `<code>${esc(sl.from)}–${esc(sl.to)}: ${esc(sl.filter)}</code>`).join(" ")}` : ""}
        ${pool.plan.guard ? ` · <b>guard</b> ${pool.plan.guard.min_size ? `at least ${esc(pool.plan.guard.min_size)} SKUs` : ""}${pool.plan.guard.min_size && pool.plan.guard.max_drop_pct ? ", " : ""}${pool.plan.guard.max_drop_pct ? `drops up to ${esc(pool.plan.guard.max_drop_pct)}%` : ""}` : ""}</div>
      ${pool.pending ? `<div class="conflict" role="alert" id="pending" style="margin-top:10px">
        <b>A refresh is held for review:</b> ${esc(pool.pending.reason)}. It would hold ${esc(pool.pending.size)} SKUs; readers keep version ${esc(pool.current_version)} until you decide.
        <div class="row" style="margin-top:6px"><button class="ghost" id="pdiff" type="button">Show its changes</button>
          <button id="paccept" type="button">Publish it</button><button class="ghost" id="preject" type="button">Reject it</button></div>
        <div id="pdiffbox"></div></div>` : ""}
      <div class="row" style="margin-top:10px">
        <button id="refresh" type="button">Refresh now</button>
        <button class="ghost" id="csv" type="button">Export CSV</button>
        <button class="ghost" id="jsonl" type="button">Export JSONL</button>
        <button class="ghost" id="editbtn" type="button">Edit</button>
        <span class="grow"></span>
        <label for="from" style="margin:0">Diff</label>
        <select id="from" aria-label="diff from version">${vs.map((v) => `<option value="${v.version}" ${v.version === Math.max(1, pool.current_version - 1) ? "selected" : ""}>v${v.version}</option>`).join("")}</select>
        <span aria-hidden="true">→</span>
        <select id="to" aria-label="diff to version">${vs.map((v) => `<option value="${v.version}" ${v.version === pool.current_version ? "selected" : ""}>v${v.version}</option>`).join("")}</select>
        <button class="ghost" id="diffbtn" type="button">Show diff</button>
      </div>
      <div id="diff"></div>
      <div id="editbox" hidden style="margin-top:12px">
        <div class="row">
          <div class="grow"><label for="ename">Name</label><input id="ename" style="width:100%" value="${esc(pool.name)}"></div>
          <div class="grow"><label for="equery">Semantic query</label><input id="equery" style="width:100%" value="${esc(pool.plan.query)}"></div>
          <div><label for="erank">Ranking</label>
            <select id="erank">${["relevance", "sales", "price_asc", "price_desc", "newest", "rating", "blend"].map((r) => `<option ${r === pool.plan.ranking.by ? "selected" : ""}>${r}</option>`).join("")}</select></div>
          <div><label for="elimit">Pool size</label><input id="elimit" type="number" min="1" max="10000" value="${pool.plan.limit}" style="width:90px"></div>
          <div><label for="eminsize">Hold refreshes below (SKUs)</label><input id="eminsize" type="number" min="0" value="${(pool.plan.guard || {}).min_size || 0}" style="width:90px"></div>
          <div><label for="emaxdrop">… or dropping over (%)</label><input id="emaxdrop" type="number" min="0" max="100" value="${(pool.plan.guard || {}).max_drop_pct || 0}" style="width:90px"></div>
        </div>
        <div class="grid2" style="margin-top:8px">
          <div><label for="erules">Boost and bury rules, one per line: <code>filter : factor</code> (−1..1)</label>
            <textarea id="erules" rows="3" style="width:100%" placeholder="brand = Logitech : 0.3">${esc((pool.plan.rules || []).map((r) => `${r.filter} : ${r.factor}`).join("\n"))}</textarea></div>
          <div><label for="eslots">Slots, one per line: <code>from-to : filter</code></label>
            <textarea id="eslots" rows="3" style="width:100%" placeholder="1-3 : brand = Razer">${esc((pool.plan.slots || []).map((sl) => `${sl.from}-${sl.to} : ${sl.filter}`).join("\n"))}</textarea></div>
        </div>
        <div class="row" style="margin-top:8px">
          <button id="esave" type="button">Save changes</button>
          <button class="ghost" id="ecancel" type="button">Cancel</button>
          <span class="muted">revision ${pool.revision}; saved edits apply at the next refresh</span>
        </div>
        <div id="editmsg" style="margin-top:8px"></div>
      </div>
    </div>
    <div class="panel">
      <div class="stats"><span>version <b id="ver">${pool.current_version}</b></span><span><b id="total">…</b> products</span>
        <span>versions: <span id="vlist">${vs.map(versionText).join(", ")}</span>
          <button class="ghost" id="older" type="button" ${olderThan ? "" : "hidden"}>older versions</button></span><span class="muted" id="fresh">${freshText(pool)}</span></div>
      <div id="pitems" style="margin-top:10px">loading…</div>
      <div class="row" style="margin-top:8px"><button class="ghost" id="more" type="button" hidden>More</button></div>
    </div>
    <div class="panel" id="analytics">
      <h2 style="margin-top:0">Analytics <span class="muted" style="font-weight:400">— version ${pool.current_version}, by today's data</span></h2>
      <div id="astats" class="tiles">loading…</div>
      <div id="amix" class="mixgrid"></div>
      <h3>Size and GMV (24 h) through the versions</h3>
      <div id="atrend"></div>
    </div>
    <div class="panel">
      <h2 style="margin-top:0">History</h2>
      <div class="row" style="margin-bottom:8px">
        <label for="rbver" style="margin:0">Roll back to</label>
        <select id="rbver">${vs.filter((v) => v.version !== pool.current_version).map((v) => `<option value="${v.version}">v${v.version}</option>`).join("")}</select>
        <button class="ghost" id="rbbtn" type="button" ${vs.length > 1 ? "" : "disabled"}>Roll back (as a new version)</button>
      </div>
      <ol id="audit" class="audit"><li class="muted">loading…</li></ol>
    </div>`;
  $("#older").onclick = async () => {
    try {
      const page = await api("GET", `/v1/pools/${id}/versions?limit=20&before=${olderThan}`);
      olderThan = page.next_before || "";
      $("#older").hidden = !olderThan;
      $("#vlist").textContent += ", " + page.versions.map(versionText).join(", ");
      for (const sel of [$("#from"), $("#to")]) {
        for (const v of page.versions) sel.add(new Option(`v${v.version}`, String(v.version)));
      }
    } catch (err) { $("#diff").innerHTML = `<div class="err">${esc(err.message)}</div>`; }
  };
  let etag = "", items = [], cursor = "";
  const load = async (quiet) => {
    try {
      const r = await api("GET", `/v1/pools/${id}/items?limit=50`, undefined, { headers: etag ? { "If-None-Match": etag } : {}, withHeaders: true });
      if (r.notModified) return;
      etag = r.headers.get("ETag") || "";
      const changed = quiet ? changedIDs(items, r.data.items) : new Set();
      items = r.data.items; cursor = r.data.next_cursor || "";
      $("#ver").textContent = r.data.version; $("#total").textContent = r.data.total;
      $("#pitems").innerHTML = itemsTable(items, { changed });
      $("#more").hidden = !cursor;
    } catch (err) { if (!quiet) $("#pitems").innerHTML = `<span class="err">${esc(err.message)}</span>`; }
  };
  await load(false);
  $("#more").addEventListener("click", async () => {
    const r = await api("GET", `/v1/pools/${id}/items?limit=50&cursor=${encodeURIComponent(cursor)}`);
    items = items.concat(r.items); cursor = r.next_cursor || "";
    $("#pitems").innerHTML = itemsTable(items, {});
    $("#more").hidden = !cursor;
  });
  $("#refresh").addEventListener("click", async () => {
    try {
      const out = await api("POST", `/v1/pools/${id}/refresh`);
      toast(out.changed ? `new version ${out.version}` : out.held ? out.reason : `unchanged: ${out.reason || "same ranking"}`);
      if (out.changed || out.held) {
        await poolPage(id);
        if (out.diff && out.diff.removed.length) {
          // Why each SKU left, as the refresh saw it.
          $("#diff").innerHTML = `<div class="removed" style="margin-top:10px">v${out.diff.from} → v${out.diff.to} removed ${out.diff.removed.length}: ${out.diff.removed.slice(0, 30).map((m) => `${esc(m.sku_id)} (${esc(m.reason || "")})`).join(", ")}</div>`;
        }
      }
    } catch (err) { toast(err.message); }
  });
  const exportAs = async (format) => {
    const res = await fetch(`/v1/pools/${id}/export?format=${format}`, { headers: { "X-API-Key": apiKey() } });
    if (!res.ok) { toast(`export failed: HTTP ${res.status}`); return; }
    const url = URL.createObjectURL(await res.blob());
    const a = Object.assign(document.createElement("a"), { href: url, download: `pool-${id}.${format}` });
    document.body.append(a); a.click(); a.remove(); URL.revokeObjectURL(url);
  };
  $("#editbtn").addEventListener("click", () => { $("#editbox").hidden = false; $("#ename").focus(); });
  $("#ecancel").addEventListener("click", () => { $("#editbox").hidden = true; $("#editmsg").innerHTML = ""; });
  $("#esave").addEventListener("click", async () => {
    const by = $("#erank").value;
    const plan = { ...pool.plan, query: $("#equery").value.trim(),
      ranking: by === pool.plan.ranking.by ? pool.plan.ranking : { by, ...(by === "blend" ? { weights: { relevance: 1, sales: 0.5 } } : {}) },
      limit: Math.max(1, Math.min(10000, parseInt($("#elimit").value, 10) || pool.plan.limit)) };
    const minSize = Math.max(0, parseInt($("#eminsize").value, 10) || 0), maxDrop = Math.max(0, Math.min(100, parseInt($("#emaxdrop").value, 10) || 0));
    plan.guard = minSize || maxDrop ? { ...(minSize ? { min_size: minSize } : {}), ...(maxDrop ? { max_drop_pct: maxDrop } : {}) } : undefined;
    // "filter : factor" and "from-to : filter" lines; names of rules and slots the lines keep
    // the filter of stay (the server checks the rest and says what is wrong).
    const lines = (id) => $(id).value.split("\n").map((l) => l.trim()).filter(Boolean);
    const named = new Map((pool.plan.rules || []).map((r) => [r.filter, r.name]));
    const rules = lines("#erules").map((l) => {
      const i = l.lastIndexOf(":");
      const filter = (i < 0 ? l : l.slice(0, i)).trim(), factor = i < 0 ? NaN : Number(l.slice(i + 1));
      return { ...(named.get(filter) ? { name: named.get(filter) } : {}), filter, factor: Number.isFinite(factor) ? factor : 0 };
    });
    const slots = lines("#eslots").map((l) => {
      const m = l.match(/^(\d+)\s*(?:-\s*(\d+))?\s*:\s*(.+)$/);
      return m ? { from: Number(m[1]), to: Number(m[2] || m[1]), filter: m[3].trim() } : { from: 0, to: 0, filter: l };
    });
    plan.rules = rules.length ? rules : undefined;
    plan.slots = slots.length ? slots : undefined;
    const body = { name: $("#ename").value.trim() || pool.name, scenario: pool.scenario, plan,
      valid_from: pool.valid_from, valid_until: pool.valid_until };
    try {
      // If-Match: the save applies only to the revision this page loaded (412 when someone
      // else's edit came first, instead of overwriting it).
      const r = await api("PUT", `/v1/pools/${id}`, body, { headers: { "If-Match": poolTag }, withHeaders: true });
      poolTag = r.headers.get("ETag") || poolTag;
      toast(`saved revision ${r.data.revision}; refresh to apply it now`);
      route();
    } catch (err) {
      if (err.status !== 412 && err.status !== 428) { $("#editmsg").innerHTML = `<span class="err">${esc(err.message)}</span>`; return; }
      $("#editmsg").innerHTML = `<div class="conflict" role="alert">
        <b>Not saved: this pool was changed by someone else since you opened it.</b>
        Reload to see their changes, then make yours again (what you typed is still above: copy it first).
        <div class="row" style="margin-top:6px"><button id="ereload" type="button">Reload the pool</button></div></div>`;
      $("#ereload").addEventListener("click", route);
    }
  });
  if (pool.pending) {
    $("#pdiff").addEventListener("click", async () => {
      try {
        const p = await api("GET", `/v1/pools/${id}/pending`);
        const list = (xs, f) => xs.slice(0, 30).map(f).join(", ") + (xs.length > 30 ? ` … and ${xs.length - 30} more` : "");
        $("#pdiffbox").innerHTML = `<div style="margin-top:8px">
          <div class="added">would add ${p.diff.added.length}: ${list(p.diff.added, (m) => `${m.sku_id} (#${m.to_rank})`)}</div>
          <div class="removed">would remove ${p.diff.removed.length}: ${list(p.diff.removed, (m) => `${m.sku_id} (was #${m.from_rank}${m.reason ? `: ${m.reason}` : ""})`)}</div>
          <div class="muted">moved ${p.diff.moved.length}, unchanged ${p.diff.unchanged}</div></div>`;
      } catch (err) { toast(err.message); }
    });
    $("#paccept").addEventListener("click", async () => {
      try { const out = await api("POST", `/v1/pools/${id}/pending/accept`); toast(`published version ${out.version}`); } catch (err) { toast(err.message); }
      poolPage(id);
    });
    $("#preject").addEventListener("click", async () => {
      try { await api("POST", `/v1/pools/${id}/pending/reject`); toast("rejected: the published version stands"); } catch (err) { toast(err.message); }
      poolPage(id);
    });
  }
  $("#moves").addEventListener("click", async (e) => {
    const to = e.target.dataset.to;
    if (!to) return;
    try {
      await api("POST", `/v1/pools/${id}/state`, { state: to, note: $("#statenote").value.trim() || undefined });
      toast(`now ${stateName(to)}`);
      poolPage(id);
    } catch (err) { toast(err.message); }
  });
  $("#rbbtn").addEventListener("click", async () => {
    try {
      const out = await api("POST", `/v1/pools/${id}/rollback`, { version: parseInt($("#rbver").value, 10) });
      toast(`rolled back: version ${out.version}`);
      poolPage(id);
    } catch (err) { toast(err.message); }
  });
  loadAnalytics(id, pool, vs);
  api("GET", `/v1/pools/${id}/audit?limit=50`).then((a) => {
    $("#audit").innerHTML = a.entries.map((e) => `<li><span class="muted">${esc(new Date(e.at).toLocaleString())}</span> <b>${esc(e.actor)}</b> ${esc(e.action)}${e.detail ? `: ${esc(e.detail)}` : ""}</li>`).join("") || '<li class="muted">nothing yet</li>';
  }).catch((err) => { $("#audit").innerHTML = `<li class="err">${esc(err.message)}</li>`; });
  $("#csv").addEventListener("click", () => exportAs("csv"));
  $("#jsonl").addEventListener("click", () => exportAs("jsonl"));
  $("#diffbtn").addEventListener("click", async () => {
    try {
      const d = await api("GET", `/v1/pools/${id}/diff?from=${$("#from").value}&to=${$("#to").value}`);
      const list = (xs, f) => xs.slice(0, 30).map(f).join(", ") + (xs.length > 30 ? ` … and ${xs.length - 30} more` : "");
      $("#diff").innerHTML = `<div style="margin-top:10px">
        <div class="added">added ${d.added.length}: ${list(d.added, (m) => `${m.sku_id} (#${m.to_rank})`)}</div>
        <div class="removed">removed ${d.removed.length}: ${list(d.removed, (m) => `${m.sku_id} (was #${m.from_rank})`)}</div>
        <div>moved ${d.moved.length}: ${list(d.moved, (m) => `${m.sku_id} #${m.from_rank}→#${m.to_rank}`)}</div>
        <div class="muted">unchanged ${d.unchanged}</div></div>`;
    } catch (err) { toast(err.message); }
  });
  timers.push(setInterval(() => load(true), 4000));
}

// ---- analytics: inline SVG charts (no script or style inside them: the page's CSP holds) ----
const num = (n) => Number(n || 0).toLocaleString();
const svgEsc = esc;

// bars draws a horizontal bar chart of entries (label, value, note) as an SVG image.
function bars(title, entries) {
  const w = 380, row = 18, lw = 120, max = Math.max(1, ...entries.map((e) => e.value));
  const h = row * entries.length + 4;
  const rows = entries.map((e, i) => {
    const bw = Math.max(1, Math.round((w - lw - 130) * e.value / max));
    return `<text x="0" y="${i * row + 13}" font-size="11" fill="#334155">${svgEsc(e.label.length > 18 ? e.label.slice(0, 17) + "…" : e.label)}</text>
      <rect x="${lw}" y="${i * row + 3}" width="${bw}" height="${row - 6}" fill="#3b82f6"></rect>
      <text x="${lw + bw + 4}" y="${i * row + 13}" font-size="11" fill="#334155">${svgEsc(e.note)}</text>`;
  }).join("");
  const desc = entries.map((e) => `${e.label}: ${e.note}`).join("; ");
  return `<figure class="chart"><figcaption>${svgEsc(title)}</figcaption>
    <svg role="img" aria-label="${svgEsc(title + ": " + desc)}" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">${rows}</svg></figure>`;
}

// trend draws the versions' size and 24 h GMV as two lines over the version numbers.
function trend(versions, cur) {
  const pts = versions.filter((v) => v.member_count !== undefined).slice().reverse();
  if (pts.length < 2) return '<p class="muted">One version so far: the chart needs two.</p>';
  const w = 640, h = 160, pad = 30;
  const x = (i) => pad + (w - 2 * pad) * i / (pts.length - 1);
  const line = (vals, color) => {
    const max = Math.max(1, ...vals);
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${vals.map((v, i) => `${x(i).toFixed(1)},${(h - pad - (h - 2 * pad) * v / max).toFixed(1)}`).join(" ")}"></polyline>`;
  };
  const sizes = pts.map((v) => v.member_count), gmv = pts.map((v) => v.gmv_24h || 0);
  const labels = pts.map((v, i) => (pts.length <= 12 || i % Math.ceil(pts.length / 12) === 0) ? `<text x="${x(i).toFixed(1)}" y="${h - 8}" font-size="10" text-anchor="middle" fill="#64748b">v${v.version}</text>` : "").join("");
  const desc = pts.map((v) => `v${v.version}: ${v.member_count} SKUs, GMV ${v.gmv_24h === undefined ? "not recorded" : money(v.gmv_24h, cur)}`).join("; ");
  return `<svg role="img" aria-label="${svgEsc("size and 24-hour GMV by version: " + desc)}" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">
      <line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#cbd5e1"></line>
      ${line(sizes, "#3b82f6")}${line(gmv, "#16a34a")}${labels}
      <text x="${pad}" y="14" font-size="11" fill="#3b82f6">size (max ${num(Math.max(...sizes))})</text>
      <text x="${pad + 160}" y="14" font-size="11" fill="#16a34a">GMV 24 h (max ${svgEsc(money(Math.max(...gmv), cur))})</text></svg>`;
}

async function loadAnalytics(id, pool, versions) {
  try {
    const a = await api("GET", `/v1/pools/${id}/analytics`);
    const cur = (pool.plan.currency || "USD");
    const tile = (label, value) => `<div class="tile"><div class="muted">${esc(label)}</div><b>${esc(value)}</b></div>`;
    $("#astats").innerHTML = [
      tile("SKUs", `${num(a.size)}${a.deleted ? ` (${a.deleted} deleted)` : ""}`),
      tile("GMV 1 h / 24 h / 7 d", `${money(a.gmv["1h"], cur)} / ${money(a.gmv["24h"], cur)} / ${money(a.gmv["7d"], cur)}`),
      tile("units 1 h / 24 h / 7 d", `${num(a.units["1h"])} / ${num(a.units["24h"])} / ${num(a.units["7d"])}`),
      tile("views → sales (7 d)", `${(100 * a.conversion_7d).toFixed(2)}%`),
      tile("in stock", `${(100 * a.stock_coverage).toFixed(0)}% (${num(a.stock_units)} units)`),
    ].join("");
    const mix = (dim, title) => bars(title, (a.mix[dim] || []).map((e) => ({ label: e.value, value: e.skus, note: `${e.skus} · ${money(e.gmv_7d, cur)}` })));
    $("#amix").innerHTML = mix("product_type", "By product type (SKUs · GMV 7 d)") + mix("brand", "By brand") + mix("market", "By market") + mix("price_band", "By price band (" + cur + ")");
    $("#atrend").innerHTML = trend(versions, cur);
  } catch (err) { $("#astats").innerHTML = `<span class="err">${esc(err.message)}</span>`; }
}

// ---- campaign calendar ----
// timeline draws one market's slots as rows and their schedules as bars over [from, to).
function timeline(market, slots, from, to) {
  const w = 900, lw = 150, row = 26, h = row * slots.length + 24, span = to - from;
  const x = (t) => lw + (w - lw - 10) * Math.min(1, Math.max(0, (t - from) / span));
  const nowX = x(Date.now());
  const days = [];
  for (let d = new Date(from); d < to; d = new Date(d.getTime() + 7 * 864e5)) days.push(d);
  const rows = slots.map((sl, i) => `<text x="0" y="${i * row + 17}" font-size="12" fill="#1c2430">${esc(sl.name)}</text>` +
    sl.schedules.map((sc) => {
      const x0 = x(new Date(sc.starts_at)), x1 = Math.max(x0 + 2, x(new Date(sc.ends_at)));
      const fill = sc.pool_state === "published" ? "#16a34a" : "#f59e0b";
      return `<rect x="${x0.toFixed(1)}" y="${i * row + 4}" width="${(x1 - x0).toFixed(1)}" height="${row - 8}" rx="3" fill="${fill}"></rect>
        <text x="${(x0 + 4).toFixed(1)}" y="${i * row + 17}" font-size="11" fill="#fff">${esc(sc.pool_name.slice(0, Math.max(0, Math.floor((x1 - x0) / 7))))}</text>`;
    }).join("")).join("");
  const ticks = days.map((d) => `<text x="${x(d).toFixed(1)}" y="${h - 4}" font-size="10" fill="#64748b">${esc(d.toLocaleDateString(undefined, { month: "short", day: "numeric" }))}</text>`).join("");
  const desc = slots.map((sl) => `${sl.name}: ` + (sl.schedules.map((sc) => `${sc.pool_name} from ${new Date(sc.starts_at).toLocaleString()} to ${new Date(sc.ends_at).toLocaleString()}`).join(", ") || "nothing scheduled")).join("; ");
  return `<figure class="chart"><figcaption>${esc(market || "no market")}</figcaption>
    <svg role="img" aria-label="${esc(`calendar of ${market || "no market"}: ${desc}`)}" viewBox="0 0 ${w} ${h}" width="100%" height="${h}">
    ${rows}${ticks}<line x1="${nowX.toFixed(1)}" y1="0" x2="${nowX.toFixed(1)}" y2="${h - 14}" stroke="#dc2626" stroke-dasharray="3 3"></line></svg></figure>`;
}

async function calendarPage() {
  main.innerHTML = `<h1>Campaign calendar</h1>
    <div class="panel"><div id="cal">loading…</div>
      <p class="muted">Green: a published pool (live in its window); amber: not published (the slot's base pool answers instead). REST clients read <code>GET /v1/slots/{slot}/items</code>.</p></div>
    <div class="panel"><h2 style="margin-top:0">Schedules</h2><ul id="sched" class="audit"></ul></div>
    <div class="panel grid2">
      <form id="slotform"><h2 style="margin-top:0">Slot</h2>
        <label for="sname">Name</label><input id="sname" required pattern="[a-z0-9][a-z0-9._\-]{0,99}" placeholder="home-hero-sg">
        <label for="smarket">Market</label><input id="smarket" placeholder="SG">
        <label for="sbase">Base pool (the fallback)</label><select id="sbase"></select>
        <div class="row" style="margin-top:8px"><button type="submit">Save slot</button></div></form>
      <form id="schedform"><h2 style="margin-top:0">Schedule a pool</h2>
        <label for="sslot">Slot</label><select id="sslot"></select>
        <label for="spool">Pool</label><select id="spool"></select>
        <label for="sfrom">From</label><input id="sfrom" type="datetime-local" required>
        <label for="sto">Until</label><input id="sto" type="datetime-local" required>
        <div class="row" style="margin-top:8px"><button type="submit">Add schedule</button></div></form>
    </div>`;
  const from = new Date(Date.now() - 864e5), to = new Date(Date.now() + 30 * 864e5);
  let pools = [];
  const load = async () => {
    try {
      const [cal, pl] = await Promise.all([api("GET", `/v1/slots?from=${from.toISOString()}&to=${to.toISOString()}`), api("GET", "/v1/pools?limit=500")]);
      pools = pl.pools;
      const byMarket = {};
      cal.slots.forEach((sl) => { (byMarket[sl.market] = byMarket[sl.market] || []).push(sl); });
      $("#cal").innerHTML = Object.keys(byMarket).sort().map((m) => timeline(m, byMarket[m], from, to)).join("") || '<p class="muted">No slots yet: add one below.</p>';
      const all = cal.slots.flatMap((sl) => sl.schedules);
      $("#sched").innerHTML = all.map((sc) => `<li><b>${esc(sc.slot)}</b>: ${esc(sc.pool_name)} <span class="state ${esc(sc.pool_state)}">${esc(stateName(sc.pool_state))}</span>
        ${esc(new Date(sc.starts_at).toLocaleString())} → ${esc(new Date(sc.ends_at).toLocaleString())}
        <button class="small ghost" type="button" data-slot="${esc(sc.slot)}" data-sched="${esc(sc.id)}" aria-label="remove the schedule of ${esc(sc.pool_name)} in ${esc(sc.slot)}">Remove</button></li>`).join("") || '<li class="muted">none in the next 30 days</li>';
      const poolOpts = pools.map((p) => `<option value="${esc(p.id)}">${esc(p.name)} (${esc(stateName(p.state))})</option>`).join("");
      $("#sbase").innerHTML = `<option value="">none</option>` + poolOpts;
      $("#spool").innerHTML = poolOpts;
      $("#sslot").innerHTML = cal.slots.map((sl) => `<option>${esc(sl.name)}</option>`).join("");
    } catch (err) { $("#cal").innerHTML = `<span class="err">${esc(err.message)}</span>`; }
  };
  await load();
  $("#sched").addEventListener("click", async (e) => {
    const id = e.target.dataset.sched;
    if (!id) return;
    try { await api("DELETE", `/v1/slots/${encodeURIComponent(e.target.dataset.slot)}/schedules/${id}`); toast("schedule removed"); load(); } catch (err) { toast(err.message); }
  });
  $("#slotform").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PUT", `/v1/slots/${encodeURIComponent($("#sname").value.trim())}`, { market: $("#smarket").value.trim(), base_pool: $("#sbase").value || undefined });
      toast("slot saved"); load();
    } catch (err) { toast(err.message); }
  });
  $("#schedform").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `/v1/slots/${encodeURIComponent($("#sslot").value)}/schedules`, { pool_id: $("#spool").value,
        starts_at: new Date($("#sfrom").value).toISOString(), ends_at: new Date($("#sto").value).toISOString() });
      toast("scheduled"); load();
    } catch (err) { toast(err.message); }
  });
}

// ---- tags ----
async function tagsPage() {
  main.innerHTML = `<h1>Tags</h1>
    <div class="panel"><h2 style="margin-top:0">Define a prototype tag</h2>
      <p class="muted">Members are the products near the description in the embedding space; the similarity threshold is calibrated against the catalogue.</p>
      <div class="row"><input id="tname" placeholder="name, e.g. ergonomic-office"><input id="tdesc" class="grow" placeholder="description, e.g. ergonomic office chairs and keyboards"><button id="tdef" type="button">Define</button></div>
      <div id="tmsg" class="muted"></div></div>
    <div class="panel" id="tl">loading…</div>`;
  const load = async () => {
    try {
      const r = await api("GET", "/v1/tags");
      const max = Math.max(1, ...r.tags.map((t) => t.members));
      $("#tl").innerHTML = r.tags.length ? `<table><thead><tr><th>Tag</th><th>Kind</th><th class="num">Members</th><th></th></tr></thead><tbody>${r.tags.sort((a, b) => b.members - a.members).map((t) => `
        <tr><td>${esc(t.name)}</td><td class="muted">${esc(t.kind)}</td><td class="num">${t.members}</td><td style="width:40%"><div style="background:var(--accent);height:8px;border-radius:4px;width:${(100 * t.members / max).toFixed(1)}%"></div></td></tr>`).join("")}</tbody></table>`
        : `<p class="muted">No tags yet.</p>`;
    } catch (err) { $("#tl").innerHTML = `<span class="err">${esc(err.message)}</span>`; }
  };
  $("#tdef").addEventListener("click", async () => {
    const name = $("#tname").value.trim(), description = $("#tdesc").value.trim();
    if (!name || !description) { toast("a tag needs a name and a description"); return; }
    $("#tmsg").textContent = "building…";
    try {
      const r = await api("POST", "/v1/tags", { name, kind: "prototype", descriptions: [description] });
      $("#tmsg").textContent = `defined ${name}: ${r.members ?? "?"} members`;
      load();
    } catch (err) { $("#tmsg").innerHTML = `<span class="err">${esc(err.message)}</span>`; }
  });
  await load();
}

// ---- live status ----
async function liveStatus() {
  try {
    const r = await fetch("/readyz");
    const el = $("#live");
    el.classList.toggle("on", r.ok);
    el.textContent = r.ok ? "live" : "not ready";
  } catch { /* offline */ }
}

// ---- router ----
function route() {
  timers.forEach(clearInterval); timers = [];
  const h = location.hash || "#/";
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active",
    (a.dataset.nav === "plan" && (h === "#/" || h === "")) || (a.dataset.nav !== "plan" && h.startsWith("#/" + a.dataset.nav))));
  if (!apiKey()) askKey();
  let m;
  if ((m = h.match(/^#\/pools\/(\d+)/))) poolPage(m[1]);
  else if (h.startsWith("#/pools")) poolsPage();
  else if (h.startsWith("#/tags")) tagsPage();
  else if (h.startsWith("#/calendar")) calendarPage();
  else { planPage(); timers.push(setInterval(() => { if (state.plan && document.visibilityState === "visible") preview(true); }, 5000)); }
}
window.addEventListener("hashchange", (e) => { takeKeyFromFragment(new URL(e.newURL).hash); route(); });
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
    const sc = $("#scenario");
    if (sc) { e.preventDefault(); sc.focus(); }
  }
});
liveStatus(); setInterval(liveStatus, 10000);
route();
