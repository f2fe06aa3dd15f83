// The fastflux dashboard: the fleet's jobs, one job's live progress, its sandwich loss curves, importance chart
// and report. Plain JavaScript against the daemon's /api/v1; no build step, no library. See docs/dashboard.md.
'use strict';

const API = '/api/v1';
const TOKEN_KEY = 'fastflux.token';
const JOBS_EVERY_MS = 2000;
const RECONNECT_MS = 2000;
const IMPORTANCE_RETRY_MS = 5000;
const TERMINAL = new Set(['done', 'failed', 'cancelled']);

const $ = (id) => document.getElementById(id);

const view = {
  jobId: null,        // the selected job
  node: null,         // the fleet member that has it (host:port), null for a single daemon's
  state: null,        // its latest state word
  stream: null,       // AbortController of its event stream
  losses: new Map(),  // block name -> {train: [[step, loss]], held: [[step, loss]], steps, trainSteps}, in the order trained
  lastSeq: -1,
  lastKey: '',        // phase, block and blocks done of the latest event: the history is read again when it changes
  history: null,      // the history request in flight, if any
  historyAgain: false,
  renderQueued: false, // a drawing of the loss charts is due (live steps are drawn at most every 100 ms)
  importanceShown: false,
  importanceTried: 0, // when the importance chart was last asked for (ms), so a missing one is retried slowly
  reportShown: false,
  objectUrls: [],     // blob: URLs of the images on screen, revoked when the job changes
};

// ------------------------------------------------------------------ token and requests

// The token lives in this tab's sessionStorage and goes out only as an Authorization header; never a cookie, so
// no other site can make the browser send it.
function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const t = token();
  if (t) h['Authorization'] = 'Bearer ' + t;
  return h;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// fetch with the token; a non-2xx answer becomes an ApiError carrying the API's JSON error message.
async function api(path, options) {
  const o = Object.assign({}, options || {});
  o.headers = authHeaders(o.headers);
  const res = await fetch(path, o);
  if (!res.ok) {
    let message = res.status + ' ' + res.statusText;
    try {
      const body = await res.json();
      if (body && (body.error || body.message)) message = res.status + ' ' + (body.error || body.message);
    } catch (e) { /* not JSON: keep the status line */ }
    if (res.status === 401 || res.status === 403) message += ' (enter a token with the right role above)';
    throw new ApiError(res.status, message);
  }
  return res;
}

async function getJson(path) {
  return (await api(path)).json();
}

// ------------------------------------------------------------------ formatting

function duration(seconds) {
  if (seconds === undefined || seconds === null || !isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h > 0) return h + 'h ' + String(m).padStart(2, '0') + 'm';
  if (m > 0) return m + 'm ' + String(r).padStart(2, '0') + 's';
  return r + 's';
}

// A loss: significant digits, in exponent form when it is tiny (sandwich losses go down to 1e-6 and less).
function number(v, digits) {
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(digits - 1) : v.toPrecision(digits);
}

function text(v) {
  return v === undefined || v === null || v === '' ? '–' : String(v);
}

function el(tag, attrs, children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children || []) e.append(c);
  return e;
}

// ------------------------------------------------------------------ the fleet's jobs

// GET /api/v1/jobs answers for the whole fleet: {nodes: [{node, jobs: [...]}], unanswered: [...]}; a single
// node's {jobs: [...]} is read too.
function fleetRows(body) {
  const rows = [];
  if (body && Array.isArray(body.nodes)) {
    for (const n of body.nodes) for (const j of n.jobs || []) rows.push(Object.assign({node: n.node}, j));
  } else if (body && Array.isArray(body.jobs)) {
    for (const j of body.jobs) rows.push(j);
  }
  return rows;
}

async function refreshJobs() {
  try {
    const body = await getJson(API + '/jobs');
    renderJobs(fleetRows(body), (body && body.unanswered) || []);
    $('connection').textContent = 'connected';
    $('connection').className = 'ok';
  } catch (e) {
    $('connection').textContent = 'jobs: ' + e.message;
    $('connection').className = 'warn';
  } finally {
    setTimeout(refreshJobs, JOBS_EVERY_MS);
  }
}

