// wizard_send.js — the New SMTP Send Connector wizard (the seed's first
// procedure, page by page): Introduction, Address space, Network settings,
// Smart host security settings, Source Server, New Connector, Completion.
// The pages gather values; New runs one New-SendConnector with them.
// Must never: put the smart host password anywhere but the
// AuthenticationCredential parameter (the server passes it on stdin), or
// build command text (the Completion page shows the server's line).

import { el } from './dom.js';
import { cmdlet } from './api.js';
import { openWizard } from './wizard.js';
import { textField, selectField, radioGroup, intro } from './wizard_form.js';
import { editList } from './wizard_list.js';
import { summaryBox } from './wizard_summary.js';
import {
  addressSpaceColumns, addressSpaceDialog, smartHostDialog, sourceServerDialog,
  SMART_HOST_AUTH, isBasicAuth, authLabel,
} from './dialogs_send.js';

export { openSendConnectorProperties } from './props_send.js';

export const SEND_USAGES = [
  { value: 'Custom', label: 'Custom', text: 'Send mail to a custom destination.' },
  { value: 'Internal', label: 'Internal', text: 'Send mail to smart hosts of your organization.' },
  { value: 'Internet', label: 'Internet', text: 'Send mail to the Internet, by DNS MX records.' },
  { value: 'Partner', label: 'Partner', text: 'Send mail to partner domains with Domain Security (mutual TLS).' },
];


export const ROUTE_DNS = 'Use domain name system (DNS) "MX" records to route mail automatically';
export const ROUTE_SMART = 'Route mail through the following smart hosts:';

const isBasic = isBasicAuth;

function introPage() {
  return {
    name: 'Introduction',
    description: 'This wizard helps you create a new Send connector. A Send connector sends mail to the address spaces you specify.',
    params: ['Name', 'Usage'],
    render(s, reg) {
      const name = reg.field('Name', textField('Name:', { value: s.name, onInput: (v) => { s.name = v; } }));
      const text = el('p', { class: 'wz-usage-text' });
      const usage = reg.field('Usage', selectField('Select the intended use for this Send connector:',
        SEND_USAGES, {
          value: s.usage,
          onChange: (v) => {
            s.usage = v;
            if (!s.routingTouched) s.routing = v === 'Internal' ? 'smart' : 'dns';
            text.textContent = SEND_USAGES.find((u) => u.value === v).text;
            reg.stepsChanged();
          },
        }));
      text.textContent = SEND_USAGES.find((u) => u.value === s.usage).text;
      return el('div', {}, name.node, usage.node, el('div', { class: 'wz-usage-box' }, el('span', { class: 'wz-label' }, 'Description:'), text));
    },
    validate(s, reg) {
      s.name = s.name.trim();
      if (!s.name) { reg.fields.Name.error.set('Type a name for the connector.'); return false; }
      return true;
    },
  };
}

function addressPage() {
  return {
    name: 'Address space',
    description: 'Specify the address space(s) to which this connector will route mail.',
    params: ['AddressSpaces'],
    render(s, reg) {
      const list = reg.field('AddressSpaces', editList({
        label: 'Address space:', columns: addressSpaceColumns, items: s.addressSpaces,
        add: (done) => addressSpaceDialog(null, done), edit: (e, done) => addressSpaceDialog(e, done),
      }));
      return list.node;
    },
    validate(s, reg) {
      if (!s.addressSpaces.length) { reg.fields.AddressSpaces.error.set('Add at least one address space.'); return false; }
      return true;
    },
  };
}

function networkPage() {
  return {
    name: 'Network settings',
    description: 'Select how to send mail with this connector.',
    params: ['DNSRoutingEnabled', 'SmartHosts', 'Port'],
    render(s, reg) {
      const hosts = reg.field('SmartHosts', editList({
        label: 'Smart hosts:', columns: [{ label: 'Smart host', value: (h) => h }], items: s.smartHosts,
        add: (done) => smartHostDialog(null, done), edit: (e, done) => smartHostDialog(e, done),
      }));
      const route = reg.field('DNSRoutingEnabled', radioGroup(null, [
        { value: 'dns', label: ROUTE_DNS },
        { value: 'smart', label: ROUTE_SMART, extra: hosts.node },
      ], { value: s.routing, onChange: (v) => { s.routing = v; s.routingTouched = true; sync(); reg.stepsChanged(); } }));
      function sync() { hosts.node.classList.toggle('wz-disabled', s.routing !== 'smart'); }
      sync();
      return route.node;
    },
    validate(s, reg) {
      if (s.routing === 'smart' && !s.smartHosts.length) {
        reg.fields.SmartHosts.error.set('Add at least one smart host, or use DNS MX records.');
        return false;
      }
      return true;
    },
  };
}

