// respmon ward station (docs/station-api.md): what the ward and bed pages share.
'use strict';
(() => {
const RM = window.RM = {};
window.respmonShown = window.respmonShown || Object.create(null);
// word tables without a prototype: a bed's condition or state named `constructor` or `__proto__`
// is an unknown word shown as it is, not Object's own function or prototype
const table = RM.table = o => Object.freeze(Object.assign(Object.create(null), o));
const $ = RM.$ = (s, r = document) => r.querySelector(s);

const el = RM.el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'svg') e.insertAdjacentHTML('afterbegin', v);  // constant icons only
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid != null && kid !== false) e.append(kid);
  return e;
};
const svg = p => `<svg class="svg" viewBox="0 0 16 16" aria-hidden="true">${p}</svg>`;
RM.ICON = {
  patient: svg('<circle cx="8" cy="4" r="3"/><path d="M2 16c0-4.5 2.7-6.5 6-6.5s6 2 6 6.5z"/>'),
  technical: svg('<path d="M10.8.6a4.6 4.6 0 0 0-4.5 6L.6 12.3a1.8 1.8 0 0 0 2.6 2.6L9 9.2a4.6 4.6 0 0 0 6-4.5l-2.6 2.6-2.4-.6-.6-2.4z"/>'),
  silenced: svg('<path d="M1 5.5h3L8 2v12l-4-3.5H1z"/><path d="M10 5.5l5 5m0-5l-5 5" stroke="currentColor" stroke-width="1.8"/>'),
};

// -- words
RM.PRIO = table({high: {rank: 0, label: 'HIGH', mark: '!!!'}, medium: {rank: 1, label: 'MED', mark: '!!'},
  low: {rank: 2, label: 'LOW', mark: '!'}});
RM.rank = a => (RM.PRIO[a && a.priority] || {rank: 3}).rank;
RM.prioText = p => { const x = RM.PRIO[p]; return x ? `${x.mark} ${x.label}` : String(p || '?').toUpperCase(); };
RM.cmpAlarm = (a, b) => RM.rank(a) - RM.rank(b) || a.onset - b.onset ||
  String(a.bed).localeCompare(String(b.bed)) || String(a.id).localeCompare(String(b.id));
RM.COND = table({central_apnea: 'Central apnea', tachypnea: 'Tachypnea', bradypnea: 'Bradypnea',
  biots: "Biot's breathing", cheyne_stokes: 'Cheyne–Stokes breathing', camera_lost: 'Camera lost',
  nobody_in_bed: 'Nobody in bed', low_signal_quality: 'Low signal quality',
  monitoring_restarted: 'Monitoring restarted', bed_silent: 'Bed silent'});
const words = c => c ? c[0].toUpperCase() + c.slice(1).replace(/_/g, ' ') : '—';
RM.condText = c => RM.COND[c] || words(c);
RM.PATTERN = table({eupnea: 'Eupnea (normal breathing)',
  ...Object.fromEntries(['tachypnea', 'bradypnea', 'biots', 'cheyne_stokes', 'central_apnea'].map(p => [p, RM.COND[p]])),
  noise: 'Noise / artefact'});
RM.VERDICT = table({confirmed: 'Confirmed', false_alarm: 'False alarm', other_pattern: 'Other pattern'});
RM.STATE = table({breathing: 'Breathing', apnea: 'APNEA', motion: 'Motion', absent: 'Nobody in bed',
  searching: 'Searching', lost: 'Signal lost', starting: 'Starting', stopping: 'Stopping'});
RM.stateText = s => s == null ? '—' : RM.STATE[s] || words(s);
RM.kindText = k => k === 'technical' ? 'TECHNICAL' : 'PATIENT';
RM.verdictText = v => !v ? '' : (RM.VERDICT[v.verdict] || v.verdict) +
  (v.pattern ? `: ${RM.PATTERN[v.pattern] || v.pattern}` : '') + (v.operator ? ` (${v.operator})` : '');

