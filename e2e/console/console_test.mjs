// The operator console in a real browser (Debian's chromium driven by
// playwright-core) against a running stack brought up by
// console_browser_test.cc. Exits non-zero on the first failed check; prints
// one line `RESULT {json}` with what the C++ side checks in the trail and
// the page-load measurements.
//
// env: CONSOLE_URL, COLLECTOR_URL, SIM_URL, OPERATOR_TOKEN, VIEWER_TOKEN, ARTIFACT_DIR,
//      CHROMIUM (default /usr/bin/chromium)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

// playwright-core lives in the npm cache (NODE_PATH, scripts/ensure-npm.sh),
// which only require() consults.
const { chromium } = createRequire(import.meta.url)('playwright-core');
const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const CONSOLE = env('CONSOLE_URL');
const ART = env('ARTIFACT_DIR');
fs.mkdirSync(ART, { recursive: true });
const HOSTILE_SUMMARY = '<script>window.__pwned = "script"</script>web ran out of memory';
const HOSTILE_DESC = '<img src=x onerror="window.__pwned = \'img\'">see runbook';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const step = (what) => console.log(`[console-test] ${new Date().toISOString()} ${what}`);

async function post(url, body) {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`POST ${url}: ${r.status} ${await r.text()}`);
}

// kube-sim: demo/web uses more memory than its limit until a pod is OOM-killed.
async function oomKilledPod() {
  const sim = env('SIM_URL');
  await post(`${sim}/sim/v1/faults/memory`, { namespace: 'demo', workload: 'deployment/web', bytes: '300Mi' });
  for (let i = 0; i < 60; i++) {
    const pods = await (await fetch(`${sim}/api/v1/namespaces/demo/pods`)).json();
    const dead = (pods.items || []).find((p) => p.metadata.name.startsWith('web-') && JSON.stringify(p.status || {}).includes('OOMKilled'));
    if (dead) return dead.metadata.name;
    await sleep(500);
  }
  throw new Error('kube-sim: no web pod was OOM-killed within 30 s');
}

async function login(browser, token) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => { throw new Error('page error: ' + e.message); });
  page.on('dialog', (d) => d.accept());
  await page.goto(CONSOLE + '/console/');
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');
  return { ctx, page };
}

