// kubemend operator console. Plain JavaScript, no framework, no build step:
// the audit service serves this file as it is (compiled into the binary).
// Rule: text from the trail (alert labels and annotations are attacker-
// controlled) only ever reaches the page through textContent / text nodes;
// nothing here assigns innerHTML or builds markup from strings.
'use strict';

const state = { subject: '', role: '', csrf: '', es: null, onRecord: null, timer: null };
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- DOM helpers
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (/^on/i.test(k) || k === 'style') throw new Error('refusing attribute ' + k);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const kid of kids) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return e;
}
function clear(node) { while (node.firstChild) node.firstChild.remove(); return node; }
function view(...kids) { return clear($('view')).append(...kids.flat()); }
function pill(text, cls) { return el('span', { class: 'pill ' + (cls || text || '') }, text || '-'); }
function kv(obj) {
  const entries = Object.entries(obj || {}).filter(([, v]) => v !== undefined && v !== '' && v !== null);
  if (!entries.length) return null;
  return el('dl', { class: 'kv' }, entries.map(([k, v]) =>
    [el('dt', {}, k), el('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))]));
}
function enumName(v, prefix) {
  return v ? String(v).replace(prefix, '').toLowerCase() : '';
}
function actionName(t) {
  if (!t) return '';
  const s = String(t).replace('ACTION_TYPE_', '');
  if (!s.includes('_') && s !== s.toUpperCase()) return s;
  return s.toLowerCase().split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}
function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  const diff = Math.round((Date.now() - d.getTime()) / 1000);
  const s = Math.abs(diff);
  const span = s < 60 ? s + 's' : s < 3600 ? Math.round(s / 60) + 'm'
    : s < 86400 ? Math.round(s / 3600) + 'h' : Math.round(s / 86400) + 'd';
  const ago = diff < 0 ? 'in ' + span : span + ' ago';
  return d.toISOString().replace('T', ' ').slice(0, 19) + ' (' + ago + ')';
}
function target(t) {
  t = t || {};
  return [t.namespace, t.kind && t.name ? t.kind + '/' + t.name : t.name, t.container && '[' + t.container + ']']
    .filter(Boolean).join(' ');
}
// At most one reload per 300 ms however fast rows arrive (a debounce would
// starve while a busy trail streams without pause).
function later(fn) {
  if (state.timer) return;
  state.timer = setTimeout(() => { state.timer = null; fn(); }, 300);
}
function message(node, text, bad) { clear(node).append(el('span', { class: bad ? 'error' : 'muted' }, text)); }

// ---------------------------------------------------------------- API
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') {
    opts.headers['Content-Type'] = 'application/json';
    opts.headers['X-Kubemend-CSRF'] = state.csrf;
    opts.body = JSON.stringify(body || {});
  }
  const r = await fetch('/console/api' + path, opts);
  let j = {};
  try { j = await r.json(); } catch (e) { /* not JSON */ }
  if (r.status === 401 && path !== '/login') showLogin('Your session has ended: log in again.');
  if (!r.ok) { const e = new Error(j.error || r.statusText); e.status = r.status; throw e; }
  return j;
}

// ---------------------------------------------------------------- session
function showLogin(why) {
  if (state.es) { state.es.close(); state.es = null; }
  $('nav').hidden = true; $('logout').hidden = true; $('who').textContent = '';
  clear($('view'));
  $('login').hidden = false;
  $('login-error').textContent = why || '';
}
function loggedIn(s) {
  Object.assign(state, { subject: s.subject, role: s.role, csrf: s.csrf });
  $('login').hidden = true; $('nav').hidden = false; $('logout').hidden = false;
  $('who').textContent = s.subject + ' (' + s.role + ')';
  $('authoff').hidden = s.auth_enabled !== false;
  startStream();
  route();
}
$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const s = await api('POST', '/login', { token: $('token').value });
    $('token').value = '';
    loggedIn(s);
  } catch (e) { $('login-error').textContent = 'Login failed: ' + e.message; }
});
$('logout').addEventListener('click', async () => {
  try { await api('POST', '/logout'); } catch (e) { /* already gone */ }
  showLogin('Logged out.');
});

