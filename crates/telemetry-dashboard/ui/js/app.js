// The shell: routing between pages, the one live stream, themes and keyboard shortcuts.
//
// Pages are ES modules under ./pages/ that export `mount(root, ctx)` and return a handle:
//   { update(route)?, live(delta)?, refresh()?, key(event)?, destroy()? }
// `update` is called when only the query string or the id changed (so a page keeps its DOM
// and just reloads), `live` with each event of /api/live, `refresh` when the stream says it
// skipped data (`truncated`) or reconnected, `key` with keyboard events the shell did not use.
// The URL is the page state: pages change it with ctx.setParams, so a link reopens a view.

import { getJSON, postJSON, ApiError } from './api.js';
import { h, replace, errorBox } from './dom.js';

const ROUTES = [
  { page: 'overview', pattern: /^\/$/ },
  { page: 'traces', pattern: /^\/traces\/?$/ },
  { page: 'trace', pattern: /^\/traces\/([0-9a-fA-F]{32})\/?$/ },
  { page: 'metrics', pattern: /^\/metrics\/?$/ },
  { page: 'metrics', pattern: /^\/metrics\/(.+)$/ },
  { page: 'logs', pattern: /^\/logs\/?$/ },
];

const NAV_OF_PAGE = { overview: 'overview', traces: 'traces', trace: 'traces', metrics: 'metrics', logs: 'logs' };

/** The route of a location: page name, the id in the path (trace id, metric name), params. */
export function routeOf(location) {
  for (const { page, pattern } of ROUTES) {
    const m = pattern.exec(location.pathname);
    if (m) {
      return { page, id: m[1] ? decodeURIComponent(m[1]) : null, params: new URLSearchParams(location.search) };
    }
  }
  return { page: 'notfound', id: null, params: new URLSearchParams(location.search) };
}

const view = document.getElementById('view');
let current = null; // { page, handle }
let mountSeq = 0;
let about = null;

const ctx = {
  getJSON,
  postJSON,
  ApiError,
  /** Goes to `url` (a path with query) as a new history entry, or replacing the current one. */
  navigate(url, { replace: replaceEntry = false } = {}) {
    if (url === location.pathname + location.search) return;
    history[replaceEntry ? 'replaceState' : 'pushState'](null, '', url);
    route();
  },
  /** Merges `changes` into the query string without remounting; `null` or '' removes a key. */
  setParams(changes, { push = false } = {}) {
    const params = new URLSearchParams(location.search);
    for (const [key, value] of Object.entries(changes)) {
      params.delete(key);
      if (value === null || value === undefined || value === '') continue;
      if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
      else params.set(key, String(value));
    }
    const text = params.toString();
    const url = location.pathname + (text ? `?${text}` : '');
    if (url !== location.pathname + location.search) history[push ? 'pushState' : 'replaceState'](null, '', url);
  },
  /** The server's addresses: `{ui, otlpHttp, otlpGrpc, apiKeyRequired, tokenRequired}`. */
  about() {
    if (!about) about = getJSON('about').catch((e) => { about = null; throw e; });
    return about;
  },
  /** The latest live event seen (null before the first), for pages that mount mid-stream. */
  lastDelta: null,
};

async function route() {
  const r = routeOf(location);
  document.querySelectorAll('[data-nav]').forEach((a) => {
    a.classList.toggle('active', a.dataset.nav === NAV_OF_PAGE[r.page]);
  });
  if (current && current.page === r.page && current.handle && typeof current.handle.update === 'function') {
    current.handle.update(r);
    return;
  }
  if (current && current.handle && typeof current.handle.destroy === 'function') current.handle.destroy();
  current = null;
  const seq = ++mountSeq;
  view.dataset.page = r.page;
  delete view.dataset.ready;
  if (r.page === 'notfound') {
    replace(view, h('section', { class: 'page' }, h('h1', null, 'Not found'),
      h('p', null, 'No page here. ', h('a', { href: '/' }, 'Back to the overview'), '.')));
    return;
  }
  let module;
  try {
    module = await import(`./pages/${r.page}.js`);
  } catch (e) {
    replace(view, errorBox(`The page failed to load: ${e.message}`));
    return;
  }
  if (seq !== mountSeq) return;
  replace(view);
  const root = h('section', { class: `page page-${r.page}` });
  view.appendChild(root);
  const handle = module.mount(root, ctx, r) || {};
  current = { page: r.page, handle };
  document.title = `${module.title || r.page} · telemetry`;
}

