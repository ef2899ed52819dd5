// The trace list's filters: read from and written to the URL, turned into /api/traces
// parameters, and checked against live trace summaries in the browser.
//
// The server is the authority on what matches. The browser repeats its checks for the fields
// a summary carries (services, root name, duration, error count, start) so live traces can be
// placed without a query; when a filter depends on spans the summary does not describe
// (attributes, a span name that is not the root's) the answer is `unknown` and the page asks
// the server again.

/** Time presets of the list: URL value, label, milliseconds back from now. */
export const RANGES = [
  ['', 'all stored', 0],
  ['5m', 'last 5 min', 5 * 60e3],
  ['15m', 'last 15 min', 15 * 60e3],
  ['1h', 'last hour', 3600e3],
  ['6h', 'last 6 hours', 6 * 3600e3],
  ['24h', 'last 24 hours', 24 * 3600e3],
];

const UNIT_MS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3, m: 60e3 };
const DURATION = /^(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m)?$/;

/**
 * A duration as typed (`250`, `250ms`, `1.5s`): `{ms, text}` with `text` in the API's
 * spelling, `null` for an empty box, `undefined` when it is not a duration.
 */
export function parseDuration(raw) {
  const text = (raw || '').trim().toLowerCase();
  if (!text) return null;
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const unit = m[2] || 'ms';
  return { ms: Number(m[1]) * UNIT_MS[unit], text: `${m[1]}${unit === 'µs' ? 'us' : unit}` };
}

/** An `attr` filter `key=value` as `[key, value]`, `null` when it has no `=` or no key. */
export function parseAttr(raw) {
  const text = (raw || '').trim();
  const at = text.indexOf('=');
  if (at <= 0) return null;
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

/** The filters in a URL's parameters. */
export function filtersFromParams(params) {
  return {
    service: params.get('service') || '',
    spanName: params.get('spanName') || '',
    minDuration: params.get('minDuration') || '',
    maxDuration: params.get('maxDuration') || '',
    status: ['error', 'ok'].includes(params.get('status')) ? params.get('status') : '',
    attr: params.getAll('attr').filter((a) => a.trim() !== ''),
    range: RANGES.some(([v]) => v === params.get('range')) ? params.get('range') : '',
  };
}

/** The URL parameter changes that store `f` (empty values remove their key). */
export function filtersToParams(f) {
  return {
    service: f.service, spanName: f.spanName, minDuration: f.minDuration,
    maxDuration: f.maxDuration, status: f.status, attr: f.attr, range: f.range,
  };
}

/** Whether any filter is set. */
export function hasFilters(f) {
  return Boolean(f.service || f.spanName || f.minDuration || f.maxDuration || f.status || f.attr.length || f.range);
}

/** The earliest trace start the range preset admits, in unix ms (0 = no bound). */
export function rangeStartMs(f, now = Date.now()) {
  const preset = RANGES.find(([v]) => v === f.range);
  return preset && preset[2] ? now - preset[2] : 0;
}

/**
 * The /api/traces parameters of `f`, or `{error}` naming the first box that does not parse
 * (so the page can mark it instead of sending a request the server refuses).
 */
export function apiParams(f, now = Date.now()) {
  const params = {};
  if (f.service) params.service = f.service;
  if (f.spanName) params.spanName = f.spanName;
  for (const key of ['minDuration', 'maxDuration']) {
    const d = parseDuration(f[key]);
    if (d === undefined) return { error: key };
    if (d) params[key] = d.text;
  }
  if (f.status) params.status = f.status;
  const attrs = [];
  for (const a of f.attr) {
    if (!parseAttr(a)) return { error: 'attr' };
    attrs.push(a.trim());
  }
  if (attrs.length) params.attr = attrs;
  const start = rangeStartMs(f, now);
  if (start) params.start = (BigInt(Math.floor(start)) * 1000000n).toString();
  return { params };
}

/**
 * Whether a trace summary passes `f`: `true`, `false`, or `'unknown'` when only the server
 * can tell (attributes, a span name other than the root's).
 */
export function matchSummary(f, t, now = Date.now()) {
  if (f.service && !(t.services || []).includes(f.service)) return false;
  const min = parseDuration(f.minDuration);
  const max = parseDuration(f.maxDuration);
  if (min && t.durationMs < min.ms) return false;
  if (max && t.durationMs > max.ms) return false;
  if (f.status === 'error' && !(t.errorCount > 0)) return false;
  if (f.status === 'ok' && t.errorCount > 0) return false;
  const start = rangeStartMs(f, now);
  if (start && t.startMs < start) return false;
  let unknown = f.attr.length > 0;
  if (f.spanName) {
    const rootMatches = t.rootName === f.spanName && (!f.service || t.rootService === f.service);
    if (!rootMatches) unknown = true;
  }
  return unknown ? 'unknown' : true;
}

/** Orders summaries newest start first, as the API does (ties by trace id, descending). */
export function compareSummaries(a, b) {
  const sa = a.startTimeUnixNano;
  const sb = b.startTimeUnixNano;
  if (sa !== sb) {
    if (sa.length !== sb.length) return sb.length - sa.length;
    return sa < sb ? 1 : -1;
  }
  if (a.traceId === b.traceId) return 0;
  return a.traceId < b.traceId ? 1 : -1;
}