function startStream() {
  if (state.es) state.es.close();
  const es = new EventSource('/console/api/stream');
  es.addEventListener('open', () => { $('live').classList.add('on'); $('live').textContent = 'live'; });
  es.addEventListener('error', () => { $('live').classList.remove('on'); $('live').textContent = 'offline'; });
  es.addEventListener('record', (ev) => {
    const rec = JSON.parse(ev.data);
    if (state.onRecord) state.onRecord(rec);
  });
  state.es = es;
}

// ---------------------------------------------------------------- router
const pages = {};
function route() {
  if (!state.csrf) return;
  const [, page, arg] = (location.hash || '#/incidents').split('/');
  state.onRecord = null;
  clearTimeout(state.timer);
  state.timer = null;
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === (page === 'incident' ? 'incidents' : page));
  }
  (pages[page] || pages.incidents)(arg ? decodeURIComponent(arg) : '');
}
window.addEventListener('hashchange', route);

// ---------------------------------------------------------------- incidents
pages.incidents = () => {
  const ns = el('input', { id: 'f-namespace', placeholder: 'namespace' });
  const status = el('select', { id: 'f-status' }, ['', 'open', 'proposed', 'awaiting_approval', 'in_progress',
    'resolved', 'pending_merge', 'pr_closed', 'failed', 'rejected', 'expired', 'rolled_back', 'dry_run', 'skipped']
    .map((s) => el('option', { value: s }, s || 'any status')));
  const since = el('select', { id: 'f-since' }, [['1h', 'last hour'], ['24h', 'last 24 h'], ['7d', 'last 7 days'],
    ['30d', 'last 30 days'], ['', 'all time']].map(([v, t]) => el('option', { value: v }, t)));
  since.value = '7d';
  const body = el('tbody', { id: 'incidents' });
  const note = el('p', { class: 'muted' });
  const load = async () => {
    const q = new URLSearchParams({ limit: '200' });
    if (ns.value.trim()) q.set('namespace', ns.value.trim());
    if (status.value) q.set('status', status.value);
    if (since.value) q.set('since', since.value);
    try {
      const r = await api('GET', '/incidents?' + q);
      const list = r.incidents || [];
      clear(body).append(...list.map((i) => el('tr', {
        class: 'link', 'data-incident': i.incident_id,
        on: { click: () => { location.hash = '#/incident/' + encodeURIComponent(i.incident_id); } },
      }, el('td', {}, when(i.first_seen)), el('td', {}, target(i.target)), el('td', {}, (i.signals || []).join(', ')),
      el('td', {}, actionName(i.last_action)), el('td', {}, pill(i.verdict)), el('td', {}, pill(i.outcome)),
      el('td', {}, pill(i.status)), el('td', {}, i.events || 0))));
      note.textContent = list.length ? '' : 'No incidents match.';
    } catch (e) { message(note, e.message, true); }
  };
  for (const f of [ns, status, since]) f.addEventListener('change', load);
  view(el('h1', {}, 'Incidents'), el('div', { class: 'filters' }, ns, status, since),
    el('table', {}, el('thead', {}, el('tr', {}, ['first seen', 'target', 'signals', 'last action', 'verdict',
      'outcome', 'status', 'events'].map((h) => el('th', {}, h)))), body), note);
  state.onRecord = () => later(load);
  load();
};

