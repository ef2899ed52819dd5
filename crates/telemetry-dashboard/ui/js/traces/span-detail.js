// The detail panel of one span: everything the API tells about it, its links to other
// traces, and its log records.

import { h, fmtTime, fmtValue, attributeTable, severityClass, severityName, fmtDuration as fmtDur } from '../dom.js';

/** An offset with its sign: `+1.2 ms`, `−300 µs` (clock skew puts events before their span). */
function offset(ms) {
  return ms < 0 ? `−${fmtDur(-ms)}` : `+${fmtDur(ms)}`;
}

function section(title, ...body) {
  return h('section', { class: 'sd-section' }, h('h3', null, title), ...body);
}

function kv(pairs) {
  return h('table', { class: 'kv' }, h('tbody', null, pairs.filter(Boolean).map(([k, v]) =>
    h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v)))));
}

/** `a − b` of two unix-nanosecond strings, in ms; NaN when either is not an integer. */
function nanosMinus(a, b) {
  try {
    return Number(BigInt(a) - BigInt(b)) / 1e6;
  } catch {
    return NaN;
  }
}

function eventOffsets(ev, span, model) {
  const at = Number(ev.timeUnixNano) / 1e6;
  if (!Number.isFinite(at)) return '';
  // From the nanosecond strings: a unix time in milliseconds (about 1.7e12) keeps only about
  // 0.2 µs of precision, which would show an event at the span's start as "+238 ns".
  const exact = nanosMinus(ev.timeUnixNano, span.startTimeUnixNano);
  const intoSpan = Number.isFinite(exact) ? exact : at - span.startMs;
  return `${offset(at - model.t0)} from trace start, ${offset(intoSpan)} into the span`;
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
      ['start', `${fmtTime(span.startMs)} (${offset(node.offsetMs)} from trace start)`],
      ['duration', fmtDur(span.durationMs)],
      ['status', h('span', { class: status.code === 'error' ? 'error-mark' : status.code === 'ok' ? 'status-ok' : 'muted' }, status.code)],
      status.message ? ['status message', status.message] : null,
      ...dropped,
    ]),
    section('Attributes', attributeTable(span.attributes, 'span-attributes')),
    section(`Events (${events.length})`, events.length === 0 ? h('p', { class: 'muted' }, 'none') : h('ul', { class: 'sd-list' },
      events.map((ev) => h('li', null,
        h('div', null, h('strong', null, ev.name), ' ',
          h('span', { class: 'muted' }, eventOffsets(ev, span, model))),
        Object.keys(ev.attributes || {}).length ? attributeTable(ev.attributes) : null)))),
    section(`Links (${links.length})`, links.length === 0 ? h('p', { class: 'muted' }, 'none') : h('ul', { class: 'sd-list' },
      links.map((l) => h('li', null,
        h('a', { href: `/traces/${l.traceId}?span=${l.spanId}`, class: 'mono', 'data-testid': 'span-link' }, `${l.traceId} / ${l.spanId}`),
        l.traceId === traceId ? h('span', { class: 'muted' }, ' (this trace', model.byId.has(l.spanId) ? `: ${model.byId.get(l.spanId).span.name})` : ')') : null,
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