function renderJobs(rows, unanswered) {
  const tbody = $('jobs').querySelector('tbody');
  tbody.replaceChildren();
  for (const j of rows) {
    const tr = el('tr', {'data-job': j.id, 'data-node': j.node || '', 'data-state': j.state, tabindex: '0'}, [
      el('td', {text: j.id, class: 'mono'}),
      el('td', {text: text(j.node), class: 'mono'}),
      el('td', {}, [el('span', {text: j.state, class: 'state ' + j.state})]),
      el('td', {text: j.state === 'running' ? [j.phase, j.block].filter(Boolean).join(' ') || '–' : '–'}),
      el('td', {text: j.state === 'running' && j.total ? j.done + '/' + j.total : '–'}),
      el('td', {text: j.state === 'running' ? duration(j.eta_s) : '–'}),
    ]);
    if (j.id === view.jobId && (j.node || null) === view.node) tr.classList.add('selected');
    tr.addEventListener('click', () => selectJob(j.id, j.state, j.node));
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') selectJob(j.id, j.state, j.node); });
    tbody.append(tr);
  }
  $('jobs-empty').hidden = rows.length > 0;
  $('unanswered').hidden = unanswered.length === 0;
  $('unanswered').textContent = unanswered.length ? 'No answer from: ' + unanswered.join(', ') : '';
  // With nothing selected, follow the first running job (or else the first job) so the page is useful at once.
  if (view.jobId === null && rows.length > 0) {
    const running = rows.find((j) => j.state === 'running');
    const j = running || rows[0];
    selectJob(j.id, j.state, j.node);
  }
}

// ------------------------------------------------------------------ one job

// A route of job `id` on the fleet member `view.node` (ids are per member: the API finds the member that has it,
// and ?node= picks one when several have the same id).
function jobUrl(id, suffix) {
  return API + '/jobs/' + encodeURIComponent(id) + suffix + (view.node ? '?node=' + encodeURIComponent(view.node) : '');
}

// Shows job `id` of member `node` (its state in the list: `state`) and follows it.
function selectJob(id, state, node) {
  if (id === view.jobId && (node || null) === view.node) return;
  if (view.stream) view.stream.abort();
  for (const u of view.objectUrls) URL.revokeObjectURL(u);
  Object.assign(view, {jobId: id, node: node || null, state: null, stream: null, losses: new Map(), lastSeq: -1, lastKey: '',
    history: null, historyAgain: false, importanceShown: false, importanceTried: 0, reportShown: false, objectUrls: []});
  for (const tr of document.querySelectorAll('#jobs tbody tr')) {
    tr.classList.toggle('selected', tr.dataset.job === id && (tr.dataset.node || null) === view.node);
  }
  $('job').hidden = false;
  $('job-id').textContent = id;
  for (const f of ['phase', 'block', 'step', 'blocks', 'elapsed', 'eta', 'detail']) $(f).textContent = '–';
  $('action-message').textContent = '';
  $('importance').replaceChildren(el('p', {class: 'muted', text: 'Appears once the blocks are scored.'}));
  $('report').replaceChildren(el('p', {class: 'muted', text: 'Appears when the job is done.'}));
  renderLosses();
  showState(state);
  const controller = new AbortController();
  view.stream = controller;
  follow(id, controller.signal);
}

// Back-fill from the history, then follow the live events; reconnect after a dropped stream until the job ends
// (the stream's last event is the job's final state).
async function follow(id, signal) {
  while (!signal.aborted) {
    await loadHistory();
    try {
      await readEvents(jobUrl(id, '/events'), signal, onProgress);
    } catch (e) {
      if (signal.aborted) return;
      if (e.status === 404) { // the job is gone (or its member no longer lists it)
        $('action-message').textContent = 'events: ' + e.message;
        return;
      }
      $('action-message').textContent = 'events: ' + e.message + '; reconnecting';
    }
    if (signal.aborted) return;
    if (TERMINAL.has(view.state)) break;
    await new Promise((r) => setTimeout(r, RECONNECT_MS));
  }
  if (signal.aborted) return;
  // a job that had ended before it was selected may send no event at all
  if (view.state === 'done' && !view.reportShown) showReport();
  else if (!view.importanceShown) showImportance();
}