// One card per trail row, by event type: what it carried, in plain text.
const cards = {
  signal: (s) => [el('h3', {}, 'Signal ', el('span', { class: 'mono' }, s.name || ''),
    pill(enumName(s.status, 'SIGNAL_STATUS_')), pill(enumName(s.severity, 'SEVERITY_'))),
  s.summary ? el('p', {}, s.summary) : null,
  kv({ source: enumName(s.source, 'SIGNAL_SOURCE_'), reason: s.reason, fingerprint: s.fingerprint,
    value: s.has_value ? s.value : '', threshold: s.has_value ? s.threshold : '', generator: s.generator_url }),
  s.labels ? [el('h4', {}, 'labels'), kv(s.labels)] : null,
  s.annotations ? [el('h4', {}, 'annotations'), el('div', { class: 'annotations' }, kv(s.annotations))] : null],
  proposal: (p) => [el('h3', {}, 'Proposal ', el('span', { class: 'mono' }, actionName(p.action && p.action.type)),
    p.requires_approval ? pill('needs approval', 'awaiting_approval') : null),
  p.reason ? el('p', {}, p.reason) : null,
  kv({ policy: p.policy && p.policy.name, 'policy version': p.policy && p.policy.version,
    'policy source': p.policy && p.policy.source, mode: enumName(p.mode, 'MODE_'), attempt: p.attempt,
    escalation: p.escalation ? 'yes' : '', action: p.action }),
  p.facts ? [el('h4', {}, 'facts'), kv(p.facts)] : null,
  p.advice ? [el('h4', {}, 'adviser'), kv(p.advice)] : null],
  decision: (d) => [el('h3', {}, 'Gate decision ', pill(enumName(d.verdict, 'VERDICT_')),
    el('span', { class: 'mono' }, d.rule || '')),
  d.reason ? el('p', {}, d.reason) : null,
  kv({ approver: d.approver, 'action id': d.action_id, 'dry run': d.dry_run ? 'yes' : '',
    expires: d.expires_at ? when(d.expires_at) : '' }),
  d.compared ? [el('h4', {}, 'compared values'), kv(d.compared)] : null],
  outcome: (o) => [el('h3', {}, 'Outcome ', pill(enumName(o.status, 'OUTCOME_STATUS_')),
    el('span', { class: 'mono' }, actionName(o.action && o.action.type))),
  o.changes && o.changes.length ? el('table', { class: 'diff' }, el('thead', {}, el('tr', {},
    el('th', {}, 'object'), el('th', {}, 'field'), el('th', {}, 'before'), el('th', {}, ''), el('th', {}, 'after'))),
  el('tbody', {}, o.changes.map((c) => el('tr', {}, el('td', {}, c.object || ''), el('td', { class: 'mono' }, c.path || ''),
    el('td', { class: 'before mono' }, c.before || '(none)'), el('td', {}, '\u2192'),
    el('td', { class: 'after mono' }, c.after || '(none)'))))) : null,
  o.verification ? [el('h4', {}, 'verification'), kv({
    attempted: o.verification.attempted ? 'yes' : 'no', healthy: o.verification.healthy ? 'yes' : 'no',
    detail: o.verification.detail, waited: o.verification.waited_ms ? o.verification.waited_ms + ' ms' : '' })] : null,
  o.pull_request && o.pull_request.url ? [el('h4', {}, 'pull request'), el('p', {},
    el('a', { href: /^https?:\/\//.test(o.pull_request.url) ? o.pull_request.url : '#', rel: 'noopener noreferrer',
      target: '_blank' }, o.pull_request.repository + ' #' + o.pull_request.number),
    ' ', el('span', { class: 'mono' }, (o.pull_request.file || '') + ' @ ' + (o.pull_request.branch || '')))] : null,
  kv({ 'action id': o.action_id, error: o.error, 'rolls back': o.rolls_back_action_id,
    started: o.started_at && when(o.started_at), finished: o.finished_at && when(o.finished_at) })],
  control: (c) => [el('h3', {}, 'Control'), kv(Object.assign({ 'issued by': c.issued_by, reason: c.reason },
    Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'issued_by' && k !== 'reason'))))],
};

pages.incident = (id) => {
  const head = el('div', {});
  const line = el('div', { class: 'timeline', id: 'timeline' });
  const load = async () => {
    try {
      const r = await api('GET', '/incidents/' + encodeURIComponent(id));
      const i = r.incident || {};
      clear(head).append(el('h1', {}, 'Incident ', el('span', { class: 'mono' }, id), ' ', pill(i.status)),
        kv({ target: target(i.target), 'first seen': when(i.first_seen), 'last seen': when(i.last_seen),
          signals: (i.signals || []).join(', '), events: i.events }));
      clear(line).append(...(r.records || []).map((rec) => {
        const type = rec.event_type;
        const ev = rec.event || {};
        const body = cards[type] && ev[type] ? cards[type](ev[type]) : [el('h3', {}, type)];
        return el('section', { class: 'card rec ' + type, 'data-type': type, 'data-seq': rec.seq },
          el('div', { class: 'muted' }, '#' + rec.seq + ' \u00b7 ' + when(rec.occurred_at) + ' \u00b7 ' +
            (rec.producer_service || '')), body);
      }));
    } catch (e) { message(head, e.message, true); }
  };
  view(el('p', {}, el('a', { href: '#/incidents' }, '\u2190 incidents')), head, line);
  state.onRecord = (rec) => { if (rec.incident_id === id) later(load); };
  load();
};

