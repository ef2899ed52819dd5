// Pure transforms from /api/metrics/{name}/series answers to chart data (js/charts.js).
// Kept apart from the page so the arithmetic (rates, percentiles, heatmap columns, live merges)
// reads on its own and has no DOM in it.

import { seriesColor } from '../dom.js';

/** Time range presets: URL value -> milliseconds (`all` = every stored point). */
export const RANGES = [['5m', 5 * 60000], ['15m', 15 * 60000], ['1h', 3600000], ['6h', 6 * 3600000], ['all', 0]];
export const DEFAULT_RANGE = '15m';

/** Percentile lines of a histogram; p90 needs `p90` or `buckets` in the answer. */
export const PERCENTILES = ['p50', 'p90', 'p95', 'p99'];
const QUANTILE = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };
/** The stroke-dasharray of each percentile line (the color is the attribute set's). */
export const DASH = { p50: null, p90: '7 3', p95: '3 2 1 2', p99: '1.5 2.5' };

const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400]
  .map((sec) => sec * 1000);

/** The smallest friendly bucket width giving at most `buckets` buckets over `spanMs`. */
export function niceStepMs(spanMs, buckets = 300) {
  const want = spanMs / buckets;
  return NICE_STEPS.find((st) => st >= want) || Math.ceil(want / 86400000) * 86400000;
}

/** Unix milliseconds as the API's nanosecond decimal string. */
export function msToNs(ms) {
  return (BigInt(Math.floor(ms)) * 1000000n).toString();
}

/** A nanosecond decimal string as unix milliseconds (sub-ms precision is not needed to draw). */
export function nsToMs(ns) {
  const n = Number(ns);
  return Number.isFinite(n) ? n / 1e6 : NaN;
}

