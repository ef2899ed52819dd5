// One log record as a table row, and its expanded detail.

import { h, fmtTime, severityName, severityClass, serviceColor, attributeTable } from '../dom.js';
import { bodyText } from './filter.js';

const pad = (n, w = 2) => String(n).padStart(w, '0');
let today = '';
let todayUntil = 0;

// fmtTime goes through Intl for every call; a list of hundreds of rows per second wants
// the plain clock, with the date only for records of another day.
function rowTime(ms) {
  if (!Number.isFinite(ms)) return '–';
  const now = Date.now();
  if (now >= todayUntil) {
    const d = new Date(now);
    today = d.toDateString();
    todayUntil = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
  }
  const d = new Date(ms);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return d.toDateString() === today ? clock : fmtTime(ms);
}

/** The link to the record's trace (at its span when it has one), or null. */
export function traceHref(record) {
  if (!record.traceId) return null;
  return `/traces/${record.traceId}${record.spanId ? `?span=${record.spanId}` : ''}`;
}

function severityLabel(record) {
  return record.severityText || severityName(record.severityNumber);
}

function oneLine(text) {
  // A row shows the first line only; the detail shows the whole body.
  const nl = text.search(/[\r\n]/);
  return nl >= 0 ? `${text.slice(0, nl)} …` : text;
}

/** The row of `record`; `onService(name)` filters by its service. */
export function logRow(record, onService) {
  const body = bodyText(record.body);
  const href = traceHref(record);
  const sevClass = severityClass(record.severityNumber);
  return h('div', { class: 'log-row', role: 'row', 'data-sev': sevClass.slice(4), 'data-testid': 'log-row', 'data-log-id': record.id, 'aria-expanded': 'false' },
    h('div', { class: 'log-time mono', role: 'cell', title: record.timeUnixNano }, rowTime(record.timeMs)),
    h('div', { class: 'log-sev', role: 'cell' }, h('span', { class: ['sev-badge', sevClass], title: `${severityLabel(record)} (severity number ${record.severityNumber})` }, severityLabel(record))),
    h('div', { class: 'log-service', role: 'cell' }, record.service
      ? h('button', { type: 'button', class: 'link-button', title: `Only logs of ${record.service}`, onclick: (e) => { e.stopPropagation(); onService(record.service); } },
        h('span', { class: 'svc-dot', style: { background: serviceColor(record.service) } }), h('span', { class: 'svc-text' }, record.service))
      : h('span', { class: 'muted' }, '–')),
    h('div', { class: 'log-body', role: 'cell' }, oneLine(body) || h('span', { class: 'muted' }, '(empty)')),
    h('div', { class: 'log-link', role: 'cell' }, href
      ? h('a', { href, 'data-testid': 'log-trace-link', title: `Trace ${record.traceId}${record.spanId ? `, span ${record.spanId}` : ''}`, class: 'mono' }, record.traceId.slice(0, 8))
      : null));
}

function section(title, ...content) {
  return h('div', { class: 'log-detail-section' }, h('h3', null, title), content);
}

/** The expanded detail of `record`, a full-width row. */
export function logDetail(record) {
  const href = traceHref(record);
  const body = typeof record.body === 'string' ? record.body : JSON.stringify(record.body, null, 2);
  const scope = record.scope || {};
  const resource = record.resource || {};
  // A row of the list's table for assistive technology too, one cell across all columns.
  return h('div', { class: 'log-detail', role: 'row', 'data-testid': 'log-detail', 'data-log-id': record.id },
    h('div', { class: 'log-detail-inner', role: 'cell', 'aria-colspan': '5' },
      h('pre', { class: 'log-full-body', 'data-testid': 'log-body' }, body ?? ''),
      h('div', { class: 'log-detail-grid' },
        section('Record', h('table', { class: 'kv' }, h('tbody', null,
          h('tr', null, h('th', null, 'time'), h('td', null, `${fmtTime(record.timeMs)} (${record.timeUnixNano})`)),
          // OTLP leaves observed time 0 when the source did not set it.
          record.observedTimeUnixNano && record.observedTimeUnixNano !== '0' ? h('tr', null, h('th', null, 'observed'), h('td', null, record.observedTimeUnixNano)) : null,
          h('tr', null, h('th', null, 'severity'), h('td', null, `${severityLabel(record)} (${record.severityNumber})`)),
          record.eventName ? h('tr', null, h('th', null, 'event'), h('td', null, record.eventName)) : null,
          h('tr', null, h('th', null, 'trace'), h('td', null, record.traceId
            ? [h('a', { href }, record.traceId), ' · ', h('a', { href: `/logs?traceId=${record.traceId}` }, 'its logs')]
            : h('span', { class: 'muted' }, 'none'))),
          record.spanId ? h('tr', null, h('th', null, 'span'), h('td', null,
            h('a', { href }, record.spanId), ' · ',
            h('a', { href: `/logs?traceId=${record.traceId}&spanId=${record.spanId}` }, 'its logs'))) : null,
          h('tr', null, h('th', null, 'id'), h('td', null, record.id))))),
        section('Attributes', attributeTable(record.attributes, 'log-attributes')),
        section('Resource', attributeTable(resource.attributes, 'log-resource'),
          resource.schemaUrl ? h('p', { class: 'muted' }, `schema ${resource.schemaUrl}`) : null),
        section('Scope', h('p', { class: 'mono' }, scope.name || h('span', { class: 'muted' }, '(unnamed)'), scope.version ? ` ${scope.version}` : ''),
          Object.keys(scope.attributes || {}).length ? attributeTable(scope.attributes, 'log-scope') : null))));
}
