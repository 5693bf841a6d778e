// transport_settings.js — the Transport Settings tab: a form of the
// organisation-wide settings; Apply runs Set-TransportConfig with only the
// parameters whose value changed, and shows the line it ran.
// Must never: send a parameter the admin did not change, or offer Apply to a ViewOnlyAdmin.

import { el, clear } from './dom.js';
import { get, cmdlet } from './api.js';
import { field, commandBlock } from './dialog.js';
import { reportSignedOut } from './errors.js';
import { noteCommand } from './actions.js';

const FIELDS = [
  { section: 'Domain Security (Mutual Auth TLS)' },
  { name: 'TLSSendDomainSecureList', label: 'TLS send domain secure list:', list: true, hint: 'Partner domains that get mail only over mutual TLS. One domain a line.' },
  { name: 'TLSReceiveDomainSecureList', label: 'TLS receive domain secure list:', list: true, hint: 'Partner domains whose mail must arrive domain-secured. One domain a line.' },
  { section: 'Message delivery' },
  { name: 'MessageExpirationTimeout', label: 'Message expiration timeout:', hint: 'd.hh:mm:ss, e.g. 2.00:00:00' },
  { name: 'MessageRetryInterval', label: 'Message retry interval:', hint: 'hh:mm:ss' },
  { name: 'TransientFailureRetryCount', label: 'Transient failure retry attempts:' },
  { name: 'TransientFailureRetryInterval', label: 'Transient failure retry interval:', hint: 'hh:mm:ss' },
  { name: 'DelayNotificationTimeout', label: 'Notify sender when message is delayed more than:', hint: 'hh:mm:ss' },
  { section: 'Limits' },
  { name: 'MaxReceiveSize', label: 'Maximum receive size:', hint: 'e.g. 10MB, 20480KB or Unlimited' },
  { name: 'MaxSendSize', label: 'Maximum send size:', hint: 'e.g. 10MB or Unlimited' },
];

// "10 MB (10,485,760 bytes)" -> "10 MB"; lists -> one a line.
function toText(f, v) {
  if (f.list) return (v || []).join('\n');
  if (v === null || v === undefined) return '';
  return String(v).replace(/\s*\([\d,]+ bytes\)$/, '');
}

function listValue(text) {
  return text.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);
}

export function transportSettingsView(ctx) {
  const ro = !ctx.canChange;
  const inputs = {};
  const original = {};
  const errorBox = el('div', { class: 'pane-error', role: 'alert' });
  errorBox.hidden = true;
  const done = el('div', { class: 'done' });
  const form = el('form', { class: 'form settings' });
  for (const f of FIELDS) {
    if (f.section) { form.append(el('h3', { class: 'form-section' }, f.section)); continue; }
    const input = f.list
      ? el('textarea', { name: f.name, rows: '3', readonly: ro || undefined })
      : el('input', { type: 'text', name: f.name, readonly: ro || undefined });
    inputs[f.name] = input;
    form.append(field(f.label, input, f.hint));
  }
  const apply = el('button', { type: 'submit', class: 'btn primary' }, 'Apply');
  const reset = el('button', { type: 'button', class: 'btn' }, 'Reset');
  reset.addEventListener('click', () => fill());
  if (!ro) form.append(el('div', { class: 'form-buttons' }, apply, reset));
  else form.append(el('p', { class: 'muted' }, 'You are signed in as a View-Only Administrator: these settings are read-only.'));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); if (!ro) doApply(); });

  let loaded = false;
  function fill() {
    for (const f of FIELDS) if (f.name) inputs[f.name].value = original[f.name];
  }

  function changed() {
    const p = {};
    for (const f of FIELDS) {
      if (!f.name) continue;
      const now = inputs[f.name].value;
      if (f.list) {
        const a = listValue(now);
        if (a.join('\n') !== listValue(original[f.name]).join('\n')) p[f.name] = a;
      } else if (now.trim() !== original[f.name].trim()) {
        p[f.name] = now.trim() === '' ? null : now.trim();
      }
    }
    return p;
  }

  async function doApply() {
    clear(done);
    setError(null);
    const p = changed();
    if (!Object.keys(p).length) { done.append(el('p', { class: 'muted' }, 'Nothing has changed.')); return; }
    apply.disabled = true;
    let r;
    try {
      r = await cmdlet('Set-TransportConfig', p);
    } catch (e) {
      apply.disabled = false;
      if (!reportSignedOut(e)) setError(e.message);
      return;
    }
    apply.disabled = false;
    noteCommand(r);
    if (!r.ok) {
      setError(r.error || 'Set-TransportConfig failed');
      done.append(commandBlock('The following Exchange Management Shell command failed:', r.command));
      return;
    }
    await view.load();
    done.append(commandBlock('The following Exchange Management Shell command completed successfully:', r.command));
  }

  function setError(msg) {
    clear(errorBox);
    if (msg) errorBox.append(msg);
    errorBox.hidden = !msg;
  }

  const view = {
    node: el('div', { class: 'settings-view' }, errorBox, done, form),
    async load() {
      try {
        const [cfg] = await get('Get-TransportConfig');
        for (const f of FIELDS) if (f.name) original[f.name] = toText(f, cfg ? cfg[f.name] : null);
        fill();
        loaded = true;
      } catch (e) {
        if (!reportSignedOut(e)) setError(e.message);
      }
    },
    actions: () => [],
    selection: () => null,
    status: () => (loaded ? 'Organization-wide transport settings' : ''),
  };
  return view;
}
