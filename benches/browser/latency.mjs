// Browser benchmark of the dashboard: export -> pixel latency of new traces on /traces, and
// the overview's frame times under a 50,000 spans/s OTLP load. Not a test: it measures and
// reports, and exits non-zero only when it cannot measure (no browser, no dashboard).
//
//   node benches/browser/latency.mjs --ui http://127.0.0.1:PORT \
//     --otlp http://127.0.0.1:PORT/v1/traces --load-bin PATH/otlp_load \
//     [--probes 100] [--rate 50000] [--overview-seconds 30] [--warmup-seconds 5]
//     [--views metric:chart,...] [--out target/bench-output/browser.json]
//
// scripts/bench-browser.sh builds everything, starts a dashboard and runs this. playwright-core
// is imported from $TELEMETRY_BROWSER_DIR/node_modules (see scripts/browser-peer.sh); Chromium
// from $TELEMETRY_CHROMIUM or /usr/bin/chromium.
//
// Latency: `otlp_load probe` sends a 3-span trace with root `probe-<n>` every 200 ms and
// prints when it sent it and when the 200 came back. In the page, a MutationObserver notes
// when a [data-testid=trace-row] of that trace is inserted (`inserted`) and the next
// animation frame after it (`painted`: by then the frame holding the row has been drawn, so
// this bounds the pixel time from above by at most one frame). Reported: painted - sent (the
// headline), painted - ack, inserted - sent. Phases: idle (no load generator; the dashboard's
// --demo traffic, a few traces a second, when the script runs it so) on /traces; under
// load on /traces?service=probe (a user watching one service: at 50k spans/s ~5,000 traces
// arrive per second, so a 500-row unfiltered list turns over in ~0.1 s); and under load on
// the unfiltered /traces, which reports how many probes showed at all.
//
// Responsiveness: / (overview) for --idle-overview-seconds without load (the reference), then
// for --overview-seconds under load: every requestAnimationFrame delta, PerformanceObserver
// 'longtask' entries, 'long-animation-frame' entries with their script attribution (which
// module's callback ran long), and the API requests the page made, per route. Then, load
// still on, a V8 CPU profile of the overview (--profile-seconds; self and inclusive time per
// function, and overview.cpuprofile for DevTools), and a control: the same frame recorder on
// an empty page (--control-seconds), which shows the frames this machine drops whatever the
// page does. The load generator's per-second reports give the achieved rate and what the
// dashboard refused over each window; a window with refusals is flagged in the summary.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

// ---- arguments ----
const defaults = {
  ui: '', otlp: '', 'load-bin': '', probes: '100', rate: '50000', 'overview-seconds': '30',
  'warmup-seconds': '5', 'unfiltered-probes': '20', out: 'target/bench-output/browser.json',
  'interval-ms': '200', batch: '512', connections: '2', 'profile-seconds': '10', 'control-seconds': '10', 'idle-overview-seconds': '10', views: '',
};
const opts = { ...defaults };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 1) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in defaults) || i + 1 >= argv.length) {
    console.error(`latency.mjs: unknown option or missing value: ${argv[i]}`);
    process.exit(2);
  }
  opts[key] = argv[i + 1];
  i += 1;
}
for (const required of ['ui', 'otlp', 'load-bin']) {
  if (!opts[required]) {
    console.error(`latency.mjs: --${required} is required`);
    process.exit(2);
  }
}
const UI = opts.ui.replace(/\/$/, '');
const PROBES = Number(opts.probes);
const RATE = Number(opts.rate);
const OVERVIEW_MS = Number(opts['overview-seconds']) * 1000;
const WARMUP_MS = Number(opts['warmup-seconds']) * 1000;
const UNFILTERED_PROBES = Number(opts['unfiltered-probes']);
const PROFILE_MS = Number(opts['profile-seconds']) * 1000;
const CONTROL_MS = Number(opts['control-seconds']) * 1000;
const IDLE_OVERVIEW_MS = Number(opts['idle-overview-seconds']) * 1000;
/** How long after the last probe's ack a row may still appear before it counts as missing. */
const SETTLE_MS = 5000;