// ---------------------------------------------------------------- approvals
pages.approvals = () => {
  const list = el('div', { id: 'pending' });
  const note = el('div', { class: 'msg', id: 'approval-msg' });
  const operator = state.role === 'operator';
  const resolve = async (p, verb, reason) => {
    if (!reason.value.trim()) { message(note, 'Give a reason first.', true); return; }
    try {
      const r = await api('POST', '/pending/' + encodeURIComponent(p.proposal_id) + '/' + verb,
        { reason: reason.value.trim() });
      message(note, (verb === 'approve' ? 'Approved ' : 'Denied ') + p.proposal_id + ': decision ' + r.decision_id);
      load();
    } catch (e) { message(note, 'Refused: ' + e.message, true); }
  };
  const card = (p) => {
    const reason = el('input', { placeholder: 'reason (required)', class: 'reason' });
    const prop = p.proposal || {};
    return el('section', { class: 'card', 'data-proposal': p.proposal_id, 'data-incident': p.incident_id },
      el('h3', {}, actionName(prop.action && prop.action.type), ' on ', target(p.target), ' ',
        p.escalated ? pill('escalated', 'failed') : null),
      kv({ 'why it waits': (p.rule || '') + (p.reason ? ': ' + p.reason : ''), since: when(p.queued_at),
        expires: when(p.expires_at), policy: prop.policy && prop.policy.name, 'proposal reason': prop.reason,
        incident: p.incident_id, proposal: p.proposal_id }),
      p.compared ? kv(p.compared) : null,
      el('div', { class: 'actions-row' }, reason,
        el('button', { type: 'button', class: 'approve', disabled: !operator,
          title: operator ? '' : 'viewers cannot approve', on: { click: () => resolve(p, 'approve', reason) } }, 'Approve'),
        el('button', { type: 'button', class: 'deny', disabled: !operator,
          title: operator ? '' : 'viewers cannot deny', on: { click: () => resolve(p, 'deny', reason) } }, 'Deny')));
  };
  const load = async () => {
    try {
      const r = await api('GET', '/pending');
      const items = r.pending || [];
      clear(list).append(...(items.length ? items.map(card) : [el('p', { class: 'muted' }, 'Nothing waits for a human.')]));
    } catch (e) { message(list, e.message, true); }
  };
  view(el('h1', {}, 'Approvals'), operator ? null : el('p', { class: 'muted' }, 'You are a viewer: you can see, not approve.'),
    note, list);
  state.onRecord = (rec) => { if (rec.event_type === 'decision' || rec.event_type === 'proposal') later(load); };
  load();
};

