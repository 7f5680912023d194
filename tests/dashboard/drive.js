// Drives wirecache's dashboard in Debian's headless Chromium (playwright-core, no
// browser download) for tests/dashboard.rs. Env: DASH_URL (the admin port's page),
// DASH_TOKEN (the admin token), DASH_SHOTS (screenshot folder), DASH_BULK (templates in
// cache `bulk`). Prints one line per check and exits non-zero on the first failure.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const URL_ = process.env.DASH_URL;
const TOKEN = process.env.DASH_TOKEN;
const SHOTS = process.env.DASH_SHOTS;
const BULK = Number(process.env.DASH_BULK || '0');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let passed = 0;
function check(cond, what, detail) {
  if (!cond) throw new Error('FAILED: ' + what + (detail === undefined ? '' : ': ' + JSON.stringify(detail)));
  passed += 1;
  console.log('ok - ' + what);
}
async function api(p) {
  const r = await fetch(new URL(p, URL_));
  if (!r.ok) throw new Error(p + ': HTTP ' + r.status);
  return r.json();
}
const pct = (x) => (x * 100).toFixed(1) + '%';
// The page's duration format, to compare what it shows with the API's seconds.
function secs(s) {
  if (s >= 3600) return (s / 3600).toFixed(1) + ' h';
  if (s >= 60) return (s / 60).toFixed(1) + ' min';
  return s.toFixed(s < 10 ? 1 : 0) + ' s';
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: false });
}

async function choose(page, cache) {
  await page.selectOption('#cache-select', cache);
  await page.waitForFunction((c) => {
    const card = document.querySelector('.card.selected');
    return card && card.dataset.cache === c && document.querySelector('#templates tbody tr');
  }, cache);
}

async function rowIds(page) {
  return page.$$eval('#templates tbody tr', (rows) => rows.map((r) => r.dataset.id));
}

async function overview(page) {
  const data = await api('/api/caches');
  for (const c of data.caches) {
    const field = async (f) => page.textContent(`.card[data-cache="${c.id}"] [data-field="${f}"]`);
    check(await field('hit_ratio') === pct(c.hit_ratio), `overview ${c.id}: hit ratio ${pct(c.hit_ratio)}`);
    check(await field('hits_misses') === `${c.hits} / ${c.misses}`, `overview ${c.id}: hits and misses`);
    check(await field('entries') === String(c.entries), `overview ${c.id}: entries ${c.entries}`);
    check(await field('health') === 'healthy', `overview ${c.id}: origin healthy`);
  }
  const qps = await page.textContent('.card[data-cache="demo"] [data-field="qps"]');
  check(/^\d+\.\d$/.test(qps), 'overview demo: queries per second from the series', qps);
}

