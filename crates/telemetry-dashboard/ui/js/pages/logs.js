// Logs: a live list of log records, newest first, with filters kept in the URL.
//
// The first page comes from /api/logs; after that, records of each live event that match
// the filters (checked here with the server's rules) are put on top. The DOM holds at most
// MAX_ROWS rows. While paused, or while the user reads older pages, new records are only
// counted; resuming re-queries so the list is exactly what the API answers.

import { h, replace, clear, errorBox, debounce, perFrame, fmtNumber, severityName } from '../dom.js';
import { SEVERITIES, filtersOf, queryOf, isFiltered, matcher } from '../logs/filter.js';
import { logRow, logDetail, traceHref } from '../logs/row.js';

export const title = 'Logs';

const PAGE = 200;
const MAX_ROWS = 500;
const MAX_QUEUED = 50;
const FRESH_MAX = 30;
// Past this many new records in one frame nobody reads them as they pass: the list shows
// only the newest this many, which keeps a flood's frames short (each row costs layout).
const FLOOD_ROWS = 40;
// Truncated events (a flood) leave records out; the list is re-queried at most this often
// while they come, and once in full when they stop.
const SETTLE_MS = 1000;

export function mount(root, ctx, route) {
  const viewEl = document.getElementById('view');
  let filters = filtersOf(route.params);
  let paused = route.params.get('paused') === '1';
  let selectedId = route.params.get('log') || null;
  const expanded = new Set(selectedId ? [selectedId] : []);

  let records = []; // newest first, each {rec, tr, detail}
  const byId = new Map();
  let newestId = -1;
  let cursor = null;
  let loading = null; // AbortController of the running query
  let olderLoading = null;
  let queued = []; // deltas that arrived during a query
  let newCount = 0; // matching records not shown (paused, or reading older pages)
  let newCountExact = true;
  let detached = false; // newest rows were trimmed to show older ones
  let match = matcher(filters);
  let refreshTimer = 0;
  let lastTruncatedAt = 0;
  let services = [];
  const abort = new AbortController();

  // ---- toolbar ------------------------------------------------------------------------

  const severitySelect = h('select', { name: 'severity', 'data-testid': 'severity-filter', title: 'Minimum severity' },
    h('option', { value: '' }, 'any severity'),
    SEVERITIES.map(([name]) => h('option', { value: name }, `≥ ${name}`)));
  const textInput = h('input', { type: 'search', name: 'text', 'data-search': '', placeholder: 'Search the body  ( / )', size: '28', autocomplete: 'off' });
  const serviceSelect = h('select', { name: 'service', title: 'Service' });
  const attrInput = h('input', { type: 'text', name: 'attr', placeholder: 'key=value, Enter', size: '18', autocomplete: 'off', title: 'Attribute equality on record or resource attributes' });
  const chips = h('div', { class: 'log-chips', 'data-testid': 'filter-chips' });
  const pauseButton = h('button', { type: 'button', 'data-testid': 'pause', title: 'Pause or resume live updates (p)' });
  const pausedCount = h('button', { type: 'button', class: 'paused-count', 'data-testid': 'paused-count', title: 'Show the newest records' });
  const summary = h('span', { class: 'muted log-summary', 'data-testid': 'log-summary' });

  // Rows are grid divs rather than a table: with content-visibility the browser skips the
  // rows out of view, and putting rows on top does not lay out the whole list again.
  const tbody = h('div', { class: 'log-rows', role: 'rowgroup' });
  const table = h('div', { class: 'log-list', role: 'table', 'aria-label': 'Log records', 'data-testid': 'log-list' },
    h('div', { class: 'log-header', role: 'row' }, h('div', { role: 'columnheader' }, 'time'), h('div', { role: 'columnheader' }, 'severity'),
      h('div', { role: 'columnheader' }, 'service'), h('div', { role: 'columnheader' }, 'body'), h('div', { role: 'columnheader' }, 'trace')),
    tbody);
  const status = h('div', { class: 'log-status' });
  const olderButton = h('button', { type: 'button', 'data-testid': 'load-older' }, 'Load older');
  const footer = h('div', { class: 'log-footer' });

  root.append(
    h('div', { class: 'log-head' }, h('h1', null, 'Logs'), summary),
    h('div', { class: 'toolbar log-toolbar' },
      h('label', null, 'severity', severitySelect),
      h('label', null, 'text', textInput),
      h('label', null, 'service', serviceSelect),
      h('label', null, 'attribute', attrInput),
      h('span', { class: 'spacer' }),
      pausedCount, pauseButton),
    chips,
    table,
    status,
    footer);

  // ---- URL state ----------------------------------------------------------------------

  let destroyed = false;

  function applyFilters(changes, push = true) {
    // A debounced search may fire after the user left: the URL is another page's by then.
    if (destroyed) return;
    ctx.setParams(changes, { push });
    filters = filtersOf(new URLSearchParams(location.search));
    match = matcher(filters);
    syncControls();
    reload();
  }

  function syncControls() {
    // A severity number from a pasted URL gets its own option so the select shows it.
    const custom = severitySelect.querySelector('option[data-custom]');
    if (custom) custom.remove();
    if (filters.severity && !SEVERITIES.some(([n]) => n === filters.severity)) {
      severitySelect.appendChild(h('option', { value: filters.severity, 'data-custom': '' }, `≥ ${severityName(Number(filters.severity))}`));
    }
    severitySelect.value = filters.severity;
    if (document.activeElement !== textInput) textInput.value = filters.text;
    fillServices();
    drawChips();
    drawPause();
  }

  function fillServices() {
    const names = [...new Set([...services, filters.service].filter(Boolean))].sort();
    replace(serviceSelect, h('option', { value: '' }, 'all services'), names.map((n) => h('option', { value: n }, n)));
    serviceSelect.value = filters.service;
  }

  function chip(label, onRemove, testid) {
    return h('span', { class: 'chip', 'data-testid': testid },
      label,
      h('button', { type: 'button', class: 'chip-x', 'aria-label': `Remove filter ${label}`, title: 'Remove this filter', onclick: onRemove }, '×'));
  }

  function drawChips() {
    const list = [];
    if (filters.traceId) {
      const what = `logs of trace ${filters.traceId.slice(0, 8)}…` + (filters.spanId ? ` / span ${filters.spanId.slice(0, 8)}…` : '');
      list.push(h('span', { class: 'chip chip-trace', 'data-testid': 'trace-chip' },
        h('a', { href: `/traces/${filters.traceId}${filters.spanId ? `?span=${filters.spanId}` : ''}`, title: 'Open the trace' }, what),
        filters.spanId
          ? h('button', { type: 'button', class: 'chip-x chip-widen', title: 'All logs of this trace', onclick: () => applyFilters({ spanId: null }) }, 'whole trace')
          : null,
        h('button', { type: 'button', class: 'chip-x', 'aria-label': 'Remove the trace filter', title: 'Remove this filter', onclick: () => applyFilters({ traceId: null, spanId: null }) }, '×')));
    } else if (filters.spanId) {
      list.push(chip(`logs of span ${filters.spanId}`, () => applyFilters({ spanId: null }), 'trace-chip'));
    }
    for (const attr of filters.attrs) {
      list.push(chip(attr, () => applyFilters({ attr: filters.attrs.filter((a) => a !== attr) }), 'attr-chip'));
    }
    replace(chips, list);
    chips.hidden = list.length === 0;
  }

  function drawPause() {
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    pauseButton.setAttribute('aria-pressed', paused ? 'true' : 'false');
    const waiting = paused || detached;
    pausedCount.hidden = !waiting || newCount === 0;
    pausedCount.textContent = `${fmtNumber(newCount)}${newCountExact ? '' : '+'} new`;
  }

  function drawSummary() {
    const n = records.length;
    let text = n === 0 ? '' : `${fmtNumber(n)} record${n === 1 ? '' : 's'}`;
    if (paused) text += text ? ' · paused' : 'paused';
    else if (detached) text += ' · older records, not live';
    else text += text ? ' · live' : '';
    summary.textContent = text;
  }

  // ---- the list -----------------------------------------------------------------------

  function entryOf(rec) {
    const tr = logRow(rec, (service) => applyFilters({ service }));
    const entry = { rec, tr, detail: null };
    tr.addEventListener('click', (event) => {
      if (event.target.closest('a, button')) return;
      // Selecting text in a row should not fold it.
      if (String(window.getSelection() || '')) return;
      select(rec.id);
      toggle(entry);
    });
    return entry;
  }

  function toggle(entry, open = !expanded.has(entry.rec.id)) {
    if (open) {
      expanded.add(entry.rec.id);
      if (!entry.detail) entry.detail = logDetail(entry.rec);
      entry.tr.after(entry.detail);
    } else {
      expanded.delete(entry.rec.id);
      if (entry.detail) entry.detail.remove();
    }
    entry.tr.setAttribute('aria-expanded', open ? 'true' : 'false');
    entry.tr.classList.toggle('expanded', open);
  }

  function select(id, scroll = false) {
    if (selectedId && byId.has(selectedId)) byId.get(selectedId).tr.classList.remove('selected');
    selectedId = id;
    const entry = id ? byId.get(id) : null;
    if (entry) {
      entry.tr.classList.add('selected');
      if (scroll) entry.tr.scrollIntoView({ block: 'nearest' });
    }
    ctx.setParams({ log: id });
  }

  function removeEntry(entry) {
    entry.tr.remove();
    if (entry.detail) entry.detail.remove();
    byId.delete(entry.rec.id);
  }

  function appendEntries(recs) {
    const frag = document.createDocumentFragment();
    for (const rec of recs) {
      if (byId.has(rec.id)) continue;
      const entry = entryOf(rec);
      byId.set(rec.id, entry);
      records.push(entry);
      frag.appendChild(entry.tr);
      if (expanded.has(rec.id)) {
        entry.detail = logDetail(rec);
        entry.tr.classList.add('expanded');
        entry.tr.setAttribute('aria-expanded', 'true');
        frag.appendChild(entry.detail);
      }
      if (rec.id === selectedId) entry.tr.classList.add('selected');
      const id = Number(rec.id);
      if (id > newestId) newestId = id;
    }
    tbody.appendChild(frag);
  }

  function drawEmpty() {
    if (records.length > 0) {
      if (status.dataset.kind === 'empty') { clear(status); delete status.dataset.kind; }
      return;
    }
    if (status.dataset.kind === 'error') return;
    status.dataset.kind = 'empty';
    replace(status, isFiltered(filters)
      ? h('p', { class: 'muted log-empty', 'data-testid': 'log-empty' }, 'No log records match these filters. New ones show up here as they arrive.')
      : h('p', { class: 'muted log-empty', 'data-testid': 'log-empty' }, 'No log records yet. Send logs over OTLP to this dashboard (the ',
        h('a', { href: '/' }, 'overview'), ' shows the addresses); they show up here as they arrive.'));
  }

  function drawFooter() {
    if (cursor) replace(footer, olderButton);
    else if (records.length > 0) replace(footer, h('p', { class: 'muted' }, 'No older records.'));
    else clear(footer);
  }

  async function reload(limit = PAGE) {
    clearTimeout(refreshTimer);
    refreshTimer = 0;
    if (loading) loading.abort();
    if (olderLoading) { olderLoading.abort(); olderLoading = null; }
    const controller = new AbortController();
    loading = controller;
    queued = [];
    let answer;
    try {
      answer = await ctx.getJSON('logs', { ...queryOf(filters), limit }, anySignal(controller));
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (loading !== controller) return;
      loading = null;
      status.dataset.kind = 'error';
      replace(status, errorBox(`The log records could not be read: ${e.message}`));
      viewEl.dataset.ready = '1';
      return;
    }
    // An abort during the body read reaches here as a null answer (api.js), not as an error.
    if (loading !== controller || controller.signal.aborted || destroyed) return;
    loading = null;
    answer = answer || {};
    if (status.dataset.kind === 'error') { clear(status); delete status.dataset.kind; }
    records = [];
    byId.clear();
    clear(tbody);
    newestId = -1;
    newCount = 0;
    newCountExact = true;
    detached = false;
    appendEntries(answer.logs || []);
    cursor = answer.nextCursor || null;
    const pending = queued;
    queued = [];
    for (const delta of pending) {
      if (paused) countNew(delta.logs || []);
      else addLive(delta.logs || []);
    }
    if (selectedId && byId.has(selectedId) && !viewEl.dataset.ready) byId.get(selectedId).tr.scrollIntoView({ block: 'center' });
    drawEmpty();
    drawFooter();
    drawPause();
    drawSummary();
    viewEl.dataset.ready = '1';
  }

  function anySignal(controller) {
    return AbortSignal.any([controller.signal, abort.signal]);
  }

  async function loadOlder() {
    if (!cursor || olderLoading) return;
    const controller = new AbortController();
    olderLoading = controller;
    olderButton.disabled = true;
    olderButton.textContent = 'Loading…';
    try {
      const answer = await ctx.getJSON('logs', { ...queryOf(filters), limit: PAGE, cursor }, anySignal(controller));
      if (olderLoading !== controller || controller.signal.aborted || destroyed || !answer) return;
      appendEntries(answer.logs || []);
      cursor = answer.nextCursor || null;
      // Past the cap, the newest rows go: the list is then a window into the past and
      // stops following the live stream until the user returns to the newest records.
      let trimmed = false;
      while (records.length > MAX_ROWS) {
        removeEntry(records.shift());
        trimmed = true;
      }
      if (trimmed && !detached) {
        detached = true;
        newCount = 0;
        newCountExact = true;
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(footer, errorBox(`Older records could not be read: ${e.message}`), olderButton);
      return;
    } finally {
      if (olderLoading === controller) olderLoading = null;
      olderButton.disabled = false;
      olderButton.textContent = 'Load older';
    }
    drawFooter();
    drawPause();
    drawSummary();
  }

  // Live records are put on top once per frame; rows the user is reading stay in place.
  let pendingLive = [];
  const flushLive = perFrame(() => {
    let recs = pendingLive;
    pendingLive = [];
    if (recs.length === 0 || destroyed) return;
    const scroller = viewEl;
    // Someone scrolled down or opened a record is reading: keep what they read in place.
    const reading = scroller.scrollTop > 0 || expanded.size > 0;
    let dropped = false;
    if (recs.length > FLOOD_ROWS) {
      // Too many came to show: the list restarts from the newest ones, so it never has a
      // hole that "Load older" would not fill. A reader is not pulled away: the list stops
      // following instead.
      if (reading) {
        detached = true;
        newCount += recs.length;
        newCountExact = false;
        drawPause();
        drawSummary();
        return;
      }
      recs = recs.slice(-FLOOD_ROWS);
      for (const entry of records) byId.delete(entry.rec.id);
      for (const id of expanded) if (!recs.some((r) => r.id === id)) expanded.delete(id);
      dropped = records.length > 0;
      records = [];
      clear(tbody);
    }
    const anchor = reading ? firstVisible(scroller) : null;
    const anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
    const frag = document.createDocumentFragment();
    const fresh = [];
    // Deltas list records oldest first; the newest goes on top.
    for (let i = recs.length - 1; i >= 0; i -= 1) {
      const rec = recs[i];
      if (byId.has(rec.id)) continue;
      const entry = entryOf(rec);
      byId.set(rec.id, entry);
      fresh.push(entry);
      frag.appendChild(entry.tr);
    }
    // A flood scrolls by too fast to read; the highlight is for a trickle.
    if (fresh.length <= FRESH_MAX) fresh.forEach((e) => e.tr.classList.add('fresh'));
    tbody.insertBefore(frag, tbody.firstChild);
    records = fresh.concat(records);
    while (records.length > MAX_ROWS) {
      removeEntry(records.pop());
      dropped = true;
    }
    // "Load older" continues below the last row, whatever was dropped.
    if (dropped && records.length) cursor = records[records.length - 1].rec.id;
    if (anchor && anchor.isConnected) scroller.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
    if (fresh.length <= FRESH_MAX) setTimeout(() => fresh.forEach((e) => e.tr.classList.remove('fresh')), 1200);
    drawEmpty();
    drawFooter();
    drawSummary();
  });

  // Re-queries what truncated events left out: the newest FLOOD_ROWS while they keep coming
  // (a flood's list is that long anyway), the whole first page once they stopped.
  function settle() {
    refreshTimer = 0;
    if (destroyed || paused || detached) return;
    if (viewEl.scrollTop > 0 || expanded.size > 0) {
      // Replacing the list would move what the reader is reading.
      detached = true;
      newCountExact = false;
      drawPause();
      drawSummary();
      return;
    }
    const flooding = Date.now() - lastTruncatedAt < SETTLE_MS;
    reload(flooding ? FLOOD_ROWS : PAGE);
    if (flooding) refreshTimer = setTimeout(settle, SETTLE_MS);
  }

  function firstVisible(scroller) {
    const top = scroller.getBoundingClientRect().top;
    for (const entry of records) {
      const r = entry.tr.getBoundingClientRect();
      if (r.bottom > top) return entry.tr;
    }
    return null;
  }

  function addLive(logs) {
    for (const rec of logs) {
      const id = Number(rec.id);
      if (id <= newestId || !match(rec)) continue;
      newestId = id;
      pendingLive.push(rec);
    }
    if (pendingLive.length > MAX_ROWS) pendingLive = pendingLive.slice(-MAX_ROWS);
    if (pendingLive.length) flushLive();
  }

  function countNew(logs) {
    for (const rec of logs) {
      const id = Number(rec.id);
      if (id > newestId && match(rec)) {
        newestId = id;
        newCount += 1;
      }
    }
    drawPause();
  }

  function setPaused(next) {
    if (next === paused) return;
    paused = next;
    ctx.setParams({ paused: paused ? '1' : null });
    if (!paused) reload();
    drawPause();
    drawSummary();
  }

  // ---- events -------------------------------------------------------------------------

  severitySelect.addEventListener('change', () => applyFilters({ severity: severitySelect.value }));
  serviceSelect.addEventListener('change', () => applyFilters({ service: serviceSelect.value }));
  const onText = debounce(() => {
    if (textInput.value === filters.text) return;
    applyFilters({ text: textInput.value }, false);
  }, 300);
  textInput.addEventListener('input', onText);
  attrInput.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    const value = attrInput.value.trim();
    if (value.indexOf('=') <= 0) {
      attrInput.setCustomValidity('Write key=value');
      attrInput.reportValidity();
      return;
    }
    attrInput.setCustomValidity('');
    attrInput.value = '';
    if (!filters.attrs.includes(value)) applyFilters({ attr: [...filters.attrs, value] });
  });
  attrInput.addEventListener('input', () => attrInput.setCustomValidity(''));
  pauseButton.addEventListener('click', () => setPaused(!paused));
  pausedCount.addEventListener('click', () => {
    if (paused) setPaused(false);
    else reload();
  });
  olderButton.addEventListener('click', loadOlder);

  ctx.getJSON('services', null, abort.signal).then((list) => {
    if (!Array.isArray(list)) return;
    services = list.map((s) => s.name);
    fillServices();
  }, (e) => {
    if (e.name !== 'AbortError') services = [];
  });

  syncControls();
  drawPause();
  reload();

  function move(step) {
    if (records.length === 0) return;
    let i = selectedId ? records.findIndex((e) => e.rec.id === selectedId) : -1;
    i = i < 0 ? (step > 0 ? 0 : records.length - 1) : Math.max(0, Math.min(records.length - 1, i + step));
    select(records[i].rec.id, true);
  }

  return {
    update(next) {
      filters = filtersOf(next.params);
      match = matcher(filters);
      paused = next.params.get('paused') === '1';
      selectedId = next.params.get('log') || null;
      // The URL names one open record; others opened before belong to the page left behind.
      expanded.clear();
      if (selectedId) expanded.add(selectedId);
      syncControls();
      reload();
    },
    live(delta) {
      const logs = delta.logs || [];
      if (logs.length === 0) return;
      if (loading) {
        queued.push(delta);
        // Too much arrived during one query: asking again is cheaper than catching up.
        if (queued.length > MAX_QUEUED) reload();
        return;
      }
      if (paused || detached) countNew(logs);
      else addLive(logs);
    },
    refresh() {
      if (paused || detached) {
        newCountExact = false;
        drawPause();
        return;
      }
      lastTruncatedAt = Date.now();
      if (!refreshTimer) refreshTimer = setTimeout(settle, SETTLE_MS);
    },
    key(event) {
      switch (event.key) {
        case 'j': move(1); break;
        case 'k': move(-1); break;
        case 'p': setPaused(!paused); break;
        case 'Enter': {
          // A focused link or button handles its own Enter.
          if (event.target instanceof Element && event.target.closest('a, button')) return;
          const entry = selectedId && byId.get(selectedId);
          if (!entry) return;
          const href = traceHref(entry.rec);
          if (expanded.has(entry.rec.id) && href) ctx.navigate(href);
          else toggle(entry, true);
          break;
        }
        case 'Escape': {
          const entry = selectedId && byId.get(selectedId);
          if (entry && expanded.has(entry.rec.id)) toggle(entry, false);
          else return;
          break;
        }
        default: return;
      }
      event.preventDefault();
    },
    destroy() {
      destroyed = true;
      clearTimeout(refreshTimer);
      abort.abort();
      if (loading) loading.abort();
      if (olderLoading) olderLoading.abort();
    },
  };
}