// ---------------------------------------------------------------- health
pages.health = () => {
  const box = el('div', { id: 'health' });
  const note = el('div', { class: 'msg', id: 'health-msg' });
  const operator = state.role === 'operator';
  const act = async (question, path, body) => {
    if (!body.reason) { message(note, 'Give a reason first.', true); return; }
    if (!window.confirm(question)) return;
    try { await api('POST', path, body); message(note, 'Done.'); load(); } catch (e) { message(note, 'Refused: ' + e.message, true); }
  };
  const load = async () => {
    let h;
    try { h = await api('GET', '/health'); } catch (e) { message(box, e.message, true); return; }
    const rows = (h.services || []).map((s) => {
      const st = s.status || {};
      const lag = (st.lag || []).reduce((n, l) => n + Number(l.lag || 0), 0);
      return el('tr', { 'data-service': s.service }, el('td', {}, s.service),
        el('td', {}, s.error ? pill('down', 'down') : pill(st.serving ? 'serving' : 'not serving', st.serving ? 'serving' : 'bad')),
        el('td', {}, enumName(st.mode, 'MODE_')), el('td', {}, st.paused ? pill('paused', 'paused') : 'no'),
        el('td', {}, s.error ? '' : lag), el('td', {}, st.consumed || 0), el('td', {}, st.errors || 0),
        el('td', { class: 'muted' }, s.error || st.not_serving_reason || ''));
    });
    const g = h.gate || {};
    const c = h.chain;
    const reason = el('input', { id: 'control-reason', placeholder: 'reason (required)' });
    const mode = el('select', { id: 'mode-select' }, ['MONITOR', 'DRY_RUN', 'AUTOMATIC', 'MANUAL', 'LIMITED']
      .map((m) => el('option', { value: m }, m.toLowerCase())));
    mode.value = (g.mode || 'MODE_AUTOMATIC').replace('MODE_', '');
    clear(box).append(
      el('table', {}, el('thead', {}, el('tr', {}, ['service', 'serving', 'mode', 'paused', 'lag', 'consumed', 'errors', '']
        .map((x) => el('th', {}, x)))), el('tbody', {}, rows)),
      el('div', { class: 'grid' },
        el('section', { class: 'card', id: 'gate' }, el('h2', {}, 'Safety gate'),
          kv({ mode: enumName(g.mode, 'MODE_'), paused: g.paused ? 'yes' : 'no', breaker: g.breaker,
            'in flight': g.in_flight || 0, pending: g.pending || 0, 'policy modes': g.policy_modes }),
          el('div', { class: 'actions-row' }, reason),
          el('div', { class: 'actions-row' },
            el('button', { type: 'button', id: g.paused ? 'resume' : 'pause', class: g.paused ? '' : 'danger', disabled: !operator,
              on: { click: () => act(g.paused ? 'Resume remediation?' : 'Pause all remediation?', g.paused ? '/resume' : '/pause',
                { reason: reason.value.trim() }) } }, g.paused ? 'Resume' : 'Pause'),
            mode, el('button', { type: 'button', id: 'set-mode', disabled: !operator,
              on: { click: () => act('Set the gate to ' + mode.value.toLowerCase() + ' mode?', '/mode',
                { mode: mode.value, reason: reason.value.trim() }) } }, 'Set mode'))),
        el('section', { class: 'card', id: 'chain' }, el('h2', {}, 'Audit chain'),
          kv({ 'rows in trail': h.head_seq, 'last verified': c ? when(c.verified_at) : 'not yet (since this audit process started)',
            result: c ? (c.ok ? 'intact' : 'BROKEN at #' + c.bad_seq + ': ' + c.problem) : '',
            'rows checked': c ? c.checked : '', 'head hash': c ? c.head_hash : '' }),
          el('button', { type: 'button', id: 'verify', on: { click: async () => {
            try { await api('POST', '/verify'); load(); } catch (e) { message(note, e.message, true); }
          } } }, 'Verify now'))));
  };
  view(el('h1', {}, 'Health'), note, box);
  state.onRecord = (rec) => { if (rec.event_type === 'control') later(load); };
  load();
};

