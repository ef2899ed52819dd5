// The browser half of crates/telemetry/tests/browser.rs: drives the dashboard in headless
// Chromium (playwright-core, the system's /usr/bin/chromium) and checks it as a person would,
// while the Rust test emits data through the project's own pipeline on request and the Python
// OpenTelemetry SDK sends over OTLP/HTTP.
//
//   node e2e.mjs --ui http://127.0.0.1:PORT --otlp http://127.0.0.1:PORT \
//     --python PATH --out DIR [--chromium /usr/bin/chromium]
//
// Talks to the Rust side in lines: it writes `EMIT <tag> <kind>` on stdout and reads
// `EMITTED <tag> <json>` (or `FAILED <tag> <why>`) on stdin. Its last stdout line is
// `REPORT <json>`; progress goes to stderr. Exit status 0 only when every step passed and the
// pages logged no console error, threw nothing and no request failed.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

// The flags issue 10 names, plus a quiet first run.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'];
const PYTHON_SERVICE = 'browser-e2e-python';

// Every wait is bounded, and the whole run gives up after TOTAL_BUDGET_MS, before the Rust
// side kills it.
const WAIT_MS = 12000;
const EMIT_TIMEOUT_MS = 10000;
const PYTHON_TIMEOUT_MS = 30000;
const TOTAL_BUDGET_MS = 90000;

function parseArgs(argv) {
  const args = { chromium: process.env.TELEMETRY_CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!['ui', 'otlp', 'python', 'out', 'chromium'].includes(key) || argv[i + 1] === undefined) {
      throw new Error(`usage: node e2e.mjs --ui URL --otlp URL --python PATH --out DIR [--chromium PATH] (bad argument ${argv[i]})`);
    }
    args[key] = argv[i + 1];
  }
  for (const key of ['ui', 'otlp', 'python', 'out']) {
    if (!args[key]) throw new Error(`missing --${key}`);
  }
  args.ui = args.ui.replace(/\/$/, '');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const log = (...parts) => console.error('[e2e]', ...parts);

// ---- the line protocol with the Rust side ----------------------------------------------

const pending = new Map();
const stdinLines = createInterface({ input: process.stdin });
stdinLines.on('line', (line) => {
  const match = /^(EMITTED|FAILED) (\S+) ?(.*)$/.exec(line);
  const waiter = match && pending.get(match[2]);
  if (!waiter) {
    log(`unexpected line from the Rust side: ${line}`);
    return;
  }
  pending.delete(match[2]);
  if (match[1] === 'FAILED') waiter.reject(new Error(`the Rust side could not emit ${match[2]}: ${match[3]}`));
  else waiter.resolve(JSON.parse(match[3]));
});
stdinLines.on('close', () => {
  for (const [tag, waiter] of pending) waiter.reject(new Error(`the Rust side closed stdin before answering EMIT ${tag}`));
  pending.clear();
});

/** Asks the Rust side to emit a span tree, a log record and metric points tagged `tag`. */
function emitRust(tag, kind = 'normal') {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(tag);
      reject(new Error(`no EMITTED ${tag} from the Rust side within ${EMIT_TIMEOUT_MS} ms`));
    }, EMIT_TIMEOUT_MS);
    pending.set(tag, {
      resolve: (value) => { clearTimeout(timer); resolve(value); },
      reject: (error) => { clearTimeout(timer); reject(error); },
    });
    process.stdout.write(`EMIT ${tag} ${kind}\n`);
  });
}

/** Runs send_python.py: the Python SDK sends a trace, a log record and metrics. */
function emitPython(tag) {
  return new Promise((resolve, reject) => {
    // The SDK reads OTEL_* settings and its HTTP client honours proxy variables: neither may
    // steer the sender away from the loopback dashboard.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
    env.NO_PROXY = '127.0.0.1,localhost';
    env.no_proxy = env.NO_PROXY;
    const child = spawn(args.python, [join(here, 'send_python.py'), args.otlp, PYTHON_SERVICE, tag], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), PYTHON_TIMEOUT_MS);
    child.on('error', (error) => { clearTimeout(timer); reject(new Error(`send_python.py did not start: ${error.message}`)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`send_python.py exited with ${code ?? signal}: ${stderr.trim()}`));
        return;
      }
      try {
        const sent = JSON.parse(stdout.trim().split('\n').pop());
        if (!sent.flushed.traces || !sent.flushed.logs || !sent.flushed.metrics) {
          reject(new Error(`send_python.py: a flush failed: ${JSON.stringify(sent.flushed)}`));
          return;
        }
        resolve(sent);
      } catch (error) {
        reject(new Error(`send_python.py printed no JSON (${error.message}): ${stdout} ${stderr}`));
      }
    });
  });
}