async function templatesAndSorting(page) {
  const api0 = await api('/api/templates?cache=demo&limit=50');
  check(JSON.stringify(await rowIds(page)) === JSON.stringify(api0.templates.map((t) => t.id)),
    'templates: rows in the API order (time saved)');
  const first = api0.templates[0];
  const cells = await page.$$eval('#templates tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
  check(cells[0] === first.template && cells[1] === String(first.calls) && cells[2] === pct(first.hit_ratio),
    'templates: first row shows text, calls and hit ratio of the API', cells);
  const now = api0.templates.find((t) => t.template.startsWith('select now'));
  const nowRow = await page.textContent(`#templates tbody tr[data-id="${now.id}"] td:last-child`);
  check(nowRow === now.reason_text && nowRow.length > 10, 'templates: the reason in plain words', nowRow);
  for (const order of ['desc', 'asc']) {
    await page.click('th button[data-sort="calls"]');
    const want = (await api(`/api/templates?cache=demo&limit=50&sort=calls&order=${order}`)).templates.map((t) => t.id);
    await page.waitForFunction((w) => {
      const ids = Array.from(document.querySelectorAll('#templates tbody tr')).map((r) => r.dataset.id);
      return JSON.stringify(ids) === JSON.stringify(w);
    }, want);
    check(true, `sorting: by calls ${order} matches the API`);
  }
}

async function detail(page) {
  const list = (await api('/api/templates?cache=demo&limit=50')).templates;
  const t = list.find((x) => x.template.includes('from items where id'));
  await page.click(`#templates tbody tr[data-id="${t.id}"] td.sql`);
  await page.waitForSelector('#detail:not(.hidden) #detail-explain dd[data-field="cacheable"]');
  check(await page.textContent('#detail-text') === t.template, 'detail: template text');
  const calls = await page.textContent('#detail-figures [data-field="calls"]');
  check(calls.startsWith(String(t.calls) + ' '), 'detail: calls match the API', calls);
  check(await page.textContent('#detail-explain [data-field="cacheable"]') === 'yes', 'detail: explain says cacheable');
  check(await page.$('#detail-ttl-chart canvas') !== null, 'detail: TTL history chart drawn');
  const one = (await api('/api/templates/' + t.id)).templates.find((x) => x.cache === 'demo');
  const h = one.ttl_history;
  check(h.some((p, i) => i > 0 && p.ttl_seconds < h[i - 1].ttl_seconds), 'detail: TTL history shows the write shortening it', h);
  const ttl = await page.textContent('#detail-figures [data-field="ttl"]');
  check(ttl.startsWith(secs(one.ttl_seconds)), 'detail: learned TTL matches the API', [ttl, one.ttl_seconds]);
  await page.locator('#detail').scrollIntoViewIfNeeded();
  await shot(page, 'detail.png');
}

async function xss(page) {
  const row = await page.$$eval('#templates tbody td.sql', (tds) => tds.map((t) => t.textContent).find((s) => s.includes('<script>')));
  check(Boolean(row) && row.includes('<img src=x onerror='), 'escaping: the HTML template is shown as text', row);
  check(await page.$('#templates img') === null && await page.$('#templates script') === null, 'escaping: no element was made from it');
  check(await page.evaluate(() => window.__xss) === undefined, 'escaping: its script did not run');
}

async function explainBox(page) {
  await page.fill('#explain-sql', 'SELECT now()');
  await page.click('#explain-go');
  await page.waitForSelector('#explain-out dd[data-field="reason"]');
  check(await page.textContent('#explain-out [data-field="cacheable"]') === 'no', 'explain box: SELECT now() is not cacheable');
  const why = await page.textContent('#explain-out [data-field="reason"]');
  check(why === 'it calls a function whose result can change (non_immutable_function)', 'explain box: and says why in plain words', why);
}

async function token(page, value) {
  await page.fill('#token', value);
  await page.click('#token-form button[type="submit"]');
}

async function wrongToken(page) {
  await token(page, 'wrong-' + TOKEN);
  check(await page.evaluate(() => location.href.indexOf('wrong') < 0), 'token: never in the URL');
  await page.selectOption('#purge-scope', 'cache');
  await page.click('#purge-go');
  await page.waitForSelector('#message.error');
  const msg = await page.textContent('#message');
  check(msg.includes('Refused') && msg.includes('token'), 'wrong token: refused with a visible message', msg);
  await page.locator('#message').scrollIntoViewIfNeeded();
  await shot(page, 'wrong-token.png');
}

async function purgeAndRule(page) {
  await token(page, TOKEN);
  check(await page.evaluate(() => sessionStorage.getItem('wirecache.token')) === TOKEN, 'token: kept in sessionStorage');
  await page.selectOption('#purge-scope', 'cache');
  await page.click('#purge-go');
  await page.waitForFunction(() => document.querySelector('#message.ok') &&
    document.querySelector('#message').textContent === 'Purged cache demo');
  check(true, 'purge: the page purged cache demo');
  await choose(page, 'shop');
  await page.fill('#rule-cache', 'shop');
  await page.fill('#rule-table', 'products');
  await page.selectOption('#rule-action', 'never');
  await page.click('#rule-save');
  await page.waitForFunction(() => document.querySelector('#message').textContent === 'Rules saved');
  const rules = (await api('/api/rules')).rules;
  check(rules.some((r) => r.cache === 'shop' && r.table === 'products' && r.action === 'never'), 'rules: added from the page', rules);
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#rules tbody tr'))
    .some((r) => r.textContent.includes('products') && r.textContent.includes('never')));
  check(true, 'rules: listed on the page');
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#templates .pin')).some((p) => p.textContent === 'never'));
  check(true, 'rules: the templates they cover are marked');
}

