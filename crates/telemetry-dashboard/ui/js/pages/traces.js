// The trace list: filters kept in the URL, a duration-over-time scatter plot, the traces
// newest first with live arrivals merged in place, and a pause that freezes the view while
// counting what arrives.

import { h, replace, clear, fmtTime, serviceColor, debounce, perFrame, errorBox } from '../dom.js';
import { fmtDuration } from '../dom.js';
import {
  RANGES, parseDuration, parseAttr, filtersFromParams, filtersToParams, hasFilters, apiParams,
  matchSummary, compareSummaries, rangeStartMs,
} from '../traces/filters.js';
import { createScatter } from '../traces/scatter.js';

export const title = 'Traces';

const PAGE_SIZE = 100;
const MAX_ROWS = 500;
const REQUERY_MS = 1000;

/** A colored service chip. */
/** A service chip; with `spans`, the count of the trace's spans of that service. */
function chip(name, spans) {
  const service = name || '(no service)';
  const counted = Number.isFinite(spans);
  return h('span', { class: 'svc-chip', title: counted ? `${service}: ${spans} span${spans === 1 ? '' : 's'}` : service },
    h('span', { class: 'svc-dot', style: { background: serviceColor(service) } }), service,
    counted ? h('span', { class: 'svc-count' }, String(spans)) : null);
}