const browserDir = process.env.TELEMETRY_BROWSER_DIR;
if (!browserDir) {
  console.error('latency.mjs: set TELEMETRY_BROWSER_DIR to the folder holding node_modules/playwright-core (scripts/browser-peer.sh prints it)');
  process.exit(2);
}
const { chromium } = await import(resolve(browserDir, 'node_modules/playwright-core/index.mjs'));

// ---- helpers ----
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(sorted.length * p)));
  return sorted[rank - 1];
}

function stats(values) {
  if (!values.length) return { n: 0, p50: null, p99: null, max: null, min: null };
  return {
    n: values.length,
    min: Math.min(...values),
    p50: percentile(values, 0.5),
    p99: percentile(values, 0.99),
    max: Math.max(...values),
  };
}

const round1 = (v) => (v == null ? null : Math.round(v * 10) / 10);

/** Children still running, stopped on SIGINT/SIGTERM so none outlives the benchmark. */
const children = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGTERM');
    process.exit(130);
  });
}

/** Runs otlp_load with `args`; calls onLine for each stdout JSON line; stderr passes through. */
function runTool(args, onLine, { quiet = false } = {}) {
  const child = spawn(opts['load-bin'], args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let value;
    try { value = JSON.parse(line); } catch { return; }
    onLine(value, Date.now());
  });
  child.stderr.on('data', (chunk) => { if (!quiet) process.stderr.write(chunk); });
  const done = new Promise((resolveDone) => child.on('exit', (code, signal) => resolveDone({ code, signal })));
  return { child, done };
}

/** Starts the background load; returns {stop() -> figures over the window since mark()}. */
function startLoad(label) {
  const seconds = [];
  const { child, done } = runTool(
    ['load', '--endpoint', opts.otlp, '--rate', String(RATE), '--batch', opts.batch,
      '--connections', opts.connections],
    (value, at) => { if (value.kind === 'second') seconds.push({ ...value, at }); },
  );
  let markAt = Date.now();
  /** The load's figures over the seconds reported between `from` and `to`. */
  const figures = (name, from, to) => {
    const inWindow = seconds.filter((s) => s.at > from && s.at <= to);
    const sum = (k) => inWindow.reduce((a, s) => a + s[k], 0);
    const secs = inWindow.reduce((a, s) => a + s.seconds, 0);
    const perSecondAccepted = inWindow.map((s) => s.acceptedPerSec);
    return {
      label: name,
      targetPerSec: RATE,
      windowSeconds: round1(secs),
      sentPerSec: secs ? Math.round(sum('sentSpans') / secs) : 0,
      acceptedPerSec: secs ? Math.round(sum('acceptedSpans') / secs) : 0,
      minAcceptedPerSecInASecond: perSecondAccepted.length ? Math.min(...perSecondAccepted) : 0,
      rejectedSpans: sum('rejectedSpans'),
      refusedSpans: sum('refusedSpans'),
      transportErrors: sum('transportErrors'),
      maxRequestMs: inWindow.length ? Math.max(...inWindow.map((s) => s.maxRequestMs)) : 0,
      maxBehindMs: inWindow.length ? Math.max(...inWindow.map((s) => s.behindMs)) : 0,
    };
  };
  return {
    mark() { markAt = Date.now(); },
    /** Figures since mark(), the load going on. */
    sinceMark(name) { return figures(name, markAt, Date.now() + 500); },
    /** Stops the load; figures since mark(). */
    async stop() {
      const endAt = Date.now();
      child.kill('SIGTERM');
      await done;
      return figures(label, markAt, endAt + 500);
    },
  };
}

