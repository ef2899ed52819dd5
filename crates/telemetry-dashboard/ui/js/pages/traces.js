// The trace list: filters kept in the URL, a duration-over-time scatter plot, the traces
// newest first with live arrivals merged in place, and a pause that freezes the view while
// counting what arrives.

import { h, replace, clear, fmtTime, fmtDuration, serviceColor, debounce, perFrame, errorBox } from '../dom.js';
import {
  RANGES, parseDuration, parseAttr, filtersFromParams, filtersToParams, hasFilters, apiParams,
  matchSummary, compareSummaries, rangeStartMs,
} from '../traces/filters.js';
import { createScatter } from '../traces/scatter.js';

export const title = 'Traces';

const PAGE_SIZE = 100;
const MAX_ROWS = 500;
const REQUERY_MS = 1000;
// Filter edits closer together than this replace the history entry instead of adding one, so
// Back undoes the last filter change rather than the last keystroke.
const HISTORY_COALESCE_MS = 1500;
// While paused, at most this many changed summaries are kept; past it the resume re-queries.
const MAX_PENDING = MAX_ROWS;
// The "n new traces" count stops distinguishing ids here (the text then says "10000+").
const MAX_PENDING_NEW = 10000;
// A service seen in live data but missing from the select reloads /api/services at most this often.
const SERVICES_RELOAD_MS = 5000;

