// The REST API under /v1 (docs/openapi.yaml), as the UI calls it.
//
// The token lives in sessionStorage only: it goes with every request as a bearer header,
// never in a URL or a cookie, and is gone when the tab closes. A 401 forgets it and shows
// the login page.

const kTokenKey = 'kiln.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onSignedOut = () => {};

export function token() {
  return sessionStorage.getItem(kTokenKey);
}

export function setToken(secret) {
  if (secret) sessionStorage.setItem(kTokenKey, secret);
  else sessionStorage.removeItem(kTokenKey);
}

// Called with the reason when the server refuses the token.
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

function headers(extra) {
  const out = { ...extra };
  const secret = token();
  if (secret) out.Authorization = `Bearer ${secret}`;
  return out;
}

async function failure(response) {
  let code = `HTTP_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code;
      message = body.error.message;
    }
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) {
    setToken(null);
    onSignedOut(message);
  }
  return new ApiError(response.status, code, message);
}

// fetch() of an API path with the token; the Response when it is 2xx, else an ApiError.
export async function request(path, { method = 'GET', body, signal, accept } = {}) {
  const init = { method, signal, headers: headers(accept ? { Accept: accept } : {}) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response;
}

export async function getJson(path, options) {
  const response = await request(path, options);
  return response.json();
}

export async function postJson(path, body, options = {}) {
  const response = await request(path, { ...options, method: 'POST', body });
  return response.json();
}

export async function patchJson(path, body, options = {}) {
  const response = await request(path, { ...options, method: 'PATCH', body });
  return response.json();
}

export async function deleteJson(path, options = {}) {
  const response = await request(path, { ...options, method: 'DELETE' });
  return response.json();
}

// A query string from an object; arrays repeat their key, empty values are left out.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.append(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const runPath = (id, rest = '') => `/v1/runs/${encodeURIComponent(id)}${rest}`;

// The artifact's path under the run, each segment encoded.
export const artifactPath = (id, name) =>
  runPath(id, `/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`);

// Events handled between yields to the page, so that a burst (a long log read from its
// start) never holds the main thread for long.
const kEventsPerSlice = 1000;

// Reads a Server-Sent Events stream with fetch (EventSource cannot send the token):
// onEvent(name, data, id) for each event, until the stream ends or `signal` aborts. Resolves
// when the server closed the stream.
export async function readEvents(path, onEvent, signal) {
  const response = await request(path, { signal, accept: 'text/event-stream' });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let handled = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let start = 0;
    let end;
    while ((end = buffer.indexOf('\n\n', start)) >= 0) {
      const block = buffer.slice(start, end);
      start = end + 2;
      if (++handled % kEventsPerSlice === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (signal && signal.aborted) return;
      }
      let name = 'message';
      let id = null;
      let data = null;
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(line[colon + 1] === ' ' ? colon + 2 : colon + 1);
        if (field === 'event') name = value;
        else if (field === 'data') data = data === null ? value : `${data}\n${value}`;
        else if (field === 'id') id = value;
      }
      if (data !== null) onEvent(name, JSON.parse(data), id);
    }
    buffer = buffer.slice(start);
  }
}

// Saves a response body as a file the browser downloads.
export async function download(path, filename) {
  const response = await request(path);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