async function shot(page, name) {
  const file = path.join(ART, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  step('screenshot ' + file);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // (launch() gives chromium a fresh temporary --user-data-dir of its own and
  // refuses one passed here.)
});
const result = {};
try {
  // ---- page load: a cold context, the login page and its assets.
  step('page load');
  {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const resp = await page.goto(CONSOLE + '/console/', { waitUntil: 'load' });
    const csp = resp.headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'/, 'CSP header on the page');
    assert.match(csp, /default-src 'none'/);
    const perf = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource');
      return { load_ms: nav.loadEventEnd - nav.startTime, dcl_ms: nav.domContentLoadedEventEnd - nav.startTime,
        bytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0), requests: 1 + res.length };
    });
    Object.assign(result, { load_ms: Math.round(perf.load_ms), dcl_ms: Math.round(perf.dcl_ms),
      transfer_bytes: perf.bytes, requests: perf.requests });
    await shot(page, '00-login');
    // Without a session every API call is refused.
    const anon = await page.evaluate(async () => (await fetch('/console/api/incidents')).status);
    assert.equal(anon, 401, 'incidents without a session');
    const badLogin = await page.evaluate(async () => (await fetch('/console/api/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"token":"wrong"}' })).status);
    assert.equal(badLogin, 401, 'login with a wrong token');
    await ctx.close();
  }

  // ---- operator logs in: the token is not in the URL nor in web storage.
  step('operator login');
  const op = await login(browser, env('OPERATOR_TOKEN'));
  assert.ok(!op.page.url().includes(env('OPERATOR_TOKEN')));
  const storage = await op.page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
  assert.ok(!storage.includes(env('OPERATOR_TOKEN')), 'token kept out of web storage');
  const cookies = await op.ctx.cookies();
  const sess = cookies.find((c) => c.name === 'kubemend_session');
  assert.ok(sess && sess.httpOnly && sess.sameSite === 'Strict', 'HttpOnly SameSite=Strict session cookie: ' + JSON.stringify(cookies));
  assert.ok(!sess.value.includes(env('OPERATOR_TOKEN')));
  await op.page.waitForSelector('#incidents', { state: 'attached' });
  await op.page.waitForFunction(() => document.querySelector('#live').classList.contains('on'));
  await op.page.evaluate(() => { window.__noReload = true; });

  // ---- a webhook with a hostile annotation: the incident appears live.
  step('webhook');
  const pod = await oomKilledPod();
  await post(env('COLLECTOR_URL') + '/api/v1/alerts', { version: '4', status: 'firing', receiver: 'kubemend', alerts: [{
    status: 'firing', labels: { alertname: 'KubePodOOMKilled', namespace: 'demo', pod, deployment: 'web', container: 'app' },
    annotations: { summary: HOSTILE_SUMMARY, description: HOSTILE_DESC },
    startsAt: new Date().toISOString(), fingerprint: 'console-e2e-' + Date.now() }] });
  // (kube-sim's own OOMKilled watch signal may open or join an incident too:
  // look for the one the webhook's alert is in. Its row can move: once the
  // analyzer absorbs the alert's signal into the incident the watch signal
  // opened, the list shows it there, so click through a locator, which
  // finds the row again.)
  const rowSel = 'tr[data-incident]:has-text("KubePodOOMKilled")';
  await op.page.waitForSelector(rowSel, { timeout: 30000 });
  assert.equal(await op.page.evaluate(() => window.__noReload), true, 'appeared without a reload');
  await shot(op.page, '01-incidents');

  // ---- its timeline: the signal's facts, hostile annotations as text.
  await op.page.locator(rowSel).first().click();
  const incidentId = decodeURIComponent((await op.page.evaluate(() => location.hash)).replace('#/incident/', ''));
  step('timeline ' + incidentId);
  await op.page.waitForSelector('#timeline section[data-type=signal] .annotations');
  const annotations = (await op.page.locator('#timeline section[data-type=signal] .annotations').allTextContents())
    .find((t) => t.includes('runbook')) || '';
  assert.ok(annotations.includes(HOSTILE_SUMMARY), 'script annotation shown as text: ' + annotations);
  assert.ok(annotations.includes(HOSTILE_DESC), 'img annotation shown as text');
  assert.equal(await op.page.locator('#timeline script, #timeline img').count(), 0, 'no element from alert text');
  assert.equal(await op.page.evaluate(() => window.__pwned), undefined, 'no script from alert text ran');
  await shot(op.page, '02-timeline-signal');

  // ---- a viewer sees what waits for a human (kube-sim's OOMKilled watch
  // signal and the alert land on the same deployment: the analyzer proposes
  // once, for whichever came first) but cannot approve.
  step('viewer');
  const viewer = await login(browser, env('VIEWER_TOKEN'));
  await viewer.page.goto(CONSOLE + '/console/#/approvals');
  const vcard = await viewer.page.waitForSelector('#pending section[data-proposal]:has-text("IncreaseMemory")', { timeout: 30000 });
  const proposalId = await vcard.getAttribute('data-proposal');
  const healId = await vcard.getAttribute('data-incident');
  result.incident_id = healId;
  result.alert_incident_id = incidentId;
  assert.equal(await viewer.page.isDisabled(`#pending section[data-proposal="${proposalId}"] button.approve`), true);
  const refused = await viewer.page.evaluate(async (id) => {
    const s = await (await fetch('/console/api/session')).json();
    const r = await fetch(`/console/api/pending/${id}/approve`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Kubemend-CSRF': s.csrf }, body: '{"reason":"viewer tries"}' });
    return { status: r.status, body: await r.text() };
  }, proposalId);
  assert.equal(refused.status, 403, 'viewer approve: ' + JSON.stringify(refused));
  assert.match(refused.body, /operator/);
  await shot(viewer.page, '03-approvals-viewer');
  await viewer.ctx.close();

  // ---- the waiting incident's timeline: proposal, policy, the gate holding it.
  await op.page.goto(CONSOLE + '/console/#/incident/' + encodeURIComponent(healId));
  await op.page.waitForSelector('#timeline section[data-type=decision]', { timeout: 30000 });
  const proposalCard = (await op.page.locator('#timeline section[data-type=proposal]').allTextContents()).join(' ');
  assert.match(proposalCard, /IncreaseMemory/);
  assert.match(proposalCard, /oomkill-memory/, 'the policy behind it');
  assert.match((await op.page.locator('#timeline section[data-type=decision]').allTextContents()).join(' '), /awaiting_approval/);

  // ---- CSRF: the operator's own session, without the header, is refused.
  const noCsrf = await op.page.evaluate(async (id) => (await fetch(`/console/api/pending/${id}/approve`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"reason":"no csrf"}' })).status, proposalId);
  assert.equal(noCsrf, 403, 'approve without X-Kubemend-CSRF');
  const formPost = await op.page.evaluate(async (id) => (await fetch(`/console/api/pending/${id}/approve`, {
    method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'reason=x' })).status, proposalId);
  assert.equal(formPost, 415, 'a form-style (simple) POST');

  // ---- the operator approves by clicking; the outcome follows, live.
  step('approve ' + proposalId);
  await op.page.click('#nav a[data-page=approvals]');
  await op.page.waitForSelector(`#pending section[data-proposal="${proposalId}"]`);
  await shot(op.page, '04-approvals');
  await op.page.fill(`#pending section[data-proposal="${proposalId}"] input.reason`, 'memory fault confirmed');
  await op.page.click(`#pending section[data-proposal="${proposalId}"] button.approve`);
  await op.page.waitForFunction(() => /Approved/.test(document.querySelector('#approval-msg').textContent), null, { timeout: 15000 });
  const msg = await op.page.textContent('#approval-msg');
  result.decision_id = (msg.match(/decision ([0-9a-f-]{36})/) || [])[1];
  assert.ok(result.decision_id, 'decision id in: ' + msg);
  result.proposal_id = proposalId;
  await op.page.goto(CONSOLE + '/console/#/incident/' + encodeURIComponent(healId));
  await op.page.waitForSelector('#timeline section[data-type=outcome] .pill.succeeded', { timeout: 90000 });
  const decisions = await op.page.locator('#timeline section[data-type=decision]').allTextContents();
  assert.ok(decisions.some((d) => /approved/.test(d) && /alice/.test(d)), 'approved by alice: ' + decisions.join(' | '));
  const outcome = await op.page.textContent('#timeline section[data-type=outcome]');
  assert.match(outcome, /256Mi/, 'before value');
  assert.match(outcome, /384Mi/, 'after value');
  assert.match(outcome, /healthy\s*yes/, 'verified healthy: ' + outcome);
  await op.page.waitForSelector('h1 .pill.resolved', { timeout: 10000 });
  await shot(op.page, '05-timeline-healed');

  // ---- health: five services, verify the chain.
  step('health');
  await op.page.click('#nav a[data-page=health]');
  await op.page.waitForSelector('#health tr[data-service=audit]');
  assert.equal(await op.page.locator('#health tr[data-service]').count(), 5);
  await op.page.click('#verify');
  await op.page.waitForFunction(() => /intact/.test(document.querySelector('#chain').textContent), null, { timeout: 15000 });
  await shot(op.page, '06-health');
  // Pause and resume, with a reason and a confirmation (dialogs are accepted).
  await op.page.fill('#control-reason', 'console e2e: stop acting');
  await op.page.click('#pause');
  await op.page.waitForSelector('#resume', { timeout: 15000 });
  assert.match(await op.page.textContent('#gate'), /paused\s*yes/);
  await op.page.fill('#control-reason', 'console e2e: done');
  await op.page.click('#resume');
  await op.page.waitForSelector('#pause', { timeout: 15000 });
  await op.page.click('#nav a[data-page=actions]');
  await op.page.waitForSelector('#action-types tbody tr');
  assert.match(await op.page.textContent('#action-types'), /IncreaseMemory/);
  await shot(op.page, '07-actions');
  await op.page.click('#nav a[data-page=policies]');
  await op.page.waitForSelector('table tbody tr');
  await shot(op.page, '08-policies');
  await op.ctx.close();
} finally {
  await browser.close();
}
console.log('RESULT ' + JSON.stringify(result));
