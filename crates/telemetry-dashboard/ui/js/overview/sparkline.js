// A per-service history of one figure, kept in the browser (the server only knows the
// current RED window), and the tiny SVG line that draws it inside a tile.

import { s } from '../dom.js';

/** How far back a sparkline reaches, and the width of one sample. */
export const HISTORY_MS = 5 * 60 * 1000;
const SAMPLE_MS = 1000;
const MIN_SPAN_MS = 30 * 1000;
const MAX_SAMPLES = Math.ceil(HISTORY_MS / SAMPLE_MS) + 1;

/** A bounded history: at most one sample per second, the newest value of that second wins. */
export class History {
  constructor() {
    this.t = [];
    this.v = [];
  }

  push(t, v) {
    if (!Number.isFinite(v)) return;
    const n = this.t.length;
    if (n > 0 && Math.floor(this.t[n - 1] / SAMPLE_MS) === Math.floor(t / SAMPLE_MS)) {
      this.t[n - 1] = t;
      this.v[n - 1] = v;
      return;
    }
    this.t.push(t);
    this.v.push(v);
    // Bounded both by count and by age so a long-open page holds a constant amount.
    while (this.t.length > MAX_SAMPLES || (this.t.length > 0 && this.t[0] < t - HISTORY_MS)) {
      this.t.shift();
      this.v.shift();
    }
  }

  max() {
    let m = 0;
    for (const v of this.v) if (v > m) m = v;
    return m;
  }
}

const W = 120;
const H = 28;

/** An SVG sparkline; `draw(history, now)` moves its points, reusing the same nodes. */
export function sparkline(className, label) {
  const area = s('path', { class: 'spark-area' });
  const line = s('polyline', { class: 'spark-line', 'vector-effect': 'non-scaling-stroke' });
  const svg = s('svg', {
    class: ['sparkline', className], viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none',
    role: 'img', 'aria-label': label,
  }, s('title', null, label), area, line);
  return {
    el: svg,
    draw(history, now) {
      const max = history.max();
      // Until five minutes of history exist, the line spans what there is (at least
      // half a minute) rather than a sliver at the right edge.
      const span = Math.min(HISTORY_MS, Math.max(MIN_SPAN_MS, history.t.length ? now - history.t[0] : 0));
      const t0 = now - span;
      let pts = '';
      let first = null;
      let last = null;
      for (let i = 0; i < history.t.length; i += 1) {
        const x = Math.max(0, ((history.t[i] - t0) / span) * W);
        const y = max > 0 ? H - 1 - (history.v[i] / max) * (H - 3) : H - 1;
        const p = `${x.toFixed(1)},${y.toFixed(1)}`;
        pts += pts ? ` ${p}` : p;
        if (first === null) first = x.toFixed(1);
        last = x.toFixed(1);
      }
      line.setAttribute('points', pts);
      area.setAttribute('d', first === null ? '' : `M${first},${H} L${pts.replaceAll(' ', ' L')} L${last},${H} Z`);
    },
  };
}
