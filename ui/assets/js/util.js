// Shared helpers: escaping, formatting, Vivaldi distance, the confirm dialog.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** esc makes any value safe to put in HTML text or a quoted attribute. */
export function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
}

/** enc encodes a catalog name as one URL path segment. */
export const enc = encodeURIComponent;

/** encPath encodes a slash-separated KV key, keeping the slashes. */
export function encPath(key) {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** relTime says how long ago (or in how long) an instant is, e.g. "3 min ago". */
export function relTime(when, now = Date.now()) {
  const t = typeof when === 'number' ? when : Date.parse(when);
  if (!t || Number.isNaN(t) || t <= 0) return 'never';
  let s = Math.round((now - t) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  let out;
  if (s < 5) return 'just now';
  if (s < 60) out = `${s} s`;
  else if (s < 3600) out = `${Math.floor(s / 60)} min`;
  else if (s < 86400) out = `${Math.floor(s / 3600)} h`;
  else out = `${Math.floor(s / 86400)} d`;
  return future ? `in ${out}` : `${out} ago`;
}

/** timeTag renders a <time> that the app's clock keeps relative. */
export function timeTag(iso) {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t) || t <= 0) return '<span>never</span>';
  return `<time datetime="${esc(iso)}" data-rel title="${esc(new Date(t).toLocaleString())}">${esc(relTime(t))}</time>`;
}

/** refreshTimes re-renders every relative <time> under root. */
export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll('time[data-rel]')) {
    el.textContent = relTime(el.getAttribute('datetime'), now);
  }
}

/**
 * rttSeconds is the estimated round trip between two Vivaldi coordinates,
 * as Consul computes it: Euclidean distance of the vectors plus both
 * heights, then plus both adjustments unless that would go to zero or below.
 * It returns null when the coordinates cannot be compared.
 */
export function rttSeconds(a, b) {
  if (!a || !b || !Array.isArray(a.Vec) || !Array.isArray(b.Vec) || a.Vec.length !== b.Vec.length) return null;
  let sum = 0;
  for (let i = 0; i < a.Vec.length; i++) {
    const d = a.Vec[i] - b.Vec[i];
    sum += d * d;
  }
  let dist = Math.sqrt(sum) + (a.Height || 0) + (b.Height || 0);
  const adjusted = dist + (a.Adjustment || 0) + (b.Adjustment || 0);
  if (adjusted > 0) dist = adjusted;
  return dist;
}

/** fmtMs formats milliseconds for people: "0.42 ms", "12.3 ms", "1.20 s". */
export function fmtMs(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

const RANK = { passing: 0, warning: 1, critical: 2 };

/** worst returns the worst of check statuses ("passing" when there are none). */
export function worst(statuses) {
  let w = 'passing';
  for (const s of statuses) if ((RANK[s] ?? 2) > RANK[w]) w = RANK[s] === undefined ? 'critical' : s;
  return w;
}

/** tagList renders tags as a list of chips. */
export function tagList(tags) {
  if (!tags || !tags.length) return '<span class="muted">none</span>';
  return `<ul class="tags">${tags.map((t) => `<li>${esc(t)}</li>`).join('')}</ul>`;
}

/** dl renders an object as a description list (meta, tagged addresses). */
export function dl(obj, empty = 'none') {
  const keys = Object.keys(obj || {}).sort();
  if (!keys.length) return `<p class="muted">${esc(empty)}</p>`;
  return `<dl class="kvlist">${keys.map((k) => `<dt>${esc(k)}</dt><dd>${esc(obj[k])}</dd>`).join('')}</dl>`;
}

/** statusBadge renders a check status. */
export function statusBadge(s) {
  return `<span class="badge ${esc(s)}">${esc(s)}</span>`;
}

/** checksList renders health checks with their status and output. */
export function checksList(checks) {
  if (!checks || !checks.length) return '<p class="muted">No checks.</p>';
  return `<ul class="checks">${checks.map((c) => `<li data-test="check" data-check-id="${esc(c.CheckID)}" data-status="${esc(c.Status)}" class="check ${esc(c.Status)}">
<div class="check-head">${statusBadge(c.Status)} <strong>${esc(c.Name || c.CheckID)}</strong> <span class="muted">${esc(c.CheckID)}${c.Type ? ' · ' + esc(c.Type) : ''}</span></div>
${c.Notes ? `<p class="muted">${esc(c.Notes)}</p>` : ''}<pre data-test="check-output">${esc(c.Output || '')}</pre></li>`).join('')}</ul>`;
}

/**
 * confirmDialog asks a yes/no question in the shared <dialog>; it resolves
 * true when the confirm button is pressed.
 */
export function confirmDialog(message, action = 'Delete') {
  const d = document.getElementById('confirm-dialog');
  d.querySelector('[data-msg]').textContent = message;
  d.querySelector('[data-test="confirm"]').textContent = action;
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'confirm'), { once: true });
  });
}
