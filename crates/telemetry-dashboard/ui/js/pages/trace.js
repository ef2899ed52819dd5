// One trace: a header, a virtualized waterfall of the span tree, search within the trace and
// a detail panel for the selected span. Selection, search and collapsed spans live in the URL
// (span=, q=, collapsed=) so a link reopens the same view.

import { h, replace, clear, fmtTime, serviceColor, errorBox, fmtDuration as fmtDur } from '../dom.js';
import { buildModel, visibleRows, searchSpans } from '../traces/model.js';
import { createWaterfall } from '../traces/waterfall.js';
import { spanDetail } from '../traces/span-detail.js';

export const title = 'Trace';

const REFETCH_MS = 1000;
// Held-down j/k moves the selection many times a second; the URL follows at most this often
// (Chromium throttles, with a console warning, pages that rewrite history faster).
const URL_WRITE_MS = 200;
// A trace that is not stored is fetched again when a live event names it; a stream refresh
// (which names nothing) retries it at most this often, since each miss is a 404 in the console.
const NOT_FOUND_RETRY_MS = 10000;

function chip(name, count) {
  const service = name || '(no service)';
  return h('span', { class: 'svc-chip', title: count === undefined ? service : `${service}: ${count} span${count === 1 ? '' : 's'}` },
    h('span', { class: 'svc-dot', style: { background: serviceColor(service) } }), h('span', { class: 'svc-chip-name' }, service),
    count === undefined ? null : h('span', { class: 'svc-count' }, String(count)));
}

function collapsedFromParams(params) {
  return new Set((params.get('collapsed') || '').split(',').filter((id) => /^[0-9a-f]{16}$/i.test(id)).map((id) => id.toLowerCase()));
}