/** GET on the dashboard's JSON API, for the ids the pages do not show (log record ids). */
async function api(path) {
  const response = await fetch(`${args.ui}/api/${path}`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`GET /api/${path}: ${response.status}`);
  return response.json();
}

// ---- the browser ----------------------------------------------------------------------

await mkdir(args.out, { recursive: true });
const userDataDir = await mkdtemp(join(tmpdir(), 'telemetry-e2e-'));
const problems = []; // console errors, page errors, failed requests: each fails the run
const steps = [];
const latency = {};
let context = null;
let page = null;

const overall = setTimeout(() => {
  log(`the run took longer than ${TOTAL_BUDGET_MS} ms; giving up`);
  process.stdout.write(`REPORT ${JSON.stringify({ ok: false, steps, problems, latency, error: `the run took longer than ${TOTAL_BUDGET_MS} ms` })}\n`);
  process.exit(3);
}, TOTAL_BUDGET_MS);

function watchPage(p) {
  p.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location();
    problems.push({ kind: 'console.error', text: message.text(), at: where && where.url ? `${where.url}:${where.lineNumber}` : '', page: p.url() });
  });
  p.on('pageerror', (error) => {
    problems.push({ kind: 'pageerror', text: `${error.name}: ${error.message}`, stack: error.stack, page: p.url() });
  });
  p.on('requestfailed', (request) => {
    const why = request.failure() ? request.failure().errorText : 'unknown';
    // A navigation cancels the open fetches and the live stream: that is not a failure.
    if (why === 'net::ERR_ABORTED') return;
    problems.push({ kind: 'requestfailed', text: `${request.method()} ${request.url()}: ${why}`, page: p.url() });
  });
  p.on('response', (response) => {
    if (response.status() >= 400) {
      problems.push({ kind: 'http', text: `${response.request().method()} ${response.url()}: ${response.status()}`, page: p.url() });
    }
  });
}

/** Runs one named check; a failure is recorded with a screenshot and the run goes on. */
async function step(name, body) {
  const started = Date.now();
  log(`step ${name}`);
  try {
    const details = await body();
    steps.push({ name, ok: true, ms: Date.now() - started, ...(details || {}) });
    log(`step ${name}: ok (${Date.now() - started} ms)`);
    return true;
  } catch (error) {
    let saved = join(args.out, `fail-${name}.png`);
    try {
      await page.screenshot({ path: saved, timeout: 5000 });
    } catch {
      saved = null;
    }
    const url = page ? page.url() : '';
    steps.push({ name, ok: false, ms: Date.now() - started, error: error.message, url, screenshot: saved });
    log(`step ${name}: FAILED at ${url}: ${error.message}${saved ? ` (screenshot ${saved})` : ''}`);
    return false;
  }
}

async function shot(file) {
  const path = join(args.out, file);
  await page.screenshot({ path, timeout: 5000 });
  return path;
}

/** Waits for `selector` (attached), failing with what it was for. */
async function expectSelector(selector, what, timeout = WAIT_MS) {
  try {
    return await page.waitForSelector(selector, { state: 'attached', timeout });
  } catch {
    throw new Error(`${what}: no ${selector} within ${timeout} ms`);
  }
}

/** Waits until a page `name` is mounted and has drawn its first data. */
async function waitReady(name) {
  try {
    await page.waitForFunction((want) => {
      const view = document.getElementById('view');
      return view && view.dataset.page === want && view.dataset.ready !== undefined;
    }, name, { timeout: WAIT_MS });
  } catch {
    const state = await page.evaluate(() => {
      const view = document.getElementById('view');
      return view ? `page=${view.dataset.page} ready=${view.dataset.ready}` : 'no main#view';
    }).catch(() => 'unknown');
    throw new Error(`the ${name} page never set main#view[data-ready] (data-page=${name}) within ${WAIT_MS} ms (${state})`);
  }
}

async function clickNav(name) {
  await page.click(`header nav a[data-nav=${name}]`, { timeout: WAIT_MS });
}

async function xssTriggered() {
  return page.evaluate(() => window.__xss);
}

async function expectNoXss(where) {
  const value = await xssTriggered();
  if (value !== undefined) throw new Error(`${where}: window.__xss = ${value}: data was run as markup`);
  const injected = await page.evaluate(() => {
    const found = document.querySelector('[onerror], [onmouseover], main script, img[src="x"]');
    return found ? found.outerHTML.slice(0, 200) : null;
  });
  if (injected) throw new Error(`${where}: data became an element: ${injected}`);
}

