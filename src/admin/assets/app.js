// wirecache dashboard: reads the admin JSON API, renders the overview, charts,
// templates table and actions, and refreshes every few seconds. Every piece of data
// reaches the page through textContent (never as HTML). The admin token lives only in
// sessionStorage and is sent only in the Authorization header of mutating requests.
'use strict';

(function () {
  const REFRESH_MS = 3000;
  const PAGE = 50;
  const TOKEN_KEY = 'wirecache.token';
  const $ = (id) => document.getElementById(id);

  const state = {
    caches: [], cache: null, sort: 'saved', order: 'desc', offset: 0, total: 0,
    rules: [], editing: null, detail: null, charts: null,
  };

  const { el, clear, figures, pct, ms, bytes, secs, saved } = window.WcDom;

  // ---- messages and the token -----------------------------------------------
  function say(text, ok) {
    const m = $('message');
    m.textContent = text;
    m.className = 'message ' + (ok ? 'ok' : 'error');
  }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function showTokenState() {
    $('token-state').textContent = token() ? 'token set for this browser session' : 'no token';
  }

  // ---- the API --------------------------------------------------------------
  async function getJson(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }
  // A request that needs the token; answers the parsed body or throws with the reason.
  async function send(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    if (token()) headers.Authorization = 'Bearer ' + token();
    const r = await fetch(path, { method: method, headers: headers, body: JSON.stringify(body) });
    let data = {};
    try { data = await r.json(); } catch (e) { data = {}; }
    if (!r.ok) {
      const why = data.error || (data.errors || []).join('; ') || ('HTTP ' + r.status);
      const hint = r.status === 401 || r.status === 403 ? ' (check the admin token)' : '';
      throw new Error('Refused: ' + why + hint);
    }
    return data;
  }
  async function act(what, fn) {
    try {
      const done = await fn();
      say(typeof done === 'string' ? done : what, true);
      await refresh();
    } catch (e) {
      say(e.message, false);
    }
  }

  // ---- overview -------------------------------------------------------------
  function card(c, store) {
    const div = el('div', 'card' + (c.id === state.cache ? ' selected' : ''));
    div.dataset.cache = c.id;
    const h = el('h2');
    h.appendChild(el('span', null, c.id));
    h.appendChild(el('span', 'muted', c.protocol + ' → ' + c.origin));
    div.appendChild(h);
    const dl = el('dl', 'figures');
    const rate = state.rates[c.id] || {};
    figures(dl, [
      ['Hit ratio', pct(c.hit_ratio), 'hit_ratio'],
      ['Queries/s', rate.qps === undefined ? '–' : rate.qps.toFixed(1), 'qps'],
      ['Hits / misses', c.hits + ' / ' + c.misses, 'hits_misses'],
      ['Time saved', saved(c.time_saved_ms), 'time_saved'],
      ['Saved per second', rate.saved === undefined ? '–' : ms(rate.saved), 'saved_per_s'],
      ['Entries', c.entries, 'entries'],
      ['Cached bytes', bytes(c.bytes) + ' of ' + bytes(store.max_bytes), 'bytes'],
      ['Connections', c.client_connections + ' client, ' + c.origin_connections + ' origin', 'connections'],
      ['Origin', c.origin_health === 'ok' ? 'healthy' : 'failing to connect', 'health'],
      ['Templates', c.templates, 'templates'],
    ]);
    const health = dl.querySelector('[data-field="health"]');
    health.className = c.origin_health === 'ok' ? 'health-ok' : 'health-failing';
    div.appendChild(dl);
    const bar = el('div', 'bar');
    const fill = el('div');
    fill.style.width = Math.min(100, 100 * c.bytes / Math.max(1, store.max_bytes)).toFixed(1) + '%';
    bar.appendChild(fill);
    div.appendChild(bar);
    div.addEventListener('click', () => choose(c.id));
    return div;
  }
  function renderOverview(data) {
    const root = $('overview');
    clear(root);
    data.caches.forEach((c) => root.appendChild(card(c, data.store)));
    const sel = $('cache-select');
    if (sel.options.length !== data.caches.length) {
      clear(sel);
      data.caches.forEach((c) => {
        const o = el('option', null, c.id);
        o.value = c.id;
        sel.appendChild(o);
      });
    }
    sel.value = state.cache;
  }

  // ---- charts ---------------------------------------------------------------
  function ensureCharts() {
    if (state.charts || typeof uPlot === 'undefined') return;
    state.charts = {
      ratio: WcCharts.line($('chart-ratio'), ['hit ratio'], { percent: true }),
      qps: WcCharts.line($('chart-qps'), ['queries/s']),
      latency: WcCharts.line($('chart-latency'), ['hit', 'miss']),
    };
  }
  function noteRates(s) {
    const n = s.t.length;
    state.rates[s.cache] = n ? { qps: s.qps[n - 1], saved: s.saved_ms_per_second[n - 1] } : {};
  }
  function renderSeries(s) {
    ensureCharts();
    $('chart-cache').textContent = s.cache + ', one point every ' + s.interval_seconds + ' s';
    if (state.charts) {
      state.charts.ratio.set([s.t, s.hit_ratio]);
      state.charts.qps.set([s.t, s.qps]);
      state.charts.latency.set([s.t, s.hit_latency_ms, s.miss_latency_ms]);
    }
    WcCharts.heat($('heat'), s.heat, s.t);
  }

  // ---- templates table ------------------------------------------------------
  function ttlCell(t) {
    const td = el('td', 'num', secs(t.ttl_seconds));
    if (t.rule) {
      const what = t.rule.action === 'never' ? 'never' : t.rule.action === 'always' ? 'always' : 'pinned';
      td.appendChild(el('span', 'pin', what));
    }
    return td;
  }
  function row(t) {
    const tr = el('tr');
    tr.dataset.id = t.id;
    if (state.detail === t.id) tr.className = 'chosen';
    const sql = el('td', 'sql', t.template);
    sql.title = 'show details';
    tr.appendChild(sql);
    tr.appendChild(el('td', 'num', t.calls));
    tr.appendChild(el('td', 'num', pct(t.hit_ratio)));
    tr.appendChild(ttlCell(t));
    tr.appendChild(el('td', 'num', ms(t.origin_latency_ms.p50)));
    tr.appendChild(el('td', 'num', ms(t.origin_latency_ms.p99)));
    tr.appendChild(el('td', 'num', bytes(t.bytes)));
    tr.appendChild(el('td', 'num', saved(t.time_saved_ms)));
    tr.appendChild(el('td', null, t.tables.join(', ')));
    tr.appendChild(el('td', null, t.reason_text || (t.paused ? 'paused: results change too often' : '')));
    tr.addEventListener('click', () => showDetail(t.id, false));
    return tr;
  }
  function renderTemplates(data) {
    state.total = data.total;
    const body = $('templates').tBodies[0];
    clear(body);
    data.templates.forEach((t) => body.appendChild(row(t)));
    const pages = Math.max(1, Math.ceil(data.total / PAGE));
    const page = Math.floor(state.offset / PAGE) + 1;
    $('page-info').textContent = 'page ' + page + ' of ' + pages;
    $('template-count').textContent = data.total + ' templates, sorted by ' + state.sort + ' (' + state.order + ')';
    $('page-prev').disabled = state.offset === 0;
    $('page-next').disabled = state.offset + PAGE >= data.total;
    document.querySelectorAll('th button[data-sort]').forEach((b) => {
      b.classList.toggle('active', b.dataset.sort === state.sort);
    });
  }
  function sortBy(key) {
    if (state.sort === key) state.order = state.order === 'desc' ? 'asc' : 'desc';
    else { state.sort = key; state.order = 'desc'; }
    state.offset = 0;
    refresh();
  }

  // ---- template detail ------------------------------------------------------
  // Shows template `id`; the explain answer is fetched when it is first opened.
  async function showDetail(id, live) {
    state.detail = id;
    try {
      const data = await getJson('/api/templates/' + encodeURIComponent(id));
      const t = data.templates.find((x) => x.cache === state.cache) || data.templates[0];
      $('detail').classList.remove('hidden');
      $('detail-id').textContent = t.id + ' in ' + t.cache;
      $('detail-text').textContent = t.template;
      figures($('detail-figures'), [
        ['Calls', t.calls + ' (' + t.hits + ' hits, ' + t.misses + ' misses)', 'calls'],
        ['Hit ratio', pct(t.hit_ratio), 'hit_ratio'],
        ['Learned TTL', secs(t.ttl_seconds) + (t.paused ? ' (paused)' : ''), 'ttl'],
        ['Rule', t.rule ? t.rule.action + (t.rule.ttl ? ' ' + t.rule.ttl : '') : 'none', 'rule'],
        ['Origin p50 / p99 / mean', ms(t.origin_latency_ms.p50) + ' / ' + ms(t.origin_latency_ms.p99) + ' / ' + ms(t.origin_latency_ms.mean), 'latency'],
        ['Entries, bytes', t.entries + ', ' + bytes(t.bytes), 'entries'],
        ['Refreshed ahead', t.refreshes, 'refreshes'],
        ['Time saved', saved(t.time_saved_ms), 'saved'],
        ['Tables', t.tables.join(', ') || '–', 'tables'],
        ['Not cached because', t.reason_text || '–', 'reason'],
      ]);
      renderTtlHistory(t.ttl_history || []);
      if (!live) await explainInto($('detail-explain'), t.cache, t.template);
      document.querySelectorAll('#templates tbody tr').forEach((r) => {
        r.classList.toggle('chosen', r.dataset.id === id);
      });
    } catch (e) {
      say(e.message, false);
    }
  }
  function renderTtlHistory(points) {
    const box = $('detail-ttl-chart');
    if (!state.ttlChart) state.ttlChart = WcCharts.line(box, ['TTL (s)'], { height: 110 });
    const xs = points.map((p) => p.at_ms / 1000);
    const ys = points.map((p) => p.ttl_seconds);
    if (xs.length) { xs.push(Date.now() / 1000); ys.push(ys[ys.length - 1]); }
    state.ttlChart.set([xs, ys]);
  }
  async function explainInto(dl, cache, sql) {
    const r = await fetch('/api/explain', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ cache: cache, sql: sql }),
    });
    const x = await r.json();
    if (!r.ok) { figures(dl, [['Error', x.error || ('HTTP ' + r.status)]]); return; }
    figures(dl, [
      ['Kind', x.kind], ['Cacheable', x.cacheable ? 'yes' : 'no', 'cacheable'],
      ['Why not', x.reason ? x.reason_text + ' (' + x.reason + ')' : '–', 'reason'],
      ['TTL now', x.ttl_seconds === null ? '–' : secs(x.ttl_seconds)],
      ['Reads', x.tables_read.join(', ') || '–'], ['Writes', x.tables_written.join(', ') || '–'],
      ['Whole database', x.invalidates_whole_database ? 'invalidated' : 'no'],
      ['Catalog must confirm', x.needs_catalog.join(', ') || '–'],
      ['Template', x.template],
    ]);
  }

  // ---- rules ----------------------------------------------------------------
  function renderRules(rules) {
    state.rules = rules;
    const body = $('rules').tBodies[0];
    clear(body);
    rules.forEach((r, i) => {
      const tr = el('tr');
      [r.cache, r.template, r.pattern, r.table, r.action, r.ttl].forEach((v) => {
        tr.appendChild(el('td', null, v || ''));
      });
      const td = el('td');
      const edit = el('button', null, 'Edit');
      edit.type = 'button';
      edit.addEventListener('click', () => editRule(i));
      const del = el('button', null, 'Delete');
      del.type = 'button';
      del.addEventListener('click', () => act('Rule deleted', () => putRules(state.rules.filter((_, j) => j !== i))));
      td.appendChild(edit);
      td.appendChild(del);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }
  const RULE_FIELDS = ['cache', 'template', 'pattern', 'table', 'action', 'ttl'];
  function editRule(i) {
    state.editing = i;
    RULE_FIELDS.forEach((f) => { $('rule-' + f).value = state.rules[i][f] || (f === 'action' ? 'cache' : ''); });
    $('rule-save').textContent = 'Save rule';
    $('rule-cancel').classList.remove('hidden');
  }
  function resetRuleForm() {
    state.editing = null;
    RULE_FIELDS.forEach((f) => { $('rule-' + f).value = f === 'action' ? 'cache' : ''; });
    $('rule-save').textContent = 'Add rule';
    $('rule-cancel').classList.add('hidden');
  }
  function ruleFromForm() {
    const r = {};
    RULE_FIELDS.forEach((f) => {
      const v = $('rule-' + f).value.trim();
      if (v) r[f] = v;
    });
    return r;
  }
  function putRules(rules) { return send('PUT', '/api/rules', { rules: rules }); }
  function addRule(rule) { return putRules(state.rules.concat([rule])); }

  // ---- refresh loop ---------------------------------------------------------
  async function refresh() {
    try {
      const caches = await getJson('/api/caches');
      state.caches = caches.caches;
      if (!state.cache && state.caches.length) state.cache = state.caches[0].id;
      if (!state.cache) return;
      const q = '?cache=' + encodeURIComponent(state.cache);
      const all = await Promise.all(state.caches.map((c) => getJson('/api/series?cache=' + encodeURIComponent(c.id))));
      all.forEach(noteRates);
      const series = all.find((s) => s.cache === state.cache) || all[0];
      const [templates, rules] = await Promise.all([
        getJson('/api/templates' + q + '&limit=' + PAGE + '&offset=' + state.offset +
          '&sort=' + state.sort + '&order=' + state.order),
        getJson('/api/rules'),
      ]);
      renderSeries(series);
      renderOverview(caches);
      renderTemplates(templates);
      renderRules(rules.rules);
      if (state.detail) await showDetail(state.detail, true);
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      document.body.dataset.loaded = String(Date.now());
    } catch (e) {
      $('updated').textContent = 'update failed: ' + e.message;
    }
  }
  function choose(id) {
    if (state.cache === id) return;
    state.cache = id;
    state.offset = 0;
    state.detail = null;
    $('detail').classList.add('hidden');
    refresh();
  }

  // ---- wiring ---------------------------------------------------------------
  function purgeBody() {
    const scope = $('purge-scope').value;
    const target = $('purge-target').value.trim();
    if (scope === 'everything') return {};
    if (scope === 'cache') return { cache: state.cache };
    if (!target) throw new Error('Name the ' + scope + ' to purge');
    return scope === 'table' ? { cache: state.cache, table: target } : { cache: state.cache, template: target };
  }
  function wire() {
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('token').value;
      if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
      $('token').value = '';
      showTokenState();
    });
    $('token-forget').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); });
    $('cache-select').addEventListener('change', (ev) => choose(ev.target.value));
    document.querySelectorAll('th button[data-sort]').forEach((b) => {
      b.addEventListener('click', () => sortBy(b.dataset.sort));
    });
    $('page-prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); refresh(); });
    $('page-next').addEventListener('click', () => { state.offset += PAGE; refresh(); });
    $('detail-close').addEventListener('click', () => { state.detail = null; $('detail').classList.add('hidden'); });
    $('purge-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      act('Purged', async () => {
        const r = await send('POST', '/api/purge', purgeBody());
        return 'Purged ' + r.purged;
      });
    });
    wireDetail();
    $('rule-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const rule = ruleFromForm();
      const list = state.editing === null ? state.rules.concat([rule])
        : state.rules.map((r, i) => (i === state.editing ? rule : r));
      act('Rules saved', async () => { await putRules(list); resetRuleForm(); });
    });
    $('rule-cancel').addEventListener('click', resetRuleForm);
    $('explain-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      explainInto($('explain-out'), state.cache, $('explain-sql').value).catch((e) => say(e.message, false));
    });
  }
  function wireDetail() {
    const pin = (action, ttl) => {
      const rule = { cache: state.cache, template: state.detail, action: action };
      if (ttl) rule.ttl = ttl;
      return act('Rule added for template ' + state.detail, () => addRule(rule));
    };
    $('detail-purge').addEventListener('click', () => act('Template purged', () => send('POST', '/api/purge', { cache: state.cache, template: state.detail })));
    $('detail-pin').addEventListener('click', () => pin('cache', $('detail-ttl').value.trim()));
    $('detail-never').addEventListener('click', () => pin('never'));
    $('detail-always').addEventListener('click', () => pin('always'));
  }

  state.rates = {};
  wire();
  showTokenState();
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  window.addEventListener('resize', () => {
    if (state.charts) Object.values(state.charts).forEach((c) => c.resize());
  });
})();
