// Services list and service page.

import { watch, url, HTTPError } from './api.js';
import { esc, enc, tagList, dl, checksList, worst } from './util.js';

/** render draws the services list, or one service when ctx.rest names it. */
export function render(ctx) {
  if (ctx.rest) return renderService(ctx, ctx.rest.replace(/\/$/, ''));
  return renderList(ctx);
}

function errorText(err) {
  return err instanceof HTTPError ? `The agent answered ${err.status}: ${err.body}` : `Cannot reach the agent: ${err.message}`;
}

function renderList(ctx) {
  const { dc, main, signal } = ctx;
  ctx.setTitle(`Services · ${dc}`);
  const state = { filter: ctx.query.get('filter') || '', status: ctx.query.get('status') || 'all', sort: 'name', dir: 1 };
  main.innerHTML = `<h1 data-test="page-title">Services <span class="muted">in ${esc(dc)}</span></h1>
<div class="toolbar" role="search">
  <label>Filter <input type="search" data-test="filter" placeholder="name or tag" value="${esc(state.filter)}"></label>
  <label>Status <select data-test="status-filter">
    ${['all', 'passing', 'warning', 'critical'].map((s) => `<option value="${s}"${s === state.status ? ' selected' : ''}>${s}</option>`).join('')}
  </select></label>
  <span class="muted" data-count aria-live="polite"></span>
</div>
<p class="error" data-error hidden></p>
<div class="table-wrap"><table class="list" data-test="services-table">
<caption class="sr-only">Services in ${esc(dc)} with check counts</caption>
<thead><tr>
  <th scope="col" data-col="name"><button type="button" data-sort="name">Service</button></th>
  <th scope="col">Tags</th>
  <th scope="col" class="num" data-col="passing"><button type="button" data-sort="passing">Passing</button></th>
  <th scope="col" class="num" data-col="warning"><button type="button" data-sort="warning">Warning</button></th>
  <th scope="col" class="num" data-col="critical"><button type="button" data-sort="critical">Critical</button></th>
</tr></thead>
<tbody><tr><td colspan="5" class="muted">Loading…</td></tr></tbody>
</table></div>
<p data-test="empty" class="empty" hidden></p>`;
  const tbody = main.querySelector('tbody');
  const empty = main.querySelector('[data-test="empty"]');
  const errEl = main.querySelector('[data-error]');
  const countEl = main.querySelector('[data-count]');
  let summaries = null; // /v1/internal/ui/services
  let lastHTML = '';

  // One row per service from the server's summary: its counts cover each
  // instance's own checks plus its node's checks (serfHealth), once per
  // instance, as Consul's UI shows them.
  function rows() {
    return (summaries || []).map((d) => ({
      name: d.Name,
      tags: d.Tags || [],
      passing: d.ChecksPassing || 0,
      warning: d.ChecksWarning || 0,
      critical: d.ChecksCritical || 0,
    }));
  }

  let all = null; // aggregated rows, rebuilt only when data changes
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

  function rebuild() {
    all = rows();
    for (const s of all) {
      s.hay = (s.name + '\n' + s.tags.join('\n')).toLowerCase();
      s.worst = s.critical ? 'critical' : s.warning ? 'warning' : 'passing';
      s.html = `<tr data-test="service-row" data-name="${esc(s.name)}"><th scope="row"><a href="${ctx.base}/services/${enc(s.name)}">${esc(s.name)}</a></th>
<td>${s.tags.length ? esc(s.tags.join(', ')) : ''}</td>
<td class="num" data-test="passing">${s.passing}</td><td class="num${s.warning ? ' warning' : ''}" data-test="warning">${s.warning}</td><td class="num${s.critical ? ' critical' : ''}" data-test="critical">${s.critical}</td></tr>`;
    }
  }

  function draw() {
    if (summaries === null) return;
    if (!all) rebuild();
    const f = state.filter.trim().toLowerCase();
    const list = all.filter((s) => (!f || s.hay.includes(f)) && (state.status === 'all' || s.worst === state.status));
    const k = state.sort;
    list.sort((a, b) => (k === 'name' ? cmp(a.name, b.name) : a[k] - b[k] || cmp(a.name, b.name)) * state.dir);
    const html = list.map((s) => s.html).join('');
    if (html !== lastHTML) {
      tbody.innerHTML = html;
      lastHTML = html;
    }
    for (const th of main.querySelectorAll('th[data-col]')) {
      th.setAttribute('aria-sort', th.dataset.col === k ? (state.dir > 0 ? 'ascending' : 'descending') : 'none');
    }
    countEl.textContent = `${list.length} of ${all.length} services`;
    if (!all.length) {
      empty.textContent = `No services registered in ${dc}.`;
      empty.hidden = false;
    } else if (!list.length) {
      empty.textContent = 'No services match the filter.';
      empty.hidden = false;
    } else empty.hidden = true;
  }

  function syncQuery() {
    const q = new URLSearchParams();
    if (state.filter) q.set('filter', state.filter);
    if (state.status !== 'all') q.set('status', state.status);
    const s = q.toString();
    history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
  }

  main.querySelector('[data-test="filter"]').addEventListener('input', (e) => {
    state.filter = e.target.value;
    syncQuery();
    draw();
  });
  main.querySelector('[data-test="status-filter"]').addEventListener('change', (e) => {
    state.status = e.target.value;
    syncQuery();
    draw();
  });
  main.querySelector('thead').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-sort]');
    if (!b) return;
    if (state.sort === b.dataset.sort) state.dir = -state.dir;
    else {
      state.sort = b.dataset.sort;
      state.dir = state.sort === 'name' ? 1 : -1;
    }
    draw();
  });

  const onError = (err) => {
    errEl.textContent = errorText(err);
    errEl.hidden = false;
  };
  watch(url('/v1/internal/ui/services', { dc }), (d) => {
    errEl.hidden = true;
    summaries = d || [];
    all = null;
    draw();
  }, signal, { onError });
}