// Server-Sent Events read with fetch() and a stream reader instead of EventSource: EventSource cannot send an
// Authorization header, and the token must never travel in a URL (logs, history) or a cookie. The parser
// follows the SSE format: "data:" lines joined by newlines make one message, a blank line ends it, lines
// starting with ":" are comments; comments and empty messages are keep-alives.
async function readEvents(url, signal, onMessage) {
  const res = await api(url, {signal, headers: {'Accept': 'text/event-stream'}, cache: 'no-store'});
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let data = [];
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    let nl;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        const message = data.join('\n');
        if (message.trim() !== '') onMessage(JSON.parse(message)); // an empty one is a keep-alive
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      } // "event:", "id:", "retry:" and ":" comments carry nothing the page needs
    }
  }
}

// One progress event, the JSON of `fastflux watch --json`.
function onProgress(p) {
  if (p.job && p.job !== view.jobId) return;
  // seq counts the progress snapshots; a change of state (paused, cancelled, done) comes with the seq of the
  // last snapshot, so only an older seq is stale (a reconnect starts with the latest one again)
  if (typeof p.seq === 'number') {
    if (p.seq < view.lastSeq) return;
    view.lastSeq = p.seq;
  }
  showState(p.state);
  $('phase').textContent = text(p.phase);
  $('block').textContent = text(p.block);
  $('step').textContent = p.total ? p.done + '/' + p.total : '–';
  $('blocks').textContent = p.blocks_total ? p.blocks_done + '/' + p.blocks_total : '–';
  $('elapsed').textContent = duration(p.elapsed_s);
  $('eta').textContent = TERMINAL.has(p.state) ? '–' : duration(p.eta_s);
  $('detail').textContent = text(p.detail);
  $('progress').max = Math.max(1, p.blocks_total || 1);
  $('progress').value = p.blocks_done || 0;
  if (p.loss) appendLoss(p.loss);
  // The history has the finished sandwiches from their checkpoints (and the one training now): read it again
  // whenever the job moves on.
  const key = [p.state, p.phase, p.block, p.blocks_done].join('|');
  if (key !== view.lastKey) {
    view.lastKey = key;
    loadHistory();
  }
  if (!view.importanceShown && p.phase && p.phase !== 'starting' && p.phase !== 'importance'
      && Date.now() - view.importanceTried > IMPORTANCE_RETRY_MS) showImportance();
  if (p.state === 'done' && !view.reportShown) showReport();
}

function showState(state) {
  if (!state) return;
  view.state = state;
  const s = $('job-state');
  s.textContent = state;
  s.className = 'state ' + state;
  $('job').dataset.state = state;
  $('pause').disabled = !(state === 'queued' || state === 'running');
  $('resume').disabled = state !== 'paused';
  $('cancel').disabled = TERMINAL.has(state);
}

// ------------------------------------------------------------------ losses

// Reads the job's loss history; a request asked for while one is in flight runs once after it.
async function loadHistory() {
  if (view.history) {
    view.historyAgain = true;
    return view.history;
  }
  const id = view.jobId;
  view.history = (async () => {
    do {
      view.historyAgain = false;
      try {
        const h = await getJson(jobUrl(id, '/history'));
        if (id === view.jobId) ingestHistory(h);
      } catch (e) {
        if (id === view.jobId) $('action-message').textContent = 'history: ' + e.message;
      }
    } while (view.historyAgain && id === view.jobId);
  })();
  try {
    await view.history;
  } finally {
    if (id === view.jobId) view.history = null;
  }
}

// The history (GET .../history): {job, source, order, target, blocks: [{block, training: {losses,
// held_out_steps, held_out_losses, ...}}], fitted}; the blocks as the newest checkpoint (or the report) holds
// them, so it only grows. A training's losses are one per step from step 0; held-out losses are measured at
// held_out_steps.
function ingestHistory(h) {
  for (const b of (h && h.blocks) || []) {
    const t = b.training;
    if (!t || !Array.isArray(t.losses)) continue; // replaced without sandwich training
    const curve = {train: [], held: [], steps: t.steps || t.losses.length, trainSteps: t.losses.length};
    t.losses.forEach((l, i) => { if (typeof l === 'number') curve.train.push([i, l]); });
    const steps = t.held_out_steps || [];
    (t.held_out_losses || []).forEach((l, i) => { if (typeof l === 'number') curve.held.push([steps[i], l]); });
    // the sandwich training now (b.live) may have more steps here already, from the events since the request
    const known = view.losses.get(b.block);
    if (b.live && known && known.trainSteps > curve.trainSteps) continue;
    view.losses.set(b.block, curve);
  }
  renderLosses();
}

