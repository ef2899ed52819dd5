// The Metrics page: instruments grouped by service and scope on the left, the selected
// metric's series on the right (one line per attribute set, percentile lines and a bucket
// heatmap for histograms, exemplar dots that open their trace), live while data arrives.
//
// The URL is the state: /metrics/<name>?range=15m&service=x&attr=k%3Dv&hide=<id>,…
// (or only=<id>,…), rate=1 for counters, pct=p50,p99 for histograms, log=1 for a log value
// axis, chart=area|bar (default line), ex=0 to hide exemplar dots, paused=1 to stop live
// reloads, q=<list filter>.

import { h, s, replace, clear, errorBox, fmtNumber, perFrame, debounce } from '../dom.js';
import { createChart, fmtUnit, fmtClock } from '../charts.js';
import {
  RANGES, DEFAULT_RANGE, PERCENTILES, DASH, niceStepMs, msToNs, nsToMs, isHistogram, canRate,
  hasBuckets, hasP90, toChartData, toHeatmapColumns, mergeTail,
} from '../metrics/data.js';

/** The page title. */
export const title = 'Metrics';

// Live reloads: a new bucket appears once per step, so the wait between them grows with the
// step (1 s at 5 min, 2.5 s at 15 min, 5 s from 1 h on); faster would redraw the same buckets.
const SERIES_MIN_INTERVAL_MS = 1000;
const SERIES_MAX_INTERVAL_MS = 5000;
// Live reloads fetch only the last buckets (at least this far back); the whole range is
// fetched again this often, so evicted points and late corrections show up too.
const TAIL_MIN_MS = 10000;
const FULL_RELOAD_MS = 60000;
const SLIDE_MS = 10000;
const LIST_MIN_INTERVAL_MS = 2000;
const MAX_LEGEND = 300;
const MAX_SCOPE_PROBES = 100;
const RANGE_MS = new Map(RANGES);

function typeLabel(meta) {
  if (!meta) return '';
  if (meta.type === 'sum') return meta.monotonic ? 'counter' : 'updown';
  if (meta.type === 'exponentialHistogram') return 'exp histogram';
  return meta.type;
}

function unitLabel(unit) {
  return unit && unit !== '1' ? unit : '';
}

function metricHref(name, range) {
  const q = range && range !== DEFAULT_RANGE ? `?range=${encodeURIComponent(range)}` : '';
  return `/metrics/${encodeURIComponent(name)}${q}`;
}

function splitList(text) {
  return (text || '').split(',').map((x) => x.trim()).filter(Boolean);
}

function isAbort(e) {
  return e && e.name === 'AbortError';
}

/** Mounts the page; see the page contract in app.js. */
export function mount(root, ctx, route) {
  const page = new MetricsPage(root, ctx);
  page.update(route);
  return {
    update: (r) => page.update(r),
    live: (delta) => page.live(delta),
    refresh: () => page.refresh(),
    key: (event) => page.key(event),
    destroy: () => page.destroy(),
  };
}

class MetricsPage {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.view = document.getElementById('view');
    this.destroyed = false;
    this.metrics = null; // /api/metrics answer
    this.metaByName = new Map();
    this.scopes = new Map(); // metric name -> Set of `service\u0000scope`
    this.probing = new Set();
    this.probeQueue = [];
    this.probeAbort = new AbortController();
    this.listAbort = null;
    this.seriesAbort = null;
    this.seriesTimer = 0;
    this.listTimer = 0;
    this.lastSeriesFetch = -Infinity;
    this.lastListFetch = -Infinity;
    this.fetchKey = null;
    this.answer = null;
    this.answerKey = null;
    this.fullAt = -Infinity;
    this.allSpanMs = 0;
    this.name = null;
    this.params = new URLSearchParams();
    this.cursor = -1;
    this.chart = null;
    this.heat = null;
    this.legendItems = new Map();
    this.legendKey = '';
    this.redraw = perFrame(() => this.draw());

