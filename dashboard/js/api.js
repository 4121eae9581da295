// The REST API and event stream client. The token lives in sessionStorage only; every request
// carries it as a bearer token, and a 401 sends the operator back to the login page.

const KEY = 'switchboard.api_token';
let onUnauthorized = () => {};

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** Called (with a message) when the server refuses the token or there is none. */
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

/** A failed API call: HTTP status plus the API's `{error: {code, message, field}}`. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

function authHeaders() {
  const t = token.get();
  if (!t) {
    onUnauthorized('Log in first.');
    throw new ApiError(401, 'no_token', 'not logged in');
  }
  return { Authorization: `Bearer ${t}` };
}

/** `method` `/api/v1{path}`; `body` is sent as JSON, or as text when it is a string. */
export async function api(method, path, body) {
  const headers = authHeaders();
  let payload;
  if (typeof body === 'string') {
    headers['Content-Type'] = 'text/plain; charset=utf-8';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const r = await fetch(`/api/v1${path}`, { method, headers, body: payload, cache: 'no-store' });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (r.status === 401) {
    token.clear();
    onUnauthorized('The server refused the token; log in again.');
  }
  if (!r.ok) {
    const e = (json && json.error) || {};
    throw new ApiError(r.status, e.code || 'http_error', e.message || text || r.statusText, e.field);
  }
  return json;
}

/** Splits SSE text into messages; returns the unparsed rest. */
export function parseSse(buffer, onMessage) {
  const text = buffer.replace(/\r\n?/g, '\n');
  const blocks = text.split('\n\n');
  const rest = blocks.pop();
  for (const block of blocks) {
    const msg = { id: null, event: 'message', data: [] };
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') msg.id = value;
      else if (field === 'event') msg.event = value;
      else if (field === 'data') msg.data.push(value);
    }
    onMessage(msg);
  }
  return rest;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads `/api/v1/events` with fetch (EventSource cannot send the token) and reconnects with
 * `Last-Event-ID` set to the last id seen, so no event is lost across a reconnect.
 * Options: `query` (type, call_uuid), `after` (first connect only), `onEvent(type, envelope, id)`,
 * `onStatus(state, detail)` with state `connecting` | `live` | `reconnecting` | `error`.
 */
export function eventStream({ query = {}, after = null, onEvent, onStatus = () => {} }) {
  const state = { lastId: null, lastSeq: null, stopped: false, controller: null };
  const connect = async () => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
    const headers = { ...authHeaders(), Accept: 'text/event-stream' };
    if (state.lastId) headers['Last-Event-ID'] = state.lastId;
    else if (state.lastSeq !== null) params.set('after', String(state.lastSeq));
    else if (after !== null) params.set('after', String(after));
    state.controller = new AbortController();
    const r = await fetch(`/api/v1/events?${params}`, {
      headers, signal: state.controller.signal, cache: 'no-store',
    });
    if (r.status === 401) {
      token.clear();
      onUnauthorized('The server refused the token; log in again.');
      state.stopped = true;
      return;
    }
    if (r.status === 400 && state.lastId) {
      // The id is not one of this node's (restarted server): resume by sequence number instead.
      state.lastId = null;
      throw new Error('Last-Event-ID refused; resuming by sequence number');
    }
    if (!r.ok) throw new Error(`event stream: HTTP ${r.status}`);
    state.live = true;
    onStatus('live');
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseSse(buffer + value, deliver);
    }
    throw new Error('event stream closed by the server');
  };
  const deliver = (msg) => {
    if (msg.id !== null) state.lastId = msg.id;
    if (msg.data.length === 0) return;
    let envelope;
    try { envelope = JSON.parse(msg.data.join('\n')); } catch { envelope = { raw: msg.data.join('\n') }; }
    if (typeof envelope.seq === 'number') state.lastSeq = envelope.seq;
    onEvent(msg.event, envelope, msg.id);
  };
  (async () => {
    let delay = 500;
    onStatus('connecting');
    while (!state.stopped) {
      try {
        await connect();
      } catch (e) {
        if (state.stopped) break;
        onStatus('reconnecting', e.message);
      }
      if (state.stopped) break;
      if (state.live) { delay = 500; state.live = false; }
      await sleep(delay);
      delay = Math.min(delay * 2, 8000);
    }
  })();
  return {
    close() { state.stopped = true; if (state.controller) state.controller.abort(); },
    /** Drops the connection; the stream reconnects and resumes after the last id seen. */
    reconnect() { if (state.controller) state.controller.abort(); },
    get lastId() { return state.lastId; },
  };
}