export function mount(root, ctx, route) {
  let filters = filtersFromParams(route.params);
  let paused = route.params.get('paused') === '1';
  /** @type {Map<string, object>} trace id -> summary, for the traces shown */
  const shown = new Map();
  let order = []; // summaries shown, newest first
  let nextCursor = null;
  let selectedId = null;
  let controller = null;
  let querying = false;
  let lastQueryAt = 0;
  let requeryTimer = 0;
  let heldDeltas = []; // deltas received while a query is in flight, applied after it
  let ready = false;
  let destroyed = false;
  // While paused: the latest summary of each trace that arrived or changed, and the ids new
  // since pausing (the count shown), plus whether a re-query is owed on resume.
  let pending = new Map();
  let pendingNew = new Set();
  let pendingRequery = false;

  // ---- skeleton ----
  const serviceSelect = h('select', { name: 'service', 'aria-label': 'Service' }, h('option', { value: '' }, 'all services'));
  const opList = h('datalist', { id: 'traces-span-names' });
  const spanNameInput = h('input', { name: 'spanName', type: 'text', list: 'traces-span-names', placeholder: 'span name', 'aria-label': 'Span name', 'data-search': '', size: 16, autocomplete: 'off' });
  const minInput = h('input', { name: 'minDuration', type: 'text', placeholder: 'min, e.g. 250ms', 'aria-label': 'Minimum duration', size: 11, autocomplete: 'off' });
  const maxInput = h('input', { name: 'maxDuration', type: 'text', placeholder: 'max, e.g. 1.5s', 'aria-label': 'Maximum duration', size: 11, autocomplete: 'off' });
  const statusSelect = h('select', { name: 'status', 'aria-label': 'Status' },
    h('option', { value: 'any' }, 'any'), h('option', { value: 'error' }, 'error'), h('option', { value: 'ok' }, 'ok'));
  const attrBox = h('span', { class: 'attr-boxes' });
  const addAttrButton = h('button', { type: 'button', class: 'icon-button', title: 'Require another attribute', 'aria-label': 'Add an attribute filter' }, '+');
  const rangeSelect = h('select', { name: 'range', 'aria-label': 'Time range' }, RANGES.map(([v, label]) => h('option', { value: v }, label)));
  const clearButton = h('button', { type: 'button', 'data-testid': 'clear-filters', title: 'Remove every filter' }, 'clear filters');
  const pauseButton = h('button', { type: 'button', 'data-testid': 'pause', 'aria-pressed': 'false', title: 'Pause or resume live updates (p)' }, 'pause');
  const pausedCount = h('span', { class: 'paused-count', 'data-testid': 'paused-count', hidden: true });
  const summary = h('span', { class: 'muted traces-summary' });
  const form = h('form', { class: 'toolbar traces-filters', role: 'search', onsubmit: (e) => e.preventDefault() },
    h('label', null, 'service', serviceSelect),
    h('label', null, 'span', spanNameInput, opList),
    h('label', null, 'duration', minInput, '–', maxInput),
    h('label', null, 'status', statusSelect),
    h('label', null, 'attribute', attrBox, addAttrButton),
    h('label', null, 'time', rangeSelect),
    clearButton);
  const liveBar = h('div', { class: 'toolbar traces-live' }, pauseButton, pausedCount, h('span', { class: 'spacer' }), summary);
  const scatterCard = h('div', { class: 'card trace-scatter', 'data-testid': 'trace-scatter' });
  const errorArea = h('div');
  const tbody = h('tbody');
  const table = h('table', { class: 'list traces-table' },
    h('thead', null, h('tr', null,
      h('th', { class: 'col-start' }, 'start'), h('th', null, 'trace'), h('th', { class: 'col-spans' }, 'spans'),
      h('th', { class: 'col-dur' }, 'duration'), h('th', { class: 'col-err' }, 'errors'))),
    tbody);
  const emptyNote = h('p', { class: 'muted traces-empty', hidden: true });
  const moreButton = h('button', { type: 'button', class: 'load-more', hidden: true, 'data-testid': 'load-more' }, 'load more');
  replace(root,
    h('h1', null, 'Traces'),
    form, liveBar, scatterCard, errorArea, table, emptyNote, moreButton);

  const scatter = createScatter(scatterCard, (id) => ctx.navigate(`/traces/${id}`));

  // ---- filters <-> form ----
  function attrInput(value) {
    return h('input', { name: 'attr', type: 'text', value, placeholder: 'key=value', 'aria-label': 'Attribute key=value', size: 16, autocomplete: 'off' });
  }

  function fillForm() {
    if (filters.service && ![...serviceSelect.options].some((o) => o.value === filters.service)) {
      serviceSelect.append(h('option', { value: filters.service }, filters.service));
    }
    serviceSelect.value = filters.service;
    spanNameInput.value = filters.spanName;
    minInput.value = filters.minDuration;
    maxInput.value = filters.maxDuration;
    statusSelect.value = filters.status || 'any';
    rangeSelect.value = filters.range;
    const attrs = filters.attr.length ? filters.attr : [''];
    replace(attrBox, attrs.map(attrInput));
    markInvalid();
    clearButton.disabled = !hasFilters(filters);
  }

  function readForm() {
    return {
      service: serviceSelect.value,
      spanName: spanNameInput.value.trim(),
      minDuration: minInput.value.trim(),
      maxDuration: maxInput.value.trim(),
      status: statusSelect.value === 'any' ? '' : statusSelect.value,
      attr: [...attrBox.querySelectorAll('input')].map((i) => i.value.trim()).filter(Boolean),
      range: rangeSelect.value,
    };
  }

  function markInvalid() {
    minInput.toggleAttribute('aria-invalid', parseDuration(minInput.value) === undefined);
    maxInput.toggleAttribute('aria-invalid', parseDuration(maxInput.value) === undefined);
    for (const i of attrBox.querySelectorAll('input')) i.toggleAttribute('aria-invalid', i.value.trim() !== '' && !parseAttr(i.value));
  }

  let services = [];
  function fillOperations() {
    const names = new Set();
    for (const svc of services) {
      if (filters.service && svc.name !== filters.service) continue;
      for (const op of svc.operations || []) names.add(op.name);
    }
    replace(opList, [...names].sort().map((n) => h('option', { value: n })));
  }

  const servicesController = new AbortController();
  async function loadServices() {
    try {
      services = await ctx.getJSON('services', null, servicesController.signal);
    } catch (e) {
      if (e.name !== 'AbortError') services = [];
      return;
    }
    if (destroyed) return;
    replace(serviceSelect, h('option', { value: '' }, 'all services'), services.map((svc) => h('option', { value: svc.name }, svc.name)));
    fillForm();
    fillOperations();
  }

  const applyForm = () => {
    markInvalid();
    const next = readForm();
    const changed = JSON.stringify(next) !== JSON.stringify(filters);
    if (!changed) return;
    const serviceChanged = next.service !== filters.service;
    filters = next;
    clearButton.disabled = !hasFilters(filters);
    if (serviceChanged) fillOperations();
    ctx.setParams(filtersToParams(filters));
    query(); // with a box that does not parse, this marks it and keeps the list
  };
  const applyFormSoon = debounce(applyForm, 350);
  form.addEventListener('input', (e) => {
    if (e.target.tagName === 'SELECT') applyForm();
    else applyFormSoon();
  });
  form.addEventListener('change', applyForm);
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.tagName === 'INPUT') { e.preventDefault(); applyForm(); }
  });
  addAttrButton.addEventListener('click', () => {
    const input = attrInput('');
    attrBox.append(input);
    input.focus();
  });
  clearButton.addEventListener('click', () => {
    filters = filtersFromParams(new URLSearchParams());
    fillForm();
    fillOperations();
    ctx.setParams(filtersToParams(filters));
    query();
  });

  // ---- querying ----
  function showError(message) {
    replace(errorArea, message ? errorBox(message) : null);
  }

  /** Loads the first page (or the next, `append`); `auto` marks a re-query nobody asked for. */
  async function query({ append = false, auto = false } = {}) {
    if (destroyed) return;
    clearTimeout(requeryTimer);
    requeryTimer = 0;
    const p = apiParams(filters);
    if (p.error) {
      const what = { minDuration: 'minimum duration', maxDuration: 'maximum duration', attr: 'attribute' }[p.error] || p.error;
      showError(`The ${what} filter is not valid: a duration is a number with an optional unit ns, us, ms, s or m (250ms, 1.5s); an attribute is key=value.`);
      markReady();
      return;
    }
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const params = { ...p.params };
    if (append) {
      if (!nextCursor) return;
      params.cursor = nextCursor;
      params.limit = PAGE_SIZE;
    } else {
      // A re-query keeps as many rows as the user had loaded.
      params.limit = Math.min(1000, Math.max(PAGE_SIZE, order.length));
    }
    querying = true;
    lastQueryAt = Date.now();
    moreButton.disabled = true;
    let answer;
    try {
      answer = await ctx.getJSON('traces', params, signal);
    } catch (e) {
      if (e.name === 'AbortError' || signal.aborted) return;
      querying = false;
      moreButton.disabled = false;
      showError(`Traces could not be loaded: ${e.message}`);
      const held = heldDeltas;
      heldDeltas = [];
      for (const d of held) merge(d.traces || []);
      draw();
      markReady();
      return;
    }
    if (signal.aborted || destroyed) return;
    querying = false;
    moreButton.disabled = false;
    showError(null);
    if (paused && auto) {
      // The view is frozen: this answer (and what arrived meanwhile) waits for the resume.
      pendingRequery = true;
      heldDeltas = [];
      return;
    }
    if (!append) {
      shown.clear();
      order = [];
    }
    for (const t of answer.traces || []) {
      if (!shown.has(t.traceId)) order.push(t);
      shown.set(t.traceId, t);
    }
    order = order.map((t) => shown.get(t.traceId));
    order.sort(compareSummaries);
    nextCursor = answer.nextCursor || null;
    capRows();
    const held = heldDeltas;
    heldDeltas = [];
    for (const d of held) merge(d.traces || []);
    draw();
  }

  function scheduleRequery() {
    if (requeryTimer || destroyed) return;
    const wait = Math.max(0, lastQueryAt + REQUERY_MS - Date.now());
    requeryTimer = setTimeout(() => {
      requeryTimer = 0;
      if (paused) pendingRequery = true;
      else query({ auto: true });
    }, wait);
  }

  /** Keeps at most MAX_ROWS rows, the newest; the cursor then continues after the last kept. */
  function capRows() {
    if (order.length <= MAX_ROWS) return;
    for (const t of order.splice(MAX_ROWS)) shown.delete(t.traceId);
    const lastKept = order[order.length - 1];
    nextCursor = `${lastKept.startTimeUnixNano}-${lastKept.traceId}`;
  }

  /**
   * Merges live summaries into the list: updates shown traces, drops those that stopped
   * matching, adds new matches. Asks the server again when a new trace may match but only it
   * can tell.
   */
  function merge(summaries) {
    const now = Date.now();
    let requery = false;
    const oldest = order.length ? order[order.length - 1] : null;
    for (const t of summaries) {
      const verdict = matchSummary(filters, t, now);
      const had = shown.has(t.traceId);
      if (verdict === false) {
        if (had) {
          shown.delete(t.traceId);
          order = order.filter((o) => o.traceId !== t.traceId);
        }
        continue;
      }
      if (had) {
        // It matched before; an unknown verdict cannot turn that into a miss for a trace that
        // only gains spans, so it stays and updates.
        shown.set(t.traceId, t);
        continue;
      }
      if (verdict === 'unknown') { requery = true; continue; }
      // Older than the last row while more pages exist: it belongs to a later page.
      if (oldest && nextCursor && compareSummaries(t, oldest) > 0) continue;
      shown.set(t.traceId, t);
      order.push(t);
    }
    order = order.map((o) => shown.get(o.traceId));
    order.sort(compareSummaries);
    capRows();
    if (requery) scheduleRequery();
  }

  // ---- drawing ----
  const rows = new Map(); // trace id -> {tr, key, bar, ...}

  function rowKey(t) {
    return `${t.spanCount}|${t.durationMs}|${t.errorCount}|${t.rootName}|${t.rootService}|${t.hasRoot}|${(t.services || []).join(',')}|${JSON.stringify(t.spansByService || {})}|${t.startTimeUnixNano}`;
  }

  function buildRow(t) {
    const href = `/traces/${t.traceId}`;
    const bar = h('span', { class: 'dur-bar' });
    const tr = h('tr', {
      'data-testid': 'trace-row', 'data-trace-id': t.traceId, class: ['trace-row', t.errorCount > 0 && 'has-error'],
    },
    h('td', { class: 'col-start mono' }, fmtTime(t.startMs)),
    h('td', { class: 'col-name' },
      chip(t.rootService),
      h('a', { href, class: 'trace-link' }, t.rootName || '(unnamed)'),
      t.hasRoot ? null : h('span', { class: 'no-root', title: 'The root span has not arrived (yet): showing the earliest span' }, 'no root'),
      h('span', { class: 'trace-id mono muted' }, t.traceId.slice(0, 8))),
    h('td', { class: 'col-spans' },
      h('span', { class: 'span-count' }, String(t.spanCount)),
      h('span', { class: 'svc-chips' }, (t.services || []).map((name) => chip(name, t.spansByService && t.spansByService[name])))),
    h('td', { class: 'col-dur' }, h('span', { class: 'dur-track' }, bar), h('span', { class: 'dur-label' }, fmtDuration(t.durationMs))),
    h('td', { class: 'col-err' }, t.errorCount > 0
      ? h('span', { class: 'error-mark', title: `${t.errorCount} span${t.errorCount > 1 ? 's' : ''} with status error` }, `● ${t.errorCount}`)
      : null));
    return { tr, key: rowKey(t), bar, t };
  }

  function drawNow() {
    if (destroyed) return;
    let maxDur = 0;
    for (const t of order) maxDur = Math.max(maxDur, t.durationMs);
    const keep = new Set();
    let prev = null;
    for (const t of order) {
      keep.add(t.traceId);
      let row = rows.get(t.traceId);
      if (!row || row.key !== rowKey(t)) {
        const fresh = buildRow(t);
        if (row) row.tr.replaceWith(fresh.tr);
        row = fresh;
        rows.set(t.traceId, row);
      }
      row.t = t;
      row.bar.style.width = `${maxDur > 0 ? Math.max(0.5, (t.durationMs / maxDur) * 100) : 0}%`;
      row.tr.classList.toggle('selected', t.traceId === selectedId);
      // Only move nodes that are out of place, so a steady list costs no DOM writes.
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [id, row] of rows) {
      if (!keep.has(id)) { row.tr.remove(); rows.delete(id); }
    }
    if (selectedId && !keep.has(selectedId)) selectedId = null;
    emptyNote.hidden = order.length > 0;
    emptyNote.textContent = hasFilters(filters) ? 'No trace matches these filters.' : 'No traces stored yet. Send spans to the OTLP endpoints (see the overview).';
    moreButton.hidden = !nextCursor;
    summary.textContent = `${order.length} trace${order.length === 1 ? '' : 's'} shown${nextCursor ? ', more stored' : ''}`;
    scatter.draw(order, { selectedId, fromMs: rangeStartMs(filters) });
    markReady();
  }
  const draw = perFrame(drawNow);

  function markReady() {
    if (ready || destroyed) return;
    ready = true;
    const view = document.getElementById('view');
    if (view) view.dataset.ready = '1';
  }

  // ---- pause ----
  function drawPause() {
    pauseButton.setAttribute('aria-pressed', String(paused));
    pauseButton.textContent = paused ? 'resume' : 'pause';
    pausedCount.hidden = !paused;
    const n = pendingNew.size;
    pausedCount.textContent = `${n} new trace${n === 1 ? '' : 's'}`;
    root.classList.toggle('is-paused', paused);
  }

  function setPaused(value) {
    if (paused === value) return;
    paused = value;
    ctx.setParams({ paused: paused ? '1' : null });
    // What was merged before the pause is drawn now, so nothing changes on screen after it.
    if (paused) drawNow();
    if (!paused) {
      const summaries = [...pending.values()];
      const requery = pendingRequery;
      pending = new Map();
      pendingNew = new Set();
      pendingRequery = false;
      if (requery) query();
      else if (summaries.length) { merge(summaries); draw(); }
    }
    drawPause();
  }
  pauseButton.addEventListener('click', () => setPaused(!paused));
  moreButton.addEventListener('click', () => query({ append: true }));

  // ---- selection ----
  function select(index) {
    if (!order.length) return;
    // The row cursor takes over from a focused button, so Enter then opens the row.
    if (document.activeElement instanceof HTMLElement && document.activeElement.closest('button, a')) document.activeElement.blur();
    const i = Math.max(0, Math.min(order.length - 1, index));
    selectedId = order[i].traceId;
    for (const [id, row] of rows) row.tr.classList.toggle('selected', id === selectedId);
    const row = rows.get(selectedId);
    if (row) row.tr.scrollIntoView({ block: 'nearest' });
    scatter.draw(order, { selectedId, fromMs: rangeStartMs(filters) });
  }

  tbody.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.target.closest('a')) return;
    if (window.getSelection && String(window.getSelection()).length > 0) return; // selecting text
    const tr = event.target.closest('tr[data-trace-id]');
    if (tr) ctx.navigate(`/traces/${tr.dataset.traceId}`);
  });

  // ---- start ----
  fillForm();
  drawPause();
  loadServices();
  query();

  return {
    update(r) {
      const next = filtersFromParams(r.params);
      const nextPaused = r.params.get('paused') === '1';
      if (JSON.stringify(next) !== JSON.stringify(filters)) {
        filters = next;
        fillForm();
        fillOperations();
        query();
      }
      if (nextPaused !== paused) setPaused(nextPaused);
    },
    live(delta) {
      if (delta.truncated) return; // refresh() re-queries
      const summaries = delta.traces || [];
      if (!summaries.length) return;
      if (paused) {
        const now = Date.now();
        for (const t of summaries) {
          const verdict = matchSummary(filters, t, now);
          if (verdict === false) continue;
          pending.set(t.traceId, t);
          if (!shown.has(t.traceId)) {
            pendingNew.add(t.traceId);
            if (verdict === 'unknown') pendingRequery = true;
          }
        }
        drawPause();
        return;
      }
      if (querying) { heldDeltas.push(delta); return; }
      merge(summaries);
      draw();
    },
    refresh() {
      if (paused) { pendingRequery = true; return; }
      query({ auto: true });
    },
    key(event) {
      const index = order.findIndex((t) => t.traceId === selectedId);
      switch (event.key) {
        case 'j': event.preventDefault(); select(index < 0 ? 0 : index + 1); break;
        case 'k': event.preventDefault(); select(index < 0 ? 0 : index - 1); break;
        case 'Enter':
          if (event.target instanceof Element && event.target.closest('a, button')) break; // acts on its own
          if (selectedId) { event.preventDefault(); ctx.navigate(`/traces/${selectedId}`); } break;
        case 'p': event.preventDefault(); setPaused(!paused); break;
        default: break;
      }
    },
    destroy() {
      destroyed = true;
      if (controller) controller.abort();
      servicesController.abort();
      clearTimeout(requeryTimer);
      scatter.destroy();
      clear(root);
    },
  };
}