// ---- in-page recorders (installed in every document) ----
function installRecorder() {
  const seen = new Map(); // trace id -> {inserted, painted}
  const note = (el) => {
    const id = el.getAttribute('data-trace-id');
    if (!id || seen.has(id)) return;
    const link = el.querySelector('.trace-link, a');
    const text = (link || el).textContent || '';
    if (!text.includes('probe-')) return;
    const entry = { inserted: Date.now(), painted: null };
    seen.set(id, entry);
    requestAnimationFrame(() => { entry.painted = Date.now(); });
  };
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches('[data-testid=trace-row]')) note(n);
        else for (const row of n.querySelectorAll('[data-testid=trace-row]')) note(row);
      }
    }
  });
  const start = () => observer.observe(document.documentElement, { childList: true, subtree: true });
  if (document.documentElement) start();
  else document.addEventListener('DOMContentLoaded', start);
  // Where the time goes: when live events arrive (and their size), and how the trace
  // queries fare (duration, aborted), both timestamped like the rows.
  const net = { live: [], fetches: [] };
  const NativeEventSource = window.EventSource;
  window.EventSource = class extends NativeEventSource {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => { net.live.push([Date.now(), e.data.length]); });
    }
  };
  const nativeFetch = window.fetch;
  window.fetch = function benchFetch(input, init) {
    const url = String(input && input.url ? input.url : input);
    const entry = { url: url.replace(/^https?:\/\/[^/]+/, ''), start: Date.now(), end: null, outcome: 'pending' };
    if (url.includes('/api/')) net.fetches.push(entry);
    return nativeFetch(input, init).then((r) => { entry.end = Date.now(); entry.outcome = String(r.status); return r; },
      (e) => { entry.end = Date.now(); entry.outcome = e.name; throw e; });
  };
  window.__benchNet = net;
  window.__benchRows = seen;
  window.__benchSeen = () => Object.fromEntries(seen);
}

async function startFrameRecorder(page) {
  await page.evaluate(() => {
    const rec = { deltas: [], longtasks: [], loaf: [], stopped: false };
    let last = performance.now();
    const tick = (t) => {
      rec.deltas.push(t - last);
      last = t;
      if (!rec.stopped) requestAnimationFrame(tick);
    };
    requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
    rec.o1 = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) rec.longtasks.push({ start: e.startTime, duration: e.duration });
    });
    rec.o1.observe({ type: 'longtask' });
    try {
      rec.o2 = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          rec.loaf.push({
            start: e.startTime,
            duration: e.duration,
            blockingDuration: e.blockingDuration,
            renderStart: e.renderStart,
            styleAndLayoutStart: e.styleAndLayoutStart,
            scripts: (e.scripts || []).map((s) => ({
              invoker: s.invoker,
              invokerType: s.invokerType,
              source: `${(s.sourceURL || '').replace(/^.*\/ui\//, 'ui/')}:${s.sourceFunctionName || '?'}@${s.sourceCharPosition}`,
              duration: s.duration,
              forcedStyleAndLayoutDuration: s.forcedStyleAndLayoutDuration,
            })),
          });
        }
      });
      rec.o2.observe({ type: 'long-animation-frame' });
    } catch {
      // Older Chromium: no long-animation-frame entries; longtask still reports.
    }
    window.__frames = rec;
  });
}

async function stopFrameRecorder(page) {
  return page.evaluate(() => {
    const rec = window.__frames;
    rec.stopped = true;
    rec.o1.disconnect();
    if (rec.o2) rec.o2.disconnect();
    return { deltas: rec.deltas, longtasks: rec.longtasks, loaf: rec.loaf };
  });
}

/**
 * Samples the page's JavaScript for `ms` (V8 CPU profiler over CDP) and sums the time per
 * function: self time, and inclusive time of the dashboard's own functions (ui/ modules), so
 * the page code behind long frames is named even when a frame's only attributed script is a
 * shared helper such as dom.js perFrame. Writes the raw profile for Chrome DevTools.
 */
async function profilePage(page, ms, file) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  await sleep(ms);
  const { profile } = await cdp.send('Profiler.stop');
  await cdp.detach();
  writeFileSync(file, JSON.stringify(profile));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const key = (n) => {
    const f = n.callFrame;
    const url = f.url.replace(/^.*\/ui\//, 'ui/');
    return url ? `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}` : f.functionName;
  };
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] || 0) / 1000;
    total += dt;
    const node = byId.get(id);
    self.set(key(node), (self.get(key(node)) || 0) + dt);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (!n.callFrame.url.includes('/ui/')) continue;
      const k = key(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) || 0) + dt);
    }
  });
  const top = (m, n) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([fn, t]) => ({ fn, ms: round1(t), percent: round1((t / total) * 100) }));
  return { seconds: ms / 1000, sampledMs: round1(total), file, topSelf: top(self, 15), topInclusiveUi: top(inclusive, 15) };
}

