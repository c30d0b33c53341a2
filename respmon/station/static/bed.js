// respmon ward station: one bed's page. The other beds' alarms stay in view and in the sound.
'use strict';
(() => {
const {el, $, store: S} = RM;
const DAY = 86400;
const name = decodeURIComponent(location.pathname.replace(/^\/bed\//, '').replace(/\/+$/, ''));
const bedUrl = `/api/beds/${encodeURIComponent(name)}`;
const chart = $('#trend-chart'), sigc = $('#signal-chart'), tbody = $('#alarm-table tbody');
const STATE_COLOR = RM.table({breathing: '#2e9d4f', apnea: '#e0307a', motion: '#8e6cc9', absent: '#4f6f8f',
  searching: '#c7901a', lost: '#777', starting: '#3d6a8a', stopping: '#3d6a8a'});
const PRIO_COLOR = RM.table({high: '#e8261c', medium: '#ffd21f', low: '#17c3e8'});

let bed = null, missing = false, selected = null, signal = null;
const hist = new Map();  // alarm id -> AlarmView: the last 24 h and what the stream says since
let base = [], detail = null, live = [], merged = null, fetchSeq = 0, fetchTimer = null;
let view = null, follow = true, drag = null, marks = [], removedTimer = null, headSig = null, othersSig = null;

document.title = `${name}: ward station`;
$('#bed-title').textContent = name;
$('#report-link').href = `${bedUrl}/report.png?since_h=12`;
RM.lookup = (b, id) => S.alarms.get(RM.key(b, id)) || (b === name ? hist.get(id) : undefined);
RM.onUpdate = a => {
  if (a && a.bed === name && a.id != null) { hist.set(a.id, {...hist.get(a.id), ...a}); renderTable(); draw(); }
  S.alarm(a);
};

// -- now
function renderHead() {
  if (!bed) return;
  const v = RM.vitals(bed), reason = bed.link_reason ? `: ${bed.link_reason}` : '';
  $('#bed-rate').textContent = v.rate;
  $('#bed-state').textContent = v.state;
  $('#bed-state').dataset.state = v.fresh && bed.state || '';
  $('#bed-link').textContent = bed.link === 'up' ? ' · monitoring' : bed.link === 'silent' ? ` · NOT MONITORING${reason}` : ` · connecting${reason}`;
  $('#bed-info').textContent = [v.quality, v.age == null ? 'no vitals yet' : `last vitals ${RM.hms(bed.last_vitals)}`,
    bed.model_version ? `model ${bed.model_version}` : ''].filter(Boolean).join(' · ');
  const a = S.sorted(name)[0], sig = a ? JSON.stringify(a) : '';
  if (sig !== headSig) { headSig = sig; $('#bed-alarm').replaceChildren(...(a ? [RM.alarmBlock(a)] : [])); }
}

function renderOthers() {
  const nav = $('#other-alarms'), others = S.sorted().filter(a => a.bed !== name), sig = JSON.stringify(others);
  if (sig === othersSig) return;
  othersSig = sig;
  nav.hidden = !others.length;
  nav.replaceChildren(...(others.length ? [el('span', {class: 'meta'}, 'Other beds:')] : []),
    ...others.map(a => el('a', {href: `/bed/${encodeURIComponent(a.bed)}`, class: RM.alarmClass(a), 'data-alarm-id': a.id},
      el('span', {class: 'badge'}, `${RM.prioText(a.priority)} ${a.bed}: ${RM.condText(a.condition)}${a.active ? '' : ' (ended)'}`))));
}

// -- the alarm table
function renderTable() {
  const rows = [...hist.values()].sort((a, b) => b.onset - a.onset);
  $('#no-history').hidden = rows.length > 0;
  tbody.replaceChildren(...rows.map(a => {
    const shown = S.alarms.has(RM.key(a.bed, a.id));
    const v = a.verdict;
    return el('tr', {class: RM.alarmClass(a), 'data-alarm-id': a.id, 'data-priority': a.priority, 'data-condition': a.condition,
      tabindex: 0, 'aria-selected': String(selected === a.id)},
    el('td', {}, RM.dts(a.onset)),
    el('td', {}, a.cleared == null ? ['ongoing, ', RM.durEl(a)] : RM.dur(a.cleared - a.onset)),
    el('td', {}, RM.condText(a.condition), a.rr_bpm != null ? el('span', {class: 'meta'}, ` · ${Math.round(a.rr_bpm)} bpm`) : null),
    el('td', {}, el('span', {class: 'badge'}, RM.prioText(a.priority))),
    el('td', {}, RM.kindEl(a)),
    el('td', {}, a.acknowledged_by ? `${a.acknowledged_by}, ${RM.hms(a.acknowledged_at)}` : shown ? 'not yet' : '—'),
    el('td', {}, v ? `${RM.verdictText(v)}${v.note ? ` “${v.note}”` : ''}` : '—'),
    el('td', {}, RM.actions(a, shown)));
  }));
}
tbody.addEventListener('click', e => { const tr = e.target.closest('tr'); if (tr && !e.target.closest('button')) select(tr.dataset.alarmId); });
tbody.addEventListener('keydown', e => { const tr = e.target.closest('tr'); if (tr && e.key === 'Enter' && e.target === tr) select(tr.dataset.alarmId); });

// -- the 60 s signal before an onset
async function select(id) {
  const a = hist.get(id);
  if (!a) return;
  selected = id;
  signal = null;
  for (const tr of tbody.rows) tr.setAttribute('aria-selected', String(tr.dataset.alarmId === id));
  draw();
  $('#signal-title').textContent = `Breathing signal before ${RM.condText(a.condition)}, onset ${RM.dts(a.onset)}`;
  const note = $('#signal-note');
  note.textContent = 'loading…';
  sigc.hidden = true;
  try {
    const s = await RM.api('GET', `/api/alarms/${encodeURIComponent(a.bed)}/${encodeURIComponent(id)}/signal`);
    if (selected !== id) return;
    signal = s;
    note.textContent = `${(s.mm || []).length} samples at ${s.rate_hz} Hz; 0 s is the onset.`;
    sigc.hidden = false;
    drawSignal();
  } catch (e) {
    if (selected === id) note.textContent = e.status === 404 ? 'No breathing signal was recorded for this alarm.' : `The signal could not be read: ${e.message}`;
  }
}

function drawSignal() {
  if (!signal || sigc.hidden) return;
  const {g, w, h} = RM.canvas(sigc);
  if (!g) return;
  const mm = signal.mm || [], hz = signal.rate_hz || 10, n = mm.length;
  const L = 44, R = 10, T = 10, B = h - 22, span = Math.max(60, (n - 1) / hz);
  const vals = mm.filter(v => v != null);
  let lo = Math.min(...vals, 0), hi = Math.max(...vals, 0);
  const pad = Math.max(0.5, (hi - lo) * 0.1);
  lo -= pad; hi += pad;
  const X = s => L + (s + span) / span * (w - L - R), Y = v => B - (v - lo) / (hi - lo) * (B - T);
  g.strokeStyle = '#2c333d';
  g.fillStyle = '#9aa5b4';
  for (let s = -Math.floor(span / 10) * 10; s <= 0; s += 10) {
    g.beginPath(); g.moveTo(X(s), T); g.lineTo(X(s), B); g.stroke();
    g.fillText(`${s} s`, X(s) - 12, h - 6);
  }
  const step = niceStep((hi - lo) / 5);
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    g.beginPath(); g.moveTo(L, Y(v)); g.lineTo(w - R, Y(v)); g.stroke();
    g.fillText(`${+v.toFixed(2)}`, 2, Y(v) + 4);
  }
  g.fillText('mm', 2, T + 2);
  RM.line(g, mm.map((v, i) => [-(n - 1 - i) / hz, v]), X, Y, '#5fd0ff');
  g.strokeStyle = PRIO_COLOR[(hist.get(selected) || {}).priority] || '#fff';
  g.lineWidth = 2;
  g.beginPath(); g.moveTo(X(0) - 1, T); g.lineTo(X(0) - 1, B); g.stroke();
}
const niceStep = raw => { const p = 10 ** Math.floor(Math.log10(raw || 1)); return [1, 2, 5, 10].map(m => m * p).find(s => s >= raw) || p * 10; };

// -- the trend
// base: the last 24 h as first read; detail: a narrower range read again at full resolution when
// zoomed in; live: the bed's vitals from the stream since.
function points() {
  if (merged) return merged;
  let pts = base;
  if (detail) pts = base.filter(p => p[0] < detail.since || p[0] > detail.until).concat(detail.points).sort((a, b) => a[0] - b[0]);
  const last = pts.length ? pts[pts.length - 1][0] : -Infinity;
  merged = pts.concat(live.filter(p => p[0] > last));
  return merged;
}
async function loadTrend(since, until) {
  const r = await RM.api('GET', `${bedUrl}/trend?since=${since.toFixed(3)}&until=${until.toFixed(3)}`);
  return (r.points || []).filter(p => Array.isArray(p) && typeof p[0] === 'number');
}
function wantDetail() {
  clearTimeout(fetchTimer);
  fetchTimer = setTimeout(async () => {
    const span = view.t1 - view.t0, now = RM.now();
    if (span > DAY * 0.9) return;
    if (detail && detail.since <= view.t0 + 1 && (detail.until >= view.t1 - 1 || detail.until >= detail.at - 2) && detail.span <= span * 3) return;
    const since = Math.max(now - DAY, view.t0 - span / 2), until = Math.min(now, view.t1 + span / 2);
    const seq = ++fetchSeq;
    try {
      const pts = await loadTrend(since, until);
      if (seq !== fetchSeq) return;
      detail = {since, until, span, at: now, points: pts};
      merged = null;
      draw();
    } catch (e) { RM.showError(`The trend could not be read: ${e.message}`, e.status); }
  }, 250);
}

function setView(t0, t1, fetch = true) {
  const now = RM.now();
  let span = Math.min(DAY, Math.max(60, t1 - t0));
  t0 = Math.max(now - DAY, Math.min(t0, now - span));
  view = {t0, t1: t0 + span};
  follow = view.t1 >= now - Math.max(1, span * 0.01);
  for (const b of document.querySelectorAll('.range')) b.setAttribute('aria-pressed', String(Math.abs(+b.dataset.span - span) < 1 && follow));
  if (fetch) wantDetail();
  draw();
}
for (const b of document.querySelectorAll('.range')) b.addEventListener('click', () => { const now = RM.now(); setView(now - +b.dataset.span, now); });

const lower = (pts, t) => {  // the first point at or after t
  let lo = 0, hi = pts.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (pts[m][0] < t) lo = m + 1; else hi = m; }
  return lo;
};
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200];
const plotArea = (w, h) => ({L: 40, R: 10, T: 22, B: h - 40, bandT: h - 36, bandB: h - 20});

function draw() {
  if (!view) return;
  const {g, w, h} = RM.canvas(chart);
  if (!g) return;
  const {L, R, T, B, bandT, bandB} = plotArea(w, h), {t0, t1} = view, now = RM.now();
  const X = t => L + (t - t0) / (t1 - t0) * (w - L - R);
  const pts = points();
  const vis = pts.slice(Math.max(0, lower(pts, t0) - 1), lower(pts, t1 + 1e-6) + 1);  // and one either side
  let peak = 0;
  for (const p of vis) if (p[1] > peak) peak = p[1];
  const top = Math.max(40, Math.ceil(peak / 10) * 10);
  const Y = v => B - Math.min(v, top) / top * (B - T);
  g.save();
  g.beginPath(); g.rect(L, 0, w - L - R, h); g.clip();
  // grid: rate every 10 bpm, time ticks at local round times
  g.strokeStyle = '#2c333d';
  for (let v = 0; v <= top; v += 10) { g.beginPath(); g.moveTo(L, Y(v)); g.lineTo(w - R, Y(v)); g.stroke(); }
  const step = STEPS.find(s => (t1 - t0) / s <= (w - L - R) / 80) || 86400;
  const tz = -new Date().getTimezoneOffset() * 60;
  const ticks = [];
  for (let t = Math.ceil((t0 + tz) / step) * step - tz; t <= t1; t += step) {
    ticks.push(t);
    g.beginPath(); g.moveTo(X(t), T); g.lineTo(X(t), bandB); g.stroke();
  }
  // state band, in runs
  const gapAt = k => {  // a hole between points k-1 and k (no rows: no data)
    const dt = vis[k][0] - vis[k - 1][0];
    const a = k > 1 ? vis[k - 1][0] - vis[k - 2][0] : 0, b = k + 1 < vis.length ? vis[k + 1][0] - vis[k][0] : 0;
    return dt > Math.max(3, 2.5 * Math.max(a, b));
  };
  let run = null;
  const endRun = t => { if (run && run.s != null) { g.fillStyle = STATE_COLOR[run.s] || '#444'; g.fillRect(X(run.t), bandT, Math.max(1, X(t) - X(run.t)), bandB - bandT); } run = null; };
  for (let k = 0; k < vis.length; k++) {
    const [t, , s] = vis[k];
    if (run && k > 0 && gapAt(k)) endRun(vis[k - 1][0] + Math.min(60, t - vis[k - 1][0]));
    if (run && run.s !== s) endRun(t);
    if (!run) run = {t, s};
  }
  if (run && vis.length) { const last = vis[vis.length - 1][0]; endRun(last + Math.min(60, vis.length > 1 ? last - vis[vis.length - 2][0] : 1)); }
  // rate
  RM.line(g, vis, X, Y, '#5fd0ff', gapAt);
  // alarms: a bar from onset to clear above the plot, a line at the onset
  marks = [];
  for (const a of [...hist.values()].sort((x, y) => RM.rank(y) - RM.rank(x))) {
    const end = a.cleared == null ? now : a.cleared;
    if (end < t0 || a.onset > t1) continue;
    const c = PRIO_COLOR[a.priority] || '#fff', x0 = X(a.onset), x1 = Math.max(x0 + 4, X(end));
    const row = RM.rank(a) * 6;
    g.strokeStyle = c;
    g.fillStyle = c;
    g.setLineDash([3, 3]);
    g.lineWidth = 1;
    g.beginPath(); g.moveTo(x0, T); g.lineTo(x0, B); g.stroke();
    g.setLineDash([]);
    if (a.kind === 'technical') { g.lineWidth = 2; g.strokeRect(x0, 3 + row, x1 - x0, 5); } else g.fillRect(x0, 3 + row, x1 - x0, 6);
    if (a.id === selected) { g.strokeStyle = '#fff'; g.lineWidth = 2; g.strokeRect(x0 - 2, 1 + row, x1 - x0 + 4, 10); }
    marks.push({id: a.id, x0: x0 - 3, x1: x1 + 3});
  }
  if (now >= t0 && now <= t1) { g.strokeStyle = '#e9edf2'; g.lineWidth = 1; g.beginPath(); g.moveTo(X(now), T); g.lineTo(X(now), bandB); g.stroke(); }
  g.restore();
  // labels
  g.fillStyle = '#9aa5b4';
  for (let v = 0; v <= top; v += 10) g.fillText(String(v), 4, Y(v) + 4);
  g.fillText('bpm', 4, T - 8);
  g.fillText('state', 4, bandB - 3);
  for (const t of ticks) { const s = step < 60 ? RM.hms(t) : RM.hms(t).slice(0, 5); g.fillText(s, Math.min(w - R - 40, Math.max(L, X(t) - 14)), h - 5); }
  const span = t1 - t0;
  $('#zoom-info').textContent = `${RM.dts(t0)} – ${RM.hms(t1)} (${RM.dur(span)})${follow ? ' · following now' : ''}` +
    (detail && detail.since <= t0 + 1 && span < DAY * 0.9 ? ' · full detail' : '');
}

// wheel zooms around the cursor, drag pans, a click on an alarm's bar shows its signal
const timeAt = x => { const {L, R} = plotArea(chart.clientWidth, chart.clientHeight); return view.t0 + (x - L) / (chart.clientWidth - L - R) * (view.t1 - view.t0); };
chart.addEventListener('wheel', e => {
  if (!view) return;
  e.preventDefault();
  const f = Math.exp(Math.max(-300, Math.min(300, e.deltaY)) * 0.002), tc = timeAt(e.offsetX);
  const span = Math.min(DAY, Math.max(60, (view.t1 - view.t0) * f));
  const k = (tc - view.t0) / (view.t1 - view.t0);
  setView(tc - k * span, tc - k * span + span);
}, {passive: false});
chart.addEventListener('pointerdown', e => {
  if (!view || e.button !== 0) return;
  chart.setPointerCapture(e.pointerId);
  drag = {x: e.clientX, view: {...view}, moved: false};
});
chart.addEventListener('pointermove', e => {
  if (drag) {
    const dx = e.clientX - drag.x;
    if (Math.abs(dx) > 3) { drag.moved = true; chart.classList.add('dragging'); }
    if (drag.moved) {
      const dt = -dx / (chart.clientWidth - 50) * (drag.view.t1 - drag.view.t0);
      setView(drag.view.t0 + dt, drag.view.t1 + dt, false);
    }
    return;
  }
  readout(e.offsetX, e.offsetY);
});
chart.addEventListener('pointerup', e => {
  if (!drag) return;
  const moved = drag.moved;
  drag = null;
  chart.classList.remove('dragging');
  if (moved) { wantDetail(); return; }
  const m = marks.find(k => e.offsetX >= k.x0 && e.offsetX <= k.x1 && e.offsetY < 22);
  if (m) select(m.id);
});
chart.addEventListener('pointerleave', () => { $('#readout').textContent = ''; });
function readout(x, y) {
  if (!view) return;
  const t = timeAt(x), pts = points();
  let i = Math.min(lower(pts, t), pts.length - 1);
  if (i > 0 && t - pts[i - 1][0] < Math.abs(pts[i][0] - t)) i -= 1;
  const p = pts[i];
  const near = p && Math.abs(p[0] - t) <= Math.max(90, (view.t1 - view.t0) / 200);
  const m = y < 22 ? marks.find(k => x >= k.x0 && x <= k.x1) : null, a = m && hist.get(m.id);
  $('#readout').textContent = `${RM.hms(t)} · ` + (near ? `${p[1] == null ? '—' : p[1].toFixed(1)} bpm · ${RM.stateText(p[2])}` : 'no data') +
    (a ? ` · alarm: ${RM.prioText(a.priority)} ${RM.condText(a.condition)} (click: its signal)` : '');
}

$('#legend').replaceChildren(...Object.entries(STATE_COLOR).slice(0, 6).map(([s, c]) => {
  const i = el('i');
  i.style.background = c;  // CSSOM, allowed by the page's style-src policy
  return el('span', {}, i, RM.stateText(s));
}), el('span', {}, 'alarm marks: red high · yellow medium · cyan low; outlined = technical'));

// -- loading and the stream
const readBed = async () => {
  const r = await RM.api('GET', bedUrl);
  bed = r.bed;
  for (const a of [...r.alarms || [], ...S.sorted(name)]) hist.set(a.id, {...hist.get(a.id), ...a});
  renderHead();
  renderTable();
  draw();
};
async function loadBed() {
  try {
    await readBed();
    return true;
  } catch (e) {
    if (e.status === 404) {
      missing = true;
      $('#bed-main').hidden = true;
      const p = $('#bed-error');
      p.replaceChildren(`Unknown bed “${name}”: this station does not monitor it (${e.message}). `, el('a', {href: '/'}, 'Back to the ward'));
      p.hidden = false;
    } else RM.showError(`Bed ${name} could not be read: ${e.message}`, e.status);
    return false;
  }
}

S.subs.push((type, x) => {
  if (missing) { renderOthers(); return; }
  if (type === 'snapshot') {
    const b = S.beds.get(name);
    if (b) bed = b;
    for (const a of S.sorted(name)) hist.set(a.id, {...hist.get(a.id), ...a});
    renderTable();
    draw();
  } else if (type === 'bed' && x.name === name) {
    bed = x;
    if (x.last_vitals != null) {
      const pts = points(), last = pts.length ? pts[pts.length - 1][0] : -Infinity;
      if (x.last_vitals > last) { live.push([x.last_vitals, x.rr_bpm, x.state]); merged = null; }
    }
  } else if (type === 'alarm' && x.bed === name) {
    hist.set(x.id, {...hist.get(x.id), ...x});
    renderTable();
    draw();
  } else if (type === 'removed' && x.bed === name) {
    // cleared, or acknowledged after it cleared: read this bed's alarms again for their last word
    renderTable();
    clearTimeout(removedTimer);
    removedTimer = setTimeout(() => readBed().catch(() => { /* the next change will do */ }), 500);
  } else if (type === 'bed_removed' && x.name === name) {
    RM.showError(`Bed ${name} was removed from the station's configuration: it is no longer monitored here.`);
  }
  renderHead();
  renderOthers();
});

RM.onTick(() => {
  renderHead();
  if (view && follow && !drag) { const now = RM.now(), span = view.t1 - view.t0; view = {t0: now - span, t1: now}; }
  if (follow) draw();
});
addEventListener('resize', () => { draw(); drawSignal(); });

RM.start(async () => {
  if (!(await loadBed())) return;
  const now = RM.now();
  try { base = await loadTrend(now - DAY, now); } catch (e) { RM.showError(`The trend could not be read: ${e.message}`, e.status); }
  merged = null;
  setView(now - DAY, now, false);
});
})();
