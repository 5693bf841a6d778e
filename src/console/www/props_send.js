// props_send.js — the Properties of a Send connector: tabs General,
// Address Space, Network (DNS or smart hosts, smart host authentication,
// Enable Domain Security (Mutual Auth TLS)), Source Server. OK / Apply run
// Set-SendConnector with only what changed.
// Must never: send AuthenticationCredential unless the admin typed a
// password (Get- shows only the user name), or show a password.

import { el } from './dom.js';
import { openProps, same, sizeKB, generalDiff, generalModel } from './props_dialog.js';
import { textField, checkField, radioGroup, selectField, messageSlot } from './wizard_form.js';
import { editList } from './wizard_list.js';
import { isIntIn } from './wizard_ipcheck.js';
import {
  addressSpaceColumns, addressSpaceDialog, smartHostDialog, sourceServerDialog,
  smartHostAuthDialog, isBasicAuth, authLabel,
} from './dialogs_send.js';

const isBasic = isBasicAuth;
const LOG_LEVELS = [{ value: 'None', label: 'None' }, { value: 'Verbose', label: 'Verbose' }];
export const DOMAIN_SECURITY = 'Enable Domain Security (Mutual Auth TLS)';

function toModel(o) {
  const kb = sizeKB(o.MaxMessageSize);
  return {
    ...generalModel(o),
    sizeOn: kb !== null,
    sizeKB: kb === null ? '10240' : String(kb),
    spaces: [...(o.AddressSpaces || [])],
    routing: o.DNSRoutingEnabled === false ? 'smart' : 'dns',
    hosts: [...(o.SmartHosts || [])],
    auth: o.SmartHostAuthMechanism || 'None',
    user: o.AuthenticationCredential || '',
    savedUser: o.AuthenticationCredential || '',
    password: '',
    domainSecure: !!o.DomainSecureEnabled,
    sources: [...(o.SourceTransportServers || [])],
  };
}

function generalTab(m, reg) {
  const name = reg.field('Name', textField('Name:', { value: m.name, onInput: (v) => { m.name = v; } }));
  const enabled = reg.field('Enabled', checkField('Enabled', { checked: m.enabled, onChange: (v) => { m.enabled = v; } }));
  const logging = reg.field('ProtocolLoggingLevel', selectField('Protocol logging level:', LOG_LEVELS,
    { value: m.logging, onChange: (v) => { m.logging = v; } }));
  const fqdn = reg.field('Fqdn', textField('Specify the FQDN this connector will provide in response to HELO or EHLO:',
    { value: m.fqdn, onInput: (v) => { m.fqdn = v; } }));
  const size = textField('Maximum message size (KB):', { value: m.sizeKB, cls: 'wz-short', onInput: (v) => { m.sizeKB = v; } });
  const sizeOn = checkField('Limit the size of messages', { checked: m.sizeOn, onChange: (v) => { m.sizeOn = v; size.input.disabled = !v; } });
  size.input.disabled = !m.sizeOn;
  reg.field('MaxMessageSize', size);
  return el('div', {}, name.node, enabled.node, logging.node, fqdn.node, sizeOn.node, size.node);
}

function addressTab(m, reg) {
  return reg.field('AddressSpaces', editList({
    label: 'Address space:', columns: addressSpaceColumns, items: m.spaces,
    add: (done) => addressSpaceDialog(null, done), edit: (e, done) => addressSpaceDialog(e, done),
  })).node;
}

