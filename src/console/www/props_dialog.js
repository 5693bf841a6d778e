// props_dialog.js — the generic Properties dialog of a connector: tabs,
// OK / Cancel / Apply. It loads the object with its Get- cmdlet, lets the
// tabs edit a copy, and on OK or Apply runs the Set- cmdlet with only the
// parameters that changed; the cmdlet's error is shown next to the field
// it names (on that field's tab), else at the top.
// Must never: send a parameter the admin did not change, or put a value
// into the page other than as text.

import { el, clear } from './dom.js';
import { get, cmdlet } from './api.js';
import { openFrame } from './wizard_modal.js';
import { messageSlot, uid } from './wizard_form.js';
import { errorText, namedParams } from './wizard_errors.js';
import { reportSignedOut } from './errors.js';

// openProps({title, getCmdlet, setCmdlet, identity, toModel(obj) -> model,
//   tabs: [{name, render(model, reg) -> Node}], diff(orig, model, reg) -> params | null (null: a field is wrong),
//   nameOf(model), onChanged(), readOnly})
export async function openProps(p) {
  let identity = p.identity;
  const top = messageSlot('wz-page-error');
  const failed = el('div', { class: 'wz-failed-command' });
  failed.hidden = true;
  const tabBar = el('div', { class: 'wz-tabs', role: 'tablist' });
  const panels = el('div', { class: 'wz-tab-panels' }, el('p', { class: 'wz-loading' }, 'Loading...'));
  const frame = openFrame({
    title: `${identity} Properties`,
    cls: 'wz-props',
    body: el('div', { class: 'wz-props-body' }, tabBar, top.node, failed, panels),
    buttons: [{ label: 'Cancel', onClick: (f) => f.cancel() }],
  });

  let obj;
  try {
    const objs = await get(p.getCmdlet, { Identity: identity });
    obj = objs[0];
    if (!obj) throw new Error(`${identity} was not found.`);
  } catch (e) {
    if (reportSignedOut(e)) { frame.close(); return null; }
    clear(panels);
    top.set(e.message);
    return frame;
  }

  let orig = p.toModel(obj);
  const model = p.toModel(obj);
  const reg = { fields: {}, tabOf: {}, top };
  let tabIndex = 0;
  reg.field = (param, f) => { reg.fields[param] = f; reg.tabOf[param] = tabIndex; return f; };
  const tabs = [];
  clear(panels);
  p.tabs.forEach((t, i) => {
    tabIndex = i;
    const tabId = uid('tab');
    const panelId = uid('panel');
    const tab = el('button', { type: 'button', role: 'tab', id: tabId, 'aria-controls': panelId, class: 'wz-tab' }, t.name);
    const panel = el('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, class: 'wz-tab-panel' }, t.render(model, reg));
    tab.addEventListener('click', () => select(i));
    tabs.push({ tab, panel });
    tabBar.append(tab);
    panels.append(panel);
  });
  function select(i) {
    tabs.forEach((t, j) => {
      t.tab.setAttribute('aria-selected', i === j ? 'true' : 'false');
      t.tab.classList.toggle('wz-selected', i === j);
      t.panel.hidden = i !== j;
    });
  }
  select(0);

  function clearErrors() {
    top.set(null);
    failed.hidden = true;
    for (const f of Object.values(reg.fields)) f.error.set(null);
  }

  // Runs Set- with what changed; true when nothing is left to apply.
  async function apply() {
    clearErrors();
    const params = p.diff(orig, model, reg);
    if (params === null) {
      const bad = Object.keys(reg.fields).find((k) => !reg.fields[k].error.node.hidden);
      if (bad !== undefined) select(reg.tabOf[bad]);
      return false;
    }
    if (!Object.keys(params).length) return true;
    frame.setBusy(true);
    let answer;
    try {
      answer = await cmdlet(p.setCmdlet, { Identity: identity, ...params });
    } catch (e) {
      frame.setBusy(false);
      if (reportSignedOut(e)) { frame.close(); return false; }
      top.set(e.message);
      return false;
    }
    frame.setBusy(false);
    if (!answer.ok) {
      const text = errorText(answer);
      const hit = namedParams(text, Object.keys(reg.fields));
      for (const k of hit) reg.fields[k].error.set(text);
      if (hit.length) select(reg.tabOf[hit[0]]);
      else top.set(text);
      clear(failed);
      failed.append(el('div', { class: 'wz-label' }, 'The following Exchange Management Shell command failed:'),
        el('pre', { class: 'wz-command' }, answer.command || ''));
      failed.hidden = false;
      return false;
    }
    identity = p.nameOf(model);
    if (p.afterApply) p.afterApply(model, reg);
    orig = JSON.parse(JSON.stringify(model));
    if (p.onChanged) p.onChanged();
    return true;
  }

  if (p.readOnly) {
    // A ViewOnlyAdmin sees the values; nothing can be changed or applied.
    for (const n of panels.querySelectorAll('input, select, button')) n.disabled = true;
    frame.setButtons([{ label: 'OK', primary: true, onClick: (f) => f.close() }, { label: 'Cancel', onClick: (f) => f.cancel() }]);
    return frame;
  }
  frame.setButtons([
    { label: 'OK', primary: true, onClick: async (f) => { if (await apply()) f.close(); } },
    { label: 'Cancel', onClick: (f) => f.cancel() },
    { label: 'Apply', onClick: () => apply() },
  ]);
  return frame;
}

// Helpers of the connectors' diff functions.
// The General tab's fields of a connector, as generalDiff compares them.
export function generalModel(o) {
  return {
    name: o.Name || o.Identity,
    enabled: o.Enabled !== false,
    logging: o.ProtocolLoggingLevel || 'None',
    fqdn: o.Fqdn || '',
  };
}

// The General tab's changes a connector's Set- takes (Name, Enabled,
// ProtocolLoggingLevel, Fqdn); null when the name is missing.
export function generalDiff(o, m, reg) {
  const p = {};
  const name = m.name.trim();
  if (!name) { reg.fields.Name.error.set('Type a name for the connector.'); return null; }
  if (name !== o.name) p.Name = name;
  if (m.enabled !== o.enabled) p.Enabled = m.enabled;
  if (m.logging !== o.logging) p.ProtocolLoggingLevel = m.logging;
  if (m.fqdn.trim() !== o.fqdn) p.Fqdn = m.fqdn.trim() || null;
  return p;
}

export const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// '10 MB (10,485,760 bytes)' -> 10240 (KB); 'Unlimited' or null -> null.
export function sizeKB(v) {
  if (v === null || v === undefined) return null;
  const s = String(v);
  const m = /\(([\d,]+) bytes\)/.exec(s) || /^([\d,]+)$/.exec(s.trim());
  if (!m) return null;
  return Math.floor(Number(m[1].replace(/,/g, '')) / 1024);
}

// 'Tls, BasicAuth' | ['Tls'] | 'None' | null -> ['Tls', 'BasicAuth']
export function flags(v) {
  const list = Array.isArray(v) ? v : String(v || '').split(',');
  return list.map((x) => String(x).trim()).filter((x) => x && x !== 'None');
}