    this.filter = h('input', {
      type: 'search', name: 'q', placeholder: 'Filter instruments  /', 'data-search': '',
      'aria-label': 'Filter instruments', class: 'metrics-filter', autocomplete: 'off',
      oninput: debounce(() => this.setParams({ q: this.filter.value.trim() || null }, false), 150),
    });
    this.listEl = h('nav', { class: 'metrics-list', 'aria-label': 'Instruments', 'data-testid': 'metric-list' });
    this.listNote = h('p', { class: 'muted metrics-list-note' });
    this.side = h('aside', { class: 'metrics-side' }, this.filter, this.listEl, this.listNote);
    this.main = h('div', { class: 'metrics-main' });
    root.appendChild(h('div', { class: 'metrics-layout' }, this.side, this.main));
    this.buildDetail();
  }

  // ---- DOM of the selected metric (built once, filled per metric) ------------------------

  buildDetail() {
    this.titleEl = h('h1', { class: 'metrics-title' });
    this.descEl = h('p', { class: 'muted metrics-desc' });
    this.metaEl = h('div', { class: 'metrics-meta' });
    this.rangeButtons = RANGES.map(([key]) => h('button', {
      type: 'button', 'data-range': key, 'aria-pressed': 'false', title: key === 'all' ? 'Every stored point' : `The last ${key}`,
      onclick: () => this.setParams({ range: key === DEFAULT_RANGE ? null : key }),
    }, key));
    this.serviceSelect = h('select', {
      name: 'service', 'aria-label': 'Service',
      onchange: () => this.setParams({ service: this.serviceSelect.value || null }),
    });
    this.attrInput = h('input', {
      type: 'text', name: 'attr', placeholder: 'key=value, Enter', 'aria-label': 'Attribute filter', size: 18,
      onkeydown: (e) => {
        if (e.key !== 'Enter') return;
        const text = this.attrInput.value.trim();
        if (!text.includes('=')) return;
        const attrs = this.params.getAll('attr');
        if (!attrs.includes(text)) attrs.push(text);
        this.attrInput.value = '';
        this.setParams({ attr: attrs });
      },
    });
    this.attrChips = h('span', { class: 'metrics-chips' });
    this.rateButton = h('button', {
      type: 'button', class: 'metrics-rate', 'aria-pressed': 'false', title: 'Per-second rate of the counter',
      onclick: () => this.setParams({ rate: this.params.get('rate') === '1' ? null : '1' }),
    }, 'rate /s');
    this.typeSelect = h('select', {
      name: 'chart', 'aria-label': 'Chart type',
      onchange: () => this.setParams({ chart: this.typeSelect.value === 'line' ? null : this.typeSelect.value }),
    }, ['line', 'area', 'bar'].map((v) => h('option', { value: v }, v)));
    this.exButton = h('button', {
      type: 'button', class: 'metrics-ex', 'aria-pressed': 'true', title: 'Exemplar dots (links to traces)',
      onclick: () => this.setParams({ ex: this.params.get('ex') === '0' ? null : '0' }),
    }, 'exemplars');
    this.pauseButton = h('button', {
      type: 'button', class: 'metrics-pause', 'data-testid': 'pause', 'aria-pressed': 'false',
      title: 'Freeze the chart while you read it (p); data keeps arriving',
      onclick: () => this.togglePause(),
    }, 'pause');
    this.logButton = h('button', {
      type: 'button', class: 'metrics-log', 'aria-pressed': 'false', title: 'Logarithmic value axis',
      onclick: () => this.setParams({ log: this.params.get('log') === '1' ? null : '1' }),
    }, 'log scale');
    this.pctButtons = PERCENTILES.map((p) => h('button', {
      type: 'button', 'data-pct': p, 'aria-pressed': 'false', onclick: () => this.togglePercentile(p),
    }, s('svg', { class: 'pct-sample', width: 18, height: 6, 'aria-hidden': 'true' },
      s('line', { x1: 0, y1: 3, x2: 18, y2: 3, 'stroke-dasharray': DASH[p] || null })), p));
    this.pctGroup = h('span', { class: 'metrics-group', role: 'group', 'aria-label': 'Percentiles' }, this.pctButtons);
    this.showAll = h('button', {
      type: 'button', class: 'metrics-showall', onclick: () => this.setParams({ hide: null, only: null }, false),
    }, 'show all');
    this.toolbar = h('div', { class: 'toolbar metrics-toolbar' },
      h('span', { class: 'metrics-group', role: 'group', 'aria-label': 'Time range' }, this.rangeButtons),
      h('label', null, 'service', this.serviceSelect),
      h('label', null, 'attr', this.attrInput),
      this.attrChips,
      h('label', null, 'draw as', this.typeSelect),
      this.rateButton,
      this.logButton,
      this.exButton,
      this.pauseButton,
      this.pctGroup);
    this.status = h('div', { class: 'metrics-status' });
    this.chartBox = h('div', { class: 'metrics-chart' });
    this.legendEl = h('div', { class: 'metrics-legend', role: 'group', 'aria-label': 'Series' });
    this.legendBar = h('div', { class: 'metrics-legend-bar muted' });
    this.chartCard = h('div', { class: 'card metrics-card' }, this.chartBox, this.legendBar, this.legendEl);
    this.heatBox = h('div', { class: 'metrics-heat' });
    this.heatNote = h('p', { class: 'muted metrics-heat-note' });
    this.heatSection = h('section', { class: 'metrics-heat-section' },
      h('h2', null, 'Distribution'), h('div', { class: 'card metrics-card' }, this.heatBox, this.heatNote));
    this.notes = h('p', { class: 'muted metrics-notes' });
    this.detail = h('div', { class: 'metrics-detail' },
      h('header', { class: 'metrics-head' }, this.titleEl, this.metaEl, this.descEl),
      this.toolbar, this.status, this.chartCard, this.heatSection, this.notes);
  }

  // ---- routing ---------------------------------------------------------------------------

  // View changes (range, filters, chart options) are history entries, so Back undoes them as
  // in Grafana; typing in the list filter and legend clicks only replace the current entry.
  setParams(changes, push = true) {
    this.ctx.setParams(changes, { push });
    this.update({ page: 'metrics', id: this.name, params: new URLSearchParams(location.search) });
  }

  update(route) {
    if (this.destroyed) return;
    const nameChanged = route.id !== this.name;
    this.name = route.id || null;
    this.params = route.params;
    if (this.filter.value.trim() !== (this.params.get('q') || '') && document.activeElement !== this.filter) {
      this.filter.value = this.params.get('q') || '';
    }
    if (this.metrics === null && !this.listAbort) this.listPromise = this.loadList();
    this.renderList();
    if (!this.name) {
      this.dropCharts();
      this.renderOverview();
      return;
    }
    if (nameChanged) {
      this.answer = null;
      this.allSpanMs = 0;
      this.dropCharts();
      replace(this.main, this.detail);
      replace(this.status);
      this.renderHead();
    }
    this.renderToolbar();
    const key = this.seriesKey();
    if (key !== this.fetchKey) this.fetchSeries();
    else this.redraw();
  }

  refresh() {
    // The stream skipped data: reload the whole range, not only its tail.
    this.fullAt = -Infinity;
    this.listPromise = this.loadList();
    if (this.name && !this.paused()) this.fetchSeries();
  }

  destroy() {
    this.destroyed = true;
    for (const c of [this.listAbort, this.seriesAbort, this.probeAbort]) if (c) c.abort();
    clearTimeout(this.seriesTimer);
    clearTimeout(this.listTimer);
    this.dropCharts();
  }

  dropCharts() {
    if (this.chart) this.chart.destroy();
    if (this.heat) this.heat.destroy();
    this.chart = null;
    this.heat = null;
    this.legendItems.clear();
    this.legendKey = '';
    clear(this.legendEl);
  }

  markReady() {
    if (this.view && this.view.dataset.ready !== '1' && !this.destroyed) this.view.dataset.ready = '1';
  }

  // ---- the instrument list -----------------------------------------------------------------

  async loadList() {
    if (this.listAbort) this.listAbort.abort();
    const ac = new AbortController();
    this.listAbort = ac;
    this.lastListFetch = performance.now();
    try {
      const list = await this.ctx.getJSON('metrics', null, ac.signal);
      if (ac.signal.aborted) return;
      this.metrics = Array.isArray(list) ? list : [];
      this.metaByName = new Map(this.metrics.map((m) => [m.name, m]));
      this.listError = null;
      this.listVersion = (this.listVersion || 0) + 1;
    } catch (e) {
      if (isAbort(e)) return;
      this.listError = e;
    } finally {
      if (this.listAbort === ac) this.listAbort = null;
    }
    this.renderList();
    if (this.name) {
      this.renderHead();
      this.renderToolbar();
      if (this.answer) this.redraw();
      else if (this.missing && this.metaByName.has(this.name)) this.fetchSeries();
    } else {
      this.renderOverview();
    }
    this.probeScopes();
  }

  scheduleList() {
    if (this.listTimer || this.listAbort) return;
    const wait = Math.max(0, this.lastListFetch + LIST_MIN_INTERVAL_MS - performance.now());
    this.listTimer = setTimeout(() => {
      this.listTimer = 0;
      if (!this.destroyed) this.listPromise = this.loadList();
    }, wait);
  }

  // /api/metrics gives each metric's (service, scope) pairs as `groups`; for a server that
  // does not, one 1-bucket series request per metric tells them, so the list can still group
  // by scope.
  probeScopes() {
    if (!this.metrics) return;
    let known = false;
    for (const m of this.metrics) {
      if (!Array.isArray(m.groups)) continue;
      this.scopes.set(m.name, new Set(m.groups.map((g) => `${g.service || ''}\u0000${g.scope || ''}`)));
      known = true;
    }
    if (known) {
      this.listVersion = (this.listVersion || 0) + 1;
      this.renderListSoon();
    }
    for (const m of this.metrics.slice(0, MAX_SCOPE_PROBES)) {
      if (Array.isArray(m.groups)) continue;
      if (!this.scopes.has(m.name) && !this.probing.has(m.name)) {
        this.probing.add(m.name);
        this.probeQueue.push(m.name);
      }
    }
    const runners = Math.min(2, this.probeQueue.length);
    for (let i = 0; i < runners; i += 1) this.probeNext();
  }

  async probeNext() {
    while (this.probeQueue.length && !this.destroyed) {
      const name = this.probeQueue.shift();
      try {
        const ans = await this.ctx.getJSON(`metrics/${encodeURIComponent(name)}/series`, { step: '86400s' }, this.probeAbort.signal);
        const set = new Set();
        for (const x of ans.series || []) set.add(`${x.service || ''}\u0000${x.scope || ''}`);
        this.scopes.set(name, set);
      } catch (e) {
        if (isAbort(e)) return;
        // A metric evicted in between (404) or a failing probe only loses its scope grouping.
        this.scopes.set(name, new Set());
      } finally {
        this.listVersion = (this.listVersion || 0) + 1;
        this.probing.delete(name);
      }
      this.renderListSoon();
    }
  }

  renderListSoon() {
    if (!this.listFrame) {
      this.listFrame = requestAnimationFrame(() => {
        this.listFrame = 0;
        if (!this.destroyed) this.renderList();
      });
    }
  }

  renderList(force = false) {
    // Legend clicks and toolbar changes also pass through update(): rebuild the list only
    // when something it shows changed.
    const key = JSON.stringify([this.params.get('q') || '', this.name, this.params.get('range'), this.listVersion || 0, !!this.listError]);
    if (!force && key === this.listKey) return;
    this.listKey = key;
    if (this.listError) {
      replace(this.listEl, errorBox(`Could not load the instruments: ${this.listError.message}`));
      this.markReady();
      return;
    }
    if (!this.metrics) {
      replace(this.listEl, h('p', { class: 'muted' }, 'loading…'));
      return;
    }
    const q = (this.params.get('q') || '').toLowerCase();
    const range = this.params.get('range');
    // service -> scope -> [meta]; a metric with scopes unknown sits under its service directly.
    const groups = new Map();
    const add = (service, scope, meta) => {
      if (!groups.has(service)) groups.set(service, new Map());
      const scopes = groups.get(service);
      if (!scopes.has(scope)) scopes.set(scope, []);
      scopes.get(scope).push(meta);
    };
    let shown = 0;
    for (const m of this.metrics) {
      const pairs = this.scopes.get(m.name);
      const entries = [];
      if (pairs && pairs.size) {
        for (const pair of pairs) entries.push(pair.split('\u0000'));
      } else {
        const services = Array.isArray(m.services) && m.services.length ? m.services : [''];
        for (const svc of services) entries.push([svc, null]);
      }
      const text = `${m.name} ${m.description || ''} ${m.unit || ''} ${typeLabel(m)}`.toLowerCase();
      let any = false;
      for (const [svc, scope] of entries) {
        if (q && !text.includes(q) && !svc.toLowerCase().includes(q) && !(scope || '').toLowerCase().includes(q)) continue;
        add(svc, scope, m);
        any = true;
      }
      if (any) shown += 1;
    }
    const seen = new Set();
    const out = [];
    for (const svc of Array.from(groups.keys()).sort()) {
      const scopes = groups.get(svc);
      const block = [h('h3', { class: 'metrics-service' }, svc || '(no service)')];
      const scopeNames = Array.from(scopes.keys()).sort((a, b) => (a === null) - (b === null) || String(a).localeCompare(String(b)));
      for (const scope of scopeNames) {
        if (scope !== null) block.push(h('div', { class: 'metrics-scope muted', title: 'Instrumentation scope' }, scope || '(no scope)'));
        for (const m of scopes.get(scope)) {
          // Only the first entry of a metric shown in several groups carries the test hook, so
          // `[data-metric=x]` names one element.
          const first = !seen.has(m.name);
          seen.add(m.name);
          block.push(h('a', {
            class: ['metric-item', m.name === this.name && 'selected'],
            href: metricHref(m.name, range),
            'data-testid': first ? 'metric-item' : null,
            'data-metric': first ? m.name : null,
            'aria-current': m.name === this.name ? 'page' : null,
            title: m.description || m.name,
          },
          h('span', { class: 'metric-name' }, m.name),
          h('span', { class: 'metric-badges' },
            h('span', { class: `metric-type type-${m.type}` }, typeLabel(m)),
            unitLabel(m.unit) ? h('span', { class: 'metric-unit' }, unitLabel(m.unit)) : null),
          m.description ? h('span', { class: 'metric-desc muted' }, m.description) : null));
        }
      }
      out.push(h('div', { class: 'metrics-svc-group' }, block));
    }
    if (out.length === 0) {
      out.push(h('p', { class: 'muted' }, this.metrics.length ? 'No instrument matches the filter.' : 'No metrics stored yet.'));
    }
    const scroll = this.listEl.scrollTop;
    replace(this.listEl, out);
    this.listEl.scrollTop = scroll;
    this.listNote.textContent = `${shown} of ${this.metrics.length} instruments`;
    this.cursor = -1;
  }

  renderOverview() {
    if (!this.metrics) {
      if (this.listError) replace(this.main, errorBox(`Could not load the instruments: ${this.listError.message}`));
      return;
    }
    const rows = this.metrics.map((m) => h('tr', null,
      h('td', null, h('a', { href: metricHref(m.name, this.params.get('range')) }, m.name)),
      h('td', null, typeLabel(m)),
      h('td', null, unitLabel(m.unit)),
      h('td', null, (m.services || []).join(', ')),
      h('td', { class: 'num' }, fmtNumber(m.seriesCount)),
      h('td', { class: 'num' }, fmtNumber(m.pointCount)),
      h('td', { class: 'muted' }, m.description || '')));
    replace(this.main, h('div', { class: 'metrics-overview' },
      h('h1', null, 'Metrics'),
      this.metrics.length
        ? h('p', { class: 'muted' }, 'Pick an instrument on the left (j / k, Enter) to chart its series.')
        : h('p', { class: 'muted' }, 'No metrics stored yet. Send OTLP metrics to this dashboard and they appear here.'),
      this.metrics.length ? h('table', { class: 'list' },
        h('thead', null, h('tr', null, ['name', 'type', 'unit', 'services', 'series', 'points', 'description'].map((c) => h('th', null, c)))),
        h('tbody', null, rows)) : null));
    this.markReady();
  }

  // ---- header and toolbar -------------------------------------------------------------------

  meta() {
    const m = this.metaByName.get(this.name);
    if (m) return m;
    if (this.answer) return { name: this.name, type: this.answer.type, unit: this.answer.unit, temporality: null, monotonic: false, services: [] };
    return null;
  }

  renderHead() {
    const m = this.meta();
    this.titleEl.textContent = this.name;
    this.descEl.textContent = (m && m.description) || '';
    const chips = [];
    if (m) {
      chips.push(h('span', { class: `metric-type type-${m.type}` }, typeLabel(m)));
      if (m.temporality) chips.push(h('span', { class: 'metrics-chip' }, m.temporality));
      if (unitLabel(m.unit)) chips.push(h('span', { class: 'metrics-chip' }, `unit ${m.unit}`));
      if (Number.isFinite(m.seriesCount)) chips.push(h('span', { class: 'metrics-chip' }, `${fmtNumber(m.seriesCount)} series`));
      if (Number.isFinite(m.pointCount)) chips.push(h('span', { class: 'metrics-chip' }, `${fmtNumber(m.pointCount)} points`));
    }
    if (this.answer) {
      const scopes = Array.from(new Set((this.answer.series || []).map((x) => x.scope || '(no scope)'))).sort();
      if (scopes.length) chips.push(h('span', { class: 'metrics-chip', title: 'Instrumentation scopes' }, `scope ${scopes.join(', ')}`));
    }
    replace(this.metaEl, chips);
  }

  renderToolbar() {
    const m = this.meta();
    const range = this.rangeKey();
    for (const b of this.rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.range === range));
    const service = this.params.get('service') || '';
    const services = new Set((m && m.services) || []);
    if (service) services.add(service);
    const wanted = ['', ...Array.from(services).sort()];
    const have = Array.from(this.serviceSelect.options).map((o) => o.value);
    if (wanted.join('\u0000') !== have.join('\u0000')) {
      replace(this.serviceSelect, wanted.map((v) => h('option', { value: v }, v || 'all services')));
    }
    this.serviceSelect.value = service;
    replace(this.attrChips, this.params.getAll('attr').map((a) => h('button', {
      type: 'button', class: 'metrics-chip metrics-chip-x', title: 'Remove this filter',
      onclick: () => this.setParams({ attr: this.params.getAll('attr').filter((x) => x !== a) }),
    }, a, ' ×')));
    this.logButton.setAttribute('aria-pressed', String(this.params.get('log') === '1'));
    this.typeSelect.value = this.chartType();
    this.exButton.setAttribute('aria-pressed', String(this.params.get('ex') !== '0'));
    this.pauseButton.setAttribute('aria-pressed', String(this.paused()));
    this.pauseButton.textContent = this.paused() ? 'resume' : 'pause';
    const rateOk = canRate(m);
    this.rateButton.hidden = !rateOk;
    this.rateButton.setAttribute('aria-pressed', String(rateOk && this.params.get('rate') === '1'));
    const hist = m && isHistogram(m.type);
    this.pctGroup.hidden = !hist;
    this.heatSection.hidden = !hist;
    if (hist) {
      const pcts = this.percentiles();
      const p90 = this.answer ? hasP90(this.answer) : false;
      for (const b of this.pctButtons) {
        b.setAttribute('aria-pressed', String(pcts.includes(b.dataset.pct)));
        b.disabled = b.dataset.pct === 'p90' && !p90;
        b.title = b.disabled ? 'This server sends no p90 (nor the bucket counts to compute it)' : `Show or hide the ${b.dataset.pct} line`;
      }
    }
  }

  paused() {
    return this.params.get('paused') === '1';
  }

  togglePause() {
    this.setParams({ paused: this.paused() ? null : '1' }, false);
    clearTimeout(this.seriesTimer);
    this.seriesTimer = 0;
    // Resuming catches up at once rather than at the next live event.
    if (!this.paused() && this.name) this.fetchSeries();
  }

  chartType() {
    const c = this.params.get('chart');
    return c === 'area' || c === 'bar' ? c : 'line';
  }

  rangeKey() {
    const r = this.params.get('range');
    return RANGE_MS.has(r) ? r : DEFAULT_RANGE;
  }

  percentiles() {
    const p90 = this.answer ? hasP90(this.answer) : false;
    const asked = splitList(this.params.get('pct')).filter((p) => PERCENTILES.includes(p));
    const base = asked.length ? asked : (p90 ? ['p50', 'p90', 'p99'] : ['p50', 'p95', 'p99']);
    return PERCENTILES.filter((p) => base.includes(p) && (p !== 'p90' || p90));
  }

  togglePercentile(p) {
    const cur = new Set(this.percentiles());
    if (cur.has(p)) cur.delete(p); else cur.add(p);
    if (cur.size === 0) return; // an empty chart helps nobody
    this.setParams({ pct: PERCENTILES.filter((x) => cur.has(x)).join(',') });
  }

  // ---- series --------------------------------------------------------------------------------

  seriesKey() {
    return JSON.stringify([this.name, this.rangeKey(), this.params.get('service') || '', this.params.getAll('attr')]);
  }

  seriesQuery(key) {
    const range = this.rangeKey();
    const params = { service: this.params.get('service') || undefined, attr: this.params.getAll('attr') };
    const span = RANGE_MS.get(range);
    let stepMs = 0;
    let xRange = null;
    let tailStart = null;
    let rangeStart = null;
    if (span) {
      const end = Date.now();
      stepMs = niceStepMs(span);
      // Buckets start at start + i·step: a start on the step grid keeps every bucket where it
      // was on the next reload, so points do not wobble as the window slides (a delta sum
      // would otherwise be split differently between buckets each time).
      rangeStart = Math.floor((end - span) / stepMs) * stepMs;
      params.start = msToNs(rangeStart);
      params.end = msToNs(end);
      xRange = [end - span, end];
      // A live reload of the same view asks only for the last buckets (the newest ones, and
      // those a late point may still change) and merges them into the answer it has.
      const cached = this.answer && this.answerKey === key && this.answerStep === stepMs;
      if (cached && performance.now() - this.fullAt < FULL_RELOAD_MS) {
        const back = Math.max(3 * stepMs, TAIL_MIN_MS);
        tailStart = Math.max(rangeStart, Math.floor((end - back) / stepMs) * stepMs);
        params.start = msToNs(tailStart);
      }
    } else if (this.allSpanMs > 0) {
      stepMs = niceStepMs(this.allSpanMs);
    }
    if (stepMs) params.step = `${stepMs}ms`;
    return { params, stepMs, xRange, tailStart, rangeStart };
  }

  scheduleSeries() {
    if (this.seriesTimer) return;
    const interval = Math.min(SERIES_MAX_INTERVAL_MS, Math.max(SERIES_MIN_INTERVAL_MS, (this.answerStep || 0) / 2));
    const wait = Math.max(0, this.lastSeriesFetch + interval - performance.now());
    this.seriesTimer = setTimeout(() => {
      this.seriesTimer = 0;
      if (this.destroyed || !this.name) return;
      // A live reload never cancels one in flight (a slow answer would never land): it waits.
      if (this.seriesAbort) {
        this.seriesTimer = setTimeout(() => { this.seriesTimer = 0; this.scheduleSeries(); }, 250);
        return;
      }
      this.fetchSeries();
    }, wait);
  }

  async fetchSeries() {
    if (this.seriesAbort) this.seriesAbort.abort();
    clearTimeout(this.seriesTimer);
    this.seriesTimer = 0;
    const ac = new AbortController();
    this.seriesAbort = ac;
    this.lastSeriesFetch = performance.now();
    const key = this.seriesKey();
    this.fetchKey = key;
    const name = this.name;
    // An unknown name would answer 404, which the browser logs as a console error: ask the
    // instrument list first (reloading it once, the metric may be brand new).
    // A list reload in flight (after a reconnect the server may have restarted) is awaited
    // too, so a metric that is gone is not asked for.
    if ((!this.metrics || this.listAbort) && this.listPromise) await this.listPromise;
    if (ac.signal.aborted || this.destroyed) return;
    if (this.metrics && !this.metaByName.has(name) && performance.now() - this.lastListFetch > 1000) {
      this.listPromise = this.loadList();
      await this.listPromise;
      if (ac.signal.aborted || this.destroyed) return;
    }
    if (this.metrics && !this.metaByName.has(name)) {
      if (this.seriesAbort === ac) this.seriesAbort = null;
      this.missing = true;
      this.fetchKey = null;
      replace(this.status, errorBox(`No metric named “${name}” is stored (it may have been evicted, or never sent).`));
      this.markReady();
      return;
    }
    this.missing = false;
    const { params, stepMs, xRange, tailStart, rangeStart } = this.seriesQuery(key);
    let ans;
    try {
      ans = await this.ctx.getJSON(`metrics/${encodeURIComponent(name)}/series`, params, ac.signal);
    } catch (e) {
      if (isAbort(e) || ac.signal.aborted) return;
      if (this.seriesAbort === ac) this.seriesAbort = null;
      // Let the next live event or filter change try again.
      this.fetchKey = null;
      const text = e.status === 404
        ? `No metric named “${name}” is stored (it may have been evicted, or never sent).`
        : `Could not load the series: ${e.message}`;
      replace(this.status, errorBox(text));
      this.markReady();
      return;
    }
    if (ac.signal.aborted || this.destroyed) return;
    this.seriesAbort = null;
    replace(this.status);
    if (tailStart !== null && this.answer && this.answerKey === key) {
      ans = mergeTail(this.answer, ans, tailStart, rangeStart);
      ans.startUnixNano = msToNs(rangeStart);
    } else {
      this.fullAt = performance.now();
    }
    const firstAll = this.rangeKey() === 'all' && !stepMs;
    const span = nsToMs(ans.endUnixNano) - nsToMs(ans.startUnixNano);
    if (this.rangeKey() === 'all' && span > 0) this.allSpanMs = span;
    this.answer = ans;
    this.answerKey = key;
    this.answerStep = nsToMs(ans.stepNanos) || stepMs;
    this.answerXRange = xRange || (span > 0 ? [nsToMs(ans.startUnixNano), nsToMs(ans.endUnixNano)] : null);
    this.renderHead();
    this.renderToolbar();
    this.draw();
    // The server's default step for `all` is range/60: ask again at the finer step now that
    // the range is known.
    if (firstAll && span > 0 && span / (nsToMs(ans.stepNanos) || 1) < 200) this.fetchSeries();
  }

  hiddenSeries(allIds) {
    const only = splitList(this.params.get('only'));
    if (only.length) {
      const keep = new Set(only);
      return new Set(allIds.filter((id) => !keep.has(id)));
    }
    return new Set(splitList(this.params.get('hide')));
  }

  toggleSeries(id, solo) {
    const allIds = Array.from(this.legendItems.keys());
    const hidden = this.hiddenSeries(allIds);
    if (solo) {
      const only = splitList(this.params.get('only'));
      const already = only.length === 1 && only[0] === id;
      this.setParams({ only: already ? null : id, hide: null }, false);
      return;
    }
    if (hidden.has(id)) hidden.delete(id); else hidden.add(id);
    // `only` turns into the equivalent `hide` list once the user toggles one by one.
    const list = allIds.filter((x) => hidden.has(x));
    this.setParams({ only: null, hide: list.length ? list.join(',') : null }, false);
  }

  draw() {
    if (this.destroyed || !this.name || !this.answer || this.answerKey !== this.fetchKey) return;
    const m = this.meta();
    const ans = this.answer;
    const unit = (m && m.unit) || ans.unit || '';
    const hist = isHistogram(ans.type);
    const rate = !hist && canRate(m) && this.params.get('rate') === '1';
    const data = toChartData(ans, m, { rate, percentiles: this.percentiles(), stepMs: this.answerStep });
    const allIds = data.legend.map((l) => l.id);
    const hiddenIds = this.hiddenSeries(allIds);
    const hiddenChart = new Set();
    for (const id of hiddenIds) for (const cid of data.chartIds.get(id) || []) hiddenChart.add(cid);
    const fmt = rate ? (v, short) => `${fmtUnit(v, unit, short)}/s` : (v, short) => fmtUnit(v, unit, short);
    const showEx = this.params.get('ex') !== '0';
    const chartData = { series: data.series, markers: showEx ? data.markers : [], xRange: this.answerXRange, unit, step: this.answerStep };
    const markerTitle = (mk) => {
      const value = mk.exValue !== undefined ? mk.exValue : mk.v;
      return `exemplar ${fmtUnit(value, unit)} at ${fmtClock(mk.t)}, trace ${mk.traceId}${mk.spanId ? ` span ${mk.spanId}` : ''}: click to open the trace`;
    };
    const options = { hidden: hiddenChart, formatValue: fmt, yLog: this.params.get('log') === '1', markerTitle };
    const type = this.chartType();
    if (this.chart && this.drawnType !== type) {
      this.chart.destroy();
      this.chart = null;
    }
    if (!this.chart) {
      this.drawnType = type;
      this.chart = createChart(this.chartBox, type, chartData, {
        ...options,
        height: 320,
        svgTestId: 'metric-chart',
        markerSpacing: 14,
        onMarker: (mk) => this.ctx.navigate(`/traces/${mk.traceId}${mk.spanId ? `?span=${mk.spanId}` : ''}`),
      });
    } else {
      this.chart.update(chartData, options);
    }
    this.drawLegend(data.legend, hiddenIds, fmt);
    if (hist) this.drawHeat(ans, new Set(allIds.filter((id) => !hiddenIds.has(id))), unit);
    const notes = [];
    if (ans.truncated) notes.push('Only the first 1000 series are shown: narrow with a service or attribute filter.');
    if (hist) {
      notes.push(`Percentile lines are ${this.percentiles().join(', ')} of what was recorded in each step.`);
    }
    // What one point is: the same number means different things per kind.
    if (m && m.type === 'sum' && !rate) {
      notes.push(m.temporality === 'delta'
        ? 'Each point is the total of the deltas reported in its step.'
        : `Each point is the last ${m.monotonic ? 'running total' : 'value'} reported in its step${m.monotonic ? ' (rate /s shows the increase per second, counting restarts from zero)' : ''}.`);
    } else if (rate) {
      notes.push(m.temporality === 'delta'
        ? 'Per-second rate: each step\'s total over the time it covers.'
        : 'Per-second rate of increase; a counter that went down restarted, and counts from zero.');
    } else if (m && m.type === 'gauge') {
      notes.push('Each point is the last reading of its step.');
    }
    if (Number.isFinite(this.answerStep) && this.answerStep > 0) notes.push(`Step ${fmtUnit(this.answerStep, 'ms')}.`);
    if (data.markers.length && showEx) notes.push('Dots are exemplars: click one to open its trace.');
    this.notes.textContent = notes.join(' ');
    this.markReady();
  }

  drawLegend(legend, hiddenIds, fmt) {
    const key = legend.slice(0, MAX_LEGEND).map((l) => `${l.id}\u0001${l.label}`).join('\u0000');
    if (key !== this.legendKey) {
      this.legendKey = key;
      this.legendItems.clear();
      const items = legend.slice(0, MAX_LEGEND).map((l) => {
        const value = h('span', { class: 'legend-value' });
        const el = h('button', {
          type: 'button', class: 'legend-item', 'data-testid': 'legend-item', 'data-series-id': l.id,
          title: `${l.service || '(no service)'} · ${l.scope || '(no scope)'}\n${l.label}\nclick: show or hide · shift-click: only this one`,
          onclick: (e) => this.toggleSeries(l.id, e.shiftKey || e.altKey),
        }, h('span', { class: 'chart-swatch', style: { background: l.color } }), h('span', { class: 'legend-label' }, l.label), value);
        this.legendItems.set(l.id, { el, value });
        return el;
      });
      replace(this.legendEl, items);
    }
    for (const l of legend.slice(0, MAX_LEGEND)) {
      const item = this.legendItems.get(l.id);
      if (!item) continue;
      const on = !hiddenIds.has(l.id);
      item.el.setAttribute('aria-pressed', String(on));
      item.el.classList.toggle('off', !on);
      item.value.textContent = l.last === null ? '' : `${l.lastLabel ? `${l.lastLabel} ` : ''}${fmt(l.last, false)}`;
    }
    const hiddenCount = legend.filter((l) => hiddenIds.has(l.id)).length;
    const parts = [`${legend.length} series`];
    if (legend.length > MAX_LEGEND) parts.push(`legend shows the first ${MAX_LEGEND}`);
    if (hiddenCount) parts.push(`${hiddenCount} hidden`);
    replace(this.legendBar, parts.join(' · '), hiddenCount ? this.showAll : null,
      legend.length > 1 ? h('span', { class: 'metrics-hint' }, 'click a series to show or hide it, shift-click to see only it') : null);
  }

  drawHeat(ans, visibleIds, unit) {
    if (!hasBuckets(ans)) {
      if (this.heat) { this.heat.destroy(); this.heat = null; }
      clear(this.heatBox);
      this.heatNote.textContent = 'No heatmap: this server does not send the bucket counts of histogram points yet (the "buckets" field of /api/metrics/{name}/series).';
      return;
    }
    const columns = toHeatmapColumns(ans, visibleIds);
    this.heatNote.textContent = 'Counts recorded in each step, summed over the visible series; a stronger color is more.';
    const data = { columns, xRange: this.answerXRange, unit, step: this.answerStep };
    if (!this.heat) this.heat = createChart(this.heatBox, 'heatmap', data, { height: 220, formatValue: (v, short) => fmtUnit(v, unit, short) });
    else this.heat.update(data);
  }

  // ---- live and keys ---------------------------------------------------------------------------

  live(delta) {
    if (this.destroyed || !delta || !Array.isArray(delta.metrics)) return;
    let mine = false;
    let fresh = false;
    for (const m of delta.metrics) {
      if (m.metric === this.name) mine = true;
      if (this.metrics && !this.metaByName.has(m.metric)) fresh = true;
    }
    if (fresh) this.scheduleList();
    // A metric that stopped reporting still gets its window slid now and then, so the chart
    // shows the silence instead of freezing at the last point.
    const stale = performance.now() - this.lastSeriesFetch > SLIDE_MS;
    if (this.name && !this.paused() && (mine || stale)) this.scheduleSeries();
  }

  key(event) {
    if (event.key === 'p' && this.name) {
      event.preventDefault();
      this.togglePause();
      return;
    }
    const items = Array.from(this.listEl.querySelectorAll('a.metric-item'));
    if (event.key === 'j' || event.key === 'k') {
      if (!items.length) return;
      event.preventDefault();
      if (this.cursor < 0 || this.cursor >= items.length) {
        const sel = items.findIndex((a) => a.classList.contains('selected'));
        this.cursor = sel >= 0 ? sel : (event.key === 'j' ? -1 : items.length);
      }
      this.cursor = Math.max(0, Math.min(items.length - 1, this.cursor + (event.key === 'j' ? 1 : -1)));
      items.forEach((a, i) => a.classList.toggle('cursor', i === this.cursor));
      items[this.cursor].scrollIntoView({ block: 'nearest' });
    } else if (event.key === 'Enter') {
      // Enter on a focused button or link is that control's own click.
      if (event.target instanceof Element && event.target.closest('button, a, [tabindex]')) return;
      const a = items[this.cursor];
      if (!a) return;
      event.preventDefault();
      const url = new URL(a.href, location.href);
      this.ctx.navigate(url.pathname + url.search);
    }
  }
}
