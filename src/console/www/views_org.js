// views_org.js — Organization Configuration → Hub Transport: the tabs
// Accepted Domains, Send Connectors and Transport Settings.
// Must never: change anything except through one cmdlet, or show a changing action to a ViewOnlyAdmin.

import { get } from './api.js';
import { listView } from './list_view.js';
import { runChange } from './actions.js';
import { confirmDialog } from './dialog.js';
import { openNewAcceptedDomain, openAcceptedDomainProperties } from './accepted_domain.js';
import { newSendConnector, sendConnectorProperties } from './connectors.js';
import { statusCell } from './views_common.js';
export { transportSettingsView } from './transport_settings.js';

export function acceptedDomainsView(ctx) {
  const reload = async () => { await view.load(); ctx.changed(); };
  const dctx = { canChange: ctx.canChange, onChanged: reload };
  const view = listView({
    ctx,
    label: 'Accepted Domains',
    fetch: () => get('Get-AcceptedDomain'),
    key: (o) => o.Identity,
    name: (o) => o.Name,
    columns: [
      { label: 'Name', value: (o) => o.Name },
      { label: 'Accepted Domain', value: (o) => o.DomainName },
      { label: 'Domain Type', value: (o) => o.DomainType },
      { label: 'Default', value: (o) => (o.Default ? 'True' : 'False') },
    ],
    open: (o) => openAcceptedDomainProperties(dctx, o),
    actions: () => [{ label: 'New Accepted Domain...', icon: 'new', change: true, run: () => openNewAcceptedDomain(dctx) }],
    rowActions: (o) => [
      { label: 'Make Default', icon: 'default', change: true, disabled: o.Default, run: async () => { if (await runChange('Set-AcceptedDomain', { Identity: o.Identity, MakeDefault: true })) reload(); } },
      { label: 'Remove', icon: 'remove', change: true, run: async () => {
        if (!(await confirmDialog('postern', `Are you sure you want to remove the accepted domain '${o.Name}'?`))) return;
        if (await runChange('Remove-AcceptedDomain', { Identity: o.Identity })) reload();
      } },
      { label: 'Properties', icon: 'properties', run: () => openAcceptedDomainProperties(dctx, o) },
    ],
  });
  return view;
}

export function sendConnectorsView(ctx) {
  const reload = async () => { await view.load(); ctx.changed(); };
  const cctx = { server: ctx.server, role: ctx.role, onChanged: reload };
  const view = listView({
    ctx,
    label: 'Send Connectors',
    fetch: () => get('Get-SendConnector'),
    key: (o) => o.Identity,
    name: (o) => o.Name,
    columns: [
      { label: 'Name', value: (o) => o.Name },
      { label: 'Status', value: (o) => statusCell(o.Enabled), sort: (o) => (o.Enabled ? 0 : 1) },
      { label: 'Address Spaces', value: (o) => o.AddressSpaces },
      { label: 'Smart Hosts', value: (o) => (o.DNSRoutingEnabled === false ? o.SmartHosts : 'DNS (MX records)') },
    ],
    open: (o) => sendConnectorProperties(cctx, o.Identity),
    actions: () => [{ label: 'New Send Connector...', icon: 'new', change: true, run: () => newSendConnector(cctx) }],
    rowActions: (o) => connectorRowActions('SendConnector', o, reload, () => sendConnectorProperties(cctx, o.Identity)),
  });
  return view;
}

// Disable/Enable, Remove, Properties for a Send or Receive connector.
export function connectorRowActions(noun, o, reload, properties) {
  const kind = noun === 'SendConnector' ? 'Send connector' : 'Receive connector';
  return [
    o.Enabled
      ? { label: 'Disable', icon: 'disable', change: true, run: async () => { if (await runChange(`Set-${noun}`, { Identity: o.Identity, Enabled: false })) reload(); } }
      : { label: 'Enable', icon: 'enable', change: true, run: async () => { if (await runChange(`Set-${noun}`, { Identity: o.Identity, Enabled: true })) reload(); } },
    { label: 'Remove', icon: 'remove', change: true, run: async () => {
      if (!(await confirmDialog('postern', `Are you sure you want to remove the ${kind} '${o.Name}'?`))) return;
      if (await runChange(`Remove-${noun}`, { Identity: o.Identity })) reload();
    } },
    { label: 'Properties', icon: 'properties', run: properties },
  ];
}
