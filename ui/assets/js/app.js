// The shell: History-API router on real /ui/ paths, nav, DC switcher, banner.

import { get, request, watch, onUnreachable, HTTPError } from './api.js';
import { esc, refreshTimes } from './util.js';
import * as services from './services.js';
import * as nodes from './nodes.js';
import * as kv from './kv.js';
import * as federation from './federation.js';

const pages = { services, nodes, kv, federation };
const main = document.getElementById('main');
const switcher = document.getElementById('dc-switcher');
const banner = document.getElementById('banner');

let localDC = '';
let self = null;
let dcs = [];
let fedByDC = null; // null: federation data unavailable
let route = null;
let viewAbort = null;

onUnreachable((down) => {
  banner.hidden = !down;
});

/** parse splits a /ui/ path into {dc, section, rest}. rest keeps a trailing slash. */
function parse(pathname) {
  if (!pathname.startsWith('/ui/')) return null;
  const tail = pathname.slice(4);
  if (!tail) return null;
  const i = tail.indexOf('/');
  let dc;
  try {
    dc = decodeURIComponent(i < 0 ? tail : tail.slice(0, i));
  } catch {
    return null; // a malformed escape: treat as an unknown path
  }
  const after = i < 0 ? '' : tail.slice(i + 1);
  const j = after.indexOf('/');
  const section = j < 0 ? after : after.slice(0, j);
  const rawRest = j < 0 ? '' : after.slice(j + 1);
  let rest = rawRest;
  try {
    rest = rawRest.split('/').map(decodeURIComponent).join('/');
  } catch {
    /* keep raw */
  }
  return { dc, section: section || 'services', rest };
}

/** navigate goes to a /ui/ path without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function setTitle(text) {
  document.title = text ? `${text} · Consulate` : 'Consulate';
}

function updateShell() {
  for (const a of document.querySelectorAll('nav a[data-section]')) {
    const s = a.dataset.section;
    a.href = `/ui/${encodeURIComponent(route.dc)}/${s}${s === 'kv' ? '/' : ''}`;
    if (s === route.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.querySelector('.brand').href = `/ui/${encodeURIComponent(route.dc)}/services`;
  renderSwitcher();
}

function dcLabel(name) {
  if (!fedByDC) return name;
  const d = fedByDC[name];
  if (!d) return name;
  if (d.Unreachable || !d.HasLeader || !d.Alive) return `${name} — unreachable`;
  const total = (d.Alive || 0) + (d.Suspect || 0) + (d.Failed || 0);
  return `${name} — ${d.Alive}/${total} servers`;
}

function renderSwitcher() {
  const list = dcs.length ? dcs.slice() : [localDC].filter(Boolean);
  if (route && route.dc && !list.includes(route.dc)) list.push(route.dc);
  const html = list
    .map((d) => `<option value="${esc(d)}"${route && d === route.dc ? ' selected' : ''}>${esc(dcLabel(d))}${d === localDC ? ' (local)' : ''}</option>`)
    .join('');
  if (switcher.innerHTML !== html) switcher.innerHTML = html;
  if (route) switcher.value = route.dc;
}

switcher.addEventListener('change', () => {
  const dc = switcher.value;
  if (!route || dc === route.dc) return;
  let rest = '';
  if (route.section === 'services' && route.rest) rest = '/' + encodeURIComponent(route.rest);
  if (route.section === 'kv') rest = '/' + route.rest.split('/').map(encodeURIComponent).join('/');
  // A node rarely exists in another DC: go to the nodes list there.
  navigate(`/ui/${encodeURIComponent(dc)}/${route.section}${rest}`);
});

// Links to /ui/ paths go through the router; modified clicks open normally.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || !u.pathname.startsWith('/ui/')) return;
  e.preventDefault();
  navigate(u.pathname + u.search);
});

window.addEventListener('popstate', render);

function render() {
  const r = parse(location.pathname);
  if (!r) {
    history.replaceState(null, '', `/ui/${encodeURIComponent(localDC)}/services`);
    return render();
  }
  if (!pages[r.section]) {
    history.replaceState(null, '', `/ui/${encodeURIComponent(r.dc)}/services`);
    return render();
  }
  if (viewAbort) viewAbort.abort();
  viewAbort = new AbortController();
  const prev = route;
  route = r;
  updateShell();
  const ctx = {
    dc: r.dc,
    rest: r.rest,
    query: new URLSearchParams(location.search),
    main,
    signal: viewAbort.signal,
    localDC,
    self,
    navigate,
    setTitle,
    base: `/ui/${encodeURIComponent(r.dc)}`,
  };
  main.setAttribute('aria-busy', 'true');
  pages[r.section].render(ctx);
  main.removeAttribute('aria-busy');
  // Move focus to the new content on navigation (not on first load).
  if (prev) main.focus({ preventScroll: true });
}

async function boot() {
  for (;;) {
    try {
      self = await get('/v1/agent/self');
      break;
    } catch (err) {
      main.innerHTML = `<p class="muted">Waiting for the agent… (${esc(err.message)})</p>`;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  localDC = (self.Config && self.Config.Datacenter) || 'dc1';
  try {
    dcs = (await get('/v1/catalog/datacenters')) || [];
  } catch {
    dcs = [localDC];
  }
  render();
  // DC statuses for the switcher: the federation view, when the agent has it.
  const shellAbort = new AbortController();
  watch(
    '/v1/internal/ui/federation',
    (data) => {
      fedByDC = {};
      for (const d of (data && data.Datacenters) || []) fedByDC[d.Datacenter] = d;
      const names = ((data && data.Datacenters) || []).map((d) => d.Datacenter);
      if (names.length) dcs = names.concat(dcs.filter((d) => !names.includes(d)));
      renderSwitcher();
    },
    shellAbort.signal,
    {
      onError: (err) => {
        if (err instanceof HTTPError) {
          fedByDC = null;
          renderSwitcher();
        }
      },
    },
  );
  // The clock: relative times, and a liveness probe of the agent itself so the
  // banner shows even while every view is parked in a blocking query.
  setInterval(() => {
    refreshTimes(main);
    if (document.visibilityState === 'visible') {
      request('/v1/agent/self', { signal: AbortSignal.timeout(5000) }).catch(() => {});
    }
  }, 10000);
}

boot();

