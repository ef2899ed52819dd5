// The JSON API (docs/dashboard-api.md) as promises.

/** An API answer that was not 2xx: `status` and the server's `error` text. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A query string from an object; `undefined`, `null` and `''` are left out, arrays repeat. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else q.append(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

async function answer(response) {
  const type = response.headers.get('content-type') || '';
  // A body that is not JSON after all reads as null; an abort while reading it must stay an
  // AbortError, or callers would take the null for an answer.
  const body = type.includes('json')
    ? await response.json().catch((e) => { if (e.name === 'AbortError') throw e; return null; })
    : await response.text();
  if (!response.ok) {
    const message = body && typeof body === 'object' && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

/** `GET /api/<path>?<params>`, the parsed JSON. Pass an AbortSignal to cancel. */
export async function getJSON(path, params, signal) {
  const response = await fetch(`/api/${path}${query(params)}`, { signal, credentials: 'same-origin' });
  return answer(response);
}

/** `POST /api/<path>` with a JSON body, the parsed JSON answer. */
export async function postJSON(path, body) {
  const response = await fetch(`/api/${path}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return answer(response);
}
