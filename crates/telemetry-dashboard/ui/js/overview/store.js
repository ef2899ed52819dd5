// Store usage against its budget, and what the receivers took in. Eviction and drop counts
// are highlighted: they are the user's only sign that data is being thrown away.

import { h, clear, fmtBytes, fmtPercent } from '../dom.js';
import { fmtCount } from './format.js';

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

const SIGNALS = [
  {
    key: 'traces', label: 'Traces',
    counts: [['traces', 'traces'], ['spans', 'spans']],
    losses: [['evictedTraces', 'evicted traces'], ['evictedSpans', 'evicted spans'], ['droppedSpans', 'dropped spans']],
  },
  {
    key: 'logs', label: 'Logs',
    counts: [['records', 'records']],
    losses: [['evictedRecords', 'evicted records']],
  },
  {
    key: 'metrics', label: 'Metrics',
    counts: [['series', 'series'], ['points', 'points']],
    losses: [['evictedPoints', 'evicted points'], ['evictedSeries', 'evicted series'], ['droppedPoints', 'dropped points']],
  },
];

function stat(label) {
  const value = h('span', { class: 'stat-num' }, '–');
  return { el: h('span', { class: 'stat-pair' }, value, ' ', h('span', { class: 'muted' }, label)), value };
}

/** The store usage card: one bar and the counts per signal. */
export class StoreUsage {
  constructor() {
    this.total = h('span', { class: 'muted' });
    this.rows = SIGNALS.map((sig) => {
      const fill = h('div', { class: 'usage-fill' });
      const text = h('span', { class: 'usage-text' });
      const counts = sig.counts.map(([, label]) => stat(label));
      const losses = sig.losses.map(([, label]) => {
        const st = stat(label);
        st.el.classList.add('loss');
        return st;
      });
      const el = h('div', { class: 'usage-row', 'data-signal': sig.key },
        h('div', { class: 'usage-head' }, h('strong', null, sig.label), text),
        h('div', { class: 'usage-bar', role: 'meter', 'aria-label': `${sig.label} store usage`, 'aria-valuemin': '0', 'aria-valuemax': '100' }, fill),
        h('div', { class: 'usage-counts' }, counts.map((c) => c.el)),
        h('div', { class: 'usage-losses' }, losses.map((c) => c.el)));
      return { sig, el, fill, text, counts, losses, bar: el.children[1] };
    });
    this.el = h('section', { class: 'card store-card', 'data-testid': 'store-usage' },
      h('h2', null, 'Store ', this.total),
      this.rows.map((r) => r.el));
  }

  draw(store) {
    if (!store || store === this.drawn) return;
    this.drawn = store;
    setText(this.total, `budget ${fmtBytes(store.budgetBytes)}`);
    for (const row of this.rows) {
      const part = store[row.sig.key] || {};
      const ratio = part.budgetBytes > 0 ? Math.min(1, part.usedBytes / part.budgetBytes) : 0;
      row.fill.style.width = `${(ratio * 100).toFixed(2)}%`;
      row.fill.classList.toggle('high', ratio >= 0.9);
      row.bar.setAttribute('aria-valuenow', (ratio * 100).toFixed(0));
      setText(row.text, `${fmtBytes(part.usedBytes)} of ${fmtBytes(part.budgetBytes)} (${fmtPercent(ratio)})`);
      row.sig.counts.forEach(([key], i) => setText(row.counts[i].value, fmtCount(part[key] ?? 0)));
      let evicted = false;
      let dropped = false;
      row.sig.losses.forEach(([key], i) => {
        const n = part[key] ?? 0;
        setText(row.losses[i].value, fmtCount(n));
        row.losses[i].el.classList.toggle('nonzero', n > 0);
        if (n > 0 && key.startsWith('dropped')) dropped = true;
        else if (n > 0) evicted = true;
      });
      // Evictions below a full budget are retention at work (a metric series keeps at most
      // 1024 points), not a shortage: only a full share or refused items are alarming.
      const lossy = dropped || (evicted && ratio >= 0.9);
      row.el.classList.toggle('lossy', lossy);
      row.el.classList.toggle('trimmed', evicted && !lossy);
      row.el.title = lossy
        ? (dropped ? 'Items were refused: see the store limits in the API docs' : 'The store is full for this signal: the oldest data is evicted to make room')
        : evicted ? 'The oldest data was removed by retention limits (each metric series keeps at most 1024 points)' : '';
    }
  }
}

function fmtRate(r) {
  if (!Number.isFinite(r)) return '–';
  return r >= 100 ? fmtCount(Math.round(r)) : fmtCount(Math.round(r * 100) / 100);
}