/** The API requests the page made since `from`, per route, over `ms`. */
async function requestsSince(page, from, ms) {
  const calls = (await page.evaluate(() => window.__benchNet.fetches)).filter((f) => f.start >= from);
  const routes = new Map();
  for (const f of calls) {
    const route = f.url.split('?')[0].replace(/^\/api\/metrics\/[^/]+\/series$/, '/api/metrics/{name}/series');
    const e = routes.get(route) || { route, count: 0, aborted: 0, ms: [] };
    e.count += 1;
    if (f.outcome === 'AbortError') e.aborted += 1;
    if (f.end) e.ms.push(f.end - f.start);
    routes.set(route, e);
  }
  return [...routes.values()].sort((a, b) => b.count - a.count).map((e) => ({
    route: e.route, perSecond: round1(e.count / (ms / 1000)), aborted: e.aborted,
    p50Ms: percentile(e.ms, 0.5), p99Ms: percentile(e.ms, 0.99),
  }));
}

// ---- the measurements ----
async function openPage(context, path) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(UI + path);
  await page.waitForSelector('main#view[data-ready]', { timeout: 30000 });
  return { page, errors };
}

/** Sends `count` probes while `page` shows a trace list; returns per-probe timings. */
async function probeLatency(page, count, label) {
  const probes = [];
  const { done } = runTool(
    ['probe', '--endpoint', opts.otlp, '--count', String(count), '--interval-ms', opts['interval-ms']],
    (value) => probes.push(value),
  );
  const exit = await done;
  if (exit.code !== 0) console.error(`latency.mjs: the probe sender exited with ${exit.code ?? exit.signal}`);
  // Let the last rows arrive, but stop early once every accepted probe has shown.
  const deadline = Date.now() + SETTLE_MS;
  while (Date.now() < deadline) {
    const shown = await page.evaluate((ids) => ids.filter((id) => window.__benchRows.get(id)?.painted).length,
      probes.filter((p) => p.ackMs).map((p) => p.traceId));
    if (shown >= probes.filter((p) => p.ackMs).length) break;
    await sleep(250);
  }
  const seen = await page.evaluate(() => window.__benchSeen());
  const net = await page.evaluate(() => window.__benchNet);
  const firstSent = Math.min(...probes.map((p) => p.sentMs));
  const live = net.live.filter(([at]) => at >= firstSent);
  const gaps = live.slice(1).map(([at], i) => at - live[i][0]);
  const fetches = net.fetches.filter((f) => f.start >= firstSent && f.url.startsWith('/api/traces'));
  const answered = fetches.filter((f) => f.outcome === '200');
  const sent = [];
  const acked = [];
  const inserted = [];
  let missing = 0;
  let refused = 0;
  for (const p of probes) {
    if (!p.ackMs) { refused += 1; continue; }
    const s = seen[p.traceId];
    if (!s || !s.painted) { missing += 1; continue; }
    sent.push(s.painted - p.sentMs);
    acked.push(s.painted - p.ackMs);
    inserted.push(s.inserted - p.sentMs);
  }
  const ack = probes.filter((p) => p.ackMs).map((p) => p.ackMs - p.sentMs);
  return {
    label,
    probes: probes.length,
    shown: sent.length,
    missing,
    refusedProbes: refused,
    exportToPixelMs: stats(sent),
    ackToPixelMs: stats(acked),
    exportToDomMs: stats(inserted),
    exportToAckMs: stats(ack),
    liveEvents: { count: live.length, gapMs: stats(gaps), bytes: stats(live.map(([, n]) => n)) },
    traceQueries: {
      count: fetches.length,
      ok: answered.length,
      aborted: fetches.filter((f) => f.outcome === 'AbortError').length,
      durationMs: stats(answered.map((f) => f.end - f.start)),
    },
  };
}

