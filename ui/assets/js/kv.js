// Key/value browser and editor.

import { watch, url, request, HTTPError } from './api.js';
import { esc, encPath, confirmDialog } from './util.js';

/** render draws a folder (path ending in "/" or empty) or a key. */
export function render(ctx) {
  const key = ctx.rest;
  if (key === '' || key.endsWith('/')) return renderFolder(ctx, key);
  return renderKey(ctx, key);
}

function errorText(err) {
  return err instanceof HTTPError ? `The agent answered ${err.status}: ${err.body}` : `Cannot reach the agent: ${err.message}`;
}

function crumbs(ctx, key) {
  const parts = key.split('/');
  const isFolder = key === '' || key.endsWith('/');
  if (isFolder) parts.pop();
  let acc = '';
  const links = [`<a href="${ctx.base}/kv/">Key/Value</a>`];
  parts.forEach((p, i) => {
    acc += p + (i < parts.length - 1 || isFolder ? '/' : '');
    const last = i === parts.length - 1;
    links.push(last ? `<span aria-current="page">${esc(p)}${isFolder ? '/' : ''}</span>` : `<a href="${ctx.base}/kv/${encPath(acc)}">${esc(p)}/</a>`);
  });
  return `<nav aria-label="Breadcrumb" class="crumbs">${links.join(' ')}</nav>`;
}

/** decode turns a KV Value (base64) into text, replacing invalid UTF-8. */
export function decode(b64) {
  if (!b64) return '';
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

function renderFolder(ctx, prefix) {
  const { dc, main, signal } = ctx;
  ctx.setTitle(`${prefix || 'Key/Value'} · ${dc}`);
  main.innerHTML = `${crumbs(ctx, prefix)}
<h1 data-test="page-title">${prefix ? esc(prefix) : 'Key/Value'}</h1>
<p class="error" data-error hidden></p>
<div class="table-wrap"><table class="list"><caption class="sr-only">Keys and folders under ${esc(prefix || 'the root')}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Kind</th></tr></thead>
<tbody><tr><td colspan="2" class="muted">Loading…</td></tr></tbody></table></div>
<p data-test="empty" class="empty" hidden>No keys under ${esc(prefix || 'the root')} in ${esc(dc)}.</p>
${prefix ? `<p><button type="button" class="danger" data-test="kv-delete">Delete folder ${esc(prefix)} and everything in it</button></p>` : ''}
<section aria-labelledby="h-create" class="card"><h2 id="h-create">Create</h2>
<form data-test="kv-create" class="form">
<label>Key or folder (end with /) <span class="prefix">${esc(prefix)}</span><input name="key" required autocomplete="off"></label>
<label>Value <textarea name="value" rows="5"></textarea></label>
<label>Flags <input name="flags" type="number" min="0" step="1" value="0" inputmode="numeric"></label>
<p class="error" data-form-error hidden></p>
<button type="submit" class="primary">Create</button>
</form></section>`;
  const tbody = main.querySelector('tbody');
  const empty = main.querySelector('[data-test="empty"]');
  const errEl = main.querySelector('[data-error]');
  let lastHTML = '';
  watch(url(`/v1/kv/${encPath(prefix)}`, { keys: true, separator: '/', dc }), (keys) => {
    errEl.hidden = true;
    keys = (keys || []).filter((k) => k !== prefix).sort();
    const html = keys
      .map((k) => {
        const folder = k.endsWith('/');
        const label = k.slice(prefix.length);
        return `<tr data-test="kv-entry" data-key="${esc(k)}"><th scope="row"><a href="${ctx.base}/kv/${encPath(k)}">${esc(label)}</a></th><td>${folder ? 'folder' : 'key'}</td></tr>`;
      })
      .join('');
    if (html !== lastHTML) {
      tbody.innerHTML = html;
      lastHTML = html;
    }
    empty.hidden = keys.length > 0;
  }, signal, { onError: (err) => { errEl.textContent = errorText(err); errEl.hidden = false; }, allow404: true });

  const del = main.querySelector('[data-test="kv-delete"]');
  if (del) {
    del.addEventListener('click', async () => {
      if (!(await confirmDialog(`Delete the folder ${prefix} and every key under it in ${dc}?`))) return;
      try {
        await request(url(`/v1/kv/${encPath(prefix)}`, { recurse: true, dc }), { method: 'DELETE' });
        const parent = prefix.slice(0, -1).includes('/') ? prefix.slice(0, prefix.slice(0, -1).lastIndexOf('/') + 1) : '';
        ctx.navigate(`${ctx.base}/kv/${encPath(parent)}`);
      } catch (err) {
        errEl.textContent = errorText(err);
        errEl.hidden = false;
      }
    });
  }

  const form = main.querySelector('form[data-test="kv-create"]');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fe = form.querySelector('[data-form-error]');
    fe.hidden = true;
    const rel = form.key.value.trim().replace(/^\/+/, '');
    const flags = form.flags.value.trim() || '0';
    if (!rel) return;
    if (!/^\d+$/.test(flags)) {
      fe.textContent = 'Flags must be a whole number.';
      fe.hidden = false;
      return;
    }
    const full = prefix + rel;
    const isFolder = full.endsWith('/');
    try {
      const r = await request(url(`/v1/kv/${encPath(full)}`, { cas: 0, flags: isFolder ? null : flags, dc }), {
        method: 'PUT',
        body: isFolder ? '' : form.value.value,
      });
      if (r.data === false) {
        fe.textContent = `${full} already exists.`;
        fe.hidden = false;
        return;
      }
      ctx.navigate(`${ctx.base}/kv/${encPath(full)}`);
    } catch (err) {
      fe.textContent = errorText(err);
      fe.hidden = false;
    }
  });
}