/** The ingest card: rate per signal, the per-source table, refusals and invalid items. */
export class Ingest {
  constructor() {
    this.signals = ['traces', 'metrics', 'logs'].map((key) => {
      const rate = h('span', { class: 'ingest-rate' }, '–');
      const detail = h('span', { class: 'muted' });
      return { key, rate, detail, el: h('div', { class: 'ingest-signal', 'data-signal': key }, h('span', { class: 'ingest-label' }, key), rate, h('span', { class: 'muted' }, ' /s'), h('div', { class: 'ingest-detail' }, detail)) };
    });
    this.sources = h('tbody');
    this.extra = h('div', { class: 'ingest-extra' });
    this.el = h('section', { class: 'card ingest-card', 'data-testid': 'ingest' },
      h('h2', null, 'Ingest ', h('span', { class: 'muted' }, 'items per second, last minute')),
      h('div', { class: 'ingest-signals' }, this.signals.map((s) => s.el)),
      h('table', { class: 'list sources', 'data-testid': 'ingest-sources' },
        h('thead', null, h('tr', null, h('th', null, 'signal'), h('th', null, 'transport'), h('th', { class: 'num' }, 'batches'),
          h('th', { class: 'num' }, 'items'), h('th', { class: 'num' }, 'rejected'), h('th', { class: 'num' }, 'rate /s'))),
        this.sources),
      this.extra);
    this.sourceRows = new Map();
    this.lastExtra = '';
  }

  draw(health) {
    if (!health || health === this.drawn) return;
    this.drawn = health;
    for (const sig of this.signals) {
      const part = (health.ingest || {})[sig.key] || { items: 0, rejected: 0, ratePerSec: 0 };
      setText(sig.rate, fmtRate(part.ratePerSec));
      setText(sig.detail, `${fmtCount(part.items)} stored` + (part.rejected > 0 ? `, ${fmtCount(part.rejected)} rejected` : ''));
      sig.el.classList.toggle('has-rejects', part.rejected > 0);
    }
    const seen = new Set();
    const sources = [...(health.sources || [])].sort((a, b) => a.signal.localeCompare(b.signal) || a.transport.localeCompare(b.transport));
    if (sources.length === 0 && this.sources.childElementCount === 0) {
      this.sources.appendChild(h('tr', { class: 'no-sources' }, h('td', { colspan: '6', class: 'muted' }, 'Nothing received yet.')));
    } else if (sources.length > 0) {
      const placeholder = this.sources.querySelector('.no-sources');
      if (placeholder) placeholder.remove();
    }
    let prev = null;
    for (const src of sources) {
      const key = `${src.signal} ${src.transport}`;
      seen.add(key);
      let row = this.sourceRows.get(key);
      if (!row) {
        const cells = [0, 1, 2, 3].map(() => h('td', { class: 'num' }));
        row = { tr: h('tr', { 'data-source': key }, h('td', null, src.signal), h('td', null, src.transport), cells), cells };
        this.sourceRows.set(key, row);
      }
      setText(row.cells[0], fmtCount(src.batches));
      setText(row.cells[1], fmtCount(src.items));
      setText(row.cells[2], fmtCount(src.rejected));
      row.cells[2].classList.toggle('has-errors', src.rejected > 0);
      setText(row.cells[3], fmtRate(src.ratePerSec));
      const want = prev ? prev.nextSibling : this.sources.firstChild;
      if (want !== row.tr) this.sources.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [key, row] of this.sourceRows) {
      if (!seen.has(key)) { row.tr.remove(); this.sourceRows.delete(key); }
    }
    this.drawExtra(health);
  }

  drawExtra(health) {
    const refusals = health.refusals || [];
    const invalid = Object.entries(health.invalid || {}).filter(([, n]) => n > 0);
    const dropped = (health.red && health.red.droppedKeys) || 0;
    // Rare and small: rebuilt only when its content changes.
    const sig = JSON.stringify([refusals, invalid, dropped]);
    if (sig === this.lastExtra) return;
    this.lastExtra = sig;
    clear(this.extra);
    if (refusals.length === 0 && invalid.length === 0 && dropped === 0) {
      this.extra.appendChild(h('p', { class: 'muted' }, 'No refused requests, no invalid items.'));
      return;
    }
    if (refusals.length > 0) {
      this.extra.appendChild(h('h3', null, 'Refused requests'));
      this.extra.appendChild(h('table', { class: 'list refusals', 'data-testid': 'refusals' },
        h('thead', null, h('tr', null, h('th', null, 'signal'), h('th', null, 'transport'), h('th', null, 'reason'), h('th', { class: 'num' }, 'count'))),
        h('tbody', null, refusals.map((r) => h('tr', null, h('td', null, r.signal), h('td', null, r.transport), h('td', null, r.reason),
          h('td', { class: 'num has-errors' }, fmtCount(r.count)))))));
    }
    if (invalid.length > 0) {
      this.extra.appendChild(h('p', { class: 'loss nonzero', 'data-testid': 'invalid' }, 'Invalid items dropped: ',
        invalid.map(([k, n], i) => [i ? ', ' : '', `${fmtCount(n)} ${k}`])));
    }
    if (dropped > 0) {
      this.extra.appendChild(h('p', { class: 'loss nonzero' },
        `${fmtCount(dropped)} samples were not counted in the health figures: more than the tracked number of services and operations.`));
    }
  }
}
