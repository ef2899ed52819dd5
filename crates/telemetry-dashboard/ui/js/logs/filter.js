// The log filters: read from and written to the URL, sent to /api/logs, and applied in the
// browser to live records with the same rules the server uses, so a live row never shows
// up that a reload would not show.

/** Minimum severity names and the first severity number of their range. */
export const SEVERITIES = [['trace', 1], ['debug', 5], ['info', 9], ['warn', 13], ['error', 17], ['fatal', 21]];

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

/** The filters in `params` (URLSearchParams). Unknown or malformed values are left out. */
export function filtersOf(params) {
  const severity = (params.get('severity') || '').toLowerCase();
  const traceId = (params.get('traceId') || '').toLowerCase();
  const spanId = (params.get('spanId') || '').toLowerCase();
  return {
    severity: SEVERITIES.some(([name]) => name === severity) || /^([1-9]|1\d|2[0-4])$/.test(severity) ? severity : '',
    text: params.get('text') || '',
    service: params.get('service') || '',
    attrs: params.getAll('attr').filter((a) => a.indexOf('=') > 0),
    traceId: HEX32.test(traceId) ? traceId : '',
    spanId: HEX16.test(spanId) ? spanId : '',
  };
}

/** The /api/logs parameters of `filters`. */
export function queryOf(filters) {
  return {
    severity: filters.severity || undefined,
    text: filters.text || undefined,
    service: filters.service || undefined,
    attr: filters.attrs.length ? filters.attrs : undefined,
    traceId: filters.traceId || undefined,
    spanId: filters.spanId || undefined,
  };
}

/** Whether any filter is set. */
export function isFiltered(filters) {
  return !!(filters.severity || filters.text || filters.service || filters.attrs.length || filters.traceId || filters.spanId);
}

/** The severity number a minimum-severity filter value stands for (0: none). */
export function minSeverity(value) {
  if (!value) return 0;
  const named = SEVERITIES.find(([name]) => name === value);
  return named ? named[1] : Number(value) || 0;
}

// The server folds ASCII letters only, so "É" and "é" stay different here too.
function lowerAscii(text) {
  return text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** A log body as the text a search looks at. */
export function bodyText(body) {
  if (body === null || body === undefined) return '';
  if (typeof body === 'string') return body;
  return JSON.stringify(body);
}

/**
 * An attribute value as the API compares it: strings as they are, numbers and booleans as
 * Rust prints them (`200`, `0.5`, `true`), bytes already hex in the JSON.
 */
export function renderValue(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return String(v);
    if (Number.isNaN(v)) return 'NaN';
    return v > 0 ? 'inf' : '-inf';
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return JSON.stringify(v);
}

function splitAttr(attr) {
  const i = attr.indexOf('=');
  return [attr.slice(0, i), attr.slice(i + 1)];
}

/** A predicate for live records: true when `record` matches every filter. */
export function matcher(filters) {
  const min = minSeverity(filters.severity);
  const needle = filters.text ? lowerAscii(filters.text) : '';
  const attrs = filters.attrs.map(splitAttr);
  return (record) => {
    if (min && !((record.severityNumber || 0) >= min)) return false;
    if (filters.service && record.service !== filters.service) return false;
    if (filters.traceId && record.traceId !== filters.traceId) return false;
    if (filters.spanId && record.spanId !== filters.spanId) return false;
    if (needle && !lowerAscii(bodyText(record.body)).includes(needle)) return false;
    for (const [key, value] of attrs) {
      const own = record.attributes || {};
      const res = (record.resource && record.resource.attributes) || {};
      const hit = (key in own && renderValue(own[key]) === value) || (key in res && renderValue(res[key]) === value);
      if (!hit) return false;
    }
    return true;
  };
}
