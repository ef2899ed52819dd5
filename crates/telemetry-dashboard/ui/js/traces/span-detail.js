// The detail panel of one span: everything the API tells about it, its links to other
// traces, and its log records.

import { h, fmtTime, fmtValue, attributeTable, severityClass, severityName } from '../dom.js';
import { fmtDuration as fmtDur } from '../dom.js';

function section(title, ...body) {
  return h('section', { class: 'sd-section' }, h('h3', null, title), ...body);
}

function kv(pairs) {
  return h('table', { class: 'kv' }, h('tbody', null, pairs.filter(Boolean).map(([k, v]) =>
    h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v)))));
}

/** The panel's content for `node` of `model`; `onClose` closes it, `onSelectSpan(id)` selects a span of this trace. */
export function spanDetail(node, model, { onClose, onSelectSpan }) {
  const span = node.span;
  const traceId = model.trace.traceId;
  const status = span.status || { code: 'unset', message: '' };
  const parentNode = node.parent;
  const parentCell = span.parentSpanId
    ? (parentNode
      ? h('a', { href: `/traces/${traceId}?span=${span.parentSpanId}`, onclick: (e) => { e.preventDefault(); onSelectSpan(span.parentSpanId); } },
        `${span.parentSpanId} (${parentNode.span.name})`)
      : h('span', null, span.parentSpanId, ' ', h('span', { class: 'orphan-mark' }, 'not in this trace')))
    : h('span', { class: 'muted' }, 'none (root)');

  const dropped = [
    span.droppedAttributesCount > 0 && ['dropped attributes', String(span.droppedAttributesCount)],
    span.droppedEventsCount > 0 && ['dropped events', String(span.droppedEventsCount)],
    span.droppedLinksCount > 0 && ['dropped links', String(span.droppedLinksCount)],
  ].filter(Boolean);

  const events = span.events || [];
  const links = span.links || [];
  const logs = node.logs;
  const scope = span.scope || {};
  const resource = span.resource || {};

  return h('div', { class: 'sd' },
    h('div', { class: 'sd-head' },
      h('h2', { class: 'sd-title' }, span.name),
      h('button', { type: 'button', class: 'icon-button sd-close', title: 'Close (Esc)', 'aria-label': 'Close the span panel', onclick: onClose }, '×')),
    kv([
      ['service', span.service],
      ['span id', h('span', { class: 'mono' }, span.spanId)],
      ['trace id', h('span', { class: 'mono' }, traceId)],
      ['parent', parentCell],
      span.parentIsRemote ? ['parent is remote', 'yes'] : null,
      ['kind', span.kind],
      ['start', `${fmtTime(span.startMs)} (+${fmtDur(node.offsetMs)})`],
      ['duration', fmtDur(span.durationMs)],
      ['status', h('span', { class: status.code === 'error' ? 'error-mark' : status.code === 'ok' ? 'status-ok' : 'muted' }, status.code)],
      status.message ? ['status message', status.message] : null,
      ...dropped,
    ]),
    section('Attributes', attributeTable(span.attributes, 'span-attributes')),
    section(`Events (${events.length})`, events.length === 0 ? h('p', { class: 'muted' }, 'none') : h('ul', { class: 'sd-list' },
      events.map((ev) => h('li', null,
        h('div', null, h('strong', null, ev.name), ' ',
          h('span', { class: 'muted' }, `+${fmtDur(Number(ev.timeUnixNano) / 1e6 - model.t0)} from trace start, +${fmtDur(Number(ev.timeUnixNano) / 1e6 - span.startMs)} into span`)),
        Object.keys(ev.attributes || {}).length ? attributeTable(ev.attributes) : null)))),
    section(`Links (${links.length})`, links.length === 0 ? h('p', { class: 'muted' }, 'none') : h('ul', { class: 'sd-list' },
      links.map((l) => h('li', null,
        h('a', { href: `/traces/${l.traceId}?span=${l.spanId}`, class: 'mono', 'data-testid': 'span-link' }, `${l.traceId} / ${l.spanId}`),
        Object.keys(l.attributes || {}).length ? attributeTable(l.attributes) : null)))),
    section(`Logs (${logs.length})`,
      logs.length === 0 ? h('p', { class: 'muted' }, 'none in this trace') : h('ul', { class: 'sd-list sd-logs' },
        logs.slice(-200).map((log) => h('li', null,
          h('span', { class: ['sd-sev', severityClass(log.severityNumber)] }, log.severityText || severityName(log.severityNumber)), ' ',
          h('span', { class: 'muted mono' }, fmtTime(log.timeMs)), ' ',
          h('span', { class: 'sd-body' }, fmtValue(log.body))))),
      h('a', { href: `/logs?traceId=${traceId}&spanId=${span.spanId}`, 'data-testid': 'span-logs-link' }, 'all logs of this span')),
    section('Resource', attributeTable(resource.attributes, 'span-resource'),
      resource.schemaUrl ? h('p', { class: 'muted' }, `schema ${resource.schemaUrl}`) : null),
    section('Scope', kv([
      ['name', scope.name || '–'],
      ['version', scope.version || '–'],
    ]), Object.keys(scope.attributes || {}).length ? attributeTable(scope.attributes) : null));
}