async function editAndDeleteRule(page) {
  await choose(page, 'demo');
  const count = (await api('/api/templates?cache=demo&limit=50')).templates.find((t) => t.template.includes('count'));
  await page.click(`#templates tbody tr[data-id="${count.id}"] td.sql`);
  await page.waitForFunction((id) => document.querySelector('#detail-id').textContent.startsWith(id), count.id);
  await page.fill('#detail-ttl', '42s');
  await page.click('#detail-pin');
  await page.waitForFunction((id) => {
    const r = document.querySelector(`#templates tbody tr[data-id="${id}"] .pin`);
    return r && r.textContent === 'pinned';
  }, count.id);
  let rules = (await api('/api/rules')).rules;
  const at = rules.findIndex((r) => r.template === count.id && r.ttl === '42s');
  check(at >= 0, 'detail: "Pin TTL" adds a rule for the template and the row shows it pinned', rules);
  await page.locator('#rules tbody tr').nth(at).getByRole('button', { name: 'Edit' }).click();
  await page.fill('#rule-ttl', '43s');
  await page.click('#rule-save');
  await page.waitForFunction(() => document.querySelector('#message').textContent === 'Rules saved');
  rules = (await api('/api/rules')).rules;
  check(rules[at].ttl === '43s' && rules.length === at + 1, 'rules: edited from the page', rules);
  await page.waitForFunction((n) => document.querySelectorAll('#rules tbody tr').length === n, rules.length);
  await page.locator('#rules tbody tr').nth(at).getByRole('button', { name: 'Delete' }).click();
  await page.waitForFunction(() => document.querySelector('#message').textContent === 'Rule deleted');
  rules = (await api('/api/rules')).rules;
  check(!rules.some((r) => r.template === count.id), 'rules: deleted from the page', rules);
  await page.locator('.actions').scrollIntoViewIfNeeded();
  await shot(page, 'actions.png');
}

async function heatMap(page) {
  const s = await api('/api/series?cache=demo');
  check(s.heat.length >= 3 && s.t.length >= 3, 'series: points and busy templates sampled', [s.t.length, s.heat.length]);
  const h = await page.$eval('#heat', (c) => c.height);
  check(h === s.heat.length * 18 + 20, 'heat map: one row per busy template', h);
}

async function bulk(page) {
  const started = Date.now();
  await choose(page, 'bulk');
  await page.waitForFunction((n) => document.querySelector('#template-count').textContent.startsWith(n + ' templates'), BULK);
  const rows = (await rowIds(page)).length;
  check(rows === 50, `1,000 templates: one page of 50 rows rendered in ${Date.now() - started} ms`, rows);
  check(await page.textContent('#page-info') === `page 1 of ${Math.ceil(BULK / 50)}`, 'paging: page count');
  await page.click('#page-next');
  await page.waitForFunction(() => document.querySelector('#page-info').textContent.startsWith('page 2 '));
  const want = (await api('/api/templates?cache=bulk&limit=50&offset=50')).templates.map((t) => t.id);
  check(JSON.stringify(await rowIds(page)) === JSON.stringify(want), 'paging: page 2 matches the API');
  const t0 = Date.now();
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  check(Date.now() - t0 < 1000, 'responsive: a frame within a second at 1,000 templates');
}

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS, headless: true });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  // The one failed request expected is the purge sent with the wrong token (401).
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('status of 401')) problems.push('console: ' + m.text());
  });
  page.on('dialog', (d) => { problems.push('dialog: ' + d.message()); d.dismiss(); });
  try {
    const resp = await page.goto(URL_);
    const csp = resp.headers()['content-security-policy'] || '';
    check(csp.includes("script-src 'self'") && !csp.includes('unsafe'), 'page: strict Content-Security-Policy', csp);
    await page.waitForSelector('body[data-loaded] .card');
    await choose(page, 'demo');
    await page.waitForSelector('#chart-ratio canvas');
    await overview(page);
    await heatMap(page);
    await templatesAndSorting(page);
    await xss(page);
    await shot(page, 'overview.png');
    await detail(page);
    await explainBox(page);
    await wrongToken(page);
    await purgeAndRule(page);
    await editAndDeleteRule(page);
    await bulk(page);
    await page.locator('#templates').scrollIntoViewIfNeeded();
    await page.evaluate(() => window.scrollBy(0, -60));
    await shot(page, 'templates-1000.png');
    check(problems.length === 0, 'no script errors, CSP violations or dialogs', problems);
    console.log(`browser checks: all ${passed} ok`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  console.log(`browser checks: ${passed} ok before the failure`);
  process.exit(1);
});
