// Small DOM and formatting helpers shared by every page.
//
// Text from the data (span names, attributes, log bodies) only ever reaches the page as text
// nodes or attribute values, never as markup: `h` has no way to set innerHTML, so a span
// named `<script>` shows as those characters.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'style') Object.assign(el.style, value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'value' && 'value' in el) el.value = value;
      else if (key === 'checked' && 'checked' in el) el.checked = !!value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** An HTML element: `h('a', {href: '/x', class: 'y', onclick: f}, 'text', child)`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, same arguments as `h`. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Removes every child of `el`. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replaces the children of `el` with `children`. */
export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

/** Milliseconds as a short duration, 3 significant digits: `850 µs`, `12.3 ms`, `100 ms`,
 *  `1.25 s`, `3 m 05 s`, `2.5 h`. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 0) return '-' + fmtDuration(-ms);
  if (ms === 0) return '0 ms';
  // Each unit up to (excluding) the next one's start; a value that rounds up to the next
  // unit's start (999.9 ms) moves on to it, so no "1000 ms".
  const units = [[1e-6, 'ns', 1e-3], [1e-3, 'µs', 1], [1, 'ms', 1000], [1000, 's', 60000]];
  for (const [scale, unit, limit] of units) {
    if (ms >= limit) continue;
    // Number(...) drops the trailing zeros of toPrecision, and only those: 100 stays 100.
    const value = Number((ms / scale).toPrecision(3));
    if (value * scale < limit) return `${value} ${unit}`;
  }
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) {
    const m = Math.floor(totalSeconds / 60);
    const sec = totalSeconds % 60;
    return sec === 0 ? `${m} m` : `${m} m ${String(sec).padStart(2, '0')} s`;
  }
  return `${Number((ms / 3600000).toPrecision(3))} h`;
}

/** A unix time in milliseconds as local `HH:MM:SS.mmm`, with the date when not today. */
export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  const time = d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString()} ${time}`;
}

/** A number with at most 3 significant decimals and thousands grouping. */
export function fmtNumber(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e15) return n.toExponential(2);
  if (Number.isInteger(n)) return n.toLocaleString();
  return n.toLocaleString(undefined, { maximumFractionDigits: Math.abs(n) < 1 ? 4 : 2 });
}

/** A byte count: `512 B`, `1.5 KiB`, `256 MiB`. */
export function fmtBytes(b) {
  if (!Number.isFinite(b)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i += 1; }
  return `${i === 0 ? b : b.toFixed(b < 10 ? 1 : 0)} ${units[i]}`;
}

/** A ratio in [0, 1] as a percentage. */
export function fmtPercent(r) {
  if (!Number.isFinite(r)) return '–';
  const p = r * 100;
  return `${p === 0 || p >= 10 ? p.toFixed(0) : p.toFixed(p >= 1 ? 1 : 2)} %`;
}

/** An attribute value as the API gives it (strings, numbers, arrays, objects) as text. */
export function fmtValue(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** A stable color per service name, readable on both themes. */
export function serviceColor(name) {
  let hash = 2166136261;
  for (let i = 0; i < name.length; i += 1) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  // 15 hues 24 degrees apart, two lightnesses: names either share a color or are clearly
  // apart, never a near miss that looks the same.
  // FNV alone leaves similar names (agent, knowledge) in nearby slots; a finalizer spreads them.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x7feb352d);
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x846ca68b);
  hash ^= hash >>> 16;
  hash >>>= 0;
  const hue = (hash % 15) * 24;
  const light = (hash >>> 8) % 2 === 0 ? 52 : 40;
  return `hsl(${hue} 62% ${light}%)`;
}

/** A color per series index, for charts with several series. */
export function seriesColor(i) {
  const hues = [210, 28, 140, 350, 265, 50, 180, 310, 95, 0];
  const hue = hues[i % hues.length];
  const light = 48 + 8 * (Math.floor(i / hues.length) % 3);
  return `hsl(${hue} 65% ${light}%)`;
}

const SEVERITY_NAMES = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

/** The OTLP severity number's range name (`INFO`, `WARN2`, …); `UNSET` for 0. */
export function severityName(n) {
  if (!Number.isInteger(n) || n < 1 || n > 24) return 'UNSET';
  const base = SEVERITY_NAMES[Math.floor((n - 1) / 4)];
  const step = (n - 1) % 4;
  return step === 0 ? base : `${base}${step + 1}`;
}

/** The CSS class of a severity number's range: `sev-info`, `sev-error`, … */
export function severityClass(n) {
  if (!Number.isInteger(n) || n < 1 || n > 24) return 'sev-unset';
  return `sev-${SEVERITY_NAMES[Math.floor((n - 1) / 4)].toLowerCase()}`;
}

/** Calls `fn` at most once per animation frame, with the latest arguments. */
export function perFrame(fn) {
  let pending = null;
  return (...args) => {
    const first = pending === null;
    pending = args;
    if (first) {
      requestAnimationFrame(() => {
        const a = pending;
        pending = null;
        fn(...a);
      });
    }
  };
}

/** Waits `ms` after the last call before calling `fn`. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A key–value table for attributes: one row per key, sorted. */
export function attributeTable(attributes, testid) {
  const keys = Object.keys(attributes || {}).sort();
  if (keys.length === 0) return h('p', { class: 'muted' }, 'none');
  return h('table', { class: 'kv', 'data-testid': testid },
    h('tbody', null, keys.map((k) => h('tr', null,
      h('th', { scope: 'row' }, k),
      h('td', null, fmtValue(attributes[k]))))));
}

/** A notice that something failed, for a page area. */
export function errorBox(message) {
  return h('div', { class: 'error-box', role: 'alert', 'data-testid': 'error' }, message);
}
