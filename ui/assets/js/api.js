// Fetch helpers for the agent's HTTP API and the blocking-query loop.

let unreachableHandler = () => {};

/** onUnreachable registers fn(bool) called when the agent stops or starts answering. */
export function onUnreachable(fn) {
  unreachableHandler = fn;
}

/** HTTPError is an answer from the agent with a non-2xx status. */
export class HTTPError extends Error {
  constructor(status, body) {
    super(`${status}: ${body || 'request failed'}`);
    this.status = status;
    this.body = body;
  }
}

/** NetworkError means the agent did not answer at all. */
export class NetworkError extends Error {}

function token() {
  try {
    return localStorage.getItem('consulate:token') || '';
  } catch {
    return '';
  }
}

/** url adds query parameters (null/undefined skipped, true as a bare flag). */
export function url(path, params = {}) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === false) continue;
    parts.push(v === true ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  if (!parts.length) return path;
  return path + (path.includes('?') ? '&' : '?') + parts.join('&');
}

/**
 * request performs one API call and returns {data, index, status}. A 404 on
 * a read gives data null when allow404 is set. Network errors raise the
 * agent-unreachable banner.
 */
export async function request(path, { method = 'GET', body, signal, allow404 = false } = {}) {
  const headers = {};
  const t = token();
  if (t) headers['X-Consul-Token'] = t;
  let res;
  try {
    res = await fetch(path, { method, body, signal, headers, cache: 'no-store' });
  } catch (err) {
    const timedOut = signal && signal.aborted && signal.reason && signal.reason.name === 'TimeoutError';
    if (signal && signal.aborted && !timedOut) throw err;
    unreachableHandler(true);
    throw new NetworkError(String(err && err.message ? err.message : err));
  }
  // A gateway in front of the agent answering 502/504 means the same thing.
  if (res.status === 502 || res.status === 504) {
    unreachableHandler(true);
    throw new NetworkError(`gateway answered ${res.status}`);
  }
  unreachableHandler(false);
  const index = Number(res.headers.get('X-Consul-Index')) || 0;
  const text = await res.text();
  if (res.status === 404 && allow404) return { data: null, index, status: 404 };
  if (!res.ok) throw new HTTPError(res.status, text.trim());
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  return { data, index, status: res.status };
}

/** get reads a path and returns its JSON body. */
export async function get(path, opts) {
  return (await request(path, opts)).data;
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

/**
 * watch runs a blocking query on path until signal aborts: every answer
 * whose X-Consul-Index moved is handed to onData(data, index); the next
 * request waits on that index. Errors go to onError(err) and are retried
 * with backoff from 1 s up to 10 s.
 */
export async function watch(path, onData, signal, { onError = () => {}, allow404 = false, wait = '5m' } = {}) {
  let index = 0;
  let first = true;
  let backoff = 1000;
  while (!signal.aborted) {
    const started = Date.now();
    try {
      const r = await request(url(path, index ? { index, wait } : {}), { signal, allow404 });
      if (signal.aborted) return;
      backoff = 1000;
      const moved = first || r.index !== index || r.index === 0;
      // An index that goes backwards (a snapshot restore) restarts the loop.
      index = r.index > 0 && r.index >= index ? r.index : 0;
      first = false;
      if (moved) onData(r.data, r.index);
      // Endpoints without an index would spin; pace them.
      if (!r.index || Date.now() - started < 50) await sleep(r.index ? 250 : 5000, signal);
    } catch (err) {
      if (signal.aborted) return;
      onError(err);
      // After a network error, ask again without blocking: a blocking
      // retry on the old index would get no answer (so the banner would
      // stay up) until the data changes or the wait ends.
      if (err instanceof NetworkError) {
        index = 0;
        first = true;
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 10000);
    }
  }
}
