// The overview: per-service health tiles, the registered views, store usage and ingest, and
// where to send data.
//
// Every live event carries what /api/health answers (`red`, `store`, `ingest`, `sources`,
// `refusals`, `invalid`), so while the stream delivers nothing is polled. The stream is
// silent when nothing arrives, though, and the figures are over a sliding one-minute
// window: after a quiet second /api/health is polled (once a second) so they decay to zero.
// Events only record state; the DOM is touched once per animation frame.

import { h, perFrame, errorBox, replace, clear } from '../dom.js';
import { fmtClock } from '../overview/format.js';
import { Tiles } from '../overview/tiles.js';
import { StoreUsage, Ingest } from '../overview/store.js';
import { Views } from '../overview/views.js';
import { endpointsCard } from '../overview/endpoints.js';

export const title = 'Overview';

const QUIET_MS = 1000;
const TICK_MS = 250;

function nanos(text) {
  try {
    return BigInt(text);
  } catch {
    return -1n;
  }
}

function storeIsEmpty(store) {
  if (!store) return true;
  return !(store.traces && store.traces.spans) && !(store.logs && store.logs.records) && !(store.metrics && store.metrics.points);
}

export function mount(root, ctx) {
  const viewEl = document.getElementById('view');
  const abort = new AbortController();
  const tiles = new Tiles((url) => ctx.navigate(url));
  const views = new Views(ctx);
  const storeUsage = new StoreUsage();
  const ingest = new Ingest();
  const endpoints = endpointsCard(ctx.about());

  const updated = h('span', { class: 'muted overview-updated', 'data-testid': 'updated' });
  const status = h('div', { class: 'overview-status' });
  const noServices = h('p', { class: 'muted' }, 'No spans in the last minute.');
  const emptyEndpointsSlot = h('div');
  const empty = h('section', { class: 'card empty-state', 'data-testid': 'empty-state', hidden: true },
    h('h2', null, 'No data yet'),
    h('p', null, 'Point an OpenTelemetry SDK or Collector at this dashboard: set the variables below in the environment of your program, and its traces, metrics and logs show up here as they arrive.'),
    emptyEndpointsSlot);
  const lower = h('div', { class: 'overview-lower' }, h('div', { class: 'overview-health' }, storeUsage.el, ingest.el));
  const bottomEndpointsSlot = h('div', { class: 'overview-endpoints' }, endpoints);

  root.append(
    h('div', { class: 'overview-title' }, h('h1', null, 'Overview'), updated),
    status,
    empty,
    h('section', { class: 'services' },
      h('h2', null, 'Services ', h('span', { class: 'muted' }, 'entry spans, last minute · click a tile for its traces')),
      noServices,
      tiles.el),
    views.el,
    lower,
    bottomEndpointsSlot);

  let health = null; // the ingest part of the latest event or /api/health answer
  let redNs = -1n;
  let store = null;
  let lastDeltaAt = 0;
  let lastHealthAt = 0;
  let healthInFlight = false;
  let destroyed = false;
  let emptyShown = null;

  const draw = perFrame(() => {
    if (destroyed) return;
    const now = Date.now();
    tiles.draw(now);
    noServices.hidden = tiles.size > 0;
    storeUsage.draw(store);
    ingest.draw(health);
    if (redNs >= 0n) updated.textContent = `updated ${fmtClock(Number(redNs / 1000000n))}`;
    const isEmpty = tiles.size === 0 && storeIsEmpty(store) && views.cards.size === 0;
    if (isEmpty !== emptyShown) {
      emptyShown = isEmpty;
      empty.hidden = !isEmpty;
      // With nothing to show, the addresses are what the user needs: move them to the top.
      (isEmpty ? emptyEndpointsSlot : bottomEndpointsSlot).appendChild(endpoints);
    }
    if (health && !viewEl.dataset.ready) viewEl.dataset.ready = '1';
  });

  /** Takes the figures of a live event or a /api/health answer (they have the same shape). */
  function apply(answer) {
    const ns = nanos(answer.timeUnixNano);
    // A poll answer may be older than an event that overtook it.
    if (ns < redNs) return;
    redNs = ns;
    // Fresh figures, by poll or event, end a health error (not a views one).
    if (status.dataset.kind === 'health') { clear(status); delete status.dataset.kind; }
    if (answer.red) tiles.setRed(answer.red, Date.now());
    if (answer.store) store = answer.store;
    if (answer.ingest) {
      health = { ingest: answer.ingest, sources: answer.sources, refusals: answer.refusals, invalid: answer.invalid, red: answer.red };
    }
    draw();
  }

  async function pollHealth() {
    if (healthInFlight || destroyed) return;
    healthInFlight = true;
    lastHealthAt = Date.now();
    try {
      const answer = await ctx.getJSON('health', null, abort.signal);
      // An abort during the body read gives a null answer (api.js) rather than an error.
      if (!answer || destroyed) return;
      apply(answer);
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.dataset.kind = 'health';
      replace(status, errorBox(`Health figures could not be read: ${e.message}`));
      if (!viewEl.dataset.ready) viewEl.dataset.ready = '1';
    } finally {
      healthInFlight = false;
    }
  }

  async function loadViews() {
    try {
      views.set(await ctx.getJSON('views', null, abort.signal));
      draw();
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.dataset.kind = 'views';
      replace(status, errorBox(`The registered views could not be read: ${e.message}`));
    }
  }

  const ticker = setInterval(() => {
    const now = Date.now();
    if (now - lastDeltaAt >= QUIET_MS && now - lastHealthAt >= QUIET_MS) pollHealth();
  }, TICK_MS);

  // Mid-stream, the last event draws at once; the poll replaces it if it is newer.
  if (ctx.lastDelta) {
    apply(ctx.lastDelta);
    if (Array.isArray(ctx.lastDelta.views)) views.set(ctx.lastDelta.views);
  }
  pollHealth();
  loadViews();

  return {
    live(delta) {
      lastDeltaAt = Date.now();
      apply(delta);
      if (Array.isArray(delta.views)) views.set(delta.views);
      views.metricsChanged(delta.metrics);
    },
    refresh() {
      // A truncated event still carries the whole health figures and view list; only its
      // list of changed metrics may be short, so every view reloads (each at most every two
      // seconds, however many truncated events a flood brings).
      views.reloadAll();
    },
    destroy() {
      destroyed = true;
      abort.abort();
      clearInterval(ticker);
      views.destroy();
    },
  };
}
