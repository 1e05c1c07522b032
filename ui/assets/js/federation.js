// Federation: every datacenter's health as this agent sees it over the WAN.

import { watch, HTTPError } from './api.js';
import { esc, fmtMs, timeTag } from './util.js';

/** dcState is "unreachable", "degraded" or "healthy" for one DC entry. */
export function dcState(d) {
  if (d.Unreachable || !d.Alive || !d.HasLeader) return 'unreachable';
  if (d.Suspect > 0 || d.Failed > 0) return 'degraded';
  return 'healthy';
}

/** render draws the federation page. */
export function render(ctx) {
  const { main, signal, localDC } = ctx;
  ctx.setTitle('Federation');
  main.innerHTML = `<h1 data-test="page-title">Federation</h1>
<p class="muted">The WAN as seen from this agent (datacenter ${esc(localDC)}); updates live.</p>
<div data-test="federation-unavailable" class="empty" hidden></div>
<section aria-labelledby="h-dcs"><h2 id="h-dcs">Datacenters</h2>
<div class="table-wrap"><table class="list" data-test="dc-table"><thead><tr>
<th scope="col">Datacenter</th><th scope="col">State</th><th scope="col" class="num">Alive</th><th scope="col" class="num">Suspect</th><th scope="col" class="num">Failed</th><th scope="col" class="num">Left</th>
<th scope="col">Leader</th><th scope="col">Route</th><th scope="col" class="num">Median RTT</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Errors</th><th scope="col" class="num">Flaps (1 h)</th><th scope="col">Last reached</th>
</tr></thead><tbody><tr><td colspan="13" class="muted">Loading…</td></tr></tbody></table></div></section>
<section aria-labelledby="h-rtt"><h2 id="h-rtt">Round-trip times between datacenters</h2><p class="muted">Estimated from WAN network coordinates; row to column.</p><div class="table-wrap" data-rtt></div></section>
<section aria-labelledby="h-ev"><h2 id="h-ev">WAN member events, last hour</h2><ol class="events" data-events></ol></section>`;
  const tbody = main.querySelector('tbody');
  const unavailable = main.querySelector('[data-test="federation-unavailable"]');
  const rttBox = main.querySelector('[data-rtt]');
  const events = main.querySelector('[data-events]');
  watch('/v1/internal/ui/federation', (data) => {
    unavailable.hidden = true;
    const dcs = (data && data.Datacenters) || [];
    tbody.innerHTML = dcs.map(row).join('') || '<tr><td colspan="13" class="muted">No datacenters known.</td></tr>';
    rttBox.innerHTML = matrix(dcs.map((d) => d.Datacenter), (data && data.RTT) || {});
    const ev = (data && data.Events) || [];
    events.innerHTML = ev.length
      ? ev.map((e) => `<li data-test="event" data-event="${esc(e.Event)}" data-dc="${esc(e.Datacenter)}" class="ev-${esc(e.Event)}">${timeTag(e.Time)} <span class="badge ev">${esc(e.Event)}</span> <strong>${esc(e.Node)}</strong> <span class="muted">${esc(e.Datacenter)} · ${esc(e.Address)}</span></li>`).join('')
      : '<li class="muted">No WAN member events in the last hour.</li>';
  }, signal, {
    onError: (err) => {
      if (err instanceof HTTPError) {
        unavailable.textContent = err.status === 404 ? 'Federation data unavailable: this agent does not serve /v1/internal/ui/federation.' : `Federation data unavailable (${err.status}: ${err.body}).`;
        unavailable.hidden = false;
        tbody.innerHTML = '<tr><td colspan="13" class="muted">Federation data unavailable.</td></tr>';
      }
    },
  });
}

function row(d) {
  const st = dcState(d);
  const err = d.LastError ? ` title="${esc('last error: ' + d.LastError)}"` : '';
  return `<tr data-test="dc-row" data-dc="${esc(d.Datacenter)}" data-state="${st}" class="state-${st}">
<th scope="row"><a href="/ui/${encodeURIComponent(d.Datacenter)}/services">${esc(d.Datacenter)}</a>${d.Local ? ' <span class="muted">(local)</span>' : ''}</th>
<td><span class="badge ${st}">${st}</span></td>
<td class="num">${esc(d.Alive)}</td><td class="num">${esc(d.Suspect)}</td><td class="num">${esc(d.Failed)}</td><td class="num">${esc(d.Left)}</td>
<td>${d.HasLeader ? 'known' : '<strong>none</strong>'}</td>
${route(d)}
<td class="num">${d.Local ? '<span class="muted">local</span>' : d.MedianRTTKnown ? fmtMs(d.MedianRTT / 1e6) : '—'}</td>
<td class="num">${esc(d.Requests)}</td><td class="num"${err}>${esc(d.Errors)}${d.LastError ? ' <span class="muted">(' + esc(d.LastError.slice(0, 60)) + ')</span>' : ''}</td>
<td class="num">${esc(d.FlapsLastHour)}</td>
<td>${d.Local ? '<span class="muted">local</span>' : timeTag(d.LastReached)}</td></tr>`;
}

/** route is the Route cell: local, direct, gateway, via dcX (none, unknown), with
 * the next-hop gateways (or why the route is unknown) as its title. */
function route(d) {
  if (!d.Route) return '<td data-test="dc-route">—</td>';
  const detail = d.RouteError || (d.Gateways || []).join(', ');
  const title = detail ? ` title="${esc(detail)}"` : '';
  return `<td data-test="dc-route" data-route="${esc(d.Route)}"${title}>${esc(d.Route)}</td>`;
}

function matrix(names, rtt) {
  if (names.length < 2) return '<p class="muted">Only one datacenter.</p>';
  return `<table class="list matrix" data-test="rtt-matrix"><caption class="sr-only">Estimated RTT in milliseconds, row to column</caption>
<thead><tr><td></td>${names.map((n) => `<th scope="col">${esc(n)}</th>`).join('')}</tr></thead><tbody>
${names.map((a) => `<tr><th scope="row">${esc(a)}</th>${names.map((b) => {
    const v = a === b ? null : rtt[a] && rtt[a][b];
    return `<td class="num" data-from="${esc(a)}" data-to="${esc(b)}">${a === b ? '·' : v == null ? '—' : fmtMs(v)}</td>`;
  }).join('')}</tr>`).join('')}
</tbody></table>`;
}

