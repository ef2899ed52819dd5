// The span tree of one trace, built once per fetch in O(n log n): one sort by start time,
// then a hash map from span id to node. Traces of 10,000 spans (the store's cap) must open
// in well under a second, so nothing here is quadratic.

/**
 * @typedef {object} SpanNode
 * @property {object} span     the API's span
 * @property {string} id       span id
 * @property {SpanNode|null} parent
 * @property {SpanNode[]} children  ordered by start time
 * @property {number} depth
 * @property {boolean} orphan  its parent id is set but that span is not in the trace
 * @property {number} descendants  spans below it
 * @property {number} offsetMs start − trace start
 * @property {number} order    position in the full pre-order (tree order, nothing collapsed)
 * @property {object[]} logs   the trace's log records with this span id, oldest first
 */

function startOf(span) {
  return Number.isFinite(span.startMs) ? span.startMs : 0;
}

/** The tree model of a /api/traces/{id} answer. */
export function buildModel(trace) {
  const spans = (trace.spans || []).slice();
  // Stable sort: equal starts keep the API's order.
  spans.sort((a, b) => startOf(a) - startOf(b));
  const byId = new Map();
  const nodes = [];
  let t0 = Infinity;
  let t1 = -Infinity;
  let duplicates = 0;
  for (const span of spans) {
    // A repeated span id (a sender that retried, or broken ids): the first one wins, since
    // children name their parent by id; the page says how many were left out.
    if (byId.has(span.spanId)) { duplicates += 1; continue; }
    const node = {
      span, id: span.spanId, parent: null, children: [], depth: 0, orphan: false,
      descendants: 0, offsetMs: 0, order: 0, logs: [], haystack: null,
    };
    byId.set(span.spanId, node);
    nodes.push(node);
    t0 = Math.min(t0, startOf(span));
    t1 = Math.max(t1, startOf(span) + Math.max(0, span.durationMs || 0));
  }
  if (!Number.isFinite(t0)) { t0 = 0; t1 = 0; }
  const roots = [];
  for (const node of nodes) {
    node.offsetMs = startOf(node.span) - t0;
    const pid = node.span.parentSpanId;
    const parent = pid ? byId.get(pid) : undefined;
    if (parent && parent !== node) {
      node.parent = parent;
      parent.children.push(node); // nodes are in start order, so children are too
    } else {
      node.orphan = Boolean(pid);
      roots.push(node);
    }
  }
  // Pre-order walk from the roots. Spans caught in a parent cycle are never reached: they
  // are cut from their parent and shown at the top level as orphans.
  const preorder = [];
  const visited = new Set();
  const walk = (start) => {
    const stack = [start];
    start.depth = 0;
    while (stack.length) {
      const node = stack.pop();
      visited.add(node);
      node.order = preorder.length;
      preorder.push(node);
      for (let i = node.children.length - 1; i >= 0; i -= 1) {
        const child = node.children[i];
        if (visited.has(child)) continue;
        child.depth = node.depth + 1;
        stack.push(child);
      }
    }
  };
  for (const root of roots) walk(root);
  if (preorder.length < nodes.length) {
    for (const node of nodes) {
      if (visited.has(node)) continue;
      if (node.parent) node.parent.children = node.parent.children.filter((c) => c !== node);
      node.parent = null;
      node.orphan = true;
      roots.push(node);
      walk(node);
    }
    roots.sort((a, b) => startOf(a.span) - startOf(b.span));
    preorder.length = 0;
    visited.clear();
    for (const root of roots) walk(root);
  }
  // Descendant counts, children before parents (reverse pre-order).
  for (let i = preorder.length - 1; i >= 0; i -= 1) {
    const node = preorder[i];
    if (node.parent) node.parent.descendants += node.descendants + 1;
  }
  for (const log of trace.logs || []) {
    const node = log.spanId ? byId.get(log.spanId) : undefined;
    if (node) node.logs.push(log);
  }
  return { trace, nodes: preorder, roots, byId, t0, totalMs: Math.max(0, t1 - t0), duplicates };
}

/** The rows shown: the pre-order walk, skipping below collapsed spans. O(n). */
export function visibleRows(model, collapsed) {
  const rows = [];
  const stack = [];
  for (let i = model.roots.length - 1; i >= 0; i -= 1) stack.push(model.roots[i]);
  while (stack.length) {
    const node = stack.pop();
    rows.push(node);
    if (collapsed.has(node.id)) continue;
    for (let i = node.children.length - 1; i >= 0; i -= 1) stack.push(node.children[i]);
  }
  return rows;
}

function haystackOf(node) {
  if (node.haystack === null) {
    const s = node.span;
    const parts = [s.name, s.service, s.spanId, s.status && s.status.message];
    const addAttributes = (attributes) => {
      for (const [k, v] of Object.entries(attributes || {})) parts.push(k, typeof v === 'string' ? v : JSON.stringify(v));
    };
    addAttributes(s.attributes);
    // Events hold the exception messages and the like a search is often after.
    for (const ev of s.events || []) {
      parts.push(ev.name);
      addAttributes(ev.attributes);
    }
    node.haystack = parts.join('\n').toLowerCase();
  }
  return node.haystack;
}

/** The spans matching a search text (name, service, span id, status message, attribute keys
 *  and values, event names and attributes), in tree order. */
export function searchSpans(model, text) {
  const needle = text.trim().toLowerCase();
  if (!needle) return [];
  return model.nodes.filter((node) => haystackOf(node).includes(needle));
}
