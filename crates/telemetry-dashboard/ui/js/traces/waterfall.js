// The virtualized waterfall: only the rows in view (plus an overscan) exist in the DOM, each
// at a fixed height inside a spacer as tall as every row together, so a 10,000-span trace
// costs the same to draw and scroll as a 20-span one.

import { h, clear, serviceColor, severityClass, severityName, fmtDuration as fmtDur } from '../dom.js';

export const ROW_H = 24;
const OVERSCAN = 12;
const MAX_MARKS = 60; // log marks or event ticks drawn per bar; more would be one smear
const INDENT = 14;
const DEEP = 12;

function niceStep(span, count) {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

function logBody(log) {
  return typeof log.body === 'string' ? log.body : JSON.stringify(log.body);
}

const pct = (v) => `${Math.max(0, Math.min(100, v)).toFixed(3)}%`;

/**
 * A waterfall in `container`. `handlers`: `onSelect(node)`, `onToggle(node)`.
 * Returns `{setData(model, rows), setState(state), scrollToRow(i), renderNow(), destroy()}`.
 */
export function createWaterfall(container, handlers) {
  const axis = h('div', { class: 'wf-axis' });
  const head = h('div', { class: 'wf-head', 'aria-hidden': 'true' }, h('div', { class: 'wf-name-head' }, 'span'), axis);
  const grid = h('div', { class: 'wf-grid', 'aria-hidden': 'true' });
  const spacer = h('div', { class: 'wf-body', role: 'none' }, grid);
  // The tree itself takes the focus (Tab reaches it) and points at the selected row with
  // aria-activedescendant: rows come and go as they scroll, so they cannot hold the focus.
  const scroller = h('div', { class: 'wf-scroll', tabindex: '0', role: 'tree', 'aria-label': 'Spans (j / k to move, ← / → to collapse or expand)' }, head, spacer);
  container.append(scroller);

  let model = null;
  let rows = [];
  let state = { selectedId: null, matches: new Set(), currentId: null, collapsed: new Set() };
  const live = new Map(); // row index -> element
  let frame = 0;

  function drawAxis() {
    clear(axis);
    clear(grid);
    if (!model) return;
    const total = model.totalMs;
    const step = niceStep(total, 6);
    for (let v = 0; v <= total + 1e-9 && total > 0; v += step) {
      const left = pct((v / total) * 100);
      // A label near the right end would run into the previous one or off the axis.
      if (v / total <= 0.93) {
        const label = h('span', { class: 'wf-tick' }, v === 0 ? '0' : fmtDur(v));
        label.style.left = left;
        axis.append(label);
      }
      const line = h('div', { class: 'wf-gridline' });
      line.style.left = left;
      grid.append(line);
    }
    if (total === 0) axis.append(h('span', { class: 'wf-tick' }, '0'));
  }

  function buildRow(i) {
    const node = rows[i];
    const span = node.span;
    const total = model.totalMs;
    const hasKids = node.children.length > 0;
    const collapsed = state.collapsed.has(node.id);
    const isError = span.status && span.status.code === 'error';
    const color = serviceColor(span.service || '');

    const toggle = hasKids
      ? h('button', {
        type: 'button', class: 'wf-toggle', 'aria-expanded': String(!collapsed), tabindex: '-1',
        title: collapsed ? `Expand (${node.descendants} hidden)` : 'Collapse',
        'data-action': 'toggle',
      }, collapsed ? '▸' : '▾')
      : h('span', { class: 'wf-toggle-space' });
    const name = h('div', { class: 'wf-name' },
      toggle,
      h('span', { class: 'wf-swatch', style: { background: color } }),
      // Titles carry the full text of names cut short by the column.
      h('span', { class: 'wf-svc', title: span.service }, span.service),
      h('span', { class: 'wf-span-name', title: span.name }, span.name),
      span.kind && span.kind !== 'internal' ? h('span', { class: `kind-badge kind-${span.kind}` }, span.kind) : null,
      isError ? h('span', { class: 'error-mark', title: span.status.message || 'status error' }, '●') : null,
      node.orphan ? h('span', { class: 'orphan-mark', title: `parent ${span.parentSpanId} is not in this trace` }, 'orphan') : null,
      collapsed ? h('span', { class: 'wf-hidden-count' }, `+${node.descendants}`) : null);
    // Deep trees would push the name out of its column: the indent stops after DEEP levels
    // (and at 30 % of the column) and deeper rows show their depth as a number.
    name.style.paddingLeft = `min(${Math.min(node.depth, DEEP) * INDENT + 4}px, 30%)`;
    if (node.depth > DEEP) name.prepend(h('span', { class: 'wf-depth', title: `depth ${node.depth}` }, String(node.depth)));

    // A trace with no extent (one span of 0 ms) has nothing to scale by: its bars are the
    // minimum-width mark at 0, not a full-width bar claiming a duration.
    const left = total > 0 ? (node.offsetMs / total) * 100 : 0;
    const width = total > 0 ? (Math.max(0, span.durationMs) / total) * 100 : 0;
    const bar = h('div', {
      class: ['wf-bar', isError && 'error'], style: { background: color },
      title: `${span.service} · ${span.name}: ${fmtDur(span.durationMs)} at +${fmtDur(node.offsetMs)}${isError && span.status.message ? ` · ${span.status.message}` : ''}`,
    });
    bar.style.left = pct(left);
    bar.style.width = pct(Math.min(width, 100 - left));
    const dur = h('span', { class: 'wf-dur' }, fmtDur(span.durationMs));
    // The label goes after the bar, or before it when the bar reaches the right edge, or
    // inside it when the bar spans nearly the whole axis.
    if (left + width <= 80) {
      dur.style.left = pct(left + width);
    } else if (left >= 15) {
      dur.classList.add('before');
      dur.style.right = pct(100 - left);
    } else {
      dur.classList.add('inside');
      dur.style.right = pct(100 - left - width);
    }
    const timeline = h('div', { class: 'wf-timeline' }, bar, dur);
    const events = span.events || [];
    for (let e = 0; e < events.length && e < MAX_MARKS; e += 1) {
      const at = Number(events[e].timeUnixNano) / 1e6 - model.t0;
      const tick = h('div', { class: 'wf-event', title: `event ${events[e].name} at +${fmtDur(at)}` });
      tick.style.left = pct(total > 0 ? (at / total) * 100 : 0);
      timeline.append(tick);
    }
    for (let l = 0; l < node.logs.length && l < MAX_MARKS; l += 1) {
      const log = node.logs[l];
      const at = log.timeMs - model.t0;
      const mark = h('div', {
        class: ['wf-log', severityClass(log.severityNumber)], 'data-testid': 'span-log-mark',
        'data-severity': log.severityText || severityName(log.severityNumber), title: logBody(log),
      });
      mark.style.left = pct(total > 0 ? (at / total) * 100 : 0);
      timeline.append(mark);
    }

    const el = h('div', {
      id: `wf-row-${node.id}`,
      class: ['wf-row', isError && 'error', node.id === state.selectedId && 'selected',
        state.matches.has(node.id) && 'match', node.id === state.currentId && 'current-match'],
      role: 'treeitem', 'aria-level': node.depth + 1, 'aria-selected': String(node.id === state.selectedId),
      'aria-expanded': hasKids ? String(!collapsed) : undefined,
      'data-testid': 'span-row', 'data-span-id': node.id, 'data-depth': node.depth, 'data-index': i,
    }, name, timeline);
    el.style.top = `${i * ROW_H}px`;
    return el;
  }

  // The header's height, read once per data change rather than per frame (a read after the
  // last frame's writes would force a layout).
  let headH = 0;

  function render() {
    frame = 0;
    if (!model) return;
    const top = Math.max(0, scroller.scrollTop - headH);
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(rows.length - 1, Math.ceil((top + scroller.clientHeight) / ROW_H) + OVERSCAN);
    let lo = Infinity;
    let hi = -Infinity;
    for (const [i, el] of live) {
      if (i < first || i > last) { el.remove(); live.delete(i); } else { lo = Math.min(lo, i); hi = Math.max(hi, i); }
    }
    // The rows kept are one contiguous run; new ones go before or after it, so the DOM order
    // stays the visual order (for screen readers and for tests that take the nth row).
    const before = document.createDocumentFragment();
    const after = document.createDocumentFragment();
    for (let i = first; i <= last; i += 1) {
      if (live.has(i)) continue;
      const el = buildRow(i);
      live.set(i, el);
      (i < lo ? before : after).append(el);
    }
    if (before.firstChild) spacer.insertBefore(before, live.get(lo));
    spacer.append(after);
    const selectedRow = state.selectedId ? document.getElementById(`wf-row-${state.selectedId}`) : null;
    if (selectedRow && scroller.contains(selectedRow)) scroller.setAttribute('aria-activedescendant', selectedRow.id);
    else scroller.removeAttribute('aria-activedescendant');
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function rebuild() {
    for (const el of live.values()) el.remove();
    live.clear();
    render();
  }

  scroller.addEventListener('scroll', schedule, { passive: true });
  const observer = new ResizeObserver(schedule);
  observer.observe(scroller);

  spacer.addEventListener('click', (event) => {
    const rowEl = event.target.closest('.wf-row');
    if (!rowEl) return;
    const node = rows[Number(rowEl.dataset.index)];
    if (!node) return;
    if (event.target.closest('[data-action=toggle]')) handlers.onToggle(node);
    else handlers.onSelect(node);
  });

  return {
    /** New tree or new visible rows (after a fetch or a collapse). */
    setData(nextModel, nextRows) {
      const axisChanged = !model || model.totalMs !== nextModel.totalMs;
      model = nextModel;
      rows = nextRows;
      spacer.style.height = `${rows.length * ROW_H}px`;
      if (axisChanged) drawAxis();
      headH = head.offsetHeight;
      rebuild();
    },
    /** Selection, search matches, collapsed ids; redraws the rows in view. */
    setState(next) {
      state = { ...state, ...next };
      rebuild();
    },
    /** Scrolls row `i` into view (centered when it was out of view). */
    scrollToRow(i) {
      if (i === undefined || i < 0) return;
      const top = i * ROW_H;
      const viewTop = scroller.scrollTop;
      const viewH = scroller.clientHeight - headH;
      if (top >= viewTop && top + ROW_H <= viewTop + viewH) return;
      const near = top < viewTop ? viewTop - top : top + ROW_H - (viewTop + viewH);
      scroller.scrollTop = near < ROW_H * 3 ? (top < viewTop ? top : top + ROW_H - viewH) : top - viewH / 2;
      render();
    },
    renderNow: render,
    scroller,
    destroy() {
      observer.disconnect();
      cancelAnimationFrame(frame);
    },
  };
}