function frameSummary(rec, seconds) {
  const deltas = rec.deltas;
  // Attribute long frames to scripts: total script time per source over frames > 50 ms.
  const bySource = new Map();
  for (const f of rec.loaf) {
    for (const s of f.scripts) {
      // Scripts without a URL are the benchmark's own recorder (installed by page.evaluate):
      // a long one there means the renderer was not running, not that it had work to do.
      const source = s.source.startsWith(':') ? 'benchmark rAF recorder (page.evaluate)' : s.source;
      const key = `${source} (${s.invokerType}: ${s.invoker})`;
      const e = bySource.get(key) || { source: key, frames: 0, totalMs: 0, maxMs: 0, forcedLayoutMs: 0 };
      e.frames += 1;
      e.totalMs += s.duration;
      e.maxMs = Math.max(e.maxMs, s.duration);
      e.forcedLayoutMs += s.forcedStyleAndLayoutDuration || 0;
      bySource.set(key, e);
    }
  }
  const loafOver100 = rec.loaf.filter((f) => f.duration > 100);
  const renderMs = rec.loaf.map((f) => (f.renderStart ? f.start + f.duration - f.renderStart : 0));
  return {
    seconds,
    frames: deltas.length,
    fps: round1(deltas.length / seconds),
    longestFrameMs: round1(deltas.length ? Math.max(...deltas) : null),
    p99FrameMs: round1(percentile(deltas, 0.99)),
    p50FrameMs: round1(percentile(deltas, 0.5)),
    framesOver50Ms: deltas.filter((d) => d > 50).length,
    framesOver100Ms: deltas.filter((d) => d > 100).length,
    longTasks: rec.longtasks.length,
    longestTaskMs: round1(rec.longtasks.length ? Math.max(...rec.longtasks.map((t) => t.duration)) : null),
    longTasksOver100Ms: rec.longtasks.filter((t) => t.duration > 100).length,
    longAnimationFrames: rec.loaf.length,
    longAnimationFramesOver100Ms: loafOver100.length,
    longFrameScriptMsTotal: round1(rec.loaf.reduce((a, f) => a + f.scripts.reduce((b, x) => b + x.duration, 0), 0)),
    longFrameStyleAndLayoutMsTotal: round1(rec.loaf.reduce((a, f) => a + (f.styleAndLayoutStart ? f.start + f.duration - f.styleAndLayoutStart : 0), 0)),
    maxRenderPartOfLongFrameMs: round1(renderMs.length ? Math.max(...renderMs) : null),
    longestAnimationFrames: [...rec.loaf].sort((a, b) => b.duration - a.duration).slice(0, 8).map((f) => ({
      durationMs: round1(f.duration),
      scriptMs: round1(f.scripts.reduce((a, x) => a + x.duration, 0)),
      styleAndLayoutMs: round1(f.styleAndLayoutStart ? f.start + f.duration - f.styleAndLayoutStart : 0),
      renderMs: round1(f.renderStart ? f.start + f.duration - f.renderStart : 0),
      scripts: f.scripts.map((x) => `${x.source} ${round1(x.duration)} ms`),
    })),
    slowScripts: [...bySource.values()].sort((a, b) => b.totalMs - a.totalMs).slice(0, 8)
      .map((e) => ({ ...e, totalMs: round1(e.totalMs), maxMs: round1(e.maxMs), forcedLayoutMs: round1(e.forcedLayoutMs) })),
  };
}