function securityPage() {
  return {
    name: 'Smart host security settings',
    description: 'Configure smart host authentication settings: select the authentication method the smart hosts expect.',
    params: ['SmartHostAuthMechanism', 'AuthenticationCredential'],
    skip: (s) => s.routing !== 'smart',
    render(s, reg) {
      const user = textField('User name:', { value: s.user, onInput: (v) => { s.user = v; } });
      const pass = textField('Password:', { value: s.password, type: 'password', onInput: (v) => { s.password = v; } });
      reg.field('AuthenticationCredential', user);
      reg.fields.Password = pass;
      const cred = el('div', { class: 'wz-credential' }, user.node, pass.node);
      const auth = reg.field('SmartHostAuthMechanism', radioGroup(null, SMART_HOST_AUTH,
        { value: s.auth, onChange: (v) => { s.auth = v; sync(); } }));
      function sync() {
        user.input.disabled = !isBasic(s.auth);
        pass.input.disabled = !isBasic(s.auth);
      }
      sync();
      return el('div', {}, auth.node, cred);
    },
    validate(s, reg) {
      if (!isBasic(s.auth)) return true;
      if (!s.user.trim()) { reg.fields.AuthenticationCredential.error.set('Type the user name for Basic authentication.'); return false; }
      if (s.user.includes(':')) { reg.fields.AuthenticationCredential.error.set('A user name cannot contain a colon (:).'); return false; }
      if (!s.password) { reg.fields.Password.error.set('Type the password for Basic authentication.'); return false; }
      return true;
    },
  };
}

function sourcePage(ctx) {
  return {
    name: 'Source Server',
    description: 'Associate this connector with the following Hub Transport servers.',
    params: ['SourceTransportServers'],
    render(s, reg) {
      const list = reg.field('SourceTransportServers', editList({
        label: 'Source servers:', items: s.sources,
        columns: [{ label: 'Name', value: (n) => n }, { label: 'Role', value: () => 'Hub Transport' }],
        add: (done) => sourceServerDialog([ctx.server], s.sources, done),
      }));
      return list.node;
    },
    validate(s, reg) {
      if (!s.sources.length) { reg.fields.SourceTransportServers.error.set('Add at least one source server.'); return false; }
      return true;
    },
  };
}

// The New-SendConnector parameters of the wizard's values, in EMC's order.
export function newSendParams(s) {
  const p = { Name: s.name, Usage: s.usage, AddressSpaces: [...s.addressSpaces], DNSRoutingEnabled: s.routing === 'dns' };
  if (s.routing === 'smart') {
    p.SmartHosts = [...s.smartHosts];
    p.SmartHostAuthMechanism = s.auth;
    if (isBasic(s.auth)) p.AuthenticationCredential = `${s.user.trim()}:${s.password}`;
  }
  p.SourceTransportServers = [...s.sources];
  return p;
}

function summary(s) {
  const network = s.routing === 'dns'
    ? [['Use DNS "MX" records', 'True']]
    : [['Smart hosts', s.smartHosts], ['Smart host authentication', authLabel(s.auth)]];
  if (s.routing === 'smart' && isBasic(s.auth)) network.push(['User name', s.user.trim()]);
  return summaryBox([
    { title: s.name, lines: [['Intended use', s.usage], ['Address space', s.addressSpaces]] },
    { title: 'Network settings', lines: network },
    { title: 'Source Server', lines: [['Source servers', s.sources]] },
  ]);
}

export function openNewSendConnector(ctx) {
  const server = (ctx && ctx.server) || { name: '', fqdn: '' };
  const state = {
    name: '', usage: 'Custom', addressSpaces: [], routing: 'dns', routingTouched: false,
    smartHosts: [], auth: 'None', user: '', password: '', sources: server.name ? [server.name] : [],
  };
  return openWizard({
    title: 'New SMTP Send Connector',
    state,
    pages: [introPage(), addressPage(), networkPage(), securityPage(), sourcePage({ ...ctx, server })],
    summaryName: 'New Connector',
    summary,
    itemName: (s) => s.name,
    run: (s) => cmdlet('New-SendConnector', newSendParams(s)),
    onDone: () => { state.password = ''; if (ctx && ctx.onChanged) ctx.onChanged(); },
  });
}