/**
 * Records, in the page, when each trace row first exists in the DOM (MutationObserver, so
 * the time is taken as the node is inserted) and the start of the next animation frame (the
 * frame that paints it). Both in the page's Date.now(), the same clock the senders use.
 */
async function installRowClock() {
  await page.evaluate(() => {
    if (window.__e2eRows) return;
    const rows = { dom: {}, frame: {} };
    window.__e2eRows = rows;
    const check = () => {
      for (const row of document.querySelectorAll('[data-testid=trace-row][data-trace-id]')) {
        const id = row.dataset.traceId;
        if (rows.dom[id]) continue;
        rows.dom[id] = Date.now();
        requestAnimationFrame(() => { rows.frame[id] = Date.now(); });
      }
    };
    new MutationObserver(check).observe(document.documentElement, {
      childList: true, subtree: true, attributes: true, attributeFilter: ['data-trace-id', 'data-testid'],
    });
    check();
  });
}

/** Waits for the row of each trace to have been seen and painted; their times. */
async function waitRows(ids, what) {
  try {
    await page.waitForFunction((want) => want.every((id) => window.__e2eRows && window.__e2eRows.frame[id]), ids, { timeout: WAIT_MS });
  } catch {
    const missing = await page.evaluate((want) => want.filter((id) => !(window.__e2eRows && window.__e2eRows.dom[id])), ids).catch(() => ids);
    throw new Error(`${what}: no [data-testid=trace-row][data-trace-id=…] for ${missing.join(', ')} within ${WAIT_MS} ms, without reload`);
  }
  return page.evaluate((want) => Object.fromEntries(want.map((id) => [id, { dom: window.__e2eRows.dom[id], frame: window.__e2eRows.frame[id] }])), ids);
}

/** The ids of the trace rows, in order. */
function traceRowIds() {
  return page.$$eval('[data-testid=trace-row][data-trace-id]', (rows) => rows.map((r) => r.dataset.traceId));
}

/** Clicks the link of trace `id` in the list, as a person opening it. */
async function openTraceFromList(id) {
  const row = `[data-testid=trace-row][data-trace-id="${id}"]`;
  await expectSelector(row, `the row of trace ${id}`);
  const target = await page.$eval(row, (el, traceId) => {
    if (el.matches('a[href]')) return 'row';
    return el.querySelector(`a[href*="${traceId}"]`) ? 'link' : 'row';
  }, id);
  await page.click(target === 'link' ? `${row} a[href*="${id}"]` : row, { timeout: WAIT_MS });
  try {
    await page.waitForURL((url) => url.pathname === `/traces/${id}`, { timeout: WAIT_MS });
  } catch {
    throw new Error(`clicking ${row} did not open /traces/${id} (now ${page.url()})`);
  }
  await waitReady('trace');
}

/** The waterfall's span rows: id, depth, text, whether marked as an error, selected. */
function spanRows() {
  return page.$$eval('[data-testid=waterfall] [data-testid=span-row][data-span-id]', (rows) => rows.map((row) => ({
    id: row.dataset.spanId,
    depth: row.dataset.depth === undefined ? null : Number(row.dataset.depth),
    text: row.textContent,
    error: Boolean(row.querySelector('.error-mark, [data-status=error]'))
      || row.matches('.error, [data-status=error], [data-error=true], [data-error="1"]'),
    selected: row.matches('.selected, [aria-selected=true]'),
    logMarks: row.querySelectorAll('[data-testid=span-log-mark]').length,
  })));
}

/** Clicks span `spanId` in the waterfall and waits for its detail panel to name it. */
async function openSpanDetail(spanId, name) {
  const row = `[data-testid=span-row][data-span-id="${spanId}"]`;
  await expectSelector(row, `the waterfall row of span ${spanId}`);
  await page.click(row, { timeout: WAIT_MS });
  await expectSelector('[data-testid=span-detail]', `the detail panel after clicking ${row}`);
  try {
    await page.waitForFunction((want) => {
      const panel = document.querySelector('[data-testid=span-detail]');
      return panel && panel.textContent.includes(want);
    }, name, { timeout: WAIT_MS });
  } catch {
    const text = await page.$eval('[data-testid=span-detail]', (el) => el.textContent.slice(0, 300)).catch(() => '');
    throw new Error(`[data-testid=span-detail] does not show the span name ${JSON.stringify(name)} after clicking ${row}; it shows: ${text}`);
  }
}