// ---- main ----
mkdirSync(dirname(resolve(opts.out)), { recursive: true });
const userDataDir = mkdtempSync(join(tmpdir(), 'bench-browser-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.TELEMETRY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-sync'],
  viewport: { width: 1400, height: 900 },
});
await context.addInitScript(installRecorder);
const result = { startedAt: new Date().toISOString(), ui: UI, rate: RATE, chromium: context.browser()?.version() ?? null };
const pageErrors = [];
let exitCode = 0;
try {
  // 1. idle latency on /traces.
  console.error('latency.mjs: idle latency on /traces');
  {
    const { page, errors } = await openPage(context, '/traces');
    result.idle = await probeLatency(page, PROBES, 'idle, /traces');
    pageErrors.push(...errors.map((e) => `idle /traces: ${e}`));
    await page.close();
  }

  // 1b. the overview without load, as the reference for the loaded figures.
  if (IDLE_OVERVIEW_MS > 0) {
    console.error(`latency.mjs: overview frames without load for ${IDLE_OVERVIEW_MS / 1000} s`);
    const { page, errors } = await openPage(context, '/');
    await sleep(1000);
    const from = Date.now();
    await startFrameRecorder(page);
    await sleep(IDLE_OVERVIEW_MS);
    result.overviewIdle = frameSummary(await stopFrameRecorder(page), IDLE_OVERVIEW_MS / 1000);
    result.overviewIdleRequests = await requestsSince(page, from, IDLE_OVERVIEW_MS);
    pageErrors.push(...errors.map((e) => `idle overview: ${e}`));
    await page.close();
  }

  // 2. latency under load: /traces?service=probe, then the unfiltered list.
  console.error(`latency.mjs: latency under ${RATE} spans/s`);
  {
    const load = startLoad('latency under load');
    await sleep(WARMUP_MS);
    load.mark();
    const { page, errors } = await openPage(context, '/traces?service=probe');
    result.loaded = await probeLatency(page, PROBES, `${RATE} spans/s, /traces?service=probe`);
    pageErrors.push(...errors.map((e) => `loaded /traces?service=probe: ${e}`));
    await page.close();
    if (UNFILTERED_PROBES > 0) {
      const other = await openPage(context, '/traces');
      result.loadedUnfiltered = await probeLatency(other.page, UNFILTERED_PROBES, `${RATE} spans/s, /traces`);
      pageErrors.push(...other.errors.map((e) => `loaded /traces: ${e}`));
      await other.page.close();
    }
    result.loadDuringLatency = await load.stop();
  }

  // 3. overview responsiveness under load, with the registered views given (metric:chart,...).
  for (const view of opts.views.split(',').filter(Boolean)) {
    const [metric, chart] = view.split(':');
    const answer = await fetch(`${UI}/api/views`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metric, chart }),
    });
    if (!answer.ok) throw new Error(`POST /api/views ${view}: HTTP ${answer.status}`);
  }
  result.views = opts.views.split(',').filter(Boolean);
  console.error(`latency.mjs: overview frames under ${RATE} spans/s for ${OVERVIEW_MS / 1000} s`);
  {
    const load = startLoad('overview phase: frames, profile, control');
    await sleep(WARMUP_MS);
    const { page, errors } = await openPage(context, '/');
    await sleep(1000);
    load.mark();
    await startFrameRecorder(page);
    await sleep(OVERVIEW_MS);
    const recordFrom = Date.now() - OVERVIEW_MS;
    const rec = await stopFrameRecorder(page);
    result.overviewRequests = await requestsSince(page, recordFrom, OVERVIEW_MS);
    await sleep(600); // the generator's report of the last second
    result.loadDuringOverview = load.sinceMark('overview frame measurement');
    result.overview = frameSummary(rec, OVERVIEW_MS / 1000);
    if (PROFILE_MS > 0) {
      // After the frame measurement, so the profiler's overhead does not count in it.
      console.error(`latency.mjs: CPU profile of the overview for ${PROFILE_MS / 1000} s`);
      result.overviewProfile = await profilePage(page, PROFILE_MS,
        join(dirname(resolve(opts.out)), 'overview.cpuprofile'));
    }
    await page.close();
    if (CONTROL_MS > 0) {
      // The same recorder on an empty page under the same load: the frames this machine
      // drops whatever the page does (CPU shared with the dashboard and the load generator).
      console.error(`latency.mjs: control: an empty page under load for ${CONTROL_MS / 1000} s`);
      const blank = await context.newPage();
      await blank.goto('about:blank');
      await startFrameRecorder(blank);
      await sleep(CONTROL_MS);
      result.control = frameSummary(await stopFrameRecorder(blank), CONTROL_MS / 1000);
      await blank.close();
    }
    result.loadDuringOverviewPhase = await load.stop();
    pageErrors.push(...errors.map((e) => `overview: ${e}`));
  }
} catch (error) {
  console.error(`latency.mjs: ${error.stack || error}`);
  result.error = String(error.message || error);
  exitCode = 1;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
result.pageErrors = pageErrors;

// ---- report ----
const fmt = (v) => (v == null ? '-' : String(Math.round(v)));
const rows = [];
for (const key of ['idle', 'loaded', 'loadedUnfiltered']) {
  const r = result[key];
  if (!r) continue;
  rows.push([r.label, `${r.shown}/${r.probes}`, fmt(r.exportToPixelMs.p50), fmt(r.exportToPixelMs.p99),
    fmt(r.exportToPixelMs.max), fmt(r.ackToPixelMs.p50), fmt(r.ackToPixelMs.p99), fmt(r.exportToAckMs.p99)]);
}
const head = ['export -> pixel (ms)', 'shown', 'p50', 'p99', 'max', 'ack p50', 'ack p99', 'export->ack p99'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(head));
for (const r of rows) console.log(line(r));
for (const key of ['idle', 'loaded', 'loadedUnfiltered']) {
  const r = result[key];
  if (!r) continue;
  const g = r.liveEvents.gapMs;
  const q = r.traceQueries;
  console.log(`  ${r.label}: live events ${r.liveEvents.count}, gap p50 ${fmt(g.p50)} / p99 ${fmt(g.p99)} / max ${fmt(g.max)} ms, size p50 ${fmt(r.liveEvents.bytes.p50)} B; /api/traces queries ${q.count} (${q.ok} answered, ${q.aborted} aborted), p50 ${fmt(q.durationMs.p50)} / p99 ${fmt(q.durationMs.p99)} ms`);
}
for (const [key, name] of [['overviewIdle', 'overview without load'], ['overview', 'overview under load'], ['control', 'control (empty page) under load']]) {
  if (!result[key]) continue;
  const o = result[key];
  console.log(`\n${name} (${o.seconds} s): ${o.frames} frames (${o.fps}/s), longest ${o.longestFrameMs} ms, p99 ${o.p99FrameMs} ms, p50 ${o.p50FrameMs} ms, frames > 100 ms: ${o.framesOver100Ms}, > 50 ms: ${o.framesOver50Ms}; long tasks ${o.longTasks} (longest ${o.longestTaskMs} ms, > 100 ms: ${o.longTasksOver100Ms})`);
  console.log(`  long animation frames: ${o.longAnimationFrames} (> 100 ms: ${o.longAnimationFramesOver100Ms}); in them script ${o.longFrameScriptMsTotal} ms, style+layout ${o.longFrameStyleAndLayoutMsTotal} ms`);
  for (const s of o.slowScripts) console.log(`  script in long frames: ${s.source}: ${s.frames} frames, total ${s.totalMs} ms, max ${s.maxMs} ms, forced layout ${s.forcedLayoutMs} ms`);
}
for (const [key, name] of [['overviewIdleRequests', 'without load'], ['overviewRequests', 'under load']]) {
  if (!result[key]) continue;
  console.log(`\noverview API requests ${name}: ${result[key].map((r) => `${r.route} ${r.perSecond}/s (p99 ${fmt(r.p99Ms)} ms${r.aborted ? `, ${r.aborted} aborted` : ''})`).join(', ')}`);
}
if (result.overviewProfile) {
  const p = result.overviewProfile;
  console.log(`\noverview CPU profile under load (${p.seconds} s, ${p.file}): JavaScript self time, top functions`);
  for (const f of p.topSelf.slice(0, 8)) console.log(`  ${String(f.ms).padStart(8)} ms ${String(f.percent).padStart(5)} %  ${f.fn}`);
  console.log('  inclusive time of dashboard functions:');
  for (const f of p.topInclusiveUi.slice(0, 8)) console.log(`  ${String(f.ms).padStart(8)} ms ${String(f.percent).padStart(5)} %  ${f.fn}`);
}
for (const key of ['loadDuringLatency', 'loadDuringOverview', 'loadDuringOverviewPhase']) {
  const l = result[key];
  if (!l) continue;
  const refusedNote = l.rejectedSpans + l.refusedSpans + l.transportErrors > 0 ? '  << THE DASHBOARD REFUSED OR LOST SPANS' : '';
  console.log(`load (${l.label}): target ${l.targetPerSec}/s, sent ${l.sentPerSec}/s, accepted ${l.acceptedPerSec}/s (lowest second ${l.minAcceptedPerSecInASecond}), rejected ${l.rejectedSpans}, refused ${l.refusedSpans}, transport errors ${l.transportErrors}, slowest request ${l.maxRequestMs} ms, sender behind up to ${Math.round(l.maxBehindMs)} ms${refusedNote}`);
}
if (pageErrors.length) {
  console.log(`\npage errors (${pageErrors.length}):`);
  for (const e of pageErrors.slice(0, 10)) console.log(`  ${e}`);
}
mkdirSync(dirname(resolve(opts.out)), { recursive: true });
writeFileSync(resolve(opts.out), `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwritten: ${resolve(opts.out)}`);
process.exit(exitCode);
