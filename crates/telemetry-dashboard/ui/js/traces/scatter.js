// The duration-over-time scatter plot above the trace list: one dot per loaded trace, x the
// start time, y the duration (log scale when durations span more than 20x), errors in red.
// A small hand-drawn SVG; colors come from CSS classes so both themes work.

import { h, s, clear, fmtTime, fmtDuration } from '../dom.js';

const HEIGHT = 170;
const PAD = { left: 56, right: 12, top: 10, bottom: 22 };

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

const TIME_STEPS = [1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 21600e3, 43200e3, 86400e3];

function timeLabel(ms, stepMs) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  return stepMs < 60e3 ? `${hm}:${String(d.getSeconds()).padStart(2, '0')}` : hm;
}

/**
 * A scatter plot in `container`. `onOpen(traceId)` is called when a dot is clicked.
 * Returns `{draw(traces, {selectedId, fromMs}), destroy()}`.
 */
export function createScatter(container, onOpen) {
  const svg = s('svg', { class: 'scatter-svg', height: HEIGHT, role: 'img', 'aria-label': 'Trace duration over time' });
  const tip = h('div', { class: 'scatter-tip', hidden: true });
  const empty = h('div', { class: 'scatter-empty muted', hidden: true }, 'No traces to plot.');
  container.append(svg, tip, empty);
  let last = null;
  const dots = s('g', { class: 'scatter-dots' });
  const dotOf = new Map(); // trace id -> circle

  function setIfChanged(el, name, value) {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }

  function label(t) {
    return `${t.rootService} · ${t.rootName} — ${fmtDuration(t.durationMs)}${t.errorCount > 0 ? ` · ${t.errorCount} error${t.errorCount > 1 ? 's' : ''}` : ''}`;
  }

  function showTip(event, t) {
    tip.hidden = false;
    tip.textContent = `${label(t)} · ${fmtTime(t.startMs)}`;
    const box = container.getBoundingClientRect();
    const x = event.clientX - box.left;
    tip.style.left = `${Math.min(Math.max(0, x + 12), Math.max(0, box.width - 320))}px`;
    tip.style.top = `${event.clientY - box.top + 12}px`;
  }

  function draw(traces, { selectedId = null, fromMs = 0 } = {}) {
    last = { traces, selectedId, fromMs };
    drawnWidth = container.clientWidth;
    const width = Math.max(200, drawnWidth || 600);
    svg.setAttribute('width', width);
    svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
    clear(svg); // the axis is rebuilt; the dots group is put back below
    empty.hidden = traces.length > 0;
    if (traces.length === 0) {
      dotOf.clear();
      clear(dots);
      return;
    }
    const plotW = width - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;

    let t0 = Infinity;
    let t1 = -Infinity;
    let dMin = Infinity;
    let dMax = 0;
    for (const t of traces) {
      t0 = Math.min(t0, t.startMs);
      t1 = Math.max(t1, t.startMs);
      if (t.durationMs > 0) dMin = Math.min(dMin, t.durationMs);
      dMax = Math.max(dMax, t.durationMs);
    }
    if (fromMs) t0 = Math.min(t0, fromMs);
    if (t1 - t0 < 1000) { t0 -= 500; t1 += 500; }
    const tPad = (t1 - t0) * 0.02;
    t0 -= tPad;
    t1 += tPad;
    if (!Number.isFinite(dMin)) dMin = 0.001;
    if (dMax <= 0) dMax = 1;
    const log = dMax / dMin > 20;
    let yOf;
    const yTicks = [];
    if (log) {
      // Bounds a little past the data, ticks at 1-2-5 steps (decades only when that is many).
      const lo = Math.log10(dMin / 1.3);
      const hi = Math.log10(dMax * 1.3);
      const span = hi - lo;
      yOf = (d) => PAD.top + plotH - ((Math.log10(Math.max(d, 10 ** lo)) - lo) / span) * plotH;
      const decades = [];
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e += 1) decades.push(e);
      const steps = decades.length > 4 ? [1] : [1, 2, 5];
      for (const e of decades) {
        for (const m of steps) {
          const v = m * 10 ** e;
          if (Math.log10(v) >= lo && Math.log10(v) <= hi) yTicks.push(v);
        }
      }
    } else {
      const step = niceStep(dMax, 4);
      const top = Math.ceil(dMax / step) * step;
      yOf = (d) => PAD.top + plotH - (d / top) * plotH;
      for (let v = 0; v <= top + step / 2; v += step) yTicks.push(v);
    }
    const xOf = (ms) => PAD.left + ((ms - t0) / (t1 - t0)) * plotW;

    const axis = s('g', { class: 'scatter-axis' });
    for (const v of yTicks) {
      const y = yOf(v);
      axis.append(
        s('line', { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: 'scatter-grid' }),
        s('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end' }, fmtDuration(v)));
    }
    const tStep = TIME_STEPS.find((st) => (t1 - t0) / st <= Math.max(2, plotW / 110)) || 86400e3;
    for (let v = Math.ceil(t0 / tStep) * tStep; v <= t1; v += tStep) {
      const x = xOf(v);
      axis.append(s('line', { x1: x, x2: x, y1: PAD.top, y2: PAD.top + plotH, class: 'scatter-grid' }));
      // A label that would be cut at the right edge is left out (its grid line stays).
      if (x < width - 28) axis.append(s('text', { x, y: HEIGHT - 6, 'text-anchor': 'middle' }, timeLabel(v, tStep)));
    }
    // Bottom left, under the duration labels and left of the time labels, where it overlaps neither.
    if (log) axis.append(s('text', { x: 4, y: HEIGHT - 6, class: 'scatter-unit' }, 'log'));
    svg.append(axis);

    // The dots are kept per trace and only moved: at live rates the plot is redrawn a few
    // times a second with hundreds of dots, and recreating them all is most of that cost.
    const seen = new Set();
    let selected = null;
    let prev = null;
    // Oldest first, so the newest dots are drawn on top.
    for (let i = traces.length - 1; i >= 0; i -= 1) {
      const t = traces[i];
      seen.add(t.traceId);
      let dot = dotOf.get(t.traceId);
      if (!dot) {
        dot = s('circle', { r: 4, 'data-trace': t.traceId });
        dotOf.set(t.traceId, dot);
      }
      setIfChanged(dot, 'cx', xOf(t.startMs).toFixed(1));
      setIfChanged(dot, 'cy', yOf(Math.max(t.durationMs, 1e-6)).toFixed(1));
      setIfChanged(dot, 'class', `scatter-dot${t.errorCount > 0 ? ' error' : ''}${t.traceId === selectedId ? ' selected' : ''}`);
      setIfChanged(dot, 'aria-label', label(t));
      if (t.traceId === selectedId) { selected = dot; continue; }
      // Only dots out of place move, so a steady plot costs no DOM writes.
      const want = prev ? prev.nextSibling : dots.firstChild;
      if (want !== dot) dots.insertBefore(dot, want);
      prev = dot;
    }
    for (const [id, dot] of dotOf) {
      if (!seen.has(id)) { dot.remove(); dotOf.delete(id); }
    }
    // The selected dot goes last, on top of the others.
    if (selected && dots.lastChild !== selected) dots.appendChild(selected);
    svg.append(dots);
  }

  const byId = (el) => (last ? last.traces.find((t) => t.traceId === el.dataset.trace) : null);
  svg.addEventListener('click', (event) => {
    const dot = event.target.closest('circle[data-trace]');
    if (dot) onOpen(dot.dataset.trace);
  });
  svg.addEventListener('mousemove', (event) => {
    const dot = event.target.closest('circle[data-trace]');
    const t = dot && byId(dot);
    if (t) showTip(event, t);
    else tip.hidden = true;
  });
  svg.addEventListener('mouseleave', () => { tip.hidden = true; });
  // Redrawn on the next frame and only when the width really changed, so drawing (which sets
  // the svg's width) cannot feed back into the observer.
  let drawnWidth = 0;
  let resizeFrame = 0;
  const observer = new ResizeObserver(() => {
    if (!last || container.clientWidth === drawnWidth || resizeFrame) return;
    resizeFrame = requestAnimationFrame(() => { resizeFrame = 0; if (last) draw(last.traces, last); });
  });
  observer.observe(container);

  return {
    draw,
    destroy() { observer.disconnect(); cancelAnimationFrame(resizeFrame); },
  };
}