async function detailText() {
  return page.$eval('[data-testid=span-detail]', (el) => el.textContent);
}

/** Checks the waterfall holds exactly the emitted spans at their depths, errors marked. */
async function checkWaterfall(emitted) {
  await expectSelector('[data-testid=waterfall]', 'the waterfall');
  const want = Object.values(emitted.spans);
  try {
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=waterfall] [data-testid=span-row]').length >= n, want.length, { timeout: WAIT_MS });
  } catch {
    // Reported below with what was there.
  }
  const rows = await spanRows();
  const got = rows.map((r) => `${r.id}@${r.depth}${r.error ? '!' : ''}`).sort();
  const expected = want.map((s) => `${s.id}@${s.depth}${s.error ? '!' : ''}`).sort();
  if (JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(`waterfall rows ([data-testid=span-row] id@data-depth, ! = error mark: .error-mark inside or [data-status=error]) are ${got.join(' ')}; expected ${expected.join(' ')}`);
  }
  for (const span of want) {
    const row = rows.find((r) => r.id === span.id);
    if (!row.text.includes(span.name)) throw new Error(`span row ${span.id} does not show its name ${JSON.stringify(span.name)}: ${row.text.slice(0, 200)}`);
  }
  return rows;
}

// ---- the run ----------------------------------------------------------------------------

