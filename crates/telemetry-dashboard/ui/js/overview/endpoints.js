// Where to send data: the OTLP receiver addresses and environment snippets for any
// OpenTelemetry SDK, with a copy button.

import { h, replace, errorBox } from '../dom.js';

const KEY_PLACEHOLDER = '<your-api-key>';

/** The environment variables that point an SDK at this dashboard over `protocol`. */
export function envSnippet(about, protocol) {
  const grpc = protocol === 'grpc';
  const lines = [
    `OTEL_EXPORTER_OTLP_ENDPOINT=${grpc ? about.otlpGrpc : about.otlpHttp}`,
    `OTEL_EXPORTER_OTLP_PROTOCOL=${grpc ? 'grpc' : 'http/protobuf'}`,
  ];
  if (about.apiKeyRequired) lines.push(`OTEL_EXPORTER_OTLP_HEADERS=${about.apiKeyHeader || 'x-otlp-api-key'}=${KEY_PLACEHOLDER}`);
  return lines.join('\n');
}

async function copyText(text, button) {
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => { button.textContent = 'copy'; }, 1500);
  };
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    done('copied');
  } catch {
    // Without clipboard access (plain http on a non-loopback address), select the text so
    // the user can copy it with the keyboard.
    const pre = button.closest('.snippet').querySelector('pre');
    const range = document.createRange();
    range.selectNodeContents(pre);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    done('press Ctrl+C');
  }
}

function snippet(title, text, testid) {
  const button = h('button', { type: 'button', class: 'copy', 'data-testid': 'copy' }, 'copy');
  button.addEventListener('click', () => copyText(text, button));
  return h('div', { class: 'snippet', 'data-testid': testid },
    h('div', { class: 'snippet-head' }, h('span', null, title), button),
    h('pre', null, text));
}

/** The endpoints card; fills itself once `about` answers. */
export function endpointsCard(aboutPromise) {
  const body = h('div', { class: 'endpoints-body' }, h('p', { class: 'muted' }, 'Loading addresses…'));
  const el = h('section', { class: 'card endpoints-card', 'data-testid': 'endpoints', id: 'endpoints' },
    h('h2', null, 'Send data here'), body);
  aboutPromise.then((about) => {
    replace(body,
      h('table', { class: 'kv' }, h('tbody', null,
        h('tr', null, h('th', { scope: 'row' }, 'OTLP/HTTP'), h('td', { 'data-testid': 'otlp-http' }, about.otlpHttp)),
        h('tr', null, h('th', { scope: 'row' }, 'OTLP/gRPC'), h('td', { 'data-testid': 'otlp-grpc' }, about.otlpGrpc)),
        about.apiKeyRequired
          ? h('tr', null, h('th', { scope: 'row' }, 'API key'), h('td', null, `required, in the ${about.apiKeyHeader} header`))
          : null)),
      h('div', { class: 'snippets' },
        snippet('HTTP/protobuf', envSnippet(about, 'http'), 'env-http'),
        snippet('gRPC', envSnippet(about, 'grpc'), 'env-grpc')),
      about.apiKeyRequired
        ? h('p', { class: 'muted' }, `Replace ${KEY_PLACEHOLDER} with the key the dashboard was started with.`)
        : null);
  }, (e) => {
    if (e && e.name === 'AbortError') return;
    replace(body, errorBox(`The server's addresses could not be read: ${e.message}`));
  });
  return el;
}