function renderKey(ctx, key) {
  const { dc, main, signal } = ctx;
  ctx.setTitle(`${key} · ${dc}`);
  main.innerHTML = `${crumbs(ctx, key)}
<h1 data-test="page-title">${esc(key)}</h1>
<p class="error" data-error hidden></p>
<div data-body><p class="muted">Loading…</p></div>`;
  const body = main.querySelector('[data-body]');
  const errEl = main.querySelector('[data-error]');
  let entry; // the value the form is based on
  let newer = null; // a newer entry seen while the user was editing
  let dirty = false;

  function form() {
    body.innerHTML = `<form class="form card" data-test="kv-form">
<label>Value <textarea data-test="kv-value" name="value" rows="12" spellcheck="false"></textarea></label>
<label>Flags <input name="flags" data-test="kv-flags" type="number" min="0" step="1" inputmode="numeric"></label>
<dl class="facts"><dt>ModifyIndex</dt><dd data-test="kv-modify-index"></dd><dt>CreateIndex</dt><dd data-test="kv-create-index"></dd><dt>Session</dt><dd data-test="kv-session"></dd></dl>
<div data-test="kv-conflict" class="conflict" role="alert" hidden></div>
<p class="muted" data-newer hidden></p>
<p class="status" data-saved role="status"></p>
<div class="actions"><button type="submit" class="primary" data-test="kv-save">Save</button>
<button type="button" class="danger" data-test="kv-delete">Delete</button></div>
</form>`;
    const f = body.querySelector('form');
    f.value.addEventListener('input', () => { dirty = true; });
    f.flags.addEventListener('input', () => { dirty = true; });
    f.addEventListener('submit', save);
    f.querySelector('[data-test="kv-delete"]').addEventListener('click', remove);
  }

  function fill(e) {
    const f = body.querySelector('form');
    entry = e;
    newer = null;
    dirty = false;
    f.value.value = decode(e.Value);
    f.flags.value = e.Flags || 0;
    f.querySelector('[data-test="kv-modify-index"]').textContent = e.ModifyIndex;
    f.querySelector('[data-test="kv-create-index"]').textContent = e.CreateIndex;
    f.querySelector('[data-test="kv-session"]').textContent = e.Session || 'none';
    f.querySelector('[data-newer]').hidden = true;
  }

  async function save(ev) {
    ev.preventDefault();
    const f = body.querySelector('form');
    const saved = f.querySelector('[data-saved]');
    const conflict = f.querySelector('[data-test="kv-conflict"]');
    const flags = String(f.flags.value || '0').trim();
    if (!/^\d+$/.test(flags)) {
      saved.textContent = 'Flags must be a whole number.';
      return;
    }
    saved.textContent = 'Saving…';
    try {
      const r = await request(url(`/v1/kv/${encPath(key)}`, { cas: entry ? entry.ModifyIndex : 0, flags, dc }), { method: 'PUT', body: f.value.value });
      if (r.data === true) {
        conflict.hidden = true;
        dirty = false;
        // The watch brings the new ModifyIndex, unless its answer came
        // while the edit was dirty (it is then in newer): with the CAS
        // won, that answer is this write or a later one, so show it.
        if (newer) fill(newer);
        saved.textContent = 'Saved.';
        return;
      }
      // CAS failed: someone changed (or deleted) the key since it was loaded.
      const cur = await request(url(`/v1/kv/${encPath(key)}`, { dc }), { allow404: true });
      const e = cur.data && cur.data[0];
      saved.textContent = '';
      f.querySelector('[data-newer]').hidden = true;
      if (e) {
        conflict.innerHTML = `<p><strong>Not saved:</strong> the key changed since you loaded it (now at ModifyIndex ${esc(e.ModifyIndex)}). Its current value is below; save again to replace it with your text.</p><pre data-test="kv-conflict-value">${esc(decode(e.Value))}</pre>`;
        entry = e;
        f.querySelector('[data-test="kv-modify-index"]').textContent = e.ModifyIndex;
      } else {
        conflict.innerHTML = '<p><strong>Not saved:</strong> the key was deleted since you loaded it. Save again to create it.</p>';
        entry = null;
      }
      conflict.hidden = false;
    } catch (err) {
      saved.textContent = errorText(err);
    }
  }

  async function remove() {
    if (!(await confirmDialog(`Delete the key ${key} in ${dc}?`))) return;
    try {
      await request(url(`/v1/kv/${encPath(key)}`, { dc }), { method: 'DELETE' });
      ctx.navigate(`${ctx.base}/kv/${encPath(key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : '')}`);
    } catch (err) {
      errEl.textContent = errorText(err);
      errEl.hidden = false;
    }
  }

  let formShown = false;
  watch(url(`/v1/kv/${encPath(key)}`, { dc }), (list) => {
    errEl.hidden = true;
    const e = list && list[0];
    if (!e) {
      if (formShown && dirty) return;
      formShown = false;
      body.innerHTML = `<p data-test="empty" class="empty">No key ${esc(key)} in ${esc(dc)}. <a href="${ctx.base}/kv/${encPath(key + '/')}">Browse ${esc(key)}/ as a folder</a>.</p>`;
      return;
    }
    if (!formShown) {
      form();
      formShown = true;
      fill(e);
      return;
    }
    if (dirty) {
      newer = e;
      const n = body.querySelector('[data-newer]');
      n.textContent = `The key changed meanwhile (ModifyIndex ${e.ModifyIndex}); saving will report a conflict.`;
      n.hidden = false;
      return;
    }
    if (!entry || e.ModifyIndex !== entry.ModifyIndex) fill(e);
  }, signal, { onError: (err) => { errEl.textContent = errorText(err); errEl.hidden = false; }, allow404: true });
}
