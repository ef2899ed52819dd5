// The service health tiles: RED figures per service over the server's one-minute window,
// sparklines of rate and p99 kept here, and the root operations of each service.
//
// Tiles are created once per service and then only their text and points change, so a
// live event costs a handful of text updates however busy the services are.

import { h, fmtPercent, serviceColor } from '../dom.js';
import { fmtMs, fmtCount } from './format.js';
import { History, sparkline } from './sparkline.js';

function fmtRate(r) {
  if (!Number.isFinite(r)) return '–';
  if (r === 0) return '0';
  if (r < 0.1) return r.toFixed(3);
  if (r < 10) return r.toFixed(2);
  return fmtCount(Math.round(r * 10) / 10);
}

function tracesUrl(service, spanName) {
  const q = new URLSearchParams({ service });
  if (spanName !== undefined) q.set('spanName', spanName);
  return `/traces?${q}`;
}

function figure(label, testid) {
  const value = h('span', { class: 'fig-value', 'data-testid': testid }, '–');
  return { el: h('div', { class: 'fig' }, h('span', { class: 'fig-label' }, label), value), value };
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

class OperationsTable {
  constructor(service) {
    this.service = service;
    this.rows = new Map();
    this.count = h('span', { class: 'muted' }, '');
    this.body = h('tbody');
    this.empty = h('p', { class: 'muted ops-empty' }, 'No root spans of this service in the last minute.');
    this.el = h('details', { class: 'ops', 'data-testid': 'operations' },
      h('summary', null, 'Root operations ', this.count),
      this.empty,
      h('table', { class: 'list ops-table' },
        h('thead', null, h('tr', null,
          h('th', null, 'operation'), h('th', { class: 'num' }, 'rate /s'), h('th', { class: 'num' }, 'errors'),
          h('th', { class: 'num' }, 'p50'), h('th', { class: 'num' }, 'p95'), h('th', { class: 'num' }, 'p99'))),
        this.body));
  }

  update(operations) {
    const ops = [...(operations || [])].sort((a, b) => (b.ratePerSec - a.ratePerSec) || a.operation.localeCompare(b.operation));
    setText(this.count, `(${ops.length})`);
    this.empty.hidden = ops.length > 0;
    const seen = new Set();
    let prev = null;
    for (const op of ops) {
      seen.add(op.operation);
      let row = this.rows.get(op.operation);
      if (!row) {
        const cells = [1, 2, 3, 4, 5].map(() => h('td', { class: 'num' }));
        row = {
          tr: h('tr', { 'data-operation': op.operation },
            h('td', { class: 'op-name' }, h('a', { href: tracesUrl(this.service, op.operation), title: op.operation }, op.operation)),
            cells),
          cells,
        };
        this.rows.set(op.operation, row);
      }
      const [rate, errors, p50, p95, p99] = row.cells;
      setText(rate, fmtRate(op.ratePerSec));
      setText(errors, op.errors > 0 ? fmtPercent(op.errorRatio) : '0');
      errors.title = `${fmtCount(op.errors)} of ${fmtCount(op.count)} root spans`;
      errors.classList.toggle('has-errors', op.errors > 0);
      setText(p50, fmtMs(op.p50Ms));
      setText(p95, fmtMs(op.p95Ms));
      setText(p99, fmtMs(op.p99Ms));
      // Keep the order by rate without detaching rows that are already in place.
      const want = prev ? prev.nextSibling : this.body.firstChild;
      if (want !== row.tr) this.body.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [name, row] of this.rows) {
      if (!seen.has(name)) {
        row.tr.remove();
        this.rows.delete(name);
      }
    }
  }
}

class Tile {
  constructor(service, navigate) {
    this.service = service;
    this.rate = new History();
    this.p99 = new History();
    this.figRate = figure('spans /s', 'tile-rate');
    this.figErrors = figure('errors', 'tile-errors');
    this.figP50 = figure('p50', 'tile-p50');
    this.figP99 = figure('p99', 'tile-p99');
    this.sparkRate = sparkline('spark-rate', `${service}: span rate, last 5 minutes`);
    this.sparkP99 = sparkline('spark-p99', `${service}: p99 latency, last 5 minutes`);
    this.ops = new OperationsTable(service);
    this.el = h('article', {
      class: 'card svc-tile', 'data-testid': 'service-tile', 'data-service': service,
      title: `Traces of ${service}`,
      onclick: (event) => {
        // Links, the operations table and text selection keep their own meaning.
        if (event.target.closest('a, details, button')) return;
        if (String(window.getSelection() || '')) return;
        navigate(tracesUrl(service));
      },
    },
    h('header', { class: 'svc-head' },
      h('span', { class: 'svc-swatch', style: { background: serviceColor(service) } }),
      h('a', { class: 'svc-name', href: tracesUrl(service) }, service),
      this.idle = h('span', { class: 'svc-idle muted', hidden: true, title: 'No entry spans in the last minute' }, 'idle')),
    h('div', { class: 'svc-figs' }, this.figRate.el, this.figErrors.el, this.figP50.el, this.figP99.el),
    h('div', { class: 'svc-sparks' },
      h('div', { class: 'spark-box' }, h('span', { class: 'spark-label' }, 'rate'), this.sparkRate.el),
      h('div', { class: 'spark-box' }, h('span', { class: 'spark-label' }, 'p99'), this.sparkP99.el)),
    this.ops.el);
  }

  /** Records the figures (cheap, per event); `draw` shows them (once per frame). */
  record(red, now) {
    this.red = red;
    this.rate.push(now, red ? red.ratePerSec : 0);
    if (red && Number.isFinite(red.p99Ms)) this.p99.push(now, red.p99Ms);
  }

  draw(now) {
    const red = this.red;
    const idle = !red || red.count === 0;
    this.idle.hidden = !idle;
    this.el.classList.toggle('is-idle', idle);
    setText(this.figRate.value, fmtRate(red ? red.ratePerSec : 0));
    setText(this.figErrors.value, red && red.count > 0 ? fmtPercent(red.errorRatio) : '–');
    setText(this.figP50.value, red && red.count > 0 ? fmtMs(red.p50Ms) : '–');
    setText(this.figP99.value, red && red.count > 0 ? fmtMs(red.p99Ms) : '–');
    const errors = !!red && red.errorRatio > 0;
    this.el.classList.toggle('has-errors', errors);
    this.figErrors.value.title = red ? `${fmtCount(red.errors)} of ${fmtCount(red.count)} entry spans in the last minute` : '';
    this.sparkRate.draw(this.rate, now);
    this.sparkP99.draw(this.p99, now);
    this.ops.update(red ? red.operations : []);
  }
}

/** The grid of tiles; `setRed(red)` per event or poll, `draw()` once per frame. */
export class Tiles {
  constructor(navigate) {
    this.navigate = navigate;
    this.tiles = new Map();
    this.grid = h('div', { class: 'grid svc-grid', 'data-testid': 'service-tiles' });
    this.el = this.grid;
  }

  get size() {
    return this.tiles.size;
  }

  setRed(red, now) {
    const byName = new Map();
    for (const svc of (red && red.services) || []) byName.set(svc.service, svc);
    for (const name of byName.keys()) {
      if (!this.tiles.has(name)) this.add(name);
    }
    // A service that left the window keeps its tile (with its history) as idle.
    for (const [name, tile] of this.tiles) tile.record(byName.get(name) || null, now);
  }

  add(name) {
    const tile = new Tile(name, this.navigate);
    this.tiles.set(name, tile);
    this.grid.appendChild(tile.el);
  }

  draw(now) {
    // Services with traffic first, then idle ones, each by name; nodes move only when the
    // order changes.
    const order = [...this.tiles.values()].sort((a, b) => {
      const ia = !a.red || a.red.count === 0;
      const ib = !b.red || b.red.count === 0;
      return ia === ib ? (a.service < b.service ? -1 : 1) : (ia ? 1 : -1);
    });
    let prev = null;
    for (const tile of order) {
      tile.draw(now);
      const want = prev ? prev.nextSibling : this.grid.firstChild;
      if (want !== tile.el) this.grid.insertBefore(tile.el, want);
      prev = tile.el;
    }
  }
}
