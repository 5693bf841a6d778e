// wizard_receive.js — the New SMTP Receive Connector wizard (the seed's
// second procedure, page by page): Introduction, Local network settings,
// Remote network settings, New Connector, Completion. The pages gather
// values; New runs one New-ReceiveConnector with them.
// Must never: build command text (the Completion page shows the server's
// line), or send a binding whose IP address is not syntactically one.

import { el } from './dom.js';
import { cmdlet } from './api.js';
import { openWizard } from './wizard.js';
import { textField, selectField } from './wizard_form.js';
import { editList } from './wizard_list.js';
import { summaryBox } from './wizard_summary.js';
import {
  bindingColumns, bindingDialog, remoteColumns, remoteAddMenu, editRemote,
} from './dialogs_receive.js';

export { openReceiveConnectorProperties } from './props_receive.js';

export const RECEIVE_USAGES = [
  { value: 'Custom', label: 'Custom', text: 'Select this option to create a Receive connector for a custom scenario.' },
  { value: 'Internet', label: 'Internet', text: 'Receive mail from the Internet: anonymous users, TLS offered. All remote IP addresses.' },
  { value: 'Internal', label: 'Internal', text: 'Receive mail from other servers of your organization, on port 25.' },
  { value: 'Client', label: 'Client', text: 'Receive mail from authenticated users, on port 587.' },
  { value: 'Partner', label: 'Partner', text: 'Receive mail from partner domains over Domain Security (mutual TLS).' },
];

export const FQDN_LABEL = 'Specify the FQDN this connector will provide in response to HELO or EHLO:';
export const ALL_REMOTE = '0.0.0.0-255.255.255.255';

const defaultBinding = (usage) => (usage === 'Client' ? '0.0.0.0:587' : '0.0.0.0:25');

function introPage() {
  return {
    name: 'Introduction',
    description: 'This wizard helps you create a new Receive connector. A Receive connector accepts connections on the bindings and from the remote servers you specify.',
    params: ['Name', 'Usage'],
    render(s, reg) {
      const name = reg.field('Name', textField('Name:', { value: s.name, onInput: (v) => { s.name = v; } }));
      const text = el('p', { class: 'wz-usage-text' });
      const usage = reg.field('Usage', selectField('Select the intended use for this Receive connector:', RECEIVE_USAGES, {
        value: s.usage,
        onChange: (v) => {
          // A binding left at the old usage's default follows the new one.
          if (s.bindings.length === 1 && s.bindings[0] === defaultBinding(s.usage)) s.bindings[0] = defaultBinding(v);
          s.usage = v;
          text.textContent = RECEIVE_USAGES.find((u) => u.value === v).text;
          reg.stepsChanged();
        },
      }));
      text.textContent = RECEIVE_USAGES.find((u) => u.value === s.usage).text;
      return el('div', {}, name.node, usage.node, el('div', { class: 'wz-usage-box' }, el('span', { class: 'wz-label' }, 'Description:'), text));
    },
    validate(s, reg) {
      s.name = s.name.trim();
      if (!s.name) { reg.fields.Name.error.set('Type a name for the connector.'); return false; }
      return true;
    },
  };
}

function localPage() {
  return {
    name: 'Local network settings',
    description: 'Use these local IP addresses to receive mail.',
    params: ['Bindings', 'Fqdn'],
    render(s, reg) {
      const list = reg.field('Bindings', editList({
        label: 'Local IP address(es):', columns: bindingColumns, items: s.bindings,
        add: (done) => bindingDialog(null, done), edit: (e, done) => bindingDialog(e, done),
      }));
      const fqdn = reg.field('Fqdn', textField(FQDN_LABEL, {
        value: s.fqdn, onInput: (v) => { s.fqdn = v; }, hint: 'For example, mail.contoso.com',
      }));
      return el('div', {}, list.node, fqdn.node);
    },
    validate(s, reg) {
      if (!s.bindings.length) { reg.fields.Bindings.error.set('Add at least one local IP address and port.'); return false; }
      if (/\s/.test(s.fqdn.trim())) { reg.fields.Fqdn.error.set('An FQDN cannot contain spaces.'); return false; }
      return true;
    },
  };
}

function remotePage() {
  return {
    name: 'Remote network settings',
    description: 'Receive mail from remote servers that have these IP addresses.',
    params: ['RemoteIPRanges'],
    skip: (s) => s.usage === 'Internet',
    render(s, reg) {
      return reg.field('RemoteIPRanges', editList({
        label: 'Remote IP address(es):', columns: remoteColumns, items: s.remote,
        addMenu: remoteAddMenu, edit: editRemote,
      })).node;
    },
    validate(s, reg) {
      if (!s.remote.length) { reg.fields.RemoteIPRanges.error.set('Add at least one remote IP address or range.'); return false; }
      return true;
    },
  };
}

// The New-ReceiveConnector parameters of the wizard's values.
export function newReceiveParams(s) {
  const p = { Name: s.name, Usage: s.usage, Bindings: [...s.bindings] };
  if (s.fqdn.trim()) p.Fqdn = s.fqdn.trim();
  if (s.usage !== 'Internet') p.RemoteIPRanges = [...s.remote];
  return p;
}

function summary(s) {
  const lines = [['Intended use', s.usage], ['Local IP address(es)', s.bindings],
    ['FQDN', s.fqdn.trim() || '(the server FQDN)']];
  lines.push(['Remote IP address(es)', s.usage === 'Internet' ? ['(all)'] : s.remote]);
  return summaryBox([{ title: s.name, lines }]);
}

export function openNewReceiveConnector(ctx) {
  const server = (ctx && ctx.server) || { name: '', fqdn: '' };
  const state = {
    name: '', usage: 'Custom', bindings: [defaultBinding('Custom')], fqdn: server.fqdn || '', remote: [ALL_REMOTE],
  };
  return openWizard({
    title: 'New SMTP Receive Connector',
    state,
    pages: [introPage(), localPage(), remotePage()],
    summaryName: 'New Connector',
    summary,
    itemName: (s) => s.name,
    run: (s) => cmdlet('New-ReceiveConnector', newReceiveParams(s)),
    onDone: () => { if (ctx && ctx.onChanged) ctx.onChanged(); },
  });
}