let rustLive = null;
let pythonLive = null;
let exitCode = 1;
try {
  // Data before the first page, so every page has something to draw when it opens.
  const warmup = await emitRust('warmup');
  log(`warmup trace ${warmup.traceId}`);
  // What the Rust side records into: its service, the metrics it registered views of.
  const RUST_SERVICE = warmup.service;
  const { line: METRIC_LINE, stat: METRIC_STAT, statValue: STAT_VALUE } = warmup.metrics;

  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: args.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
    colorScheme: 'light',
    timeout: 20000,
  });
  context.setDefaultTimeout(WAIT_MS);
  page = context.pages()[0] || await context.newPage();
  watchPage(page);

  await step('traces-live', async () => {
    await page.goto(`${args.ui}/traces`, { waitUntil: 'load', timeout: WAIT_MS });
    await waitReady('traces');
    await installRowClock();
    // Lost on a reload: proves the rows came in live.
    await page.evaluate(() => { window.__e2eNoReload = true; });
    const [rust, python] = await Promise.all([emitRust('live'), emitPython('live')]);
    rustLive = rust;
    pythonLive = python;
    const seen = await waitRows([rust.traceId, python.traceId], 'the live traces');
    if (!(await page.evaluate(() => window.__e2eNoReload === true))) throw new Error('the page reloaded: the rows must arrive live');
    for (const [who, sent] of [['rust', rust], ['python', python]]) {
      const times = seen[sent.traceId];
      latency[who] = {
        traceId: sent.traceId,
        exportMs: sent.exportMs,
        ...(sent.flushedMs ? { flushedMs: sent.flushedMs } : {}),
        domMs: times.dom,
        frameMs: times.frame,
        exportToDomMs: Math.round(times.dom - sent.exportMs),
        exportToPixelsMs: Math.round(times.frame - sent.exportMs),
      };
    }
    const unlinked = await page.$$eval('[data-testid=trace-row][data-trace-id]', (rows, ids) => ids.filter((id) => {
      const row = rows.find((r) => r.dataset.traceId === id);
      const links = row ? [row.closest('a[href]'), ...row.querySelectorAll('a[href]')] : [];
      return !links.some((a) => a && new URL(a.href).pathname === `/traces/${id}`);
    }), [rust.traceId, python.traceId]);
    if (unlinked.length) throw new Error(`the rows of ${unlinked.join(', ')} hold no link to /traces/<id>`);
    await expectSelector('[data-testid=trace-scatter]', 'the duration scatter plot');
    return { screenshot: await shot('traces.png'), latency };
  });

  await step('traces-pause', async () => {
    if (new URL(page.url()).pathname !== '/traces') {
      await page.goto(`${args.ui}/traces`, { waitUntil: 'load', timeout: WAIT_MS });
      await waitReady('traces');
    }
    await installRowClock();
    await expectSelector('[data-testid=pause]', 'the pause button');
    await page.locator('body').press('p');
    try {
      await page.waitForSelector('[data-testid=pause][aria-pressed=true]', { state: 'attached', timeout: WAIT_MS });
    } catch {
      throw new Error('pressing p did not set [data-testid=pause][aria-pressed=true]');
    }
    const before = await traceRowIds();
    const paused = await emitRust('paused');
    try {
      await page.waitForFunction(() => {
        const el = document.querySelector('[data-testid=paused-count]');
        return el && /[1-9]/.test(el.textContent);
      }, null, { timeout: WAIT_MS });
    } catch {
      const text = await page.$eval('[data-testid=paused-count]', (el) => el.textContent).catch(() => '(absent)');
      throw new Error(`[data-testid=paused-count] did not count the trace that arrived while paused: ${JSON.stringify(text)}`);
    }
    // One more live tick, so a list that ignored the pause would have changed by now.
    await page.waitForTimeout(600);
    const during = await traceRowIds();
    if (during.includes(paused.traceId)) throw new Error(`the paused list shows trace ${paused.traceId}, which arrived while paused`);
    if (JSON.stringify(during) !== JSON.stringify(before)) throw new Error(`the paused list changed: ${before.length} rows before, ${during.length} after`);
    const screenshot = await shot('traces-paused.png');
    await page.locator('body').press('p');
    try {
      await page.waitForSelector('[data-testid=pause][aria-pressed=false]', { state: 'attached', timeout: WAIT_MS });
    } catch {
      throw new Error('pressing p again did not set [data-testid=pause][aria-pressed=false]');
    }
    await waitRows([paused.traceId], 'after resuming');
    return { screenshot };
  });

  await step('traces-filter', async () => {
    if (!pythonLive) throw new Error('no live Python trace (the traces-live step failed before emitting)');
    if (new URL(page.url()).pathname !== '/traces') {
      await page.goto(`${args.ui}/traces`, { waitUntil: 'load', timeout: WAIT_MS });
      await waitReady('traces');
    }
    for (const name of ['service', 'spanName', 'minDuration', 'maxDuration', 'status', 'attr']) {
      await expectSelector(`main#view [name=${name}]`, `the traces filter ${name}`);
    }
    const onlyPython = async (what) => {
      try {
        await page.waitForFunction((id) => {
          const rows = [...document.querySelectorAll('[data-testid=trace-row][data-trace-id]')];
          return rows.length === 1 && rows[0].dataset.traceId === id;
        }, pythonLive.traceId, { timeout: WAIT_MS });
      } catch {
        throw new Error(`${what}: the list should hold only trace ${pythonLive.traceId} of ${PYTHON_SERVICE}, but holds ${(await traceRowIds()).join(', ')}`);
      }
    };
    const field = 'main#view [name=service]';
    if (await page.$eval(field, (el) => el.tagName) === 'SELECT') {
      await page.waitForFunction(([sel, want]) => [...document.querySelector(sel).options].some((o) => o.value === want), [field, PYTHON_SERVICE], { timeout: WAIT_MS })
        .catch(() => { throw new Error(`${field} offers no option ${PYTHON_SERVICE}`); });
      await page.selectOption(field, PYTHON_SERVICE, { timeout: WAIT_MS });
    } else {
      await page.fill(field, PYTHON_SERVICE, { timeout: WAIT_MS });
      await page.press(field, 'Enter');
    }
    await onlyPython(`filtering by service ${PYTHON_SERVICE}`);
    if (new URL(page.url()).searchParams.get('service') !== PYTHON_SERVICE) throw new Error(`the URL does not carry the service filter: ${page.url()}`);
    const screenshot = await shot('traces-filtered.png');
    // The URL is the page state: a reload shows the same filtered list.
    await page.reload({ waitUntil: 'load', timeout: WAIT_MS });
    await waitReady('traces');
    await onlyPython('after a reload of the filtered list');
    // A fresh, unfiltered list for the steps after this one.
    await page.goto(`${args.ui}/traces`, { waitUntil: 'load', timeout: WAIT_MS });
    await waitReady('traces');
    return { screenshot };
  });

  await step('trace-waterfall', async () => {
    if (!rustLive) throw new Error('no live Rust trace (the traces-live step failed before emitting)');
    if (new URL(page.url()).pathname !== '/traces') {
      await page.goto(`${args.ui}/traces`, { waitUntil: 'load', timeout: WAIT_MS });
      await waitReady('traces');
    }
    await openTraceFromList(rustLive.traceId);
    const rows = await checkWaterfall(rustLive);
    const logSpan = rustLive.log.spanId;
    if (!rows.find((r) => r.id === logSpan).logMarks) throw new Error(`the span ${logSpan} holds a log record but its row has no [data-testid=span-log-mark]`);
    const withAttrs = rustLive.spans.child;
    await openSpanDetail(withAttrs.id, withAttrs.name);
    const text = await detailText();
    if (!text.includes(rustLive.log.body)) throw new Error(`[data-testid=span-detail] of ${withAttrs.id} does not list its log record ${JSON.stringify(rustLive.log.body)}`);
    for (const [key, value] of Object.entries(withAttrs.attributes)) {
      if (!text.includes(key) || !text.includes(String(value))) throw new Error(`[data-testid=span-detail] of ${withAttrs.id} lacks the attribute ${key}=${value}`);
    }
    const selected = new URL(page.url()).searchParams.get('span');
    if (selected !== withAttrs.id) throw new Error(`the URL does not carry the selected span: ?span=${selected}, expected ${withAttrs.id}`);
    await expectSelector('[data-testid=trace-search]', 'the search within the trace');
    return { screenshot: await shot('trace.png') };
  });

  await step('trace-link', async () => {
    if (!pythonLive) throw new Error('no live Python trace (the traces-live step failed before emitting)');
    // A pasted link with a selected span reopens the same view.
    const failing = pythonLive.spans.grandchild;
    await page.goto(`${args.ui}/traces/${pythonLive.traceId}?span=${failing.id}`, { waitUntil: 'load', timeout: WAIT_MS });
    await waitReady('trace');
    await checkWaterfall(pythonLive);
    await expectSelector('[data-testid=span-detail]', `the detail panel of span ${failing.id}, selected by ?span=`);
    try {
      await page.waitForFunction((name) => document.querySelector('[data-testid=span-detail]').textContent.includes(name), failing.name, { timeout: WAIT_MS });
    } catch {
      throw new Error(`?span=${failing.id} did not open the detail of ${JSON.stringify(failing.name)} in [data-testid=span-detail]`);
    }
    const selected = (await spanRows()).filter((r) => r.selected).map((r) => r.id);
    if (selected.join() !== failing.id) throw new Error(`the selected span row (.selected or [aria-selected=true]) is ${selected.join(',') || 'none'}, expected ${failing.id}`);
    return { screenshot: await shot('trace-python.png') };
  });

  await step('logs', async () => {
    if (!rustLive) throw new Error('no live Rust trace');
    await clickNav('logs');
    await waitReady('logs');
    const found = await api(`logs?traceId=${rustLive.traceId}`);
    const record = found.logs.find((l) => l.body === rustLive.log.body);
    if (!record) throw new Error(`the API has no log record ${JSON.stringify(rustLive.log.body)} of trace ${rustLive.traceId}`);
    const row = `[data-testid=log-row][data-log-id="${record.id}"]`;
    await expectSelector(row, `the log row of ${JSON.stringify(rustLive.log.body)}`);
    const rowText = await page.$eval(row, (el) => el.textContent);
    if (!rowText.includes(rustLive.log.body)) throw new Error(`${row} does not show the body ${JSON.stringify(rustLive.log.body)}: ${rowText.slice(0, 200)}`);
    await expectSelector('[data-testid=severity-filter]', 'the severity filter');
    await expectSelector('input[name=text][data-search]', 'the text search');
    // A record emitted while the page is open shows up without a reload.
    await page.evaluate(() => { window.__e2eNoReload = true; });
    const later = await emitRust('logs-live');
    const laterRecord = (await api(`logs?traceId=${later.traceId}`)).logs.find((l) => l.body === later.log.body);
    if (!laterRecord) throw new Error(`the API has no log record ${JSON.stringify(later.log.body)}`);
    await expectSelector(`[data-testid=log-row][data-log-id="${laterRecord.id}"]`, `the live log row of ${JSON.stringify(later.log.body)}`);
    if (!(await page.evaluate(() => window.__e2eNoReload === true))) throw new Error('the logs page reloaded: rows must arrive live');
    const screenshot = await shot('logs.png');
    const link = `${row} a[data-testid=log-trace-link]`;
    await expectSelector(link, 'the trace link of the log row');
    const href = await page.$eval(link, (a) => { const u = new URL(a.href); return u.pathname + u.search; });
    const want = `/traces/${rustLive.traceId}?span=${rustLive.log.spanId}`;
    if (href !== want) throw new Error(`${link} goes to ${href}, expected ${want}`);
    await page.click(link, { timeout: WAIT_MS });
    try {
      await page.waitForURL((url) => url.pathname === `/traces/${rustLive.traceId}` && url.searchParams.get('span') === rustLive.log.spanId, { timeout: WAIT_MS });
    } catch {
      throw new Error(`clicking ${link} did not open ${want} (now ${page.url()})`);
    }
    await waitReady('trace');
    const logSpan = Object.values(rustLive.spans).find((s) => s.id === rustLive.log.spanId);
    await expectSelector('[data-testid=span-detail]', `the detail panel of span ${logSpan.id} (opened from the log's link)`);
    try {
      await page.waitForFunction((name) => document.querySelector('[data-testid=span-detail]').textContent.includes(name), logSpan.name, { timeout: WAIT_MS });
    } catch {
      throw new Error(`the trace page opened from the log does not show span ${logSpan.id} (${logSpan.name}) in [data-testid=span-detail]`);
    }
    const rows = await spanRows();
    const selected = rows.filter((r) => r.selected).map((r) => r.id);
    if (selected.length !== 1 || selected[0] !== logSpan.id) {
      throw new Error(`the selected span row (.selected or [aria-selected=true]) is ${selected.join(',') || 'none'}, expected ${logSpan.id}`);
    }
    return { screenshot };
  });

  await step('metrics', async () => {
    await clickNav('metrics');
    await waitReady('metrics');
    const item = `[data-testid=metric-item][data-metric="${METRIC_LINE}"]`;
    await expectSelector(item, `the metric ${METRIC_LINE} in the list`);
    const clickable = await page.$eval(item, (el) => (el.matches('a[href], button') || !el.querySelector('a[href], button') ? 'item' : 'inner'));
    await page.click(clickable === 'item' ? item : `${item} a[href], ${item} button`, { timeout: WAIT_MS });
    try {
      await page.waitForURL((url) => decodeURIComponent(url.pathname) === `/metrics/${METRIC_LINE}`, { timeout: WAIT_MS });
    } catch {
      throw new Error(`clicking ${item} did not open /metrics/${METRIC_LINE} (now ${page.url()})`);
    }
    await waitReady('metrics');
    const paths = '[data-testid=metric-chart] path[data-series-id]';
    await expectSelector(paths, `the series of ${METRIC_LINE}`);
    // Two attribute sets were recorded: one series (path) each, points on each.
    try {
      await page.waitForFunction((sel) => [...document.querySelectorAll(sel)].filter((p) => /\d/.test(p.getAttribute('d') || '')).length >= 2, paths, { timeout: WAIT_MS });
    } catch {
      const d = await page.$$eval(paths, (ps) => ps.map((p) => `${p.dataset.seriesId}: ${(p.getAttribute('d') || '').slice(0, 60)}`));
      throw new Error(`${paths}: expected a drawn path for each of the 2 attribute sets of ${METRIC_LINE}, found ${JSON.stringify(d)}`);
    }
    const box = await page.$eval('[data-testid=metric-chart]', (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; });
    if (!(box[0] > 50 && box[1] > 50)) throw new Error(`[data-testid=metric-chart] is ${box[0]}x${box[1]} px`);
    const legend = await page.$$('[data-testid=legend-item]');
    if (legend.length < 2) throw new Error(`${legend.length} [data-testid=legend-item] for 2 series`);
    const pathExtent = await page.$$eval(paths, (ps) => ps.map((p) => { const r = p.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height), (p.getAttribute('d') || '').slice(0, 80)]; }));
    return { screenshot: await shot('metrics.png'), pathExtent };
  });

  await step('overview', async () => {
    await clickNav('overview');
    await waitReady('overview');
    const line = `[data-testid=view][data-metric="${METRIC_LINE}"][data-chart=line]`;
    await expectSelector(`${line} svg`, `the registered line view of ${METRIC_LINE}`);
    try {
      await page.waitForFunction((sel) => [...document.querySelectorAll(`${sel} svg path`)].some((p) => /\d/.test(p.getAttribute('d') || '')), line, { timeout: WAIT_MS });
    } catch {
      throw new Error(`${line} svg has no drawn path`);
    }
    const stat = `[data-testid=view][data-metric="${METRIC_STAT}"][data-chart=stat] .stat-value`;
    await expectSelector(stat, `the registered stat view of ${METRIC_STAT}`);
    try {
      await page.waitForFunction(([sel, want]) => document.querySelector(sel).textContent.includes(want), [stat, String(STAT_VALUE)], { timeout: WAIT_MS });
    } catch {
      const text = await page.$eval(stat, (el) => el.textContent).catch(() => '');
      throw new Error(`${stat} shows ${JSON.stringify(text)}, not the last value ${STAT_VALUE}`);
    }
    for (const service of [RUST_SERVICE, PYTHON_SERVICE]) {
      await expectSelector(`[data-testid=service-tile][data-service="${service}"]`, `the tile of service ${service}`);
    }
    for (const hook of ['store-usage', 'ingest', 'endpoints']) {
      await expectSelector(`[data-testid=${hook}]`, `the overview's ${hook}`);
    }
    const otlpPort = new URL(args.otlp).port;
    try {
      await page.waitForFunction((port) => document.querySelector('[data-testid=endpoints]').textContent.includes(port), otlpPort, { timeout: WAIT_MS });
    } catch {
      throw new Error(`[data-testid=endpoints] does not show the OTLP/HTTP port ${otlpPort}`);
    }
    const lineExtent = await page.$$eval(`${line} svg path`, (ps) => ps.map((p) => { const r = p.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height), (p.getAttribute('d') || '').slice(0, 80)]; }));
    const screenshot = await shot('overview.png');
    // The dark theme, through the shell's shortcut.
    await page.locator('body').press('d');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark', null, { timeout: WAIT_MS });
    await page.waitForTimeout(300);
    const dark = await shot('overview-dark.png');
    const darkBackground = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.locator('body').press('d');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'light', null, { timeout: WAIT_MS });
    const lightBackground = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    if (darkBackground === lightBackground) throw new Error(`the page background is ${lightBackground} in both themes`);
    return { screenshot, dark, lineExtent };
  });

  await step('xss', async () => {
    await clickNav('traces');
    await waitReady('traces');
    await installRowClock();
    const sent = await emitRust('xss', 'xss');
    await waitRows([sent.traceId], 'the trace with markup in its names');
    const row = `[data-testid=trace-row][data-trace-id="${sent.traceId}"]`;
    const rowText = await page.$eval(row, (el) => el.textContent);
    const XSS = { spanName: sent.spans.root.name, attributeValue: sent.spans.root.attributes['xss.payload'], logBody: sent.log.body };
    if (!rowText.includes(XSS.spanName)) throw new Error(`${row} does not show the root name as text ${JSON.stringify(XSS.spanName)}: ${rowText.slice(0, 200)}`);
    await expectNoXss('the trace list');
    await openTraceFromList(sent.traceId);
    await checkWaterfall(sent);
    await expectNoXss('the waterfall');
    await openSpanDetail(sent.spans.root.id, XSS.spanName);
    const text = await detailText();
    if (!text.includes(XSS.attributeValue)) throw new Error(`[data-testid=span-detail] does not show the attribute value as text ${JSON.stringify(XSS.attributeValue)}`);
    await expectNoXss('the span detail');
    await shot('xss-trace.png');
    await clickNav('logs');
    await waitReady('logs');
    const found = await api(`logs?traceId=${sent.traceId}`);
    const record = found.logs.find((l) => l.body === XSS.logBody);
    if (!record) throw new Error(`the API has no log record ${JSON.stringify(XSS.logBody)}`);
    const logRow = `[data-testid=log-row][data-log-id="${record.id}"]`;
    await expectSelector(logRow, 'the log row with markup in its body');
    const logText = await page.$eval(logRow, (el) => el.textContent);
    if (!logText.includes(XSS.logBody)) throw new Error(`${logRow} does not show the body as text ${JSON.stringify(XSS.logBody)}: ${logText.slice(0, 200)}`);
    await page.hover(logRow, { timeout: WAIT_MS });
    await expectNoXss('the logs');
    return { screenshot: await shot('xss-logs.png') };
  });

  await step('no-console-errors', async () => {
    if (problems.length) {
      throw new Error(`${problems.length} console errors, page errors or failed requests: ${problems.map((p) => `${p.kind} ${p.text} (on ${p.page})`).join(' | ')}`);
    }
  });

  exitCode = steps.every((s) => s.ok) ? 0 : 1;
} catch (error) {
  steps.push({ name: 'setup', ok: false, error: error.stack || error.message });
  log(`setup failed: ${error.stack || error.message}`);
  exitCode = 1;
} finally {
  if (Object.keys(latency).length) {
    await writeFile(join(args.out, 'latency.json'), `${JSON.stringify(latency, null, 2)}\n`);
  }
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  clearTimeout(overall);
  stdinLines.close();
  // Nothing more to ask: an open stdin must not keep node alive.
  process.stdin.destroy();
}

const report = { ok: exitCode === 0, steps, problems, latency };
await writeFile(join(args.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`).catch(() => {});
process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
process.exitCode = exitCode;
