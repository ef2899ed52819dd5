// Number formats of the overview's figures.

import { fmtDuration } from '../dom.js';

/** Milliseconds as a duration with three significant digits: `850 µs`, `180 ms`, `1.25 s`. */
export function fmtMs(ms) {
  return fmtDuration(ms);
}

// One formatter each, made once: Number.prototype.toLocaleString builds a new one per call,
// which shows up in profiles when a frame formats dozens of counts.
const WHOLE = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const SMALL = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });
const DECIMAL = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** A count or rate with thousands grouping: `12,345`, `8.33`, `0.0123`. */
export function fmtCount(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e15) return n.toExponential(2);
  if (Number.isInteger(n)) return WHOLE.format(n);
  return (Math.abs(n) < 1 ? SMALL : DECIMAL).format(n);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** A unix-ms time as local `HH:MM:SS.mmm`. */
export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
