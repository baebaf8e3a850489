/**
 * The web app and study page (plain HTML and a small script each; no framework: a few forms,
 * lists and images do not earn one) and the API reference page rendered from the OpenAPI
 * document. Every call goes through the `/v1` API with the API key the person pastes (kept in
 * localStorage), so the pages get no access the API does not give.
 */

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:1em 2em;color:#222;max-width:1200px}
h1{font-size:20px} h2{font-size:16px;margin-top:1.5em} label{margin-right:1em}
select,input,button{font:inherit;margin:2px} button{cursor:pointer}
.bar{background:#4a7fd4;height:10px;display:inline-block;vertical-align:middle}
.hist{display:flex;flex-wrap:wrap;gap:8px}.hist div{width:120px;font-size:12px}
.hist img,.cands img{width:96px;height:96px;image-rendering:pixelated;border:1px solid #ccc}
.cands{display:flex;gap:12px;flex-wrap:wrap}.cand{font-size:12px;padding:4px;border:2px solid transparent}
.chosen{border-color:#1a9b3c;background:#eefbe9}.cols{display:flex;gap:2em;flex-wrap:wrap}
progress{width:240px}.err{color:#b00020} .kw span{background:#eee;border-radius:3px;padding:1px 4px;margin:2px;display:inline-block}
`;

const COMMON_SCRIPT = `
class PageError extends Error {}
const AUTH = document.body.dataset.auth === 'true';
const $ = (s) => document.querySelector(s);
function key() { return localStorage.getItem('ragarKey') || ''; }
async function api(path, init = {}) {
  const headers = Object.assign({}, init.headers || {});
  if (AUTH) headers.authorization = 'Bearer ' + key();
  const r = await fetch(path, Object.assign({}, init, { headers }));
  if (!r.ok) { let d = r.status + ''; try { d = (await r.json()).detail; } catch {} throw new PageError(d); }
  return r;
}
const json = async (path, init) => (await api(path, init)).json();
async function img(path) { const b = await (await api(path)).blob(); const el = document.createElement('img'); el.src = URL.createObjectURL(b); return el; }
function showError(e) { const el = $('#error'); el.textContent = e ? String(e.message || e) : ''; }
async function follow(id, onUpdate) {
  const headers = AUTH ? { authorization: 'Bearer ' + key() } : {};
  const r = await fetch('/v1/generations/' + id + '/events', { headers });
  if (!r.ok) throw new PageError('events: ' + r.status);
  const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = ''; let last = null;
  for (;;) {
    const { value, done } = await reader.read(); if (done) break;
    buf += dec.decode(value, { stream: true });
    let i; while ((i = buf.indexOf('\\n\\n')) >= 0) {
      const block = buf.slice(0, i); buf = buf.slice(i + 2);
      const data = block.split('\\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
      const ev = (block.split('\\n').find((l) => l.startsWith('event:')) || '').slice(6).trim();
      if (ev === 'ping' || !data) continue;
      last = JSON.parse(data); onUpdate(last);
    }
  }
  return last;
}
async function generate(body, progressEl) {
  const acc = await json('/v1/generations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const job = await follow(acc.id, (j) => { if (progressEl) { progressEl.max = j.progress.total || 1; progressEl.value = j.status === 'succeeded' ? progressEl.max : (j.progress.done || 0); progressEl.title = j.status; progressEl.dataset.status = j.status; } });
  if (!job || job.status !== 'succeeded') throw new PageError('generation ' + acc.id + ' ' + (job ? job.status + (job.error ? ': ' + job.error : '') : 'lost'));
  return job;
}
async function historyView(el, ds, user, ref, weighting) {
  const h = await json('/v1/users/' + encodeURIComponent(user) + '/history?dataset=' + encodeURIComponent(ds) + '&reference=' + encodeURIComponent(ref) + '&weighting=' + (weighting || 'retrieval'));
  el.innerHTML = '';
  const max = Math.max(...h.history.map((x) => x.weight), 1e-9);
  const items = [...h.history].sort((a, b) => b.weight - a.weight);
  const grid = document.createElement('div'); grid.className = 'hist';
  for (const x of items) {
    const d = document.createElement('div'); d.className = 'hitem';
    d.append(await img('/v1/datasets/' + encodeURIComponent(ds) + '/image?item=' + encodeURIComponent(x.item)));
    const cap = document.createElement('div'); cap.innerHTML = '<span class="bar" style="width:' + Math.round(100 * x.weight / max) + 'px"></span> ' + x.weight.toFixed(3);
    cap.title = x.title + ' (' + (x.style || '') + ')'; d.append(cap); grid.append(d);
  }
  const kw = document.createElement('p'); kw.className = 'kw'; kw.innerHTML = 'keywords: ' + h.keywords.map((k) => '<span>' + k.keyword.replace(/[<&]/g, '') + '</span>').join('');
  el.append(grid, kw);
}
`;

function page(title: string, auth: boolean, body: string, script: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><meta name="viewport" content="width=device-width"><style>${STYLE}</style></head>
<body data-auth="${auth}"><h1>${esc(title)}</h1>
${auth ? `<p><label>API key <input id="key" type="password" size="40"></label><button id="saveKey">use key</button></p>` : ''}
<p id="error" class="err" role="alert"></p>
${body}
<script type="module">${COMMON_SCRIPT}
if (AUTH) { $('#key').value = key(); $('#saveKey').onclick = () => { localStorage.setItem('ragarKey', $('#key').value.trim()); location.reload(); }; }
${script}</script></body></html>`;
}

/** The web app: pick dataset, user and reference; the weighted history; generate with live progress; comparisons. */
export function appPage(o: { auth: boolean; engines: string[]; dataset: string }): string {
  const body = `
<p><label>dataset <select id="dataset"></select></label>
<label>user <select id="user"></select></label>
<label>reference <input id="refFilter" placeholder="filter" size="10"> <select id="reference"></select></label></p>
<p><label>weighting <select id="weighting"><option>retrieval</option><option>uniform</option><option>none</option></select></label>
<label>engine <select id="engine">${o.engines.map((e) => `<option>${esc(e)}</option>`).join('')}</select></label>
<label>candidates <input id="candidates" type="number" min="1" max="16" value="4" size="3"></label>
<button id="generate">generate</button> <progress id="progress" value="0" max="1"></progress> <span id="status"></span></p>
<p><button id="cmpWeighting">compare: equal pooling vs retrieval</button> <button id="cmpRank">compare: λ = 0 vs λ &gt; 0</button> <a href="/study">study mode</a> · <a href="/docs">API reference</a></p>
<h2>Reference and the user's history (retrieval weights)</h2><div id="refImg"></div><div id="history"></div>
<h2>Candidates (ranker and semantic scores; the chosen one marked)</h2><div id="result"></div>
<h2>Side by side</h2><div id="compare" class="cols"></div>`;
  const script = `
const DEFAULT_DATASET = ${JSON.stringify(o.dataset)};
async function loadDatasets() {
  const { datasets } = await json('/v1/datasets');
  $('#dataset').innerHTML = datasets.map((d) => '<option>' + d.name + '</option>').join('');
  if (datasets.some((d) => d.name === DEFAULT_DATASET)) $('#dataset').value = DEFAULT_DATASET;
  await loadDataset();
}
let items = [];
async function loadDataset() {
  const ds = $('#dataset').value;
  const { users } = await json('/v1/datasets/' + encodeURIComponent(ds) + '/users?limit=500');
  $('#user').innerHTML = users.map((u) => '<option>' + u.id + '</option>').join('');
  items = (await json('/v1/datasets/' + encodeURIComponent(ds) + '/items?limit=500')).items;
  fillRefs(); await showHistory();
}
function fillRefs() {
  const f = $('#refFilter').value.toLowerCase();
  $('#reference').innerHTML = items.filter((i) => !f || (i.id + ' ' + i.title).toLowerCase().includes(f)).map((i) => '<option value="' + i.id + '">' + i.id + ' ' + i.title.replace(/[<&]/g, '') + '</option>').join('');
}
async function showHistory() {
  const ds = $('#dataset').value, ref = $('#reference').value;
  if (!ref) return;
  $('#refImg').innerHTML = ''; $('#refImg').append(await img('/v1/datasets/' + encodeURIComponent(ds) + '/image?item=' + encodeURIComponent(ref)));
  await historyView($('#history'), ds, $('#user').value, ref, $('#weighting').value === 'uniform' ? 'uniform' : 'retrieval');
}
function request(over) {
  return Object.assign({ dataset: $('#dataset').value, user: $('#user').value, reference: $('#reference').value, weighting: $('#weighting').value, engine: $('#engine').value, candidates: Number($('#candidates').value) }, over || {});
}
async function candidatesView(job) {
  const box = document.createElement('div'); box.className = 'cands';
  for (const c of job.result.candidates) {
    const d = document.createElement('div'); d.className = 'cand' + (c.chosen ? ' chosen' : '');
    d.append(await img(c.image));
    const t = document.createElement('div'); t.innerHTML = (c.chosen ? '<b>chosen</b><br>' : '') + 'ranker ' + c.rankerScore.toFixed(3) + ' (#' + c.rankerRank + ')<br>semantic ' + c.semanticScore.toFixed(3) + ' (#' + c.semanticRank + ')<br>seed ' + c.seed;
    d.append(t); box.append(d);
  }
  return box;
}
async function run(over, label) {
  const p = document.createElement('progress'); p.max = 1; p.value = 0;
  const col = document.createElement('div'); col.innerHTML = '<h3>' + label + '</h3>'; col.append(p); $('#compare').append(col);
  const job = await generate(request(over), p); col.append(await candidatesView(job)); return job;
}
$('#dataset').onchange = () => loadDataset().catch(showError);
$('#user').onchange = $('#reference').onchange = $('#weighting').onchange = () => showHistory().catch(showError);
$('#refFilter').oninput = () => { fillRefs(); showHistory().catch(showError); };
$('#generate').onclick = async () => {
  showError(null); $('#status').textContent = 'queued'; $('#result').innerHTML = '';
  try {
    const job = await generate(request(), $('#progress'));
    $('#status').textContent = 'succeeded in ' + job.result.timings.runMs + ' ms';
    $('#result').append(await candidatesView(job));
  } catch (e) { $('#status').textContent = 'failed'; showError(e); }
};
$('#cmpWeighting').onclick = async () => { showError(null); $('#compare').innerHTML = ''; try { await Promise.all([run({ weighting: 'uniform' }, 'equal pooling'), run({ weighting: 'retrieval' }, 'retrieval weighting')]); } catch (e) { showError(e); } };
$('#cmpRank').onclick = async () => { showError(null); $('#compare').innerHTML = ''; try { await Promise.all([run({ engine: 'ragar-norank' }, 'λ = 0 (ragar-norank)'), run({ engine: 'ragar' }, 'λ > 0 (ragar)')]); } catch (e) { showError(e); } };
loadDatasets().catch(showError);
`;
  return page('ragar: personalised generation', o.auth, body, script);
}

/** The study page: two outputs for one user and reference in random order, the history beside them, a vote. */
export function studyPage(o: { auth: boolean; dataset: string }): string {
  const body = `
<p>Which output fits this user better, given their history? <label>conditions <select id="conditions">
<option value="weighting">retrieval weighting vs equal pooling</option><option value="rank">λ &gt; 0 vs λ = 0</option></select></label>
<button id="next">next pair</button> <progress id="progress" value="0" max="2"></progress> <span id="votes"></span></p>
<div class="cols"><div><h2>History</h2><div id="history"></div></div>
<div><h2>Reference</h2><div id="refImg"></div><h2>Outputs</h2><div id="pair" class="cands"></div></div></div>`;
  const script = `
const DATASET = ${JSON.stringify(o.dataset)};
const CONDITIONS = { weighting: [['weighting=retrieval', { weighting: 'retrieval' }], ['weighting=uniform', { weighting: 'uniform' }]], rank: [['engine=ragar', { engine: 'ragar' }], ['engine=ragar-norank', { engine: 'ragar-norank' }]] };
let votes = 0;
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
async function next() {
  showError(null); $('#pair').innerHTML = ''; $('#progress').value = 0;
  try {
    const users = (await json('/v1/datasets/' + DATASET + '/users?limit=500')).users;
    const items = (await json('/v1/datasets/' + DATASET + '/items?limit=500')).items.filter((i) => i.image);
    const user = pick(users).id, ref = pick(items).id;
    $('#refImg').innerHTML = ''; $('#refImg').append(await img('/v1/datasets/' + DATASET + '/image?item=' + encodeURIComponent(ref)));
    await historyView($('#history'), DATASET, user, ref, 'retrieval');
    let conds = CONDITIONS[$('#conditions').value].slice();
    if (Math.random() < 0.5) conds.reverse();
    const seed = 1 + Math.floor(Math.random() * 1000);
    let done = 0;
    const jobs = await Promise.all(conds.map(async ([name, over]) => { const j = await generate(Object.assign({ dataset: DATASET, user, reference: ref, candidates: 2, seed }, over), null); $('#progress').value = ++done; return { job: j, condition: name }; }));
    for (const [k, side] of [['a', jobs[0]], ['b', jobs[1]]]) {
      const d = document.createElement('div'); d.className = 'cand'; d.append(await img(side.job.result.image));
      const b = document.createElement('button'); b.textContent = 'this one fits better'; b.dataset.side = k;
      b.onclick = async () => { try { await json('/v1/study/votes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: { job: jobs[0].job.id, condition: jobs[0].condition }, b: { job: jobs[1].job.id, condition: jobs[1].condition }, winner: k }) }); votes++; $('#votes').textContent = votes + ' vote(s) stored'; $('#pair').innerHTML = ''; } catch (e) { showError(e); } };
      d.append(document.createElement('br'), b); $('#pair').append(d);
    }
  } catch (e) { showError(e); }
}
$('#next').onclick = next;
`;
  return page('ragar: study', o.auth, body, script);
}

/** The API reference page, rendered from the OpenAPI document (no external assets). */
export function referencePage(doc: { paths?: Record<string, Record<string, unknown>> }): string {
  const rows: string[] = [];
  for (const [p, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(ops)) {
      const o = op as { summary?: string; parameters?: { name: string; in: string; required?: boolean }[]; responses?: Record<string, unknown> };
      const params = (o.parameters ?? []).map((x) => `${x.in} <code>${esc(x.name)}</code>${x.required ? '*' : ''}`).join(', ');
      rows.push(`<tr><td><b>${method.toUpperCase()}</b></td><td><code>${esc(p)}</code></td><td>${esc(o.summary ?? '')}</td><td>${params}</td><td>${Object.keys(o.responses ?? {}).join(' ')}</td></tr>`);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ragar API reference</title><style>${STYLE} td{padding:3px 8px;border-bottom:1px solid #ddd;vertical-align:top}</style></head><body>
<h1>ragar API reference</h1><p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1, generated from the zod schemas). Errors are <code>application/problem+json</code>. Authorisation: <code>Authorization: Bearer KEY</code>.</p>
<table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th><th>responses</th></tr>${rows.join('')}</table></body></html>`;
}