// ---------------------------------------------------------------- actions
function bars(values, labels) {
  const max = Math.max(1, ...values);
  const w = 100 / Math.max(1, values.length);
  const s = svg('svg', { class: 'chart', viewBox: '0 0 100 60', preserveAspectRatio: 'none' });
  values.forEach((v, i) => {
    const h = (v / max) * 50;
    const r = svg('rect', { x: i * w + w * 0.1, y: 52 - h, width: w * 0.8, height: h });
    r.append(svg('title', {}, labels[i] + ': ' + v));
    s.append(r);
  });
  return el('div', {}, s, el('div', { class: 'muted mono' }, labels.map((l, i) => l + '=' + values[i]).join('  ')));
}
pages.actions = async () => {
  const box = el('div', {});
  view(el('h1', {}, 'Actions (last 7 days)'), box);
  let acts, incs, health;
  try {
    [acts, incs, health] = await Promise.all([api('GET', '/actions?since=7d&limit=1000'),
      api('GET', '/incidents?since=30d&limit=1000'), api('GET', '/health').catch(() => ({}))]);
  } catch (e) { message(box, e.message, true); return; }
  const first = Object.fromEntries((incs.incidents || []).map((i) => [i.incident_id, Date.parse(i.first_seen)]));
  const byType = {};
  const heal = [];
  const perHour = new Array(24).fill(0);
  const now = Date.now();
  for (const a of acts.actions || []) {
    const t = actionName(a.action_type) || 'unknown';
    const s = byType[t] || (byType[t] = { total: 0, ok: 0, failed: 0, other: 0 });
    s.total++;
    const at = Date.parse(a.occurred_at);
    if (a.outcome === 'succeeded') s.ok++; else if (a.outcome === 'failed' || a.outcome === 'not_fixed') s.failed++; else s.other++;
    if (a.outcome === 'succeeded' && first[a.incident_id]) heal.push({ at, secs: (at - first[a.incident_id]) / 1000 });
    const hAgo = Math.floor((now - at) / 3600000);
    if (hAgo >= 0 && hAgo < 24) perHour[23 - hAgo]++;
  }
  const edges = [10, 30, 60, 300, 900, 3600, Infinity];
  const names = ['<10s', '<30s', '<1m', '<5m', '<15m', '<1h', '>1h'];
  const hist = edges.map(() => 0);
  for (const h of heal) hist[edges.findIndex((e) => h.secs < e)]++;
  heal.sort((a, b) => a.at - b.at);
  const g = health.gate || {};
  clear(box).append(
    el('table', { id: 'action-types' }, el('thead', {}, el('tr', {}, ['action', 'runs', 'succeeded', 'failed', 'other', 'success rate']
      .map((x) => el('th', {}, x)))), el('tbody', {}, Object.entries(byType).map(([t, s]) => el('tr', {},
      el('td', {}, t), el('td', {}, s.total), el('td', {}, s.ok), el('td', {}, s.failed), el('td', {}, s.other),
      el('td', {}, s.ok + s.failed ? Math.round((100 * s.ok) / (s.ok + s.failed)) + '%' : '-'))))),
    el('div', { class: 'grid' },
      el('section', { class: 'card' }, el('h2', {}, 'Time to heal (first signal \u2192 succeeded outcome)'), bars(hist, names)),
      el('section', { class: 'card' }, el('h2', {}, 'Time to heal over time (s)'),
        bars(heal.slice(-24).map((h) => Math.round(h.secs)), heal.slice(-24).map((h) => new Date(h.at).toISOString().slice(11, 16)))),
      el('section', { class: 'card' }, el('h2', {}, 'Actions per hour (last 24 h)'),
        bars(perHour, perHour.map((_, i) => (i - 23) + 'h'))),
      el('section', { class: 'card' }, el('h2', {}, 'In flight'), kv({ 'executing now (gate)': g.in_flight || 0,
        'waiting for a human': g.pending || 0 }))));
};

// ---------------------------------------------------------------- policies
pages.policies = async () => {
  const box = el('div', {});
  view(el('h1', {}, 'Policies'), box);
  let pol, acts;
  try {
    [pol, acts] = await Promise.all([api('GET', '/policies'), api('GET', '/actions?since=30d&limit=1000')]);
  } catch (e) { message(box, e.message, true); return; }
  const last = {};
  for (const a of acts.actions || []) {
    if (a.policy_name && (!last[a.policy_name] || a.occurred_at > last[a.policy_name].occurred_at)) last[a.policy_name] = a;
  }
  clear(box).append(
    (pol.policy_errors || []).map((e) => el('p', { class: 'error' }, e)),
    el('p', { class: 'muted' }, 'sources: ' + (pol.sources || '')),
    el('table', {}, el('thead', {}, el('tr', {}, ['policy', 'shape', 'mode', 'priority', 'actions', 'approval',
      'last triggered', 'what it did'].map((x) => el('th', {}, x)))),
    el('tbody', {}, (pol.policies || []).map((p) => {
      const name = (p.ref || {}).name || '';
      const l = last[name];
      return el('tr', {}, el('td', {}, name), el('td', {}, p.shape || ''), el('td', {}, enumName(p.mode, 'MODE_')),
        el('td', {}, p.priority || 0), el('td', {}, (p.actions || []).map(actionName).join(' \u2192 ')),
        el('td', {}, p.require_approval ? 'human' : 'rules'), el('td', {}, l ? when(l.occurred_at) : 'not in 30 days'),
        el('td', {}, l ? [actionName(l.action_type), ' ', pill(l.outcome), ' on ', target(l.target)] : ''));
    }))));
};

// ---------------------------------------------------------------- start
(async () => {
  try { loggedIn(await api('GET', '/session')); } catch (e) { showLogin(''); }
})();