// One sandwich training step from the events ({block, step, steps, train, held_out}): appended to its block's
// curves. A step missing before it (a slow connection gets conflated events) is read back from the history.
function appendLoss(l) {
  let curve = view.losses.get(l.block);
  if (!curve || (l.step === 0 && typeof l.train === 'number' && curve.trainSteps > 0)) { // a new (or restarted) sandwich
    curve = {train: [], held: [], steps: l.steps, trainSteps: 0};
    view.losses.set(l.block, curve);
  }
  curve.steps = l.steps;
  if (typeof l.train === 'number') {
    if (l.step === curve.trainSteps) {
      curve.train.push([l.step, l.train]);
      curve.trainSteps = l.step + 1;
    } else if (l.step > curve.trainSteps) {
      loadHistory(); // steps were skipped: the history has them
    }
  }
  if (typeof l.held_out === 'number') {
    const last = curve.held.length ? curve.held[curve.held.length - 1][0] : -1;
    if (l.step > last) curve.held.push([l.step, l.held_out]);
  }
  if (!view.renderQueued) { // at most one drawing per tenth of a second, however fast the steps come
    view.renderQueued = true;
    setTimeout(() => { view.renderQueued = false; renderLosses(); }, 100);
  }
}

function renderLosses() {
  const box = $('loss-charts');
  let points = 0;
  const charts = [];
  for (const [block, curve] of view.losses) {
    points += curve.train.length + curve.held.length;
    charts.push(lossChart(block, curve));
  }
  box.dataset.points = String(points);
  if (charts.length === 0) box.replaceChildren(el('p', {class: 'muted', id: 'loss-empty', text: 'No sandwich trained yet.'}));
  else box.replaceChildren(...charts);
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// One sandwich's curves as an SVG: x the training step, y the loss on a log scale when it spans more than a
// decade (training losses fall by orders of magnitude), else linear.
function lossChart(block, curve) {
  const W = 360, H = 200, L = 52, R = 10, T = 24, B = 28;
  const all = curve.train.concat(curve.held);
  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'loss-chart',
    'data-block': block, 'data-points': all.length, 'data-train': curve.train.length, 'data-steps': curve.steps || 0,
    role: 'img', 'aria-label': 'sandwich loss of ' + block});
  const title = svg('text', {x: L, y: 15, class: 'chart-title'});
  const lastTrain = curve.train.length ? curve.train[curve.train.length - 1][1] : NaN;
  title.textContent = block + (isFinite(lastTrain) ? '  loss ' + number(lastTrain, 4) : '');
  root.append(title);
  if (all.length === 0) return root;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]).filter((v) => isFinite(v));
  // x runs to the sandwich's last step, so a training in progress fills its chart from left to right
  const x0 = Math.min(...xs), x1 = Math.max(x0 + 1, curve.steps || 0, ...xs);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  const log = y0 > 0 && y1 / y0 > 10;
  const f = log ? Math.log10 : (v) => v;
  if (y1 === y0) { y0 = log ? y0 / 2 : y0 - Math.abs(y0 || 1) * 0.5; y1 = log ? y1 * 2 : y1 + Math.abs(y1 || 1) * 0.5; }
  const fy0 = f(y0), fy1 = f(y1);
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => T + (1 - (f(y) - fy0) / (fy1 - fy0)) * (H - T - B);
  // enough significant digits that the three ticks of a narrow range differ
  const digits = log ? 2 : Math.min(6, Math.max(2, 1 + Math.ceil(Math.log10(Math.max(Math.abs(y0), Math.abs(y1)) / (y1 - y0)))));
  root.append(svg('rect', {x: L, y: T, width: W - L - R, height: H - T - B, class: 'plot'}));
  for (const v of [y0, log ? Math.pow(10, (fy0 + fy1) / 2) : (y0 + y1) / 2, y1]) {
    const t = svg('text', {x: L - 4, y: py(v) + 4, class: 'tick', 'text-anchor': 'end'});
    t.textContent = number(v, digits);
    root.append(t, svg('line', {x1: L, x2: W - R, y1: py(v), y2: py(v), class: 'grid'}));
  }
  for (const v of [x0, x1]) {
    const t = svg('text', {x: px(v), y: H - 10, class: 'tick', 'text-anchor': 'middle'});
    t.textContent = String(Math.round(v));
    root.append(t);
  }
  const xl = svg('text', {x: (L + W - R) / 2, y: H - 2, class: 'tick', 'text-anchor': 'middle'});
  xl.textContent = 'step' + (log ? ' (loss on a log scale)' : '');
  root.append(xl);
  if (curve.train.length) {
    const d = curve.train.map((p) => px(p[0]).toFixed(1) + ',' + py(p[1]).toFixed(1)).join(' ');
    root.append(svg('polyline', {points: d, class: 'train'}));
  }
  if (curve.held.length > 1) {
    const d = curve.held.map((p) => px(p[0]).toFixed(1) + ',' + py(p[1]).toFixed(1)).join(' ');
    root.append(svg('polyline', {points: d, class: 'held'}));
  }
  for (const p of curve.held) root.append(svg('circle', {cx: px(p[0]), cy: py(p[1]), r: 3, class: 'held'}));
  return root;
}