function attrText(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** `k=v, k2=v2` of a series' attributes, sorted by key. */
export function attrLabel(attributes) {
  const keys = Object.keys(attributes || {}).sort();
  if (keys.length === 0) return '(no attributes)';
  return keys.map((k) => `${k}=${attrText(attributes[k])}`).join(', ');
}

/**
 * The legend label of every series of an answer: attributes, plus service and scope when the
 * answer mixes several (otherwise they are noise).
 */
export function seriesLabels(series) {
  const services = new Set(series.map((x) => x.service));
  // The scope only tells series apart when some service has several of them.
  const scopesOf = new Map();
  for (const x of series) {
    if (!scopesOf.has(x.service)) scopesOf.set(x.service, new Set());
    scopesOf.get(x.service).add(x.scope);
  }
  const scopeMatters = Array.from(scopesOf.values()).some((set) => set.size > 1);
  const out = new Map();
  for (const x of series) {
    const parts = [];
    if (services.size > 1) parts.push(x.service || '(no service)');
    if (scopeMatters) parts.push(x.scope || '(no scope)');
    const attrs = Object.keys(x.attributes || {}).length ? attrLabel(x.attributes) : '';
    if (attrs) parts.push(attrs);
    out.set(x.seriesId, parts.length ? parts.join(' · ') : '(no attributes)');
  }
  return out;
}

/** Whether a metric's answer is a histogram of either kind. */
export function isHistogram(type) {
  return type === 'histogram' || type === 'exponentialHistogram';
}

/** Whether a rate view makes sense: a monotonic sum (a counter), cumulative or delta. */
export function canRate(meta) {
  return !!meta && meta.type === 'sum' && meta.monotonic === true
    && (meta.temporality === 'cumulative' || meta.temporality === 'delta');
}

/**
 * Per-second rate of delta sums: each bucket's total over the time it covers, which is the
 * step or, when exports are sparser than the step, the time since the previous bucket with
 * data (a 10 s export charted at a 1 s step is not a 10x spike followed by nothing). The
 * first bucket has no previous one: it takes the usual spacing of the series' buckets.
 */
export function deltaRatePoints(points, stepMs) {
  const out = [];
  const gaps = [];
  for (let i = 1; i < points.length; i += 1) gaps.push(points[i].t - points[i - 1].t);
  gaps.sort((a, b) => a - b);
  const usual = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0;
  let prevT = null;
  for (const p of points) {
    if (!Number.isFinite(p.v)) {
      out.push({ t: p.t, v: null, src: p.src });
      continue;
    }
    const span = Math.max(stepMs || 0, prevT === null ? usual : p.t - prevT);
    out.push({ t: p.t, v: span > 0 ? p.v / (span / 1000) : null, src: p.src });
    prevT = p.t;
  }
  return out;
}

/**
 * Per-second rate from successive cumulative values; a drop means the counter restarted,
 * so the new value itself is the increase since the restart. A missing value (null) stays a
 * gap; the rate after it is taken from the last known value.
 */
export function ratePoints(points) {
  const out = [];
  let a = null;
  for (const b of points) {
    if (!Number.isFinite(b.v)) {
      if (a) out.push({ t: b.t, v: null, src: b.src });
      continue;
    }
    if (a) {
      const dt = (b.t - a.t) / 1000;
      if (dt > 0) {
        const inc = b.v >= a.v ? b.v - a.v : b.v;
        out.push({ t: b.t, v: inc / dt, src: b.src });
      }
    }
    a = b;
  }
  return out;
}

// The value drawn for one bucket of a sum or gauge series.
function scalarOf(point, meta) {
  if (meta.type === 'sum' && meta.temporality === 'delta') return point.sum;
  return point.last;
}

/**
 * The p-quantile (0..1) of one histogram bucket list, interpolating linearly inside the
 * bucket it falls in; open bounds are closed by `min`/`max` when known, else by the bucket's
 * other bound (the same rule as the server's p50/p95/p99).
 */
export function quantileOfBuckets(buckets, q, min, max) {
  const list = (buckets || []).filter((b) => b && b.count > 0)
    .slice()
    .sort((a, b) => (a.lo ?? -Infinity) - (b.lo ?? -Infinity));
  const total = list.reduce((acc, b) => acc + b.count, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (const b of list) {
    if (seen + b.count >= rank) {
      let lo = b.lo ?? (Number.isFinite(min) ? min : b.hi);
      let hi = b.hi ?? (Number.isFinite(max) ? max : b.lo);
      if (Number.isFinite(min) && lo < min) lo = min;
      if (Number.isFinite(max) && hi > max) hi = max;
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) return Number.isFinite(lo) ? lo : hi;
      const frac = b.count > 0 ? (rank - seen) / b.count : 0;
      return lo + (hi - lo) * Math.min(1, Math.max(0, frac));
    }
    seen += b.count;
  }
  const last = list[list.length - 1];
  return last.hi ?? last.lo;
}

/** Whether a p90 line can be drawn: the answer has `p90` or the `buckets` to compute it. */
export function hasP90(answer) {
  return (answer.series || []).some((x) => (x.points || []).some((p) => Number.isFinite(p.p90) || Array.isArray(p.buckets)));
}

/** Whether any point of the answer carries histogram `buckets`. */
export function hasBuckets(answer) {
  return (answer.series || []).some((x) => (x.points || []).some((p) => Array.isArray(p.buckets)));
}

/**
 * Chart data for the main chart. `state`: {rate, percentiles: [...], stepMs (the answer's
 * step, for delta rates)}.
 * Returns {series, markers, legend: [{id, label, color, last, lastLabel (the percentile of
 * `last`, histograms), scope, service}], chartIds:
 * Map seriesId -> [chart series ids] (so the page can hide all lines of one attribute set)}.
 */
export function toChartData(answer, meta, state) {
  const series = answer.series || [];
  const labels = seriesLabels(series);
  const histogram = isHistogram(answer.type);
  const out = [];
  const markers = [];
  const legend = [];
  const chartIds = new Map();
  series.forEach((x, i) => {
    const color = seriesColor(i);
    const label = labels.get(x.seriesId);
    const points = (x.points || []).filter((p) => Number.isFinite(p.timeMs));
    const ids = [];
    let last = null;
    let lastLabel = '';
    if (histogram) {
      // The API answers what was recorded during each step for both temporalities (it takes
      // the difference of cumulative points itself), so its percentiles are per step as is.
      for (const pct of state.percentiles) {
        const pts = [];
        for (const p of points) {
          let v = p[pct];
          // A percentile the answer lacks is computed from the buckets when they are there.
          if (!Number.isFinite(v) && Array.isArray(p.buckets)) v = quantileOfBuckets(p.buckets, QUANTILE[pct], p.min, p.max);
          if (Number.isFinite(v)) pts.push({ t: p.timeMs, v });
        }
        const id = `${x.seriesId}:${pct}`;
        ids.push(id);
        out.push({ id, name: `${label} ${pct}`, color, dash: DASH[pct], points: pts });
        // The legend shows the highest percentile drawn: the tail is what people look for.
        if (pts.length) {
          last = pts[pts.length - 1].v;
          lastLabel = pct;
        }
      }
      const markerId = ids[0];
      for (const p of points) {
        // One dot per step and series: the slowest exemplar, the one worth opening.
        let best = null;
        for (const ex of p.exemplars || []) {
          if (!ex.traceId || !Number.isFinite(ex.value) || !Number.isFinite(nsToMs(ex.timeUnixNano))) continue;
          if (!best || ex.value > best.value) best = ex;
        }
        if (best) markers.push({ t: nsToMs(best.timeUnixNano), v: best.value, traceId: best.traceId, spanId: best.spanId, seriesId: markerId, title: '' });
      }
    } else {
      let pts = [];
      for (const p of points) {
        // A bucket whose value is null (the server's JSON for NaN and infinities) stays as a
        // gap in the line rather than being bridged.
        const v = scalarOf(p, meta || answer);
        pts.push({ t: p.timeMs, v: Number.isFinite(v) ? v : null, src: p });
      }
      if (state.rate) {
        pts = (meta || answer).temporality === 'delta' ? deltaRatePoints(pts, state.stepMs) : ratePoints(pts);
      }
      const id = String(x.seriesId);
      ids.push(id);
      // A counter's exemplar value is one increment, not the total: put its dot on the line
      // at its bucket (the title still gives its own value). Gauge exemplars are readings.
      const onLine = (meta || answer).type === 'sum';
      for (const q of pts) {
        // One dot per step and series (the latest exemplar of the step).
        const list = ((q.src && q.src.exemplars) || []).filter((ex) => ex.traceId && Number.isFinite(nsToMs(ex.timeUnixNano)));
        if (!list.length) continue;
        const ex = list.reduce((a, b) => (nsToMs(b.timeUnixNano) > nsToMs(a.timeUnixNano) ? b : a));
        const v = onLine ? q.v : ex.value;
        // (q.v is null in a gap: the dot has no place on the line.)
        if (!Number.isFinite(v)) continue;
        markers.push({ t: onLine ? q.t : nsToMs(ex.timeUnixNano), v, traceId: ex.traceId, spanId: ex.spanId, seriesId: id, exValue: ex.value, title: '' });
      }
      out.push({ id, name: label, color, points: pts.map(({ t, v }) => ({ t, v })) });
      const finite = pts.filter((q) => Number.isFinite(q.v));
      last = finite.length ? finite[finite.length - 1].v : null;
    }
    chartIds.set(String(x.seriesId), ids);
    legend.push({ id: String(x.seriesId), label, color, last, lastLabel, scope: x.scope, service: x.service, attributes: x.attributes });
  });
  return { series: out, markers, legend, chartIds };
}

/**
 * Heatmap columns of the visible series: the bucket counts recorded in each step (the API
 * answers per-step buckets for both temporalities) summed per time.
 */
export function toHeatmapColumns(answer, visibleIds) {
  const byTime = new Map();
  for (const x of answer.series || []) {
    if (!visibleIds.has(String(x.seriesId))) continue;
    for (const p of x.points || []) {
      if (!Array.isArray(p.buckets) || !Number.isFinite(p.timeMs)) continue;
      let col = byTime.get(p.timeMs);
      if (!col) { col = new Map(); byTime.set(p.timeMs, col); }
      for (const b of p.buckets) {
        if (!(b.count > 0)) continue;
        const key = `${b.lo}|${b.hi}`;
        const acc = col.get(key);
        if (acc) acc.count += b.count;
        else col.set(key, { lo: b.lo, hi: b.hi, count: b.count });
      }
    }
  }
  return Array.from(byTime, ([t, col]) => ({ t, buckets: Array.from(col.values()) })).sort((a, b) => a.t - b.t);
}

/**
 * A cached series answer with the buckets of `tail` (an answer for the same query from
 * `tailStartMs` on, on the same step grid) put in: cached buckets from `tailStartMs` on are
 * replaced, new series are appended (existing ones keep their place, hence their color), and
 * buckets before `rangeStartMs` go, as do series left with none.
 */
export function mergeTail(cached, tail, tailStartMs, rangeStartMs) {
  const byId = new Map();
  const series = [];
  for (const x of cached.series || []) {
    const copy = { ...x, points: (x.points || []).filter((p) => p.timeMs >= rangeStartMs && p.timeMs < tailStartMs) };
    byId.set(String(x.seriesId), copy);
    series.push(copy);
  }
  for (const x of tail.series || []) {
    const fresh = (x.points || []).filter((p) => p.timeMs >= tailStartMs);
    const have = byId.get(String(x.seriesId));
    if (have) have.points = have.points.concat(fresh);
    else series.push({ ...x, points: fresh });
  }
  return {
    ...cached,
    endUnixNano: tail.endUnixNano,
    truncated: !!(cached.truncated || tail.truncated),
    series: series.filter((x) => x.points.length > 0),
  };
}
