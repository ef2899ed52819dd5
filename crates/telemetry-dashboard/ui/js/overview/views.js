// The registered views (`register_view(metric, chart)`): one card per view, its chart drawn
// by ../charts.js from the metric's bucketed series over the last 15 minutes.
//
// A view reloads when the live stream reports a new point of its metric, at most every two
// seconds (its newest bucket is ten seconds wide, and a page of many views must not turn
// into a request storm), and every 10 s anyway so its time axis keeps sliding.

import { h, replace, clear, errorBox, seriesColor } from '../dom.js';
import { createChart } from '../charts.js';
import { deltaRatePoints } from '../metrics/data.js';

const RANGE_MS = 15 * 60 * 1000;
const STEP = '10s';
const STEP_MS = 10000;
const STEP_NS = 10000000000n;
// A full reload now and then; in between only the newest buckets are asked for, since a
// full 15 minutes with exemplars is hundreds of kilobytes per view.
const FULL_RELOAD_MS = 60000;
const TAIL_STEPS = 2n;
const MIN_RELOAD_MS = 2000;
const SLIDE_MS = 10000;
const MAX_SERIES = 12;
const MAX_HISTOGRAM_SERIES = 4;


function seriesLabel(s, many) {
  const attrs = Object.entries(s.attributes || {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (attrs.length === 0) return many ? s.service || s.seriesId : s.metric;
  return attrs.join(', ');
}

function isHistogram(type) {
  return type === 'histogram' || type === 'exponentialHistogram';
}

function hasBuckets(res) {
  return res.series.some((s) => s.points.some((p) => Array.isArray(p.buckets)));
}

/** The q-quantile of histogram buckets, interpolating linearly inside the bucket. */
export function quantile(buckets, q) {
  let total = 0;
  for (const b of buckets) total += b.count;
  if (total <= 0) return null;
  const target = q * total;
  let seen = 0;
  for (const b of buckets) {
    if (b.count <= 0) continue;
    if (seen + b.count >= target) {
      const lo = Number.isFinite(b.lo) ? b.lo : b.hi;
      const hi = Number.isFinite(b.hi) ? b.hi : b.lo;
      if (!Number.isFinite(lo)) return null;
      return lo + (hi - lo) * Math.min(1, Math.max(0, (target - seen) / b.count));
    }
    seen += b.count;
  }
  const last = buckets[buckets.length - 1];
  return Number.isFinite(last.hi) ? last.hi : last.lo;
}

/**
 * Buckets of every series merged per bucket time: `[{t, buckets}]`, oldest first. The API's
 * buckets are what was recorded during each step whatever the temporality, so summing them
 * across series gives the step's distribution.
 */
export function mergeBuckets(series) {
  const byTime = new Map();
  for (const s of series) {
    for (const p of s.points) {
      if (!Array.isArray(p.buckets)) continue;
      let bounds = byTime.get(p.timeMs);
      if (!bounds) { bounds = new Map(); byTime.set(p.timeMs, bounds); }
      for (const b of p.buckets) {
        const key = `${b.lo}|${b.hi}`;
        const cur = bounds.get(key);
        if (cur) cur.count += b.count;
        else bounds.set(key, { lo: b.lo, hi: b.hi, count: b.count });
      }
    }
  }
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([t, bounds]) => ({
    t,
    buckets: [...bounds.values()].sort((a, b) => (Number.isFinite(a.lo) ? a.lo : -Infinity) - (Number.isFinite(b.lo) ? b.lo : -Infinity)),
  }));
}

// The percentiles Aspire and Grafana show by default; the API answers each per step.
const PERCENTILES = [['p50', 0.5], ['p90', 0.9], ['p99', 0.99]];

/**
 * Percentile lines of a histogram metric. One series: the server's own percentiles, which
 * close the open end buckets with the step's min and max. Several: merged from their buckets
 * (percentiles of parts do not combine).
 */
function percentileSeries(res) {
  if (res.series.length > 1 && hasBuckets(res)) {
    const merged = mergeBuckets(res.series);
    return PERCENTILES.map(([name, q], i) => ({
      id: name, name, color: seriesColor(i),
      points: merged.map((m) => ({ t: m.t, v: quantile(m.buckets, q) })).filter((p) => p.v !== null),
    }));
  }
  const many = res.series.length > 1;
  const out = [];
  res.series.slice(0, MAX_HISTOGRAM_SERIES).forEach((s, si) => {
    PERCENTILES.forEach(([name], pi) => {
      out.push({
        id: `${s.seriesId}-${name}`,
        name: many ? `${name} ${seriesLabel(s, true)}` : name,
        color: seriesColor(many ? si * 3 + pi : pi),
        points: s.points.filter((p) => Number.isFinite(p[name])).map((p) => ({ t: p.timeMs, v: p[name] })),
      });
    });
  });
  return out;
}

function valueKey(res, meta) {
  return res.type === 'sum' && meta && meta.temporality === 'delta' ? 'sum' : 'last';
}

/** A monotonic sum: its running total only grows, so what a reader wants is how fast. */
function isCounter(res, meta) {
  return res.type === 'sum' && !!meta && meta.monotonic === true && !!meta.temporality;
}

/** The unit of a counter's rate: `{call}` becomes `call/s`, a dimensionless `1` just `/s`. */
function rateUnit(unit) {
  const name = !unit || unit === '1' ? '' : unit.replace(/^\{(.*)\}$/, '$1');
  return `${name}/s`;
}

/**
 * Per-second rates of a counter series: the increase between successive buckets of a
 * cumulative one (a drop is a restart, counted from zero), each bucket's sum of a delta one.
 */
function ratePoints(s, meta) {
  const out = [];
  if (meta.temporality === 'delta') {
    // A delta point covers the time since the previous export, often longer than a step:
    // the rate is over the time since the previous bucket with data (as the metrics page).
    return deltaRatePoints(s.points.map((p) => ({ t: p.timeMs, v: Number.isFinite(p.sum) ? p.sum : null })), STEP_MS)
      .filter((p) => p.v !== null);
  }
  let prev = null;
  for (const p of s.points) {
    if (!Number.isFinite(p.last)) continue;
    if (prev && p.timeMs > prev.timeMs) {
      const increase = p.last >= prev.last ? p.last - prev.last : p.last;
      out.push({ t: p.timeMs, v: increase / ((p.timeMs - prev.timeMs) / 1000) });
    }
    prev = p;
  }
  return out;
}

function valueSeries(res, meta, counter = isCounter(res, meta)) {
  const key = valueKey(res, meta);
  const many = res.series.length > 1;
  return res.series.slice(0, MAX_SERIES).map((s, i) => ({
    id: s.seriesId, name: seriesLabel(s, many), color: seriesColor(i),
    points: counter ? ratePoints(s, meta) : s.points.filter((p) => Number.isFinite(p[key])).map((p) => ({ t: p.timeMs, v: p[key] })),
  }));
}

/** One figure over time for a stat card: totals of sums, averages of gauges, p99 of histograms. */
function statData(res, meta) {
  if (isHistogram(res.type)) {
    const p99 = percentileSeries(res).find((s) => s.id === 'p99' || s.id.endsWith('-p99'));
    let points = p99 ? p99.points : [];
    if (!hasBuckets(res) && res.series.length > 1) {
      // Without buckets the series cannot be merged; the worst p99 is the honest summary.
      const byT = new Map();
      for (const s of res.series) for (const p of s.points) if (Number.isFinite(p.p99)) byT.set(p.timeMs, Math.max(byT.get(p.timeMs) ?? -Infinity, p.p99));
      points = [...byT.entries()].sort((a, b) => a[0] - b[0]).map(([t, v]) => ({ t, v }));
    }
    const last = points[points.length - 1];
    return { value: last ? last.v : null, label: res.series.length > 1 && !hasBuckets(res) ? 'p99 (worst series)' : 'p99', series: [{ points }] };
  }
  const key = valueKey(res, meta);
  const average = res.type === 'gauge' && res.series.length > 1;
  const byT = new Map();
  for (const s of res.series) {
    for (const p of s.points) {
      if (!Number.isFinite(p[key])) continue;
      const cur = byT.get(p.timeMs) || { sum: 0, n: 0 };
      cur.sum += p[key];
      cur.n += 1;
      byT.set(p.timeMs, cur);
    }
  }
  const points = [...byT.entries()].sort((a, b) => a[0] - b[0]).map(([t, c]) => ({ t, v: average ? c.sum / c.n : c.sum }));
  const last = points[points.length - 1];
  let label;
  if (res.series.length > 1) label = average ? `average of ${res.series.length} series` : `total of ${res.series.length} series`;
  else if (res.series.length === 1 && Object.keys(res.series[0].attributes || {}).length > 0) label = seriesLabel(res.series[0], false);
  return { value: last ? last.v : null, label, series: [{ points }] };
}

/**
 * Series and unit of a sum or gauge: a counter's rate, or while no series has two buckets
 * yet to take a rate from (a counter seen for under 20 s), its running total.
 */
function scalarData(res, meta) {
  if (isCounter(res, meta)) {
    const series = valueSeries(res, meta, true);
    if (series.some((s) => s.points.length > 0)) return { series, unit: rateUnit(res.unit), note: 'rate per second' };
    return { series: valueSeries(res, meta, false), unit: res.unit || undefined, note: 'total, until a rate can be taken' };
  }
  return { series: valueSeries(res, meta), unit: res.unit || undefined, note: null };
}

/** What to draw for a view: the chart type actually used, its data and a note. */
export function chartData(chart, res, meta, xRange) {
  const unit = res.unit || undefined;
  if (chart === 'stat') return { type: 'stat', data: { ...statData(res, meta), unit } };
  if (chart === 'heatmap') {
    if (isHistogram(res.type) && hasBuckets(res)) {
      const columns = mergeBuckets(res.series).map((m) => ({ t: m.t, buckets: m.buckets }));
      return { type: 'heatmap', data: { columns, xRange, unit } };
    }
    if (isHistogram(res.type)) return { type: 'line', data: { series: percentileSeries(res), xRange, unit }, note: 'no bucket counts yet: percentiles shown' };
    const scalar = scalarData(res, meta);
    return { type: 'line', data: { series: scalar.series, xRange, unit: scalar.unit }, note: 'a heatmap needs a histogram: values shown' };
  }
  if (isHistogram(res.type)) return { type: chart, data: { series: percentileSeries(res), xRange, unit }, note: null };
  const scalar = scalarData(res, meta);
  const notes = [scalar.note];
  if (res.series.length > MAX_SERIES) notes.push(`${MAX_SERIES} of ${res.series.length} series`);
  return { type: chart, data: { series: scalar.series, xRange, unit: scalar.unit }, note: notes.filter(Boolean).join(' · ') || null };
}

/**
 * Puts the buckets of `tail` (an answer from `startMs` on) into `cached`: the cached buckets
 * from `startMs` on are replaced, new series are added, and buckets before `oldestMs` go.
 */
export function mergeTail(cached, tail, startMs, oldestMs) {
  const byId = new Map(cached.series.map((s) => [s.seriesId, s]));
  for (const s of tail.series || []) {
    const have = byId.get(s.seriesId);
    if (have) {
      have.points = have.points.filter((p) => p.timeMs < startMs).concat(s.points);
    } else {
      cached.series.push(s);
      byId.set(s.seriesId, s);
    }
  }
  for (const s of cached.series) {
    if (s.points.length && s.points[0].timeMs < oldestMs) s.points = s.points.filter((p) => p.timeMs >= oldestMs);
  }
  cached.series = cached.series.filter((s) => s.points.length > 0);
  if (tail.unit) cached.unit = tail.unit;
}

function hasPoints(res) {
  return res && Array.isArray(res.series) && res.series.some((s) => s.points && s.points.length > 0);
}

class ViewCard {
  constructor(view, deps) {
    this.metric = view.metric;
    this.chart = view.chart;
    this.deps = deps;
    this.lastLoad = 0;
    this.timer = 0;
    this.abort = null;
    this.drawn = null; // { type, handle }
    this.note = h('span', { class: 'view-note muted' });
    this.body = h('div', { class: 'view-body' }, h('p', { class: 'muted view-waiting' }, `Loading ${view.metric}…`));
    this.el = h('article', { class: 'card view-card', 'data-testid': 'view', 'data-metric': view.metric, 'data-chart': view.chart },
      h('header', { class: 'view-head' },
        h('a', { class: 'view-title', href: `/metrics/${encodeURIComponent(view.metric)}`, title: `Open ${view.metric} in Metrics` }, view.metric),
        h('span', { class: 'view-type muted' }, view.chart),
        this.note),
      this.body);
  }

  request() {
    if (this.timer) return;
    const wait = Math.max(0, this.lastLoad + MIN_RELOAD_MS - Date.now());
    this.timer = setTimeout(() => { this.timer = 0; this.load(); }, wait);
  }

  async load() {
    this.lastLoad = Date.now();
    if (this.abort) this.abort.abort();
    const abort = new AbortController();
    this.abort = abort;
    const now = Date.now();
    const nowNs = BigInt(now) * 1000000n;
    // After a gap longer than the tail (a hidden tab's timers slow down), start over.
    const full = !this.cache || now - this.cache.loadedAt >= FULL_RELOAD_MS || now - this.cache.mergedAt > 15000;
    // Bucket bounds are start + i·step, so every request starts on one grid and a tail
    // answer's buckets line up with the cached ones they replace.
    const origin = full ? ((nowNs - BigInt(RANGE_MS) * 1000000n) / STEP_NS) * STEP_NS : this.cache.origin;
    const start = full ? origin : origin + ((nowNs - origin) / STEP_NS - TAIL_STEPS) * STEP_NS;
    let res;
    let meta;
    try {
      meta = await this.deps.meta(this.metric);
      if (!meta) { this.cache = null; this.waiting(); return; }
      res = await this.deps.ctx.getJSON(`metrics/${encodeURIComponent(this.metric)}/series`, { start: start.toString(), step: STEP }, abort.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof this.deps.ctx.ApiError && e.status === 404) { this.cache = null; this.waiting(); return; }
      this.fail(`${this.metric}: ${e.message}`);
      return;
    }
    if (abort.signal.aborted || this.destroyed) return;
    // A body that is not the documented JSON (api.js gives null for an unreadable one).
    if (!res || !Array.isArray(res.series)) { this.fail(`${this.metric}: the series answer could not be read`); return; }
    if (full) {
      this.cache = { res, origin, loadedAt: now, mergedAt: now };
    } else {
      this.cache.mergedAt = now;
      mergeTail(this.cache.res, res, Number(start / 1000000n), now - RANGE_MS - STEP_MS);
    }
    const data = this.cache.res;
    if (!hasPoints(data)) { this.waiting(); return; }
    this.draw(chartData(this.chart, data, meta, [now - RANGE_MS, now]));
  }

  draw({ type, data, note }) {
    this.el.classList.remove('is-waiting');
    const noteText = note || '';
    if (this.note.textContent !== noteText) this.note.textContent = noteText;
    const options = { height: type === 'stat' ? 90 : 160, legend: type !== 'stat' && data.series && data.series.length > 1 };
    if (this.drawn && this.drawn.type === type) {
      this.drawn.handle.update(data, options);
      return;
    }
    this.dropChart();
    const box = h('div', { class: 'view-chart' });
    replace(this.body, box);
    this.drawn = { type, handle: createChart(box, type, data, options) };
  }

  waiting() {
    this.dropChart();
    this.el.classList.add('is-waiting');
    this.note.textContent = '';
    replace(this.body, h('p', { class: 'muted view-waiting', 'data-testid': 'view-waiting' }, `waiting for ${this.metric}`));
  }

  fail(message) {
    this.dropChart();
    replace(this.body, errorBox(message));
  }

  dropChart() {
    if (this.drawn) {
      this.drawn.handle.destroy();
      this.drawn = null;
    }
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this.timer);
    if (this.abort) this.abort.abort();
    this.dropChart();
    this.el.remove();
  }
}