function renderService(ctx, name) {
  const { dc, main, signal } = ctx;
  ctx.setTitle(`${name} · ${dc}`);
  main.innerHTML = `<nav aria-label="Breadcrumb" class="crumbs"><a href="${ctx.base}/services">Services</a> / <span>${esc(name)}</span></nav>
<h1 data-test="page-title">${esc(name)}</h1>
<p class="error" data-error hidden></p>
<div data-instances><p class="muted">Loading…</p></div>`;
  const box = main.querySelector('[data-instances]');
  const errEl = main.querySelector('[data-error]');
  let lastHTML = '';
  watch(url(`/v1/health/service/${enc(name)}`, { dc }), (list) => {
    errEl.hidden = true;
    list = list || [];
    let html;
    if (!list.length) {
      html = `<p data-test="empty" class="empty">No instances of ${esc(name)} registered in ${esc(dc)}.</p>`;
    } else {
      list.sort((a, b) => a.Node.Node.localeCompare(b.Node.Node) || a.Service.ID.localeCompare(b.Service.ID));
      html = `<p class="muted">${list.length} instance${list.length === 1 ? '' : 's'}</p>` + list.map((e) => instance(ctx, e)).join('');
    }
    if (html !== lastHTML) {
      box.innerHTML = html;
      lastHTML = html;
    }
  }, signal, {
    onError: (err) => {
      errEl.textContent = errorText(err);
      errEl.hidden = false;
    },
  });
}

function instance(ctx, e) {
  const n = e.Node || {};
  const s = e.Service || {};
  const checks = (e.Checks || []).slice().sort((a, b) => (a.ServiceID ? 1 : 0) - (b.ServiceID ? 1 : 0) || a.CheckID.localeCompare(b.CheckID));
  const st = worst(checks.map((c) => c.Status));
  const addr = s.Address || n.Address || '';
  return `<section class="card instance ${esc(st)}" data-test="instance" data-node="${esc(n.Node)}" data-id="${esc(s.ID)}" aria-label="Instance ${esc(s.ID)} on ${esc(n.Node)}">
<h2>${esc(s.ID)} <span class="badge ${esc(st)}">${esc(st)}</span></h2>
<dl class="facts">
<dt>Node</dt><dd><a data-test="node-link" href="${ctx.base}/nodes/${enc(n.Node)}">${esc(n.Node)}</a></dd>
<dt>Address</dt><dd data-test="address">${esc(addr)}</dd>
<dt>Port</dt><dd data-test="port">${esc(s.Port)}</dd>
<dt>Tags</dt><dd data-test="tags">${tagList(s.Tags)}</dd>
</dl>
<h3>Meta</h3>${dl(s.Meta)}
<h3>Checks</h3>${checksList(checks)}
</section>`;
}
