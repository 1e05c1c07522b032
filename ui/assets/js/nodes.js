// Nodes list and node page.

import { watch, url, HTTPError } from './api.js';
import { esc, enc, dl, checksList, worst, tagList, rttSeconds, fmtMs } from './util.js';

/** render draws the nodes list, or one node when ctx.rest names it. */
export function render(ctx) {
  if (ctx.rest) return renderNode(ctx, ctx.rest.replace(/\/$/, ''));
  return renderList(ctx);
}

function errorText(err) {
  return err instanceof HTTPError ? `The agent answered ${err.status}: ${err.body}` : `Cannot reach the agent: ${err.message}`;
}

function renderList(ctx) {
  const { dc, main, signal } = ctx;
  ctx.setTitle(`Nodes · ${dc}`);
  main.innerHTML = `<h1 data-test="page-title">Nodes <span class="muted">in ${esc(dc)}</span></h1>
<div class="toolbar" role="search"><label>Filter <input type="search" data-test="filter" placeholder="name or address"></label></div>
<p class="error" data-error hidden></p>
<div class="table-wrap"><table class="list">
<caption class="sr-only">Nodes in ${esc(dc)}</caption>
<thead><tr><th scope="col">Node</th><th scope="col">Address</th><th scope="col">Health</th><th scope="col" class="num">Checks</th></tr></thead>
<tbody><tr><td colspan="4" class="muted">Loading…</td></tr></tbody></table></div>
<p data-test="empty" class="empty" hidden></p>`;
  const tbody = main.querySelector('tbody');
  const empty = main.querySelector('[data-test="empty"]');
  const errEl = main.querySelector('[data-error]');
  let nodes = null;
  let checks = [];
  let filter = '';
  let lastHTML = '';
  function draw() {
    if (!nodes) return;
    const byNode = new Map();
    for (const c of checks) {
      if (!byNode.has(c.Node)) byNode.set(c.Node, []);
      byNode.get(c.Node).push(c.Status);
    }
    const f = filter.trim().toLowerCase();
    const list = nodes.filter((n) => !f || n.Node.toLowerCase().includes(f) || String(n.Address).includes(f));
    list.sort((a, b) => a.Node.localeCompare(b.Node));
    const html = list
      .map((n) => {
        const st = byNode.get(n.Node) || [];
        const w = worst(st);
        return `<tr data-test="node-row" data-name="${esc(n.Node)}"><th scope="row"><a href="${ctx.base}/nodes/${enc(n.Node)}">${esc(n.Node)}</a></th>
<td>${esc(n.Address)}</td><td><span class="badge ${w}" data-test="node-status">${w}</span></td><td class="num">${st.length}</td></tr>`;
      })
      .join('');
    if (html !== lastHTML) {
      tbody.innerHTML = html;
      lastHTML = html;
    }
    empty.hidden = list.length > 0;
    empty.textContent = nodes.length ? 'No nodes match the filter.' : `No nodes registered in ${dc}.`;
  }
  main.querySelector('[data-test="filter"]').addEventListener('input', (e) => {
    filter = e.target.value;
    draw();
  });
  const onError = (err) => {
    errEl.textContent = errorText(err);
    errEl.hidden = false;
  };
  watch(url('/v1/catalog/nodes', { dc }), (d) => {
    errEl.hidden = true;
    nodes = d || [];
    draw();
  }, signal, { onError });
  watch(url('/v1/health/state/any', { dc }), (d) => {
    checks = d || [];
    draw();
  }, signal, { onError });
}