// ------------------------------------------------------------------ importance chart and report

// Report files are fetched with the token and shown through blob: URLs, since an <img src> cannot carry a header.
async function image(path, alt) {
  const res = await api(jobUrl(view.jobId, '/files/' + path.split('/').map(encodeURIComponent).join('/')));
  const url = URL.createObjectURL(await res.blob());
  view.objectUrls.push(url);
  return el('img', {src: url, alt: alt, title: path, 'data-file': path});
}

// The files of the job's output directory so far (GET /api/v1/jobs/{id}: outputs, relative paths).
async function outputs(id) {
  const job = await getJson(jobUrl(id, ''));
  return job.outputs || [];
}

async function showImportance() {
  view.importanceShown = true;
  view.importanceTried = Date.now();
  const id = view.jobId;
  try {
    // not there yet, or a job ranked by a given importance.json: asked again after a while
    if (!(await outputs(id)).includes('importance.png')) throw new Error('no importance.png yet');
    const img = await image('importance.png', 'block importance');
    if (id === view.jobId) $('importance').replaceChildren(img);
  } catch (e) {
    if (id === view.jobId) view.importanceShown = false;
  }
}

// GET /report is the job's report.json; its image grids are the PNGs among the job's outputs.
async function showReport() {
  view.reportShown = true;
  const id = view.jobId;
  try {
    const report = await getJson(jobUrl(id, '/report'));
    const files = await outputs(id);
    const parts = [];
    const summary = [];
    if (report.replaced_count !== undefined) summary.push(report.replaced_count + ' of ' + report.block_count + ' blocks replaced');
    if (report.out) summary.push('model in ' + report.out);
    if (summary.length) parts.push(el('p', {text: summary.join('; ')}));
    // Image grids: every picture of the report but the charts the page draws itself.
    const grids = files.filter((f) => /\.png$/i.test(f) && f !== 'importance.png' && !f.startsWith('sandwich-curves/'));
    for (const f of grids) parts.push(el('figure', {}, [await image(f, f), el('figcaption', {text: f})]));
    if (!grids.length) parts.push(el('p', {class: 'muted', text: 'No image grids in the job\'s output directory.'}));
    const links = el('p', {class: 'muted', text: 'Report files: ' + (files.join(', ') || 'none')});
    parts.push(links);
    if (id === view.jobId) $('report').replaceChildren(...parts);
    if (!view.importanceShown) showImportance();
  } catch (e) {
    if (id === view.jobId) {
      view.reportShown = false;
      $('report').replaceChildren(el('p', {class: 'warn', text: 'report: ' + e.message}));
    }
  }
}

// ------------------------------------------------------------------ controls

async function control(action) {
  const id = view.jobId;
  if (!id) return;
  $('action-message').textContent = action + '…';
  try {
    const res = await api(jobUrl(id, '/' + action), {method: 'POST'});
    const body = await res.json().catch(() => ({}));
    $('action-message').textContent = action + ': ' + (body.message || 'ok');
  } catch (e) {
    $('action-message').textContent = action + ' refused: ' + e.message;
  }
}

function init() {
  $('token').value = token();
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
    // the stream was opened with the old token: reopen it
    const id = view.jobId;
    view.jobId = null;
    if (id) selectJob(id);
  });
  for (const action of ['pause', 'resume', 'cancel']) $(action).addEventListener('click', () => control(action));
  refreshJobs();
}

init();