export function mount(root, ctx, route) {
  let traceId = route.id.toLowerCase();
  let selectedId = route.params.get('span') || null;
  let query = route.params.get('q') || '';
  let collapsed = collapsedFromParams(route.params);
  let model = null;
  let rows = [];
  let rowIndex = new Map(); // span id -> visible row index
  let matches = [];
  let matchSet = new Set();
  let current = -1; // index into matches
  let controller = null;
  let fetching = false;
  let lastFetchAt = 0;
  let lastFetchMs = 0;
  let refetchTimer = 0;
  let refetchOwed = false;
  let checkOwed = false;
  let checkController = null;
  let destroyed = false;
  let ready = false;
  let pendingScrollToSelection = Boolean(selectedId);
  let urlChanges = null;
  let urlTimer = 0;
  let lastUrlWrite = 0;
  let panelKey = '';
  let notFound = false;

  /** Merges `changes` into the URL now, or at the end of the current URL_WRITE_MS window. */
  function setUrl(changes) {
    urlChanges = { ...(urlChanges || {}), ...changes };
    if (urlTimer) return;
    const wait = lastUrlWrite + URL_WRITE_MS - Date.now();
    if (wait <= 0) flushUrl();
    else urlTimer = setTimeout(flushUrl, wait);
  }
  function flushUrl() {
    urlTimer = 0;
    const changes = urlChanges;
    urlChanges = null;
    if (!changes || destroyed) return;
    lastUrlWrite = Date.now();
    ctx.setParams(changes);
  }
  /** Forgets unwritten URL changes: the URL was just changed from outside (back, a link). */
  function dropUrlChanges() {
    clearTimeout(urlTimer);
    urlTimer = 0;
    urlChanges = null;
  }

  const header = h('header', { class: 'trace-header' });
  const searchInput = h('input', {
    type: 'search', name: 'q', 'data-testid': 'trace-search', 'data-search': '', value: query,
    placeholder: 'search spans: name, service, attribute, id', 'aria-label': 'Search within the trace', size: 34, autocomplete: 'off',
  });
  const matchCount = h('span', { class: 'muted match-count', 'data-testid': 'match-count', 'aria-live': 'polite' });
  const prevButton = h('button', { type: 'button', class: 'icon-button', title: 'Previous match (Shift+Enter, N)', 'aria-label': 'Previous match' }, '↑');
  const nextButton = h('button', { type: 'button', class: 'icon-button', title: 'Next match (Enter, n)', 'aria-label': 'Next match' }, '↓');
  const expandAll = h('button', { type: 'button', title: 'Expand every span' }, 'expand all');
  const toolbar = h('div', { class: 'toolbar trace-toolbar' }, searchInput, prevButton, nextButton, matchCount, h('span', { class: 'spacer' }), expandAll);
  const wfBox = h('div', { class: 'waterfall', 'data-testid': 'waterfall' });
  const newPanel = () => h('aside', { class: 'span-detail', 'data-testid': 'span-detail', 'aria-label': 'Span details', hidden: true });
  let panel = newPanel();
  const body = h('div', { class: 'trace-body' }, wfBox, panel);
  const message = h('div', { class: 'trace-message' });
  replace(root, header, message, toolbar, body);

  const waterfall = createWaterfall(wfBox, {
    onSelect: (node) => select(node.id, { scroll: false }),
    onToggle: (node) => toggle(node.id),
  });

  // ---- data ----
  async function load() {
    if (destroyed) return;
    clearTimeout(refetchTimer);
    refetchTimer = 0;
    refetchOwed = false;
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    fetching = true;
    lastFetchAt = Date.now();
    let trace;
    try {
      trace = await ctx.getJSON(`traces/${traceId}`, null, signal);
    } catch (e) {
      if (e.name === 'AbortError' || signal.aborted) return;
      fetching = false;
      if (e instanceof ctx.ApiError && e.status === 404) showNotFound();
      else if (model) replace(message, errorBox(`The trace could not be refreshed: ${e.message}`));
      else showFailure(e.message);
      markReady();
      return;
    }
    if (signal.aborted || destroyed) return;
    fetching = false;
    lastFetchMs = Date.now() - lastFetchAt;
    clear(message);
    notFound = false;
    root.classList.remove('not-found');
    model = buildModel(trace);
    if (model.duplicates > 0) {
      const n = model.duplicates;
      message.append(h('p', { class: 'muted trace-notice', 'data-testid': 'duplicate-spans' },
        `${n} span${n === 1 ? ' repeats' : 's repeat'} the id of another span of this trace and ${n === 1 ? 'is' : 'are'} not shown `
        + '(the header counts them): a sender that retried a batch, or one that reuses span ids.'));
    }
    drawHeader();
    recompute({ keepCurrent: true });
    if (pendingScrollToSelection && selectedId && model.byId.has(selectedId)) {
      pendingScrollToSelection = false;
      reveal(selectedId);
    }
    drawPanel();
    markReady();
    if (refetchOwed) scheduleRefetch();
    else if (checkOwed) checkForChange();
  }

  /**
   * After the stream skipped events (`truncated`, as on connecting), asks for this trace's
   * summary, a few hundred bytes, and refetches the whole trace (megabytes for 10,000 spans)
   * only when the summary differs from what is shown.
   */
  async function checkForChange() {
    checkOwed = false;
    if (destroyed) return;
    if (fetching) { checkOwed = true; return; }
    if (!model) return;
    const shown = model.trace;
    if (checkController) checkController.abort();
    checkController = new AbortController();
    const signal = checkController.signal;
    let answer;
    try {
      // Traces starting at this trace's start: a trace whose start moved earlier is not among
      // them, and is refetched like one that changed.
      answer = await ctx.getJSON('traces', { start: shown.startTimeUnixNano, end: shown.startTimeUnixNano, limit: 1000 }, signal);
    } catch (e) {
      if (e.name !== 'AbortError' && !signal.aborted) scheduleRefetch();
      return;
    }
    if (signal.aborted || destroyed || !model || model.trace !== shown) return;
    const now = (answer.traces || []).find((t) => t.traceId === traceId);
    if (!now || now.spanCount !== shown.spanCount || now.durationNanos !== shown.durationNanos || now.errorCount !== shown.errorCount) {
      scheduleRefetch();
    }
  }

  function scheduleRefetch() {
    if (destroyed) return;
    if (fetching) { refetchOwed = true; return; }
    if (refetchTimer) return;
    // A big trace takes long to fetch and build: wait at least twice that between fetches,
    // so a growing 10,000-span trace does not keep the page busy.
    const wait = Math.max(0, lastFetchAt + Math.max(REFETCH_MS, 2 * lastFetchMs) - Date.now());
    refetchTimer = setTimeout(() => { refetchTimer = 0; load(); }, wait);
  }

  function showNotFound() {
    model = null;
    notFound = true;
    root.classList.add('not-found');
    clear(header);
    header.append(h('h1', null, 'Trace ', h('span', { class: 'mono' }, traceId)));
    replace(message, h('div', { class: 'error-box', role: 'alert', 'data-testid': 'trace-not-found' },
      'This trace is not stored: it may have been evicted, or its spans have not arrived yet (the page opens it as soon as they do). ',
      h('a', { href: '/traces' }, 'Back to the trace list'), '.'));
    waterfall.setData(buildModel({ spans: [], logs: [] }), []);
    panel.hidden = true;
  }

  function showFailure(text) {
    replace(message, errorBox(`The trace could not be loaded: ${text}`));
  }

  function drawHeader() {
    const t = model.trace;
    const errors = t.errorCount || 0;
    replace(header,
      h('div', { class: 'trace-title' },
        h('h1', null, t.rootName || '(unnamed)'),
        t.hasRoot ? null : h('span', { class: 'no-root', title: 'The root span has not arrived (yet): showing the earliest span' }, 'no root'),
        h('span', { class: 'spacer' }),
        h('a', { href: `/logs?traceId=${t.traceId}`, 'data-testid': 'trace-logs-link' }, 'logs of this trace'),
        h('a', { href: `/api/export?traceId=${t.traceId}`, download: `trace-${t.traceId}.jsonl`, 'data-testid': 'trace-export' }, 'export')),
      h('div', { class: 'trace-meta' },
        meta('service', chip(t.rootService)),
        meta('start', fmtTime(t.startMs)),
        meta('duration', fmtDur(t.durationMs)),
        meta('spans', String(t.spanCount)),
        meta('services', h('span', { class: 'svc-chips' }, serviceCounts().map(([svc, n]) => chip(svc, n)))),
        meta('errors', errors > 0 ? h('span', { class: 'error-mark' }, `● ${errors}`) : '0'),
        meta('trace id', h('span', { class: 'mono' }, t.traceId))));
  }

  /** Spans per service, most first. */
  function serviceCounts() {
    const counts = new Map();
    for (const node of model.nodes) counts.set(node.span.service, (counts.get(node.span.service) || 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  }

  function meta(label, value) {
    return h('span', { class: 'trace-meta-item' }, h('span', { class: 'muted' }, label), ' ', value);
  }

  // ---- tree state ----
  function recompute({ keepCurrent = false } = {}) {
    if (!model) return;
    // Ids collapsed in the URL that this trace does not have (yet) are kept: spans may arrive.
    rows = visibleRows(model, collapsed);
    rowIndex = new Map();
    rows.forEach((node, i) => rowIndex.set(node.id, i));
    const previous = current >= 0 && matches[current] ? matches[current].id : null;
    matches = searchSpans(model, query);
    matchSet = new Set(matches.map((n) => n.id));
    current = -1;
    if (keepCurrent && previous) current = matches.findIndex((n) => n.id === previous);
    waterfall.setData(model, rows);
    pushState();
  }

  function pushState() {
    drawMatchCount();
    waterfall.setState({
      selectedId, collapsed, matches: matchSet,
      currentId: current >= 0 && matches[current] ? matches[current].id : null,
    });
  }

  function drawMatchCount() {
    if (!query.trim()) { matchCount.textContent = ''; return; }
    matchCount.textContent = matches.length === 0 ? 'no match' : `${current >= 0 ? current + 1 : 0} of ${matches.length}`;
    prevButton.disabled = nextButton.disabled = matches.length === 0;
  }

  function saveCollapsed() {
    setUrl({ collapsed: collapsed.size ? [...collapsed].join(',') : null });
  }

  function toggle(id, open) {
    const isCollapsed = collapsed.has(id);
    const want = open === undefined ? !isCollapsed : !open;
    if (want === isCollapsed) return;
    if (want) collapsed.add(id);
    else collapsed.delete(id);
    // A selection hidden by collapsing moves to the collapsed span.
    if (want && selectedId && model && model.byId.has(selectedId)) {
      for (let n = model.byId.get(selectedId).parent; n; n = n.parent) {
        if (n.id === id) { selectedId = id; setUrl({ span: id }); drawPanel(); break; }
      }
    }
    saveCollapsed();
    recompute({ keepCurrent: true });
  }

  /** Expands the ancestors of `id` and scrolls its row into view. */
  function reveal(id) {
    if (!model || !model.byId.has(id)) return;
    let changed = false;
    for (let n = model.byId.get(id).parent; n; n = n.parent) {
      if (collapsed.delete(n.id)) changed = true;
    }
    if (changed) {
      saveCollapsed();
      recompute({ keepCurrent: true });
    }
    waterfall.scrollToRow(rowIndex.get(id));
  }

  function select(id, { scroll = true } = {}) {
    if (id === selectedId) return;
    selectedId = id;
    setUrl({ span: id });
    if (id && scroll) reveal(id);
    pushState();
    drawPanel();
  }

  function drawPanel() {
    const node = model && selectedId ? model.byId.get(selectedId) : null;
    root.classList.toggle('with-panel', Boolean(node));
    if (!node) {
      panel.hidden = true;
      clear(panel);
      delete panel.dataset.spanId;
      panelKey = '';
      return;
    }
    panel.hidden = false;
    // A refetch of a growing trace redraws the panel only when its span changed, so reading or
    // selecting text in it is not interrupted once a second.
    const key = `${node.id}|${model.t0}|${node.logs.length}|${node.parent ? node.parent.span.name : ''}|${model.nodes.length}|${JSON.stringify(node.span)}`;
    if (key === panelKey && panel.dataset.spanId === node.id) return;
    panelKey = key;
    const content = spanDetail(node, model, {
      onClose: () => select(null),
      onSelectSpan: (id) => select(id),
    });
    if (panel.dataset.spanId === node.id) {
      // The same span, changed: keep the reader's place.
      const scrollTop = panel.scrollTop;
      replace(panel, content);
      panel.scrollTop = scrollTop;
    } else {
      // Another span starts at the top. A new element is scrolled to the top without a forced
      // layout, which setting scrollTop would cost on every j / k.
      const fresh = newPanel();
      fresh.hidden = false;
      fresh.append(content);
      panel.replaceWith(fresh);
      panel = fresh;
    }
    panel.dataset.spanId = node.id;
  }

  /** Selects the current match (step 0) or the next/previous one, expanding its ancestors. */
  function jump(step) {
    if (!matches.length) return;
    if (current < 0) current = step >= 0 ? 0 : matches.length - 1;
    else current = (current + step + matches.length) % matches.length;
    const node = matches[current];
    selectedId = node.id;
    setUrl({ span: node.id });
    reveal(node.id);
    pushState();
    drawPanel();
  }

  // ---- search ----
  let searchTimer = 0;
  function applySearch() {
    const next = searchInput.value;
    if (next === query) return;
    query = next;
    setUrl({ q: query.trim() ? query : null });
    if (!model) return;
    matches = searchSpans(model, query);
    matchSet = new Set(matches.map((n) => n.id));
    current = matches.length ? 0 : -1;
    if (current === 0) {
      // Show the first match without selecting it (the panel opens on Enter).
      const id = matches[0].id;
      let changed = false;
      for (let n = model.byId.get(id).parent; n; n = n.parent) if (collapsed.delete(n.id)) changed = true;
      if (changed) { saveCollapsed(); rows = visibleRows(model, collapsed); rowIndex = new Map(); rows.forEach((nd, i) => rowIndex.set(nd.id, i)); waterfall.setData(model, rows); }
      waterfall.scrollToRow(rowIndex.get(id));
    }
    pushState();
  }
  searchInput.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applySearch, model && model.nodes.length > 2000 ? 200 : 60);
  });
  searchInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      clearTimeout(searchTimer);
      applySearch();
      jumpFromInput(event.shiftKey ? -1 : 1);
    }
  });
  function jumpFromInput(step) {
    // The first Enter selects the match already shown; later ones move.
    if (current >= 0 && matches[current] && matches[current].id !== selectedId) jump(0);
    else jump(step);
  }
  prevButton.addEventListener('click', () => jumpFromInput(-1));
  nextButton.addEventListener('click', () => jumpFromInput(1));
  expandAll.addEventListener('click', () => {
    if (!collapsed.size) return;
    collapsed = new Set();
    saveCollapsed();
    recompute({ keepCurrent: true });
  });

  function markReady() {
    if (ready || destroyed) return;
    ready = true;
    const view = document.getElementById('view');
    if (view) view.dataset.ready = '1';
  }

  // ---- keys ----
  function moveSelection(step) {
    if (!rows.length) return;
    // The row cursor takes over from a focused button, so Enter then opens the row.
    if (document.activeElement instanceof HTMLElement && document.activeElement.closest('button, a')) document.activeElement.blur();
    const at = selectedId && rowIndex.has(selectedId) ? rowIndex.get(selectedId) : -1;
    const next = at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.max(0, Math.min(rows.length - 1, at + step));
    // Scrolled before the selection redraws rows and panel: its read of the scroll position
    // then finds the layout clean instead of forcing one.
    waterfall.scrollToRow(next);
    select(rows[next].id, { scroll: false });
  }

  load();

  return {
    update(r) {
      dropUrlChanges();
      const nextId = r.id.toLowerCase();
      const nextSpan = r.params.get('span') || null;
      const nextQuery = r.params.get('q') || '';
      const nextCollapsed = collapsedFromParams(r.params);
      if (nextId !== traceId) {
        traceId = nextId;
        selectedId = nextSpan;
        query = nextQuery;
        searchInput.value = query;
        collapsed = nextCollapsed;
        model = null;
        current = -1;
        pendingScrollToSelection = Boolean(selectedId);
        panel.hidden = true;
        clear(panel);
        delete panel.dataset.spanId;
        panelKey = '';
        notFound = false;
        checkOwed = false;
        if (checkController) checkController.abort();
        root.classList.remove('with-panel', 'not-found');
        // The old trace must not pass for the new one while it loads.
        replace(header, h('h1', null, 'Trace ', h('span', { class: 'mono' }, traceId)));
        clear(message);
        waterfall.setData(buildModel({ spans: [], logs: [] }), []);
        waterfall.scroller.scrollTop = 0;
        load();
        return;
      }
      const collapsedChanged = nextCollapsed.size !== collapsed.size || [...nextCollapsed].some((id) => !collapsed.has(id));
      if (collapsedChanged) {
        collapsed = nextCollapsed;
        recompute({ keepCurrent: true });
      }
      if (nextQuery !== query) {
        searchInput.value = nextQuery;
        applySearch();
      }
      if (nextSpan !== selectedId) {
        selectedId = nextSpan;
        if (selectedId) reveal(selectedId);
        pushState();
        drawPanel();
      }
    },
    live(delta) {
      if (delta.truncated) return; // refresh() re-fetches
      const traces = delta.traces || [];
      for (const t of traces) {
        if (t.traceId === traceId) { scheduleRefetch(); return; }
      }
    },
    refresh() {
      if (notFound) {
        if (Date.now() - lastFetchAt >= NOT_FOUND_RETRY_MS) scheduleRefetch();
        return;
      }
      if (!model && !fetching) { scheduleRefetch(); return; }
      checkForChange();
    },
    key(event) {
      const node = model && selectedId ? model.byId.get(selectedId) : null;
      switch (event.key) {
        case 'j': case 'ArrowDown': event.preventDefault(); moveSelection(1); break;
        case 'k': case 'ArrowUp': event.preventDefault(); moveSelection(-1); break;
        case 'Enter':
          // Enter on a focused link or button already acts on it.
          if (event.target instanceof Element && event.target.closest('a, button')) break;
          if (node && node.children.length) { event.preventDefault(); toggle(node.id); }
          break;
        case 'ArrowLeft':
          if (!node) break;
          event.preventDefault();
          if (node.children.length && !collapsed.has(node.id)) toggle(node.id, false);
          else if (node.parent) select(node.parent.id);
          break;
        case 'ArrowRight':
          if (!node) break;
          event.preventDefault();
          if (node.children.length && collapsed.has(node.id)) toggle(node.id, true);
          else if (node.children.length) select(node.children[0].id);
          break;
        case 'n': event.preventDefault(); jumpFromInput(1); break;
        case 'N': event.preventDefault(); jumpFromInput(-1); break;
        case 'Escape': if (selectedId) { event.preventDefault(); select(null); } break;
        default: break;
      }
    },
    destroy() {
      destroyed = true;
      if (controller) controller.abort();
      if (checkController) checkController.abort();
      clearTimeout(refetchTimer);
      clearTimeout(searchTimer);
      clearTimeout(urlTimer);
      waterfall.destroy();
      clear(root);
    },
  };
}