function renderNode(ctx, name) {
  const { dc, main, signal } = ctx;
  ctx.setTitle(`${name} · ${dc}`);
  main.innerHTML = `<nav aria-label="Breadcrumb" class="crumbs"><a href="${ctx.base}/nodes">Nodes</a> / <span>${esc(name)}</span></nav>
<h1 data-test="page-title">${esc(name)}</h1>
<p class="error" data-error hidden></p>
<div data-node><p class="muted">Loading…</p></div>
<section aria-labelledby="h-checks"><h2 id="h-checks">Checks</h2><div data-checks><p class="muted">Loading…</p></div></section>`;
  const errEl = main.querySelector('[data-error]');
  const nodeBox = main.querySelector('[data-node]');
  const checkBox = main.querySelector('[data-checks]');
  const onError = (err) => {
    errEl.textContent = errorText(err);
    errEl.hidden = false;
  };
  let info;
  let coords = null;
  let selfCoord;
  const selfName = ctx.self && ctx.self.Config ? ctx.self.Config.NodeName : '';
  const sameDC = dc === ctx.localDC;

  function rttText() {
    if (!sameDC) return `not computed: ${esc(name)} is in ${esc(dc)}, this agent in ${esc(ctx.localDC)}`;
    if (name === selfName) return 'this is the agent’s own node';
    if (!coords) return 'loading…';
    const mine = selfCoord || (coords.find((c) => c.Node === selfName) || {}).Coord;
    const theirs = (coords.find((c) => c.Node === name) || {}).Coord;
    const s = rttSeconds(mine, theirs);
    if (s == null) return 'unknown (no coordinates yet)';
    return `${fmtMs(s * 1000)} from ${esc(selfName)}`;
  }

  function draw() {
    if (info === undefined) return;
    if (!info || !info.Node) {
      nodeBox.innerHTML = `<p data-test="empty" class="empty">No node named ${esc(name)} in ${esc(dc)}.</p>`;
      return;
    }
    const n = info.Node;
    const svcs = Object.values(info.Services || {}).sort((a, b) => a.Service.localeCompare(b.Service) || a.ID.localeCompare(b.ID));
    const html = `<dl class="facts">
<dt>Address</dt><dd data-test="node-address">${esc(n.Address)}</dd>
<dt>Datacenter</dt><dd>${esc(n.Datacenter || dc)}</dd>
<dt>ID</dt><dd><code>${esc(n.ID || '')}</code></dd>
<dt>RTT to this agent</dt><dd data-test="node-rtt">${rttText()}</dd>
</dl>
<div class="cols">
<section aria-labelledby="h-ta"><h2 id="h-ta">Tagged addresses</h2><div data-test="tagged-addresses">${dl(n.TaggedAddresses)}</div></section>
<section aria-labelledby="h-meta"><h2 id="h-meta">Meta</h2><div data-test="node-meta">${dl(n.Meta)}</div></section>
</div>
<section aria-labelledby="h-svcs"><h2 id="h-svcs">Services</h2>
${svcs.length ? `<div class="table-wrap"><table class="list"><thead><tr><th scope="col">Service</th><th scope="col">ID</th><th scope="col">Address</th><th scope="col" class="num">Port</th><th scope="col">Tags</th></tr></thead><tbody>
${svcs.map((s) => `<tr data-test="node-service" data-id="${esc(s.ID)}"><th scope="row"><a href="${ctx.base}/services/${enc(s.Service)}">${esc(s.Service)}</a></th><td>${esc(s.ID)}</td><td>${esc(s.Address || n.Address)}</td><td class="num">${esc(s.Port)}</td><td>${tagList(s.Tags)}</td></tr>`).join('')}
</tbody></table></div>` : '<p class="muted">No services on this node.</p>'}
</section>`;
    nodeBox.innerHTML = html;
  }

  watch(url(`/v1/catalog/node/${enc(name)}`, { dc }), (d) => {
    errEl.hidden = true;
    info = d;
    draw();
  }, signal, { onError, allow404: true });
  watch(url(`/v1/health/node/${enc(name)}`, { dc }), (d) => {
    const checks = (d || []).slice().sort((a, b) => (a.ServiceID ? 1 : 0) - (b.ServiceID ? 1 : 0) || a.CheckID.localeCompare(b.CheckID));
    checkBox.innerHTML = `<p>Overall: <span class="badge ${worst(checks.map((c) => c.Status))}">${worst(checks.map((c) => c.Status))}</span></p>` + checksList(checks);
  }, signal, { onError });
  if (sameDC) {
    if (ctx.self && ctx.self.Coord) selfCoord = ctx.self.Coord;
    watch(url('/v1/coordinate/nodes', { dc }), (d) => {
      coords = d || [];
      const el = main.querySelector('[data-test="node-rtt"]');
      if (el) el.innerHTML = rttText();
    }, signal, { onError: () => {} });
  }
}

