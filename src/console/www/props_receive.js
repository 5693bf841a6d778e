// props_receive.js — the Properties of a Receive connector: tabs General,
// Network (local bindings, remote ranges), Authentication, Permission
// Groups. OK / Apply run Set-ReceiveConnector with only what changed.
// Must never: drop an AuthMechanism or PermissionGroups flag the dialog
// has no check box for (it is kept as it was), or accept a syntactically
// invalid local IP address (dialogs_receive.js refuses it).

import { el } from './dom.js';
import { openProps, same, sizeKB, flags, generalDiff, generalModel } from './props_dialog.js';
import { textField, checkField, selectField } from './wizard_form.js';
import { editList } from './wizard_list.js';
import { isIntIn } from './wizard_ipcheck.js';
import {
  bindingColumns, bindingDialog, remoteColumns, remoteAddMenu, editRemote,
} from './dialogs_receive.js';

export const AUTH_BOXES = [
  { flag: 'Tls', label: 'Transport Layer Security (TLS)' },
  { flag: 'DomainSecure', label: 'Enable Domain Security (Mutual Auth TLS)', indent: true },
  { flag: 'BasicAuth', label: 'Basic Authentication' },
  { flag: 'BasicAuthRequireTLS', label: 'Offer Basic authentication only after starting TLS', indent: true },
  { flag: 'ExchangeServer', label: 'Exchange Server authentication' },
  { flag: 'Integrated', label: 'Integrated Windows authentication' },
  { flag: 'ExternalAuthoritative', label: 'Externally Secured (for example, with IPsec)' },
];
const AUTH_ORDER = ['Tls', 'Integrated', 'BasicAuth', 'BasicAuthRequireTLS', 'ExchangeServer', 'ExternalAuthoritative'];

export const PERMISSION_BOXES = [
  { flag: 'AnonymousUsers', label: 'Anonymous users' },
  { flag: 'ExchangeUsers', label: 'Exchange users' },
  { flag: 'ExchangeServers', label: 'Exchange servers' },
  { flag: 'ExchangeLegacyServers', label: 'Legacy Exchange Servers' },
  { flag: 'Partners', label: 'Partners' },
];
const PERM_ORDER = ['AnonymousUsers', 'ExchangeUsers', 'ExchangeServers', 'ExchangeLegacyServers', 'Partners', 'Custom'];

const sameSet = (a, b) => same([...a].sort(), [...b].sort());

const LOG_LEVELS = [{ value: 'None', label: 'None' }, { value: 'Verbose', label: 'Verbose' }];

function toModel(o) {
  const kb = sizeKB(o.MaxMessageSize);
  return {
    ...generalModel(o),
    sizeKB: kb === null ? '' : String(kb),
    bindings: [...(o.Bindings || [])],
    remote: [...(o.RemoteIPRanges || [])],
    auth: flags(o.AuthMechanism),
    domainSecure: !!o.DomainSecureEnabled,
    perms: flags(o.PermissionGroups),
  };
}

// A set of flags kept in the order the cmdlet prints them.
function toggle(list, flag, on, order) {
  const set = new Set(list);
  if (on) set.add(flag); else set.delete(flag);
  const known = order.filter((f) => set.has(f));
  const rest = [...set].filter((f) => !order.includes(f));
  list.splice(0, list.length, ...known, ...rest);
}

function generalTab(m, reg) {
  const name = reg.field('Name', textField('Name:', { value: m.name, onInput: (v) => { m.name = v; } }));
  const enabled = reg.field('Enabled', checkField('Enabled', { checked: m.enabled, onChange: (v) => { m.enabled = v; } }));
  const logging = reg.field('ProtocolLoggingLevel', selectField('Protocol logging level:', LOG_LEVELS,
    { value: m.logging, onChange: (v) => { m.logging = v; } }));
  const fqdn = reg.field('Fqdn', textField('Specify the FQDN this connector will provide in response to HELO or EHLO:',
    { value: m.fqdn, onInput: (v) => { m.fqdn = v; } }));
  const size = reg.field('MaxMessageSize', textField('Maximum message size (KB):',
    { value: m.sizeKB, cls: 'wz-short', onInput: (v) => { m.sizeKB = v; } }));
  return el('div', {}, name.node, enabled.node, logging.node, fqdn.node, size.node);
}

