// Hand-written SVG charts: line, area, bar, stat and heatmap.
//
// One chart owns one root element and one svg it keeps across updates: update() rewrites the
// `d` of a few paths and a pooled set of tick/marker elements, so a redraw of 20 series of
// 300 points costs a few milliseconds and no layout thrash. Each series is ONE path (bars are
// sub-paths of it), which keeps the node count flat however many points arrive.
// Colors come from CSS variables (via classes in css/charts.css) or series colors, so both
// themes work without repainting on 'themechange'.

import { h, s, clear, fmtNumber, fmtBytes, fmtDuration, seriesColor } from './dom.js';

/** The chart types createChart draws. */
export const CHART_TYPES = ['line', 'area', 'bar', 'stat', 'heatmap'];

const DEFAULT_HEIGHT = 220;
const MARGIN = { top: 10, right: 14, bottom: 24 };
const HEAT_LEVELS = 10;
const MAX_MARKERS = 600;
const MAX_TOOLTIP_ROWS = 14;
let clipSeq = 0;

// ---- formatting ----------------------------------------------------------------------

function pad2(n) {
  return String(n).padStart(2, '0');
}

/** Local `HH:MM:SS` of a unix-ms time. */
export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

// A time-axis label: seconds only when ticks fall between minutes, and the local date on the
// first tick of each day when the axis spans several days (else 00:00 reads as a restart).
function fmtTick(ms, step, prevMs, multiDay) {
  const d = new Date(ms);
  const clock = step % 60000 === 0
    ? `${pad2(d.getHours())}:${pad2(d.getMinutes())}`
    : fmtClock(ms);
  if (!multiDay) return clock;
  const newDay = prevMs === null || new Date(prevMs).toDateString() !== d.toDateString();
  if (!newDay) return clock;
  const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  return step >= 86400000 ? date : `${date} ${clock}`;
}

// Short numbers for axis labels: 1.2k, 3.4M; the tooltip uses the full fmtNumber.
function compact(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e15) return v.toExponential(1);
  const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [div, suffix] of units) {
    if (a >= div) return `${trim((v / div).toPrecision(3))}${suffix}`;
  }
  if (a < 1e-4) return v.toExponential(1);
  return trim(a < 1 ? v.toPrecision(2) : v.toPrecision(4));
}

function trim(text) {
  if (text.includes('e')) return String(Number(text));
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

// OTLP units in curly braces (`{request}`) are annotations, not units: the value is a count.
function unitSuffix(unit) {
  if (!unit || unit === '1' || /^\{.*\}$/.test(unit)) return '';
  return unit;
}

/** Milliseconds as a short duration (dom.js's fmtDuration, kept under this name for callers). */
export function fmtDur(ms) {
  return fmtDuration(ms);
}

/**
 * A value with its unit as text: durations for `ms`/`s`/`us`/`ns`, bytes for `By`, a
 * percentage for `%`, else the number and the unit. `short` gives axis-sized labels.
 */
export function fmtUnit(v, unit, short = false) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  switch (unit) {
    case 'ms': return fmtDur(v);
    // fmtDuration's zero is `0 ms`; on a seconds axis `0 s` reads as the unit it is.
    case 's': return v === 0 ? '0 s' : fmtDur(v * 1000);
    case 'us': return fmtDur(v / 1000);
    case 'ns': return fmtDur(v / 1e6);
    // fmtBytes only scales positive counts; an up-down counter of bytes can go below zero.
    case 'By': return v < 0 ? `-${fmtBytes(-v)}` : fmtBytes(v);
    case '%': return `${short ? compact(v) : fmtNumber(v)} %`;
    default: {
      const suffix = unitSuffix(unit);
      const num = short ? compact(v) : fmtNumber(v);
      return suffix ? `${num} ${suffix}` : num;
    }
  }
}

// ---- scales and ticks ------------------------------------------------------------------

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return nice * mag;
}

function linearTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, count);
  const out = [];
  const first = Math.ceil(lo / step - 1e-9) * step;
  for (let v = first; v <= hi + step * 1e-9 && out.length < 50; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function logTicks(lo, hi) {
  const out = [];
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const mults = b - a <= 2 ? [1, 2, 5] : b - a <= 4 ? [1, 3] : [1];
  for (let e = a; e <= b; e += 1) {
    for (const m of mults) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
  .map((sec) => sec * 1000);

function timeTicks(t0, t1, width) {
  const span = t1 - t0;
  // A label with a date is twice as wide: fewer ticks when the axis spans days.
  const multiDay = new Date(t0).toDateString() !== new Date(t1).toDateString() && span > 6 * 3600000;
  const want = Math.max(2, Math.floor(width / (multiDay ? 150 : 90)));
  let step = TIME_STEPS.find((st) => span / st <= want) || Math.ceil(span / want / 86400000) * 86400000;
  if (span < 1000) step = niceStep(span, want);
  // Align to local wall-clock boundaries: minutes and hours should land on :00.
  const offset = new Date(t0).getTimezoneOffset() * 60000;
  const first = Math.ceil((t0 - offset) / step) * step + offset;
  const out = [];
  for (let t = first; t <= t1 && out.length < 60; t += step) out.push(t);
  return { ticks: out, step, multiDay };
}

function median(values) {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// The usual spacing between points, for gap detection, bar and column widths: the data's
// median spacing, or the explicit bucket width when larger. A 60 s export interval charted
// at a 5 s step is still one continuous line, not a row of dots.
function typicalStep(seriesList, explicit) {
  const base = Number.isFinite(explicit) && explicit > 0 ? explicit : 0;
  const diffs = [];
  for (const series of seriesList) {
    const pts = series.points || [];
    for (let i = 1; i < pts.length && diffs.length < 4000; i += 1) {
      const d = pts[i].t - pts[i - 1].t;
      if (d > 0) diffs.push(d);
    }
  }
  return Math.max(base, median(diffs));
}

function finite(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

// The points with a finite time and value. A point whose value is missing (null, NaN or an
// infinity: JSON turns the last two into null) is a gap, as in Grafana: the point before it
// gets `gapAfter`, so the line breaks there instead of bridging the missing reading.
function drawablePoints(points) {
  const out = [];
  for (const p of points || []) {
    if (!p || !finite(p.t)) continue;
    if (finite(p.v)) out.push(p);
    else if (out.length && !out[out.length - 1].gapAfter) out[out.length - 1] = { ...out[out.length - 1], gapAfter: true };
  }
  return out;
}

function r1(v) {
  return Math.round(v * 10) / 10;
}

// Index of the element of sorted `arr` (by key) nearest to `x`.
function nearestIndex(arr, x, key) {
  let lo = 0;
  let hi = arr.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(arr[mid]) < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(key(arr[lo - 1]) - x) <= Math.abs(key(arr[lo]) - x)) return lo - 1;
  return lo;
}

// ---- the chart -------------------------------------------------------------------------

/**
 * Draws a chart of `type` (one of CHART_TYPES) into `container`, replacing its children.
 * Returns `{update(data, options?), destroy()}`; update redraws in place reusing the svg
 * (options given to update merge into the current ones).
 *
 * line/area/bar data: `{series: [{id, name, color?, dash? (stroke-dasharray), points: [{t (unix ms), v}]}],
 *   (a point with v null/NaN/±Infinity is a gap: the line breaks there)
 *   markers?: [{t, v, traceId, spanId, title?, seriesId?}], xRange?: [t0, t1], unit?, step? (ms)}`
 *   Bars: one group per distinct t, series side by side (or `options.stacked`, or stacked
 *   anyway when side-by-side bars would be under 2 px wide).
 *   A line breaks where more than 2 buckets in a row are missing (points over 3.5 steps apart;
 *   step: the larger of data.step and the median spacing of the points).
 * stat data: `{value: number|null, unit?, label?, series?: [{points}]}` (sparkline of series[0]).
 * heatmap data: `{columns: [{t, buckets: [{lo|null, hi|null, count}]}], xRange?, unit?, step?}`
 *   Intensity is log(count); the value axis is logarithmic when the bounds span > 2 decades.
 *
 * options: `{height? (px, default 220), hidden?: Set<seriesId>, onMarker?(marker), yMin?,
 *   formatValue?(v, short) -> string (short: for an axis label), yLog? (line/area: log value axis), stacked? (bar), legend? (a small static legend below),
 *   svgTestId? (a data-testid for the svg), maxMarkers? (default 600), markerSpacing? (px,
 *   default 10: one marker per cell of that size), markerTitle?(marker) -> string (the dot's
 *   tooltip, asked only for the dots drawn)}`
 *
 * DOM: root `[data-testid=chart][data-chart=<type>]`; each visible series is one
 * `path[data-series-id]` (hidden series have none); markers are
 * `circle[data-testid=exemplar][data-trace-id]` with a <title>; stat: `.stat-value`.
 */
export function createChart(container, type, data, options = {}) {
  if (!CHART_TYPES.includes(type)) type = 'line';
  const chart = type === 'stat' ? new StatChart(container, options) : new SvgChart(container, type, options);
  chart.update(data);
  return {
    update(nextData, nextOptions) {
      if (nextOptions) chart.options = { ...chart.options, ...nextOptions };
      chart.update(nextData);
    },
    destroy() {
      chart.destroy();
    },
  };
}

class StatChart {
  constructor(container, options) {
    this.container = container;
    this.options = options;
    this.valueEl = h('div', { class: 'stat-value' });
    this.labelEl = h('div', { class: 'stat-label muted' });
    this.spark = s('svg', { class: 'stat-spark', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
    this.sparkPath = s('path', { class: 'stat-spark-line' });
    this.spark.appendChild(this.sparkPath);
    this.root = h('div', { class: 'chart chart-stat', 'data-testid': 'chart', 'data-chart': 'stat' },
      this.valueEl, this.labelEl, this.spark);
    clear(container).appendChild(this.root);
  }

  update(data) {
    const d = data || {};
    const fmt = this.options.formatValue || ((v) => fmtUnit(v, d.unit));
    const hasValue = finite(d.value);
    this.valueEl.textContent = hasValue ? fmt(d.value) : '–';
    this.valueEl.classList.toggle('muted', !hasValue);
    this.labelEl.textContent = d.label || (hasValue ? '' : 'no data in this range');
    const pts = ((d.series && d.series[0] && d.series[0].points) || []).filter((p) => finite(p.t) && finite(p.v));
    if (pts.length < 2) {
      this.spark.style.display = 'none';
      return;
    }
    this.spark.style.display = '';
    // The sparkline is drawn in a fixed 100x24 box and stretched by CSS (preserveAspectRatio none).
    let t0 = Infinity; let t1 = -Infinity; let v0 = Infinity; let v1 = -Infinity;
    for (const p of pts) {
      if (p.t < t0) t0 = p.t;
      if (p.t > t1) t1 = p.t;
      if (p.v < v0) v0 = p.v;
      if (p.v > v1) v1 = p.v;
    }
    const tw = t1 - t0 || 1;
    const vw = v1 - v0 || 1;
    let dPath = '';
    for (let i = 0; i < pts.length; i += 1) {
      const x = ((pts[i].t - t0) / tw) * 100;
      const y = 23 - ((pts[i].v - v0) / vw) * 22;
      dPath += `${i === 0 ? 'M' : 'L'}${r1(x)} ${r1(y)}`;
    }
    this.spark.setAttribute('viewBox', '0 0 100 24');
    this.sparkPath.setAttribute('d', dPath);
  }

  destroy() {
    this.root.remove();
  }
}

class SvgChart {
  constructor(container, type, options) {
    this.container = container;
    this.type = type;
    this.options = options;
    this.data = null;
    this.width = 0;
    this.layout = null;
    this.clipId = `chart-clip-${++clipSeq}`;

    this.svg = s('svg', { class: 'chart-svg', role: 'img' });
    if (options.svgTestId) this.svg.setAttribute('data-testid', options.svgTestId);
    this.clipRect = s('rect');
    this.svg.appendChild(s('defs', null, s('clipPath', { id: this.clipId }, this.clipRect)));
    this.gridG = s('g', { class: 'chart-grid' });
    this.xAxisG = s('g', { class: 'chart-axis chart-axis-x' });
    this.yAxisG = s('g', { class: 'chart-axis chart-axis-y' });
    this.plotG = s('g', { class: 'chart-plot', 'clip-path': `url(#${this.clipId})` });
    // The crosshair and the tooltip are HTML layers above the svg, moved by transform: a
    // pointer move then only recomposites, where a line inside the svg had the whole chart
    // (hundreds of dashed segments and dots) rasterized again on every move.
    this.cross = h('div', { class: 'chart-crosshair' });
    this.cross.hidden = true;
    this.markerG = s('g', { class: 'chart-markers' });
    this.svg.append(this.gridG, this.xAxisG, this.yAxisG, this.plotG, this.markerG);
    this.seriesPaths = new Map(); // series id -> {line, fill}
    this.heatPaths = [];
    this.markerPool = [];

    this.tooltip = h('div', { class: 'chart-tooltip', role: 'tooltip' });
    this.tooltip.hidden = true;
    this.empty = h('div', { class: 'chart-empty muted' }, 'no data in this range');
    this.empty.hidden = true;
    this.legend = h('div', { class: 'chart-legend' });
    this.root = h('div', { class: `chart chart-${type}`, 'data-testid': 'chart', 'data-chart': type },
      this.svg, this.cross, this.empty, this.tooltip, this.legend);
    clear(container).appendChild(this.root);

    // The last pointer position, so a redraw under a resting pointer keeps its tooltip.
    this.pointer = null;
    this.onMove = (e) => {
      this.pointer = { clientX: e.clientX, clientY: e.clientY };
      this.hover(this.pointer);
    };
    this.onLeave = () => {
      this.pointer = null;
      this.unhover();
    };
    this.svg.addEventListener('pointermove', this.onMove);
    this.svg.addEventListener('pointerleave', this.onLeave);
    this.observer = new ResizeObserver(() => {
      const w = Math.floor(this.root.clientWidth);
      if (w > 0 && w !== this.width) {
        this.width = w;
        this.draw();
      }
    });
    this.observer.observe(this.root);
  }

  update(data) {
    this.data = data || {};
    if (!this.width) this.width = Math.floor(this.root.clientWidth) || 600;
    this.draw();
  }

  destroy() {
    this.observer.disconnect();
    this.svg.removeEventListener('pointermove', this.onMove);
    this.svg.removeEventListener('pointerleave', this.onLeave);
    this.root.remove();
  }

  fmt(v, short) {
    if (this.options.formatValue) return this.options.formatValue(v, !!short);
    return fmtUnit(v, this.data.unit, short);
  }

  draw() {
    const height = this.options.height || DEFAULT_HEIGHT;
    const width = Math.max(120, this.width);
    this.svg.setAttribute('width', width);
    this.svg.setAttribute('height', height);
    this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    if (this.type === 'heatmap') this.drawHeatmap(width, height);
    else this.drawSeries(width, height);
    this.drawLegend();
    if (this.pointer) this.hover(this.pointer);
    else this.unhover();
  }

  showEmpty(isEmpty, text) {
    this.empty.hidden = !isEmpty;
    if (text) this.empty.textContent = text;
    this.svg.classList.toggle('chart-svg-empty', isEmpty);
    this.root.dataset.empty = isEmpty ? '1' : '';
  }

  // ---- line / area / bar --------------------------------------------------------------

  visibleSeries() {
    const hidden = this.options.hidden;
    const all = Array.isArray(this.data.series) ? this.data.series : [];
    return all.map((series, i) => ({ series, color: series.color || seriesColor(i) }))
      .filter(({ series }) => !(hidden && hidden.has(series.id)));
  }

  drawSeries(width, height) {
    const visible = this.visibleSeries();
    const seriesList = visible.map((v) => ({
      ...v,
      points: drawablePoints(v.series.points),
    }));
    const hidden = this.options.hidden;
    const markers = (Array.isArray(this.data.markers) ? this.data.markers : [])
      .filter((m) => finite(m.t) && finite(m.v) && !(hidden && m.seriesId !== undefined && hidden.has(m.seriesId)));
    const hasPoints = seriesList.some((v) => v.points.length > 0);
    const step = typicalStep(seriesList, this.data.step);

    // x domain
    let t0 = Infinity;
    let t1 = -Infinity;
    if (Array.isArray(this.data.xRange) && finite(this.data.xRange[0]) && finite(this.data.xRange[1])) {
      [t0, t1] = this.data.xRange;
    } else {
      for (const v of seriesList) {
        if (v.points.length === 0) continue;
        for (const p of v.points) {
          if (p.t < t0) t0 = p.t;
          if (p.t > t1) t1 = p.t;
        }
      }
      if (this.type === 'bar' && step > 0) { t0 -= step / 2; t1 += step / 2; }
    }
    if (!(t1 > t0)) {
      const mid = finite(t0) ? t0 : Date.now();
      const halfSpan = step > 0 ? step : 1000;
      t0 = mid - halfSpan;
      t1 = mid + halfSpan;
    }

    // Side-by-side bars under 2 px each are unreadable stripes (a dozen series over a 15 min
    // range): stack them instead. The plot width is estimated before the axis labels exist.
    let stacked = this.type === 'bar' && !!this.options.stacked;
    if (this.type === 'bar' && !stacked && seriesList.length > 1 && step > 0) {
      const slotPx = (step / (t1 - t0)) * Math.max(1, width - 100);
      stacked = (slotPx * 0.8) / seriesList.length < 2;
    }
    this.stacked = stacked;

    // y domain
    let v0 = Infinity;
    let v1 = -Infinity;
    if (stacked) {
      const sums = new Map();
      for (const v of seriesList) {
        for (const p of v.points) {
          const cur = sums.get(p.t) || [0, 0];
          if (p.v >= 0) cur[1] += p.v; else cur[0] += p.v;
          sums.set(p.t, cur);
        }
      }
      for (const [neg, pos] of sums.values()) { v0 = Math.min(v0, neg); v1 = Math.max(v1, pos); }
    } else {
      for (const v of seriesList) {
        for (const p of v.points) {
          if (p.v < v0) v0 = p.v;
          if (p.v > v1) v1 = p.v;
        }
      }
    }
    for (const m of markers) {
      if (m.t >= t0 && m.t <= t1) { v0 = Math.min(v0, m.v); v1 = Math.max(v1, m.v); }
    }
    if (!finite(v0)) { v0 = 0; v1 = 1; }
    if (finite(this.options.yMin)) v0 = Math.min(this.options.yMin, v0);
    else if (this.type !== 'line' && v0 > 0) v0 = 0;
    else if (v0 > 0 && v0 < v1 * 0.5) v0 = 0;
    if (this.type !== 'line' && v1 < 0) v1 = 0;
    if (v1 === v0) {
      const pad = Math.abs(v0) * 0.1 || 1;
      v1 += pad;
      if (v0 !== 0 || this.type === 'line') v0 -= v0 === 0 ? 0 : pad;
    }
    // A log value axis (options.yLog) for latencies spanning decades; values <= 0 cannot be
    // placed on it and are left out (the line breaks there). Bars keep a linear axis.
    let log = false;
    if (this.options.yLog && this.type !== 'bar') {
      let minPos = Infinity;
      let maxPos = 0;
      for (const v of seriesList) {
        for (const p of v.points) {
          if (p.v > 0 && p.v < minPos) minPos = p.v;
          if (p.v > maxPos) maxPos = p.v;
        }
      }
      if (maxPos > 0) {
        log = true;
        v0 = 10 ** Math.floor(Math.log10(minPos));
        v1 = 10 ** Math.ceil(Math.log10(maxPos));
        if (v1 <= v0) v1 = v0 * 10;
      }
    }
    // Byte axes step in powers of 1024 (256 KiB, 512 KiB, 1 MiB), not 977 KiB from a decimal step.
    const tickScale = this.data.unit === 'By' ? 1024 ** Math.max(0, Math.floor(Math.log(Math.max(Math.abs(v0), Math.abs(v1), 1)) / Math.log(1024))) : 1;
    let yTicks = log
      ? logTicks(v0, v1)
      : linearTicks(v0 / tickScale, v1 / tickScale, Math.max(2, Math.floor((height - MARGIN.top - MARGIN.bottom) / 40))).map((v) => v * tickScale);
    // Extend the domain to the outer nice ticks so the top gridline frames the data.
    const tickStep = !log && yTicks.length > 1 ? yTicks[1] - yTicks[0] : 0;
    if (tickStep > 0) {
      if (yTicks[yTicks.length - 1] < v1 - tickStep * 1e-9) yTicks.push(yTicks[yTicks.length - 1] + tickStep);
      if (yTicks[0] > v0 + tickStep * 1e-9) yTicks.unshift(yTicks[0] - tickStep);
      v0 = yTicks[0];
      v1 = yTicks[yTicks.length - 1];
    }
    yTicks = yTicks.filter((v) => v >= v0 - 1e-12 && v <= v1 + 1e-12);

    const labels = yTicks.map((v) => this.fmt(v, true));
    const left = Math.min(90, 10 + 6.4 * Math.max(3, ...labels.map((l) => l.length)));
    const L = {
      left, top: MARGIN.top, right: width - MARGIN.right, bottom: height - MARGIN.bottom, t0, t1, v0, v1, log,
    };
    L.x = (t) => L.left + ((t - t0) / (t1 - t0)) * (L.right - L.left);
    const lv0 = log ? Math.log10(v0) : 0;
    const lv1 = log ? Math.log10(v1) : 1;
    L.y = log
      ? (v) => L.bottom - ((Math.log10(Math.max(v, v0)) - lv0) / (lv1 - lv0)) * (L.bottom - L.top)
      : (v) => L.bottom - ((v - v0) / (v1 - v0)) * (L.bottom - L.top);
    L.tAt = (x) => t0 + ((x - L.left) / (L.right - L.left)) * (t1 - t0);
    this.layout = L;
    this.step = step;
    this.drawFrame(L, yTicks, labels, width);

    if (!hasPoints) {
      for (const entry of this.seriesPaths.values()) { entry.line.remove(); if (entry.fill) entry.fill.remove(); }
      this.seriesPaths.clear();
      this.drawMarkers([], L, new Map());
      const all = Array.isArray(this.data.series) ? this.data.series : [];
      const allHidden = all.length > 0 && all.some((x) => (x.points || []).length > 0);
      this.showEmpty(true, allHidden ? 'all series are hidden' : 'no data in this range');
      // The value axis of no data is made up: leave it blank, keep the time axis.
      this.yAxisG.replaceChildren();
      this.times = [];
      this.visible = [];
      return;
    }
    this.showEmpty(false);

    // series paths, reused by id
    const seen = new Set();
    const colorOf = new Map();
    // Break the line where more than two buckets in a row are missing; half a step of slack
    // absorbs the jitter of export times inside their buckets.
    const gapLimit = step > 0 ? step * 3.5 : Infinity;
    const baseY = log ? L.bottom : L.y(Math.max(v0, Math.min(v1, 0)));
    const barInfo = this.type === 'bar' ? this.barGeometry(seriesList, L, step) : null;
    const stackBase = stacked ? new Map() : null;
    seriesList.forEach((v, index) => {
      const id = String(v.series.id);
      seen.add(id);
      colorOf.set(id, v.color);
      let entry = this.seriesPaths.get(id);
      if (!entry) {
        entry = { line: s('path', { 'data-series-id': id }), fill: null };
        this.seriesPaths.set(id, entry);
      }
      const wantFill = this.type === 'area';
      if (wantFill && !entry.fill) entry.fill = s('path', { class: 'chart-area-fill', 'data-series-fill': id });
      if (!wantFill && entry.fill) { entry.fill.remove(); entry.fill = null; }
      entry.line.setAttribute('class', this.type === 'bar' ? 'chart-bars' : 'chart-line');
      entry.line.setAttribute(this.type === 'bar' ? 'fill' : 'stroke', v.color);
      entry.line.removeAttribute(this.type === 'bar' ? 'stroke' : 'fill');
      if (v.series.dash && this.type !== 'bar') entry.line.setAttribute('stroke-dasharray', v.series.dash);
      else entry.line.removeAttribute('stroke-dasharray');
      if (entry.fill) entry.fill.setAttribute('fill', v.color);
      // Order in the DOM follows the series order; appendChild moves existing nodes.
      if (entry.fill) this.plotG.appendChild(entry.fill);
      this.plotG.appendChild(entry.line);

      if (this.type === 'bar') {
        entry.line.setAttribute('d', this.barPath(v.points, index, seriesList.length, L, barInfo, stackBase));
        return;
      }
      let d = '';
      let fillD = '';
      let runStart = -1;
      let prevT = -Infinity;
      let runXs = [];
      let runY = 0;
      const closeRun = () => {
        // A run of one point draws no segment: a small ring (two arcs) marks it, so a single
        // reading or an isolated point between gaps stays visible.
        if (runStart >= 0 && runXs.length === 1) d += `M${r1(runXs[0] - 2.5)} ${runY}a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0 -5 0`;
        if (runStart >= 0 && entry.fill && runXs.length > 0) {
          fillD += `L${runXs[runXs.length - 1]} ${r1(baseY)}L${runXs[0]} ${r1(baseY)}Z`;
        }
      };
      for (const p of v.points) {
        if (log && !(p.v > 0)) {
          closeRun();
          runStart = -1;
          continue;
        }
        const x = r1(L.x(p.t));
        const y = r1(L.y(p.v));
        if (runStart < 0 || p.t - prevT > gapLimit) {
          closeRun();
          d += `M${x} ${y}`;
          if (entry.fill) fillD += `M${x} ${y}`;
          runStart = p.t;
          runXs = [x];
          runY = y;
        } else {
          d += `L${x} ${y}`;
          if (entry.fill) fillD += `L${x} ${y}`;
          runXs.push(x);
        }
        prevT = p.t;
        if (p.gapAfter) {
          closeRun();
          runStart = -1;
        }
      }
      closeRun();
      entry.line.setAttribute('d', d);
      if (entry.fill) entry.fill.setAttribute('d', fillD);
    });
    for (const [id, entry] of this.seriesPaths) {
      if (!seen.has(id)) {
        entry.line.remove();
        if (entry.fill) entry.fill.remove();
        this.seriesPaths.delete(id);
      }
    }
    // Hover needs the distinct times, sorted.
    const times = new Set();
    for (const v of seriesList) for (const p of v.points) times.add(p.t);
    this.times = Array.from(times).sort((a, b) => a - b);
    this.visible = seriesList;
    this.drawMarkers(markers, L, colorOf);
  }

  barGeometry(seriesList, L, step) {
    const slot = step > 0 ? Math.abs(L.x(step) - L.x(0)) : (L.right - L.left) / 10;
    const groupWidth = Math.max(1, slot * 0.8);
    const stacked = this.stacked;
    const n = Math.max(1, seriesList.length);
    const barWidth = stacked ? groupWidth : Math.max(0.5, groupWidth / n);
    return { groupWidth, barWidth, stacked };
  }

  barPath(points, index, count, L, info, stackBase) {
    let d = '';
    for (const p of points) {
      let lo = 0;
      let hi = p.v;
      if (info.stacked) {
        const base = stackBase.get(p.t) || [0, 0];
        if (p.v >= 0) { lo = base[1]; hi = base[1] + p.v; base[1] = hi; } else { lo = base[0]; hi = base[0] + p.v; base[0] = hi; }
        stackBase.set(p.t, base);
      }
      const x = info.stacked ? L.x(p.t) - info.groupWidth / 2 : L.x(p.t) - info.groupWidth / 2 + index * info.barWidth;
      const yA = L.y(Math.max(L.v0, Math.min(L.v1, lo)));
      const yB = L.y(Math.max(L.v0, Math.min(L.v1, hi)));
      const top = Math.min(yA, yB);
      const hgt = Math.max(0.5, Math.abs(yA - yB));
      const w = Math.max(0.5, info.barWidth - (info.barWidth > 3 ? 1 : 0));
      d += `M${r1(x)} ${r1(top)}h${r1(w)}v${r1(hgt)}h${r1(-w)}Z`;
    }
    return d;
  }

  drawFrame(L, yTicks, labels, width) {
    // Vertical slack: a line or a lone point's ring on the top or bottom value is drawn whole.
    this.clipRect.setAttribute('x', L.left);
    this.clipRect.setAttribute('y', L.top - 5);
    this.clipRect.setAttribute('width', Math.max(0, L.right - L.left));
    this.clipRect.setAttribute('height', Math.max(0, L.bottom - L.top + 10));
    const grid = [];
    const yAxis = [];
    yTicks.forEach((v, i) => {
      const y = r1(L.y(v));
      grid.push(s('line', { x1: L.left, x2: L.right, y1: y, y2: y }));
      yAxis.push(s('text', { x: L.left - 6, y, dy: '0.32em', 'text-anchor': 'end' }, labels[i]));
    });
    const xAxis = [s('line', { class: 'chart-baseline', x1: L.left, x2: L.right, y1: L.bottom, y2: L.bottom })];
    const { ticks, step, multiDay } = timeTicks(L.t0, L.t1, L.right - L.left);
    let prev = null;
    for (const t of ticks) {
      const x = r1(L.x(t));
      grid.push(s('line', { class: 'chart-grid-v', x1: x, x2: x, y1: L.top, y2: L.bottom }));
      const anchor = x < L.left + 30 ? 'start' : x > width - 30 ? 'end' : 'middle';
      xAxis.push(s('text', { x, y: L.bottom + 16, 'text-anchor': anchor }, fmtTick(t, step, prev, multiDay)));
      prev = t;
    }
    this.gridG.replaceChildren(...grid);
    this.yAxisG.replaceChildren(...yAxis);
    this.xAxisG.replaceChildren(...xAxis);
  }

  drawMarkers(markers, L, colorOf) {
    let n = 0;
    const max = this.options.maxMarkers || MAX_MARKERS;
    // Dots closer than a few pixels hide each other anyway: keep the first of each cell
    // (default 10 px), so a dense range stays readable and the node count bounded.
    const cells = new Set();
    const cellSize = this.options.markerSpacing || 10;
    const oldTitles = this.markerTitles || new Map();
    const titles = new Map();
    for (const m of markers) {
      if (n >= max) break;
      if (m.t < L.t0 || m.t > L.t1) continue;
      const cx = L.x(m.t);
      const cy = L.y(Math.max(L.v0, Math.min(L.v1, m.v)));
      const cell = `${Math.round(cx / cellSize)}:${Math.round(cy / cellSize)}`;
      if (cells.has(cell)) continue;
      cells.add(cell);
      let c = this.markerPool[n];
      if (!c) {
        c = s('circle', { class: 'chart-marker', r: 3.5, 'data-testid': 'exemplar', tabindex: 0 });
        c.appendChild(s('title'));
        c.addEventListener('click', (e) => {
          e.stopPropagation();
          if (c.marker && this.options.onMarker) this.options.onMarker(c.marker);
        });
        c.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' && c.marker && this.options.onMarker) this.options.onMarker(c.marker);
        });
        this.markerPool.push(c);
      }
      c.marker = m;
      c.setAttribute('cx', r1(cx));
      c.setAttribute('cy', r1(cy));
      c.setAttribute('stroke', (m.seriesId !== undefined && colorOf.get(String(m.seriesId))) || 'currentColor');
      if (m.traceId) c.setAttribute('data-trace-id', m.traceId); else c.removeAttribute('data-trace-id');
      if (m.spanId) c.setAttribute('data-span-id', m.spanId); else c.removeAttribute('data-span-id');
      // Titles are made for the dots drawn only (a few hundred of thousands of exemplars), and
      // only when the dot shows another exemplar: number formatting was the costliest part of
      // a live redraw.
      // The cache is by exemplar, not by dot: as the window slides, every pooled dot moves on
      // to the next exemplar.
      const titleKey = `${m.traceId}|${m.spanId}|${m.t}|${m.v}|${m.title || ''}`;
      let title = oldTitles.get(titleKey);
      if (title === undefined) {
        title = m.title || (this.options.markerTitle
          ? this.options.markerTitle(m)
          : `${this.fmt(m.v)} at ${fmtClock(m.t)}${m.traceId ? ` · trace ${m.traceId}` : ''}`);
      }
      titles.set(titleKey, title);
      if (c.firstChild.textContent !== title) c.firstChild.textContent = title;
      if (c.parentNode !== this.markerG) this.markerG.appendChild(c);
      n += 1;
    }
    for (let i = n; i < this.markerPool.length; i += 1) {
      if (this.markerPool[i].parentNode) this.markerPool[i].remove();
    }
    this.markerTitles = titles;
  }

  // ---- heatmap ------------------------------------------------------------------------

  drawHeatmap(width, height) {
    const columns = (Array.isArray(this.data.columns) ? this.data.columns : [])
      .filter((c) => finite(c.t) && Array.isArray(c.buckets))
      .slice()
      .sort((a, b) => a.t - b.t);
    let minB = Infinity;
    let maxB = -Infinity;
    let minPos = Infinity;
    let maxCount = 0;
    let openLo = false;
    let openHi = false;
    for (const c of columns) {
      for (const b of c.buckets) {
        if (!(b.count > 0)) continue;
        maxCount = Math.max(maxCount, b.count);
        for (const v of [b.lo, b.hi]) {
          if (!finite(v)) continue;
          minB = Math.min(minB, v);
          maxB = Math.max(maxB, v);
          if (v > 0) minPos = Math.min(minPos, v);
        }
        if (!finite(b.lo)) openLo = true;
        if (!finite(b.hi)) openHi = true;
      }
    }
    const step = typicalStep([{ points: columns }], this.data.step);
    let t0;
    let t1;
    if (Array.isArray(this.data.xRange) && finite(this.data.xRange[0]) && finite(this.data.xRange[1])) {
      [t0, t1] = this.data.xRange;
    } else if (columns.length) {
      t0 = columns[0].t - (step || 1000) / 2;
      t1 = columns[columns.length - 1].t + (step || 1000) / 2;
    } else {
      t1 = Date.now();
      t0 = t1 - 60000;
    }
    if (!(t1 > t0)) { t0 -= 1000; t1 += 1000; }
    const hasData = maxCount > 0 && finite(minB);
    if (!hasData) { minB = 0; maxB = 1; minPos = 1; }
    const posMax = Math.max(maxB, minPos);
    // Bucket bounds grow geometrically (exponential histograms always, explicit ones usually:
    // 5, 10, 25, 50 … 10000): from 20x on, a linear axis squeezes the busy low buckets into
    // a few pixels under one tall tail bucket.
    const log = hasData && finite(minPos) && posMax / minPos >= 20;
    let v0;
    let v1;
    if (log) {
      v0 = openLo || minB <= 0 ? minPos / 2 : minPos;
      v1 = openHi ? posMax * 2 : posMax;
    } else {
      const span = maxB - minB || Math.abs(maxB) || 1;
      v0 = openLo ? minB - span * 0.1 : minB;
      v1 = openHi ? maxB + span * 0.1 : maxB;
      if (v0 >= 0 && minB >= 0 && openLo) v0 = Math.max(0, v0);
      if (v1 === v0) v1 = v0 + 1;
    }
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const yTicks = log ? logTicks(v0, v1) : linearTicks(v0, v1, Math.max(2, Math.floor(plotH / 40)));
    const labels = yTicks.map((v) => this.fmt(v, true));
    const left = Math.min(90, 10 + 6.4 * Math.max(3, ...labels.map((l) => l.length)));
    const L = { left, top: MARGIN.top, right: width - MARGIN.right, bottom: height - MARGIN.bottom, t0, t1, v0, v1, log };
    L.x = (t) => L.left + ((t - t0) / (t1 - t0)) * (L.right - L.left);
    const lv0 = log ? Math.log10(v0) : 0;
    const lv1 = log ? Math.log10(v1) : 0;
    L.y = log
      ? (v) => L.bottom - ((Math.log10(Math.max(v, v0)) - lv0) / (lv1 - lv0)) * (L.bottom - L.top)
      : (v) => L.bottom - ((v - v0) / (v1 - v0)) * (L.bottom - L.top);
    L.tAt = (x) => t0 + ((x - L.left) / (L.right - L.left)) * (t1 - t0);
    L.vAt = log
      ? (y) => 10 ** (lv0 + ((L.bottom - y) / (L.bottom - L.top)) * (lv1 - lv0))
      : (y) => v0 + ((L.bottom - y) / (L.bottom - L.top)) * (v1 - v0);
    this.layout = L;
    this.drawFrame(L, yTicks, labels, width);
    this.markerG.replaceChildren();

    while (this.heatPaths.length < HEAT_LEVELS) {
      const p = s('path', { class: 'chart-heat', 'data-level': this.heatPaths.length });
      p.style.fillOpacity = String(0.12 + (0.88 * this.heatPaths.length) / (HEAT_LEVELS - 1));
      this.heatPaths.push(p);
      this.plotG.appendChild(p);
    }
    if (!hasData) {
      for (const p of this.heatPaths) p.setAttribute('d', '');
      this.showEmpty(true, 'no data in this range');
      this.yAxisG.replaceChildren();
      this.heatColumns = [];
      return;
    }
    this.showEmpty(false);
    // Counts on a log scale: one bucket of 1 and one of 10,000 both stay visible.
    const logMax = Math.log1p(maxCount);
    const dParts = Array.from({ length: HEAT_LEVELS }, () => []);
    const colWidth = step > 0 ? Math.abs(L.x(step) - L.x(0)) : (L.right - L.left) / Math.max(1, columns.length);
    const geo = [];
    // A 1 px gap separates wide columns; narrow ones would turn into stripes.
    const gap = colWidth > 6 ? 1 : 0;
    const cellW = Math.max(1, colWidth - gap);
    for (const c of columns) {
      const x = L.x(c.t) - colWidth / 2;
      const cells = [];
      for (const b of c.buckets) {
        if (!(b.count > 0)) continue;
        const lo = finite(b.lo) ? b.lo : v0;
        const hi = finite(b.hi) ? b.hi : v1;
        const yTop = L.y(Math.min(v1, Math.max(v0, hi)));
        const yBot = L.y(Math.min(v1, Math.max(v0, lo)));
        const hgt = Math.max(1, yBot - yTop);
        const level = Math.min(HEAT_LEVELS - 1, Math.floor((Math.log1p(b.count) / logMax) * (HEAT_LEVELS - 1) + 0.5));
        dParts[level].push(`M${r1(x + gap / 2)} ${r1(yTop)}h${r1(cellW)}v${r1(hgt)}h${r1(-cellW)}Z`);
        cells.push({ yTop, yBot: yTop + hgt, b });
      }
      geo.push({ t: c.t, x0: x, x1: x + colWidth, cells });
    }
    this.heatPaths.forEach((p, i) => p.setAttribute('d', dParts[i].join('')));
    this.heatColumns = geo;
  }

  // ---- legend (optional, for small charts without their own) ----------------------------

  drawLegend() {
    if (!this.options.legend || this.type === 'heatmap') {
      this.legend.hidden = true;
      return;
    }
    this.legend.hidden = false;
    const all = Array.isArray(this.data.series) ? this.data.series : [];
    const hidden = this.options.hidden;
    const items = all.slice(0, 30).map((series, i) => h('span', {
      class: ['chart-legend-item', hidden && hidden.has(series.id) && 'off'],
    }, h('span', { class: 'chart-swatch', style: { background: series.color || seriesColor(i) } }), series.name || String(series.id)));
    this.legend.replaceChildren(...items);
  }

  // ---- hover -----------------------------------------------------------------------------

  hover(event) {
    const L = this.layout;
    if (!L) return;
    const rect = this.svg.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    if (x < L.left || x > L.right || y < L.top || y > L.bottom) {
      this.unhover();
      return;
    }
    let rows = null;
    let crossX = x;
    if (this.type === 'heatmap') {
      rows = this.heatRows(x, y);
      if (rows) crossX = null;
    } else if (this.times && this.times.length) {
      const i = nearestIndex(this.times, L.tAt(x), (t) => t);
      const t = this.times[i];
      crossX = L.x(t);
      rows = this.seriesRows(t);
    }
    if (!rows) {
      this.unhover();
      return;
    }
    if (crossX !== null) {
      this.cross.style.top = `${L.top}px`;
      this.cross.style.height = `${L.bottom - L.top}px`;
      this.cross.style.transform = `translateX(${Math.round(crossX)}px)`;
      this.cross.hidden = false;
    } else {
      this.cross.hidden = true;
    }
    this.tooltip.replaceChildren(...rows);
    this.tooltip.hidden = false;
    const tipW = this.tooltip.offsetWidth;
    const left = x + 14 + tipW > rect.width ? Math.max(0, x - 14 - tipW) : x + 14;
    this.tooltip.style.transform = `translate(${Math.round(left)}px, ${Math.round(Math.max(0, y - 10))}px)`;
  }

  seriesRows(t) {
    const tol = this.step > 0 ? this.step / 2 : Infinity;
    const values = [];
    for (const v of this.visible) {
      const pts = v.points;
      const i = nearestIndex(pts, t, (p) => p.t);
      if (i < 0 || Math.abs(pts[i].t - t) > tol) continue;
      values.push({ name: v.series.name || String(v.series.id), color: v.color, value: pts[i].v });
    }
    values.sort((a, b) => b.value - a.value);
    const rows = [h('div', { class: 'chart-tooltip-time' }, fmtClock(t))];
    for (const row of values.slice(0, MAX_TOOLTIP_ROWS)) {
      rows.push(h('div', { class: 'chart-tooltip-row' },
        h('span', { class: 'chart-swatch', style: { background: row.color } }),
        h('span', { class: 'chart-tooltip-name' }, row.name),
        h('span', { class: 'chart-tooltip-value' }, this.fmt(row.value))));
    }
    if (values.length > MAX_TOOLTIP_ROWS) rows.push(h('div', { class: 'muted' }, `+${values.length - MAX_TOOLTIP_ROWS} more`));
    return rows;
  }

  heatRows(x, y) {
    const col = (this.heatColumns || []).find((c) => x >= c.x0 && x < c.x1);
    if (!col) return null;
    const cell = col.cells.find((c) => y >= c.yTop && y <= c.yBot);
    if (!cell) return null;
    const { lo, hi, count } = cell.b;
    const range = `${finite(lo) ? this.fmt(lo) : '−∞'} – ${finite(hi) ? this.fmt(hi) : '+∞'}`;
    return [
      h('div', { class: 'chart-tooltip-time' }, fmtClock(col.t)),
      h('div', { class: 'chart-tooltip-row' }, h('span', { class: 'chart-tooltip-name' }, 'range'), h('span', { class: 'chart-tooltip-value' }, range)),
      h('div', { class: 'chart-tooltip-row' }, h('span', { class: 'chart-tooltip-name' }, 'count'), h('span', { class: 'chart-tooltip-value' }, fmtNumber(count))),
    ];
  }

  unhover() {
    this.cross.hidden = true;
    this.tooltip.hidden = true;
  }
}