// Links inside the app navigate without a reload; modified clicks keep their usual meaning.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  event.preventDefault();
  ctx.navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);

// ---- the live stream ------------------------------------------------------------------

const liveStatus = document.getElementById('live-status');
let source = null;

function setLiveStatus(state, text) {
  liveStatus.dataset.state = state;
  liveStatus.textContent = text;
}

function openLive() {
  // The browser reconnects by itself after an error, sending Last-Event-ID, so the server
  // resumes from the last position it sent.
  source = new EventSource('/api/live');
  source.onopen = () => setLiveStatus('open', 'live');
  source.onerror = () => setLiveStatus('error', source.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting');
  source.onmessage = (message) => {
    let delta;
    try {
      delta = JSON.parse(message.data);
    } catch {
      return;
    }
    ctx.lastDelta = delta;
    setLiveStatus('open', 'live');
    const handle = current && current.handle;
    if (!handle) return;
    if (delta.truncated && typeof handle.refresh === 'function') handle.refresh();
    if (typeof handle.live === 'function') handle.live(delta);
  };
}

// ---- theme ----------------------------------------------------------------------------

const THEME_KEY = 'telemetry.theme';

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  document.getElementById('theme-toggle').textContent = theme === 'dark' ? 'light' : 'dark';
}

function toggleTheme() {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  try { localStorage.setItem(THEME_KEY, next); } catch { /* private mode: the choice lasts this page */ }
  applyTheme(next);
  window.dispatchEvent(new Event('themechange'));
}

function initialTheme() {
  let saved = null;
  try { saved = localStorage.getItem(THEME_KEY); } catch { /* no storage */ }
  if (saved === 'dark' || saved === 'light') return saved;
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

// ---- keyboard shortcuts -----------------------------------------------------------------

const SHORTCUTS = [
  ['g o', 'Overview'], ['g t', 'Traces'], ['g m', 'Metrics'], ['g l', 'Logs'],
  ['/', 'Focus the search or filter box'], ['d', 'Switch light and dark theme'],
  ['p', 'Pause or resume live updates (traces, logs, metrics)'], ['j / k', 'Next / previous row'],
  ['Enter', 'Open the selected row'], ['n / N', 'Next / previous search match (trace)'],
  ['← / →', 'Collapse / expand the selected span (trace)'], ['Esc', 'Close the panel, leave a box'], ['?', 'This help'],
];

let helpDialog = null;
function toggleHelp() {
  if (helpDialog) { helpDialog.remove(); helpDialog = null; return; }
  helpDialog = h('div', { class: 'help-overlay', role: 'dialog', 'aria-label': 'Keyboard shortcuts', 'data-testid': 'help', onclick: (e) => { if (e.target === helpDialog) toggleHelp(); } },
    h('div', { class: 'help-box' }, h('h2', null, 'Keyboard shortcuts'),
      h('table', { class: 'kv' }, h('tbody', null, SHORTCUTS.map(([k, what]) => h('tr', null, h('th', null, h('kbd', null, k)), h('td', null, what)))))));
  document.body.appendChild(helpDialog);
}

let pendingG = 0;
document.addEventListener('keydown', (event) => {
  if (event.metaKey || event.ctrlKey || event.altKey) return;
  const t = event.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
  if (typing) {
    if (event.key === 'Escape') t.blur();
    return;
  }
  if (pendingG && Date.now() - pendingG < 1500) {
    pendingG = 0;
    const target = { o: '/', t: '/traces', m: '/metrics', l: '/logs' }[event.key];
    if (target) { event.preventDefault(); ctx.navigate(target); return; }
  }
  pendingG = 0;
  switch (event.key) {
    case 'g': pendingG = Date.now(); return;
    case '?': event.preventDefault(); toggleHelp(); return;
    case 'd': toggleTheme(); return;
    case '/': {
      const box = view.querySelector('[data-search]');
      if (box) { event.preventDefault(); box.focus(); box.select && box.select(); }
      return;
    }
    case 'Escape':
      if (helpDialog) { toggleHelp(); return; }
      break;
    default:
      break;
  }
  const handle = current && current.handle;
  if (handle && typeof handle.key === 'function') handle.key(event);
});

applyTheme(initialTheme());
document.getElementById('theme-toggle').addEventListener('click', toggleTheme);
document.getElementById('help-toggle').addEventListener('click', toggleHelp);
openLive();
route();