function networkTab(m, reg) {
  const bindings = reg.field('Bindings', editList({
    label: 'Use these local IP addresses to receive mail:', columns: bindingColumns, items: m.bindings,
    add: (done) => bindingDialog(null, done), edit: (e, done) => bindingDialog(e, done),
  }));
  const remote = reg.field('RemoteIPRanges', editList({
    label: 'Receive mail from remote servers that have these IP addresses:', columns: remoteColumns, items: m.remote,
    addMenu: remoteAddMenu, edit: editRemote,
  }));
  return el('div', {}, bindings.node, remote.node);
}

function authTab(m, reg) {
  const byFlag = {};
  const boxes = AUTH_BOXES.map((b) => {
    const f = b.flag === 'DomainSecure'
      ? checkField(b.label, { indent: true, checked: m.domainSecure, onChange: (v) => { m.domainSecure = v; } })
      : checkField(b.label, {
        indent: b.indent, checked: m.auth.includes(b.flag),
        onChange: (v) => { toggle(m.auth, b.flag, v, AUTH_ORDER); sync(); },
      });
    byFlag[b.flag] = f;
    return f.node;
  });
  reg.field('AuthMechanism', byFlag.Tls);
  reg.field('RequireTLS', byFlag.Tls); // "RequireTLS needs Tls" belongs here too
  reg.field('DomainSecureEnabled', byFlag.DomainSecure);
  // As EMC: a nested box needs its parent (Domain Security needs TLS, Basic
  // only after TLS needs Basic); unticking the parent unticks it.
  function sync() {
    const nest = [['Tls', 'DomainSecure'], ['BasicAuth', 'BasicAuthRequireTLS']];
    for (const [parent, child] of nest) {
      const on = byFlag[parent].get();
      byFlag[child].input.disabled = !on;
      if (!on && byFlag[child].get()) {
        byFlag[child].set(false);
        if (child === 'DomainSecure') m.domainSecure = false;
        else toggle(m.auth, child, false, AUTH_ORDER);
      }
    }
  }
  byFlag.DomainSecure.input.disabled = !byFlag.Tls.get();
  byFlag.BasicAuthRequireTLS.input.disabled = !byFlag.BasicAuth.get();
  return el('div', { class: 'wz-checklist' }, el('p', { class: 'wz-intro' }, 'Specify which security mechanisms are available for incoming connections.'), boxes);
}

function permissionTab(m, reg) {
  const boxes = PERMISSION_BOXES.map((b, i) => {
    const f = checkField(b.label, { checked: m.perms.includes(b.flag), onChange: (v) => toggle(m.perms, b.flag, v, PERM_ORDER) });
    if (i === 0) reg.field('PermissionGroups', f);
    return f.node;
  });
  return el('div', { class: 'wz-checklist' }, el('p', { class: 'wz-intro' }, 'Specify who is allowed to connect.'), boxes);
}

// The Set-ReceiveConnector parameters that changed; null when a field is wrong.
export function receiveDiff(o, m, reg) {
  const p = generalDiff(o, m, reg);
  if (!p) return null;
  if (String(m.sizeKB).trim() !== String(o.sizeKB)) {
    if (!isIntIn(m.sizeKB, 64, 2097151)) {
      reg.fields.MaxMessageSize.error.set('The maximum message size must be a whole number of KB from 64 to 2097151.');
      return null;
    }
    p.MaxMessageSize = `${Number(m.sizeKB)}KB`;
  }
  if (!same(m.bindings, o.bindings)) p.Bindings = [...m.bindings];
  if (!same(m.remote, o.remote)) p.RemoteIPRanges = [...m.remote];
  if (!sameSet(m.auth, o.auth)) p.AuthMechanism = m.auth.length ? [...m.auth] : 'None';
  if (m.domainSecure !== o.domainSecure) p.DomainSecureEnabled = m.domainSecure;
  if (!sameSet(m.perms, o.perms)) p.PermissionGroups = m.perms.length ? [...m.perms] : 'None';
  return p;
}

export function openReceiveConnectorProperties(ctx, identity) {
  return openProps({
    identity,
    getCmdlet: 'Get-ReceiveConnector',
    setCmdlet: 'Set-ReceiveConnector',
    toModel,
    tabs: [
      { name: 'General', render: generalTab },
      { name: 'Network', render: networkTab },
      { name: 'Authentication', render: authTab },
      { name: 'Permission Groups', render: permissionTab },
    ],
    diff: receiveDiff,
    nameOf: (m) => m.name.trim(),
    readOnly: !!ctx && ctx.role === 'ViewOnlyAdmin',
    onChanged: () => { if (ctx && ctx.onChanged) ctx.onChanged(); },
  });
}