/** The views section: reconciles cards with the registered list and reloads them. */
export class Views {
  constructor(ctx) {
    this.ctx = ctx;
    this.cards = new Map();
    this.signature = null;
    this.metaList = null;
    this.metaAt = 0;
    this.metaLoad = null;
    this.grid = h('div', { class: 'grid view-grid' });
    this.hint = h('p', { class: 'muted views-hint' }, 'No registered views. Pick metrics for this page with ',
      h('code', null, 'register_view(metric_name, chart_type)'), ' or ', h('code', null, 'POST /api/views'),
      ' (chart: line, area, bar, stat or heatmap).');
    this.el = h('section', { class: 'views', 'data-testid': 'views' }, h('h2', null, 'Views'), this.hint, this.grid);
    this.slide = setInterval(() => { for (const card of this.cards.values()) card.request(); }, SLIDE_MS);
    this.deps = { ctx, meta: (name) => this.meta(name) };
  }

  /** The /api/metrics entry of `name`, re-read (at most every 5 s) while it is unknown. */
  async meta(name) {
    const find = () => (this.metaList || []).find((m) => m.name === name);
    if (find() || (this.metaList && Date.now() - this.metaAt < 5000)) return find();
    if (!this.metaLoad) {
      // Shared by every card, so no card's abort cancels it for the others.
      this.metaLoad = this.ctx.getJSON('metrics').then((list) => {
        this.metaList = list;
        this.metaAt = Date.now();
      }).finally(() => { this.metaLoad = null; });
    }
    await this.metaLoad;
    return find();
  }