// -- time: every time is server wall clock; RM.offset corrects this browser's clock
RM.offset = 0;
RM.now = () => Date.now() / 1000 + RM.offset;
const p2 = n => String(n).padStart(2, '0');
RM.hms = t => { if (t == null) return '—'; const d = new Date(t * 1000); return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`; };
RM.dts = t => { if (t == null) return '—'; const d = new Date(t * 1000); return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${RM.hms(t)}`; };
RM.dur = s => {
  s = Math.max(0, Math.floor(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${p2(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${p2(Math.floor(s % 3600 / 60))} min`;
};
RM.mmss = s => { s = Math.max(0, Math.round(s)); return `${Math.floor(s / 60)}:${p2(s % 60)}`; };
// an alarm is sounding while it is on (or latched) and its audio is not paused by an acknowledgement
RM.silenced = a => a.silenced_until != null && a.silenced_until > RM.now();
RM.sounding = a => !!(a.active || a.latched) && !RM.silenced(a);

// one clock for everything that ticks (durations, staleness, the sound)
const tickers = [];
RM.onTick = f => tickers.push(f);
setInterval(() => { for (const f of tickers) { try { f(); } catch (e) { console.error(e); } } }, 1000);

// -- the server
RM.csrf = (() => { const m = $('meta[name="csrf-token"]'); const v = m && m.content; return v && !v.includes('{{') ? v : ''; })();

RM.api = async (method, url, body, retried) => {
  const opt = {method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
  if (method !== 'GET') {
    opt.headers['X-CSRF-Token'] = RM.csrf;
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body || {});
  }
  let r;
  try { r = await fetch(url, opt); } catch (e) {
    throw Object.assign(new Error('the station cannot be reached'), {status: 0});
  }
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (r.redirected && /\/login/.test(r.url)) throw Object.assign(new Error('the session has expired'), {status: 401});
  if (r.status === 403 && method !== 'GET' && !retried) {
    const old = RM.csrf;  // a token that changed (logged in again in another tab): once more with the new one
    try { await RM.ward(); } catch (e) { /* keep the first answer */ }
    if (RM.csrf && RM.csrf !== old) return RM.api(method, url, body, true);
  }
  if (!r.ok || data == null) {
    throw Object.assign(new Error((data && data.error) || `${r.status} ${r.statusText || 'error'}`), {status: r.status});
  }
  return data;
};

RM.ward = async () => {
  const t0 = Date.now();
  const w = await RM.api('GET', '/api/ward');
  if (typeof w.now === 'number') RM.offset = w.now - (t0 + Date.now()) / 2000;
  if (w.csrf) RM.csrf = w.csrf;
  const st = $('#station'), op = $('#operator');
  if (st && w.station) st.textContent = w.station;
  if (op && w.operator) op.textContent = w.operator;
  return w;
};

RM.showError = (msg, status) => {
  const b = $('#error-banner');
  if (!b) return;
  const expired = status === 401;
  b.replaceChildren(el('span', {text: expired ? `Session expired (${msg}): log in again to act on alarms.` : msg}),
    expired ? el('a', {class: 'btn', href: '/login'}, 'Log in again') : '',
    el('button', {type: 'button', class: 'dismiss', 'aria-label': 'Dismiss', onclick: () => { b.hidden = true; }}, '×'));
  b.hidden = false;
};

RM.logout = async () => {
  try {
    await fetch('/logout', {method: 'POST', credentials: 'same-origin', redirect: 'manual',
      headers: {'X-CSRF-Token': RM.csrf}, body: new URLSearchParams({csrf: RM.csrf})});
  } catch (e) { /* go to the login page anyway */ }
  location.href = '/login';
};

// -- beds and alarms on display
RM.key = (bed, id) => `${bed}\u0000${id}`;
const S = RM.store = {beds: new Map(), alarms: new Map(), subs: []};
const emit = (type, x) => { for (const f of S.subs) f(type, x); };
const put = a => {
  if (!a || a.id == null || a.bed == null) return;
  const k = RM.key(a.bed, a.id);
  if (a.active || a.latched) S.alarms.set(k, a); else S.alarms.delete(k);
};
S.snapshot = w => {
  S.beds = new Map((w.beds || []).map(b => [b.name, b]));
  S.alarms = new Map();
  for (const b of w.beds || []) put(b.alarm);
  for (const a of w.alarms || []) put(a);
  emit('snapshot', w);
};
S.bed = b => { if (!b || b.name == null) return; S.beds.set(b.name, b); put(b.alarm); emit('bed', b); };
S.alarm = a => { put(a); emit('alarm', a); };
S.removed = r => { S.alarms.delete(RM.key(r.bed, r.id)); emit('removed', r); };
S.bedRemoved = r => {
  S.beds.delete(r.name);
  for (const [k, a] of S.alarms) if (a.bed === r.name) S.alarms.delete(k);
  emit('bed_removed', r);
};
S.sorted = bed => [...S.alarms.values()].filter(a => bed == null || a.bed === bed).sort(RM.cmpAlarm);

// -- the event stream
// At every (re)open /api/ward is read again; events that come meanwhile are applied at once and
// again after it (in stream order: the last word wins). 45 s without a ping: opened afresh.
RM.connDownSince = null;
RM.live = () => {
  let es = null, timer = null, retry = 1000, last = Date.now(), buf = null, expired = false;
  const setUp = up => {
    RM.connDownSince = up ? null : RM.connDownSince || Date.now();
    const c = $('#conn');
    if (c) { c.dataset.state = up ? 'up' : 'down'; c.textContent = up ? 'live' : 'connection lost'; }
    const b = $('#conn-banner');
    if (b) b.hidden = up;
  };
  const resync = async () => {
    buf = [];
    try {
      const w = await RM.ward();
      const late = buf;
      buf = null;
      S.snapshot(w);
      for (const [f, d] of late) f(d);
    } catch (e) {
      buf = null;
      if (e.status === 401) { expired = true; RM.showError(e.message, 401); }
    }
  };
  const on = (type, f) => es.addEventListener(type, ev => {
    last = Date.now();
    let d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    if (buf) buf.push([f, d]);
    f(d);
  });
  const again = () => {
    if (es) es.close();
    es = null;
    setUp(false);
    clearTimeout(timer);
    timer = setTimeout(open, retry);
    retry = Math.min(retry * 2, 15000);
  };
  const open = () => {
    if (es) es.close();
    last = Date.now();
    es = new EventSource('/api/events');
    es.onopen = () => { retry = 1000; last = Date.now(); expired = false; setUp(true); resync(); };
    es.onerror = () => {
      setUp(false);
      if (es && es.readyState === 2) {  // closed for good (401, 503): find out why, then try again
        RM.ward().catch(e => { if (e.status === 401) RM.showError(e.message, 401); });
        again();
      }
    };
    on('bed', S.bed);
    on('alarm', S.alarm);
    on('alarm_removed', S.removed);
    on('bed_removed', S.bedRemoved);
    on('ping', p => { if (typeof p.now === 'number') RM.offset = p.now - Date.now() / 1000; });
    on('session_expired', () => { if (!expired) RM.showError('the session has expired', 401); expired = true; again(); });
  };
  setInterval(() => { if (es && es.readyState === 1 && Date.now() - last > 45000) again(); }, 5000);
  open();
};

// -- acknowledge and verdict
RM.onUpdate = a => S.alarm(a);
RM.lookup = (bed, id) => S.alarms.get(RM.key(bed, id));
const aUrl = (bed, id, what) => `/api/alarms/${encodeURIComponent(bed)}/${encodeURIComponent(id)}/${what}`;

let dialog = null;
const verdictDialog = () => {
  if (dialog) return dialog;
  const opt = (v, t) => el('option', {value: v}, t);
  const verdict = el('select', {name: 'verdict', required: true}, opt('', 'choose…'),
    Object.entries({confirmed: 'Confirmed: the alarm was right', false_alarm: 'False alarm',
      other_pattern: 'Other pattern (choose it below)'}).map(([v, t]) => opt(v, t)));
  const pattern = el('select', {name: 'pattern', required: true, disabled: true}, opt('', 'choose…'),
    Object.entries(RM.PATTERN).map(([v, t]) => opt(v, t)));
  const note = el('textarea', {name: 'note', maxlength: 1000, rows: 3});
  const what = el('p', {class: 'meta vf-what'});
  const err = el('p', {class: 'vf-error', role: 'alert', hidden: true});
  const form = el('form', {id: 'verdict-form'}, el('h2', {id: 'verdict-title'}, 'Verdict on the alarm'), what,
    el('label', {}, 'Verdict', verdict), el('label', {}, 'Pattern seen', pattern),
    el('label', {}, 'Note (optional)', note), err,
    el('div', {class: 'row'}, el('button', {type: 'button', class: 'cancel'}, 'Cancel'),
      el('button', {type: 'submit'}, 'Save verdict')));
  const d = el('dialog', {id: 'verdict-dialog', 'aria-labelledby': 'verdict-title'}, form);
  document.body.append(d);
  const sync = () => { pattern.disabled = verdict.value !== 'other_pattern'; if (pattern.disabled) pattern.value = ''; };
  verdict.addEventListener('change', sync);
  form.querySelector('.cancel').addEventListener('click', () => d.close());
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const submit = form.querySelector('button[type=submit]');
    const body = {verdict: verdict.value, pattern: verdict.value === 'other_pattern' ? pattern.value : null, note: note.value};
    submit.disabled = true;
    err.hidden = true;
    try {
      RM.onUpdate(await RM.api('POST', aUrl(d.dataset.bed, d.dataset.alarmId, 'verdict'), body));
      d.close();
    } catch (x) {
      err.replaceChildren(x.status === 401 ? `Session expired (${x.message}). ` : `Not saved: ${x.message}`,
        x.status === 401 ? el('a', {href: '/login'}, 'Log in again') : '');
      err.hidden = false;
    } finally { submit.disabled = false; }
  });
  dialog = {d, verdict, pattern, note, what, err, sync};
  return dialog;
};
RM.openVerdict = (bed, id) => {
  const v = verdictDialog(), a = RM.lookup(bed, id) || {};
  v.d.dataset.bed = bed;
  v.d.dataset.alarmId = id;
  v.what.textContent = `${bed}: ${RM.condText(a.condition)}${a.onset ? `, onset ${RM.dts(a.onset)}` : ''}`;
  const old = a.verdict || {};
  v.verdict.value = old.verdict || '';
  v.sync();
  v.pattern.value = old.pattern || '';
  v.note.value = old.note || '';
  v.err.hidden = true;
  if (!v.d.open) v.d.showModal();
  v.verdict.focus();
};
document.addEventListener('click', async e => {
  const b = e.target.closest('button.ack, button.verdict');
  if (!b || !b.dataset.alarmId) return;
  e.stopPropagation();
  const bed = b.dataset.bed, id = b.dataset.alarmId;
  if (b.classList.contains('verdict')) { RM.openVerdict(bed, id); return; }
  b.disabled = true;
  try { RM.onUpdate(await RM.api('POST', aUrl(bed, id, 'ack'), {})); } catch (x) {
    if (x.status === 401) RM.showError(x.message, 401);
    else RM.showError(`Not acknowledged (${bed}, ${RM.condText((RM.lookup(bed, id) || {}).condition)}): ${x.message}`);
  } finally { b.disabled = false; }
});
RM.actions = (a, ack = true) => el('span', {class: 'actions'},
  ack ? el('button', {type: 'button', class: 'ack', 'data-bed': a.bed, 'data-alarm-id': a.id}, 'Acknowledge') : null,
  el('button', {type: 'button', class: 'verdict', 'data-bed': a.bed, 'data-alarm-id': a.id}, 'Verdict…'));

// -- an alarm's display
RM.alarmClass = a => `p-${a.priority} k-${a.kind === 'technical' ? 'technical' : 'physiological'}` +
  (a.active ? ' is-active' : '') + (a.latched ? ' is-latched' : '');
RM.kindEl = a => el('span', {class: 'kind', svg: RM.ICON[a.kind === 'technical' ? 'technical' : 'patient']}, RM.kindText(a.kind));
RM.durEl = a => el('span', {class: 'dur', 'data-onset': a.onset, 'data-until': a.cleared == null ? '' : a.cleared},
  RM.dur((a.cleared == null ? RM.now() : a.cleared) - a.onset));
RM.ackEl = a => {
  if (!a.acknowledged_by) return null;
  const sil = RM.silenced(a);
  return el('span', {class: 'ackd'}, `✓ acknowledged by ${a.acknowledged_by} at ${RM.hms(a.acknowledged_at)}`,
    el('span', {class: 'sil', 'data-until': a.silenced_until == null ? '' : a.silenced_until, hidden: !sil, svg: RM.ICON.silenced},
      ' silenced ', el('span', {class: 'sil-t'}, sil ? RM.mmss(a.silenced_until - RM.now()) : '')));
};
RM.alarmBlock = (a, more) => el('div', {class: `alarm ${RM.alarmClass(a)}`, 'data-alarm-id': a.id, 'data-priority': a.priority,
  'data-condition': a.condition, 'data-kind': a.kind, 'data-state': a.active ? 'active' : 'latched'},
el('span', {class: 'prio'}, RM.prioText(a.priority)), el('span', {class: 'cond'}, RM.condText(a.condition)), RM.kindEl(a),
a.active ? el('span', {class: 'since'}, 'for ', RM.durEl(a)) : el('span', {class: 'ended'}, 'ended — acknowledge'),
RM.ackEl(a), more > 0 ? el('span', {class: 'more'}, `+${more} more`) : null);
// a bed's vitals are current when under 10 s old from a bed that is not silent: else no rate is shown
RM.vitals = b => {
  const age = b.last_vitals == null ? null : RM.now() - b.last_vitals, fresh = b.link !== 'silent' && age != null && age <= 10;
  return {age, fresh, rate: fresh && b.rr_bpm != null ? String(Math.round(b.rr_bpm)) : '—', state: fresh ? RM.stateText(b.state) : 'no current vitals',
    quality: fresh && b.quality != null ? `signal ${Math.round(b.quality * 100)} %` : ''};
};
RM.tickAlarmTimes = () => {
  const now = RM.now();
  for (const d of document.querySelectorAll('.dur')) {
    const until = d.dataset.until ? +d.dataset.until : now;
    d.textContent = RM.dur(until - +d.dataset.onset);
  }
  for (const s of document.querySelectorAll('.sil')) {
    const left = s.dataset.until ? +s.dataset.until - now : 0;
    s.hidden = left <= 0;
    s.querySelector('.sil-t').textContent = left > 0 ? RM.mmss(left) : '';
  }
};
RM.onTick(RM.tickAlarmTimes);
// a polyline through [x, y|null, ...] points, broken at nulls and where gap(i) says so
RM.line = (g, pts, X, Y, color, gap = () => false) => {
  g.strokeStyle = color;
  g.lineWidth = 1.5;
  g.beginPath();
  let pen = false;
  pts.forEach((p, i) => {
    if (p[1] == null || (i && gap(i))) pen = false;
    if (p[1] == null) return;
    if (pen) g.lineTo(X(p[0]), Y(p[1])); else { g.moveTo(X(p[0]), Y(p[1])); g.lineTo(X(p[0]) + 0.5, Y(p[1])); }
    pen = true;
  });
  g.stroke();
};
// a canvas sized to its CSS box at the screen's pixel density: {g, w, h} in CSS pixels
RM.canvas = c => {
  const w = c.clientWidth, h = c.clientHeight, dpr = window.devicePixelRatio || 1;
  if (!w || !h) return {};
  c.width = Math.round(w * dpr);
  c.height = Math.round(h * dpr);
  const g = c.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.font = '11px system-ui, sans-serif';
  return {g, w, h};
};

// -- the alarm sound (Web Audio, IEC 60601-1-8 burst shapes)
// Only the highest sounding priority plays. A station that lost its own connection for 10 s sounds
// as a medium technical alarm (the beds cannot reach it).
const BURST = {
  high: {f: 660, d: 0.1, g: 0.55, every: 5, at: [0, .175, .35, .7, .875, 1.325, 1.5, 1.675, 2.025, 2.2]},
  medium: {f: 523, d: 0.2, g: 0.45, every: 15, at: [0, .4, .8]},
  low: {f: 440, d: 0.2, g: 0.3, at: [0]},
};
const A = RM.audio = {ctx: null, wave: null, last: {high: -1e9, medium: -1e9}, lowDone: new Set(), top: null, log: [], oscs: [], playing: null,
  source: () => S.alarms.values()};
A.running = () => !!A.ctx && A.ctx.state === 'running';
A.show = () => {
  const on = A.running(), b = $('#sound-on'), banner = $('#audio-banner');
  if (banner) banner.hidden = on;
  if (b) { b.setAttribute('aria-pressed', String(on)); b.textContent = on ? 'Sound is on' : 'Sound on'; }
  document.documentElement.dataset.audio = on ? 'on' : 'off';
};
A.enable = async () => {
  try {
    if (!A.ctx) {
      const C = window.AudioContext || window.webkitAudioContext;
      if (!C) return;
      A.ctx = new C();
      A.ctx.onstatechange = A.show;
    }
    if (A.ctx.state !== 'running') await A.ctx.resume();
  } catch (e) { /* stays off; the banner says so */ }
  A.show();
};
const tone = (t, f, d, g) => {
  const c = A.ctx, o = c.createOscillator(), v = c.createGain();
  if (!A.wave) {  // a fundamental and 4 harmonics (IEC: at least 4 harmonics)
    const re = new Float32Array(6), im = new Float32Array(6);
    for (let k = 1; k < 6; k++) im[k] = 1 / k;
    A.wave = c.createPeriodicWave(re, im);
  }
  o.setPeriodicWave(A.wave);
  o.frequency.value = f;
  const r = Math.min(0.02, d / 5);
  v.gain.setValueAtTime(0, t);
  v.gain.linearRampToValueAtTime(g, t + r);
  v.gain.setValueAtTime(g, t + d - r);
  v.gain.linearRampToValueAtTime(0, t + d);
  o.connect(v).connect(c.destination);
  o.start(t);
  o.stop(t + d + 0.02);
  o.t1 = t + d;
  A.oscs.push(o);
};
A.play = p => {
  const b = BURST[p], t0 = A.ctx.currentTime + 0.05;
  A.playing = p;
  A.oscs = A.oscs.filter(o => o.t1 > A.ctx.currentTime);
  for (const x of b.at) tone(t0 + x, b.f, b.d, b.g);
  A.log.push({priority: p, at: Date.now()});
  if (A.log.length > 50) A.log.shift();
};
A.tick = () => {
  let top = null;
  const lows = [];
  for (const a of A.source()) {
    if (!RM.sounding(a) || !RM.PRIO[a.priority]) continue;
    if (!top || RM.rank(a) < RM.PRIO[top].rank) top = a.priority;
    if (a.priority === 'low') lows.push(a);
  }
  if (RM.connDownSince && Date.now() - RM.connDownSince > 10000 && (!top || top === 'low')) top = 'medium';
  A.top = top;
  document.documentElement.dataset.sounding = top || 'none';
  for (const p of ['high', 'medium']) if (top !== p) A.last[p] = -1e9;
  if (!A.running()) return;
  if (A.playing && A.playing !== top) {  // acknowledged (or gone): the burst under way stops now
    for (const o of A.oscs) try { o.stop(); } catch (e) { /* already ended */ }
    A.oscs = [];
    A.playing = null;
  }
  const now = Date.now() / 1000;
  if ((top === 'high' || top === 'medium') && now - A.last[top] >= BURST[top].every) { A.last[top] = now; A.play(top); }
  let fresh = false;
  for (const a of lows) { const k = RM.key(a.bed, a.id); if (!A.lowDone.has(k)) { A.lowDone.add(k); fresh = true; } }
  if (fresh && top === 'low') A.play('low');
};
setInterval(A.tick, 250);

// -- page start: header buttons, audio, first /api/ward, then the stream
RM.start = async (onFirst) => {
  const lo = $('#logout'), so = $('#sound-on');
  if (lo) lo.addEventListener('click', RM.logout);
  if (so) so.addEventListener('click', async () => { await A.enable(); if (A.running()) tone(A.ctx.currentTime + 0.05, 440, 0.1, 0.2); });
  // the browser lets sound start only after a gesture: the first click or key anywhere will do
  const gesture = () => { A.enable(); if (A.running()) { removeEventListener('pointerdown', gesture, true); removeEventListener('keydown', gesture, true); } };
  addEventListener('pointerdown', gesture, true);
  addEventListener('keydown', gesture, true);
  A.enable();
  A.show();
  let w = null;
  try { w = await RM.ward(); S.snapshot(w); } catch (e) { RM.showError(`The ward could not be read: ${e.message}`, e.status); }
  if (onFirst) await onFirst(w);
  RM.live();
};
})();
