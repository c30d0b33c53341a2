// respmon ward station: the ward page, one tile per bed and the alarm list.
'use strict';
(() => {
const {el, $, store: S} = RM;
const grid = $('#ward'), list = $('#alarm-list');
const tiles = new Map(), items = new Map();
const byName = (a, b) => a.localeCompare(b, undefined, {numeric: true});

// -- tiles
function tileFor(name) {
  let t = tiles.get(name);
  if (t) return t;
  const link = el('span', {class: 'link'});
  const rate = el('span', {class: 'rate'}, '—');
  const state = el('span', {class: 'state'}), quality = el('span', {class: 'quality'}), age = el('span', {class: 'age'});
  const notmon = el('div', {class: 'notmon', hidden: true});
  const spark = el('canvas', {class: 'spark', role: 'img', 'aria-label': `${name}: breathing rate, last 15 minutes`});
  const slot = el('div', {class: 'alarm-slot'});
  const root = el('article', {class: 'tile', 'data-bed': name, 'aria-label': `Bed ${name}`},
    el('header', {}, el('a', {class: 'bed-name', href: `/bed/${encodeURIComponent(name)}`}, name), link), notmon,
    el('div', {class: 'vitals'}, rate, el('span', {class: 'unit'}, 'bpm'), el('span', {class: 'statebox'}, state, quality, age)),
    spark, slot);
  t = {root, link, rate, state, quality, age, notmon, spark, slot, alarmSig: null, sparkSig: null};
  tiles.set(name, t);
  [...tiles.keys()].sort(byName).forEach((n, i) => {
    const r = tiles.get(n).root;
    if (grid.children[i] !== r) grid.insertBefore(r, grid.children[i] || null);
  });
  return t;
}

function renderBed(name) {
  const b = S.beds.get(name);
  if (!b) return;
  const t = tileFor(name), reason = b.link_reason ? `: ${b.link_reason}` : '';
  t.root.dataset.link = b.link;
  t.link.textContent = b.link === 'up' ? '● monitoring' : b.link === 'silent' ? 'no link' : 'connecting';
  t.notmon.hidden = b.link === 'up';
  t.notmon.textContent = b.link === 'silent' ? `NOT MONITORING${reason}` : `CONNECTING…${reason}`;
  const v = RM.vitals(b);
  t.root.dataset.stale = String(!v.fresh);
  t.rate.textContent = v.rate;
  t.state.textContent = v.state;
  t.state.dataset.state = v.fresh && b.state || '';
  t.quality.textContent = v.quality;
  t.age.textContent = v.age == null ? 'no vitals yet' : v.fresh ? '' : `last vitals ${RM.dur(v.age)} ago`;
  const trend = b.trend || [];
  const sig = `${trend.length} ${JSON.stringify(trend[trend.length - 1] || null)}`;
  if (sig !== t.sparkSig) { t.sparkSig = sig; drawSpark(t.spark, trend); }
}

function drawSpark(c, trend) {
  const {g, w, h} = RM.canvas(c);
  if (!g) return;
  const t0 = RM.now() - 900;
  const top = Math.max(40, Math.ceil(Math.max(0, ...trend.map(p => p[1] || 0)) / 10) * 10);
  const x = t => (t - t0) / 900 * w, y = v => h - 2 - Math.min(v, top) / top * (h - 4);
  g.strokeStyle = '#3a4350';
  g.fillStyle = '#7a8594';
  g.setLineDash([2, 3]);
  for (const v of [10, 30]) { g.beginPath(); g.moveTo(16, y(v)); g.lineTo(w, y(v)); g.stroke(); g.fillText(String(v), 0, y(v) + 3); }
  g.setLineDash([]);
  const pts = trend.filter(p => p[0] >= t0 - 10), last = pts.filter(p => p[1] != null).pop();
  RM.line(g, pts, x, y, '#5fd0ff', i => pts[i][0] - pts[i - 1][0] > 25);
  if (last) { g.fillStyle = '#5fd0ff'; g.fillRect(x(last[0]) - 2, y(last[1]) - 2, 4, 4); }
}

function renderTileAlarm(name) {
  const t = tiles.get(name);
  if (!t) return;
  const all = S.sorted(name), a = all[0];
  t.root.dataset.top = a ? a.priority : '';
  const sig = a ? JSON.stringify(a) + all.length : '';
  if (sig === t.alarmSig) return;
  t.alarmSig = sig;
  if (!a) { t.slot.replaceChildren(); return; }
  t.slot.replaceChildren(RM.alarmBlock(a, all.length - 1));
  if (!(a.id in window.respmonShown)) window.respmonShown[a.id] = Date.now();
}

// -- the alarm list
function fillItem(li, a) {
  const focused = li.contains(document.activeElement) ? document.activeElement.classList[0] : null;
  li.className = RM.alarmClass(a);
  Object.assign(li.dataset, {alarmId: a.id, bed: a.bed, priority: a.priority, condition: a.condition});
  li.replaceChildren(...[
    el('div', {class: 'al-head'}, el('span', {class: 'badge'}, RM.prioText(a.priority)),
      el('a', {class: 'bedref', href: `/bed/${encodeURIComponent(a.bed)}`}, a.bed), el('b', {}, RM.condText(a.condition)), RM.kindEl(a)),
    el('div', {class: 'meta'}, `onset ${RM.hms(a.onset)} · `,
      a.active ? ['on for ', RM.durEl(a)] : [el('b', {class: 'ended'}, 'ended — acknowledge'), ' · lasted ', RM.durEl(a)],
      a.rr_bpm != null ? ` · ${Math.round(a.rr_bpm)} bpm` : ''),
    a.acknowledged_by ? el('div', {class: 'meta'}, RM.ackEl(a)) : null,
    a.verdict ? el('div', {class: 'meta'}, `Verdict: ${RM.verdictText(a.verdict)}`) : null,
    RM.actions(a)].filter(Boolean));
  if (focused) { const f = li.querySelector(`.${focused}`); if (f) f.focus(); }
}

function renderList() {
  const all = S.sorted(), keep = new Set();
  $('#no-alarms').hidden = all.length > 0;
  $('#alarm-count').textContent = all.length ? `(${all.length})` : '';
  all.forEach((a, i) => {
    const k = RM.key(a.bed, a.id), sig = JSON.stringify(a);
    keep.add(k);
    let it = items.get(k);
    if (!it) { it = {li: el('li'), sig: null}; items.set(k, it); }
    if (it.sig !== sig) { it.sig = sig; fillItem(it.li, a); }
    if (list.children[i] !== it.li) list.insertBefore(it.li, list.children[i] || null);
  });
  for (const [k, it] of items) if (!keep.has(k)) { it.li.remove(); items.delete(k); }
}

function counts() {
  const beds = [...S.beds.values()], off = beds.filter(b => b.link !== 'up').length;
  $('#bed-count').textContent = `${beds.length} beds` + (off ? ` · ${off} not monitoring` : '');
}

S.subs.push((type, x) => {
  if (type === 'snapshot' || type === 'bed_removed') {
    for (const [n, t] of tiles) if (!S.beds.has(n)) { t.root.remove(); tiles.delete(n); }
    for (const n of S.beds.keys()) { renderBed(n); renderTileAlarm(n); }
    renderList();
  } else if (type === 'bed') {
    renderBed(x.name);
    renderTileAlarm(x.name);
  } else {
    renderTileAlarm(x.bed);
    renderList();
  }
  counts();
});

let ticks = 0;
const all = redraw => { if (redraw) for (const t of tiles.values()) t.sparkSig = null; for (const n of S.beds.keys()) renderBed(n); };
RM.onTick(() => all(++ticks % 10 === 0));  // the sparklines' 15 min window slides every 10 s
addEventListener('resize', () => all(true));
RM.start();
})();