function networkTab(m, reg) {
  const hosts = reg.field('SmartHosts', editList({
    label: 'Smart hosts:', columns: [{ label: 'Smart host', value: (h) => h }], items: m.hosts,
    add: (done) => smartHostDialog(null, done), edit: (e, done) => smartHostDialog(e, done),
  }));
  const route = reg.field('DNSRoutingEnabled', radioGroup('Select how to send mail with this connector:', [
    { value: 'dns', label: 'Use domain name system (DNS) "MX" records to route mail automatically' },
    { value: 'smart', label: 'Route mail through the following smart hosts:', extra: hosts.node },
  ], { value: m.routing, onChange: (v) => { m.routing = v; } }));
  // "Smart host authentication: <method>  Change...", as EMC.
  const authText = el('span', { class: 'wz-auth-value' });
  const authLine = { error: messageSlot() };
  reg.field('SmartHostAuthMechanism', authLine);
  reg.field('AuthenticationCredential', authLine);
  const change = el('button', { type: 'button', class: 'btn' }, 'Change...');
  function showAuth() {
    authText.textContent = authLabel(m.auth) + (isBasic(m.auth) && m.user ? ` (user name: ${m.user})` : '');
  }
  showAuth();
  change.addEventListener('click', () => smartHostAuthDialog(
    { auth: m.auth, user: m.user, password: m.password, savedUser: m.savedUser },
    (v) => { m.auth = v.auth; m.user = v.user; m.password = v.password; authLine.error.set(null); showAuth(); }));
  const secure = reg.field('DomainSecureEnabled', checkField(DOMAIN_SECURITY, {
    checked: m.domainSecure, onChange: (v) => { m.domainSecure = v; },
  }));
  return el('div', {}, route.node,
    el('div', { class: 'wz-auth-line' }, el('span', { class: 'wz-auth-key' }, 'Smart host authentication:'), authText, change),
    authLine.error.node, secure.node);
}

function sourceTab(server) {
  return (m, reg) => reg.field('SourceTransportServers', editList({
    label: 'Source servers:', items: m.sources,
    columns: [{ label: 'Name', value: (n) => n }, { label: 'Role', value: () => 'Hub Transport' }],
    add: (done) => sourceServerDialog([server], m.sources, done),
  })).node;
}

// The Set-SendConnector parameters that changed; null when a field is wrong.
export function sendDiff(o, m, reg) {
  const p = generalDiff(o, m, reg);
  if (!p) return null;
  if (m.sizeOn && !isIntIn(m.sizeKB, 0, 2097151)) {
    reg.fields.MaxMessageSize.error.set('The maximum message size must be a whole number of KB from 0 to 2097151.');
    return null;
  }
  if (m.sizeOn !== o.sizeOn || (m.sizeOn && Number(m.sizeKB) !== Number(o.sizeKB))) {
    p.MaxMessageSize = m.sizeOn ? `${Number(m.sizeKB)}KB` : 'Unlimited';
  }
  if (!same(m.spaces, o.spaces)) p.AddressSpaces = [...m.spaces];
  if (m.routing !== o.routing) p.DNSRoutingEnabled = m.routing === 'dns';
  if (!same(m.hosts, o.hosts)) p.SmartHosts = [...m.hosts];
  if (m.auth !== o.auth) p.SmartHostAuthMechanism = m.auth;
  if (isBasic(m.auth)) {
    // A typed password sends a new credential; else the stored one stays,
    // which needs one stored for this same user.
    const user = m.user.trim();
    if (m.password) p.AuthenticationCredential = `${user}:${m.password}`;
    else if (!o.savedUser || user !== o.savedUser) {
      reg.fields.AuthenticationCredential.error.set('Click Change... and type the user name and password for Basic authentication.');
      return null;
    }
  }
  if (m.domainSecure !== o.domainSecure) p.DomainSecureEnabled = m.domainSecure;
  if (!same(m.sources, o.sources)) p.SourceTransportServers = [...m.sources];
  return p;
}

export function openSendConnectorProperties(ctx, identity) {
  const server = (ctx && ctx.server) || { name: '', fqdn: '' };
  return openProps({
    identity,
    getCmdlet: 'Get-SendConnector',
    setCmdlet: 'Set-SendConnector',
    toModel,
    tabs: [
      { name: 'General', render: generalTab },
      { name: 'Address Space', render: addressTab },
      { name: 'Network', render: networkTab },
      { name: 'Source Server', render: sourceTab(server) },
    ],
    diff: sendDiff,
    nameOf: (m) => m.name.trim(),
    readOnly: !!ctx && ctx.role === 'ViewOnlyAdmin',
    afterApply: (m) => { m.password = ''; m.savedUser = m.user; },
    onChanged: () => { if (ctx && ctx.onChanged) ctx.onChanged(); },
  });
}