  set(views) {
    if (!Array.isArray(views)) return;
    const signature = JSON.stringify(views);
    if (signature === this.signature) return;
    this.signature = signature;
    const want = new Map(views.map((v) => [v.metric, v]));
    for (const [metric, card] of this.cards) {
      const v = want.get(metric);
      if (!v || v.chart !== card.chart) {
        card.destroy();
        this.cards.delete(metric);
      }
    }
    // Registration order, as the API gives it.
    clear(this.grid);
    for (const v of views) {
      let card = this.cards.get(v.metric);
      if (!card) {
        card = new ViewCard(v, this.deps);
        this.cards.set(v.metric, card);
        card.request();
      }
      this.grid.appendChild(card.el);
    }
    this.hint.hidden = views.length > 0;
  }

  /** New points arrived: reload the views of those metrics (each at most every MIN_RELOAD_MS). */
  metricsChanged(points) {
    if (!points || points.length === 0 || this.cards.size === 0) return;
    const names = new Set(points.map((p) => p.metric));
    for (const name of names) {
      const card = this.cards.get(name);
      if (card) card.request();
    }
  }

  reloadAll() {
    for (const card of this.cards.values()) card.request();
  }

  destroy() {
    clearInterval(this.slide);
    for (const card of this.cards.values()) card.destroy();
    this.cards.clear();
  }
}