/** A service chip; with `spans`, the count of the trace's spans of that service. */
function chip(name, spans) {
  const service = name || '(no service)';
  const counted = Number.isFinite(spans);
  return h('span', { class: 'svc-chip', title: counted ? `${service}: ${spans} span${spans === 1 ? '' : 's'}` : service },
    h('span', { class: 'svc-dot', style: { background: serviceColor(service) } }), h('span', { class: 'svc-chip-name' }, service),
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
  let lastPushAt = 0;
  let pendingRequeryAfterQuery = false;

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
  // Rows are grid rows, not a <table>: a table lays out (and paints) all 500 rows again for
  // every row added at the top, while these rows use content-visibility, so only the rows on
  // screen cost anything when live traces arrive.
  const tbody = h('div', { class: 'traces-rows', role: 'rowgroup' });
  const table = h('div', { class: 'traces-table', role: 'table', 'aria-label': 'Traces, newest first' },
    h('div', { class: 'traces-head', role: 'row' },
      h('span', { class: 'col-start', role: 'columnheader' }, 'start'), h('span', { class: 'col-name', role: 'columnheader' }, 'trace'),
      h('span', { class: 'col-spans', role: 'columnheader' }, 'spans'), h('span', { class: 'col-dur', role: 'columnheader' }, 'duration'),
      h('span', { class: 'col-err', role: 'columnheader' }, 'errors')),
    tbody);
  const emptyNote = h('div', { class: 'muted traces-empty', 'data-testid': 'traces-empty', hidden: true });
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
  let servicesLoadedAt = 0;
  async function loadServices() {
    servicesLoadedAt = Date.now();
    try {
      services = await ctx.getJSON('services', null, servicesController.signal);
    } catch (e) {
      if (e.name !== 'AbortError') services = [];
      return;
    }
    if (destroyed) return;
    // Only the options change: refilling the whole form would drop what is being typed.
    replace(serviceSelect, h('option', { value: '' }, 'all services'), services.map((svc) => h('option', { value: svc.name }, svc.name)));
    if (filters.service && !services.some((svc) => svc.name === filters.service)) {
      serviceSelect.append(h('option', { value: filters.service }, filters.service));
    }
    serviceSelect.value = filters.service;
    fillOperations();
  }

  // Reloads the service list when live data names a service the select does not offer: at
  // most every SERVICES_RELOAD_MS; one seen sooner is not dropped but waits for that interval.
  let servicesTimer = 0;
  function noticeServices(summaries) {
    const known = new Set(services.map((svc) => svc.name));
    if (!summaries.some((t) => (t.services || []).some((name) => !known.has(name)))) return;
    const wait = SERVICES_RELOAD_MS - (Date.now() - servicesLoadedAt);
    if (wait <= 0) { loadServices(); return; }
    if (!servicesTimer) {
      servicesTimer = setTimeout(() => { servicesTimer = 0; if (!destroyed) loadServices(); }, wait);
    }
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
    saveFilters();
    query(); // with a box that does not parse, this marks it and keeps the list
  };

  /** Writes the filters to the URL: a new history entry, unless the last one is very recent. */
  function saveFilters() {
    const now = Date.now();
    ctx.setParams(filtersToParams(filters), { push: now - lastPushAt > HISTORY_COALESCE_MS });
    lastPushAt = now;
  }
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
    saveFilters();
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
    // Checked before aborting, so a stray "load more" cannot cancel a running query.
    if (append && !nextCursor) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const params = { ...p.params };
    if (append) {
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
    if (paused && !append) {
      // Asked for while paused (a filter changed): the answer is the new frozen view, and
      // what was counted against the old filters no longer applies.
      pending = new Map();
      pendingNew = new Set();
      pendingRequery = false;
      drawPause();
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
    if (pendingRequeryAfterQuery) { pendingRequeryAfterQuery = false; scheduleRequery(); }
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
    // A relative time range moves on: traces that slid out of it leave the list.
    const from = rangeStartMs(filters, now);
    if (from && order.length && order[order.length - 1].startMs < from) {
      order = order.filter((o) => {
        if (o.startMs >= from) return true;
        shown.delete(o.traceId);
        return false;
      });
    }
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
    const tr = h('div', {
      role: 'row', 'data-testid': 'trace-row', 'data-trace-id': t.traceId, class: ['trace-row', t.errorCount > 0 && 'has-error'],
    },
    h('span', { class: 'col-start mono', role: 'cell' }, fmtTime(t.startMs)),
    h('span', { class: 'col-name', role: 'cell' },
      chip(t.rootService),
      h('a', { href, class: 'trace-link', title: t.rootName }, t.rootName || '(unnamed)'),
      t.hasRoot ? null : h('span', { class: 'no-root', title: 'The root span has not arrived (yet): showing the earliest span' }, 'no root'),
      h('span', { class: 'trace-id mono muted' }, t.traceId.slice(0, 8))),
    h('span', { class: 'col-spans', role: 'cell' },
      h('span', { class: 'span-count' }, String(t.spanCount)),
      h('span', { class: 'svc-chips' }, (t.services || []).map((name) => chip(name, t.spansByService && t.spansByService[name])))),
    h('span', { class: 'col-dur', role: 'cell' }, h('span', { class: 'dur-track' }, bar), h('span', { class: 'dur-label' }, fmtDuration(t.durationMs))),
    h('span', { class: 'col-err', role: 'cell' }, t.errorCount > 0
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
        if (row) {
          // A trace that grows rebuilds its row; a keyboard user on its link stays there.
          const hadFocus = row.tr.contains(document.activeElement);
          row.tr.replaceWith(fresh.tr);
          if (hadFocus) fresh.tr.querySelector('.trace-link').focus({ preventScroll: true });
        }
        row = fresh;
        rows.set(t.traceId, row);
      }
      row.t = t;
      // Written only when it changes: a style write on every row would restyle all 500.
      const width = `${maxDur > 0 ? Math.max(0.5, (t.durationMs / maxDur) * 100).toFixed(1) : 0}%`;
      if (row.width !== width) { row.width = width; row.bar.style.width = width; }
      const isSelected = t.traceId === selectedId;
      if (row.selected !== isSelected) {
        row.selected = isSelected;
        row.tr.classList.toggle('selected', isSelected);
        row.tr.setAttribute('aria-selected', String(isSelected));
      }
      // Only move nodes that are out of place, so a steady list costs no DOM writes.
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [id, row] of rows) {
      if (!keep.has(id)) { row.tr.remove(); rows.delete(id); }
    }
    if (selectedId && !keep.has(selectedId)) selectedId = null;
    drawEmpty();
    moreButton.hidden = !nextCursor;
    summary.textContent = `${order.length} trace${order.length === 1 ? '' : 's'} shown${nextCursor ? ', more stored' : ''}`;
    scatter.draw(order, { selectedId, fromMs: rangeStartMs(filters) });
    markReady();
  }
  const draw = perFrame(drawNow);

  // What the empty list says: with filters, how to widen them; without, where to send spans
  // (the addresses come from /api/about, asked once).
  let emptyKey = '';
  let endpoints = null;
  let endpointsAsked = false;
  function drawEmpty() {
    emptyNote.hidden = order.length > 0;
    table.hidden = order.length === 0; // headers over nothing only push the note down
    const kind = order.length > 0 ? 'rows' : hasFilters(filters) ? 'filtered' : 'none';
    const key = `${kind}|${Boolean(endpoints)}`;
    if (key === emptyKey) return;
    emptyKey = key;
    if (kind === 'filtered') {
      replace(emptyNote, 'No trace matches these filters. ',
        h('button', { type: 'button', onclick: () => clearButton.click() }, 'clear filters'));
    } else if (kind === 'none') {
      replace(emptyNote, h('p', null, 'No traces yet. They appear here as soon as spans arrive.'));
      if (endpoints) {
        emptyNote.append(h('p', null, 'Send OTLP to ', h('code', null, `${endpoints.otlpHttp}/v1/traces`), ' (HTTP) or ',
          h('code', null, endpoints.otlpGrpc), ' (gRPC), for example with:'),
        h('pre', null, `OTEL_EXPORTER_OTLP_ENDPOINT=${endpoints.otlpHttp}\nOTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`));
      } else if (!endpointsAsked) {
        endpointsAsked = true;
        ctx.about().then((a) => { if (!destroyed) { endpoints = a; drawEmpty(); } }).catch(() => { /* the plain note stays */ });
      }
    }
  }

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
    pausedCount.textContent = `${n}${n >= MAX_PENDING_NEW ? '+' : ''} new trace${n === 1 ? '' : 's'}`;
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
    for (const [id, row] of rows) {
      row.selected = id === selectedId;
      row.tr.classList.toggle('selected', row.selected);
      row.tr.setAttribute('aria-selected', String(row.selected));
    }
    const row = rows.get(selectedId);
    if (row) row.tr.scrollIntoView({ block: 'nearest' });
    scatter.draw(order, { selectedId, fromMs: rangeStartMs(filters) });
  }

  tbody.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.target.closest('a')) return;
    if (window.getSelection && String(window.getSelection()).length > 0) return; // selecting text
    const tr = event.target.closest('[data-trace-id]');
    if (tr) ctx.navigate(`/traces/${tr.dataset.traceId}`);
  });

  // ---- start ----
  fillForm();
  drawPause();
  loadServices();
  query();

  return {
    update(r) {
      // The entry Back or a link landed on is kept: the next filter edit adds its own.
      lastPushAt = 0;
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
      noticeServices(summaries);
      if (paused) {
        const now = Date.now();
        for (const t of summaries) {
          const verdict = matchSummary(filters, t, now);
          if (verdict === false) continue;
          if (!pendingRequery) pending.set(t.traceId, t);
          if (!shown.has(t.traceId)) {
            if (pendingNew.size < MAX_PENDING_NEW) pendingNew.add(t.traceId);
            if (verdict === 'unknown') pendingRequery = true;
          }
        }
        // A long pause must not grow memory without bound: the resume then re-queries, which
        // gives the same list as merging everything kept would.
        if (pending.size > MAX_PENDING) pendingRequery = true;
        if (pendingRequery) pending.clear();
        drawPause();
        return;
      }
      if (querying) {
        // A slow query must not hold an unbounded backlog: past a few deltas, the answer is
        // followed by one more query instead.
        if (heldDeltas.length < 20) heldDeltas.push(delta);
        else pendingRequeryAfterQuery = true;
        return;
      }
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
        case 'Escape':
          if (selectedId) {
            selectedId = null;
            draw();
          }
          break;
        default: break;
      }
    },
    destroy() {
      destroyed = true;
      if (controller) controller.abort();
      servicesController.abort();
      clearTimeout(requeryTimer);
      clearTimeout(servicesTimer);
      scatter.destroy();
      clear(root);
    },
  };
}
