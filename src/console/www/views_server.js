// views_server.js — Server Configuration → Hub Transport: the server
// (upper pane), the tabs Receive Connectors (with the event 12014 marker:
// no SMTP certificate names the connector's FQDN, so no STARTTLS) and Certificates.
// Must never: change anything except through one cmdlet, or show a changing action to a ViewOnlyAdmin.

import { el, clear } from './dom.js';
import { get } from './api.js';
import { listView } from './list_view.js';
import { runChange } from './actions.js';
import { confirmDialog, objectDialog } from './dialog.js';
import { makeList } from './list.js';
import { connectorRowActions } from './views_org.js';
import { newReceiveConnector, receiveConnectorProperties } from './connectors.js';
import { statusCell, warnCell, dateOnly } from './views_common.js';
import { missingCertificate, connectorFqdn, services, expiry, usedBy, usable, certNamesFqdn, offersTls, smtpEnabled } from './certs_match.js';
import { openNewCertificate, openImportCertificate, openImportTrusted } from './certs_dialogs.js';

// The upper pane: this server, as EMC lists the Hub Transport servers.
export function serverSummary(ctx) {
  const list = makeList({
    label: 'Hub Transport servers',
    key: (o) => o.name,
    columns: [
      { label: 'Name', value: (o) => o.name },
      { label: 'Role', value: () => 'Hub Transport' },
      { label: 'FQDN', value: (o) => o.fqdn },
      { label: 'Version', value: () => 'postern' },
    ],
  });
  list.setRows([ctx.server]);
  list.select(ctx.server.name);
  return el('div', { class: 'upper-pane' }, list.node);
}

// Both tabs need both lists (the marker and "Used by").
async function loadBoth() {
  const [connectors, certs] = await Promise.all([get('Get-ReceiveConnector'), get('Get-ExchangeCertificate')]);
  return { connectors, certs };
}

function enableCert(cert, reload) {
  return async () => {
    if (await runChange('Enable-ExchangeCertificate', { Thumbprint: cert.Thumbprint, Services: 'SMTP' })) reload();
  };
}

export function receiveConnectorsView(ctx) {
  let certs = [];
  const reload = async () => { await view.load(); ctx.changed(); };
  const cctx = { server: ctx.server, role: ctx.role, onChanged: reload };
  const banner = el('div', { class: 'banners' });
  const marker = (o) => missingCertificate(o, certs, ctx.server);

  function showBanners(rows) {
    clear(banner);
    const seen = new Set();
    for (const c of rows) {
      const m = marker(c);
      if (!m || seen.has(m.fqdn.toLowerCase())) continue;
      seen.add(m.fqdn.toLowerCase());
      const who = rows.filter((r) => { const x = marker(r); return x && x.fqdn.toLowerCase() === m.fqdn.toLowerCase(); }).map((r) => `'${r.Name}'`).join(', ');
      const text = el('div', { class: 'banner-text' },
        el('strong', {}, `No certificate for ${m.fqdn}. `),
        `Receive connector ${who} answers as ${m.fqdn}, but no certificate enabled for SMTP names it, so STARTTLS is not offered (event 12014). `,
        m.fix ? `The certificate ${m.fix.Subject} (${m.fix.Thumbprint}) names ${m.fqdn}: enable it for SMTP.`
          : `No certificate here names ${m.fqdn}: create one, or import one from your certification authority.`);
      const buttons = el('div', { class: 'banner-buttons' });
      if (ctx.canChange) {
        if (m.fix) {
          const b = el('button', { type: 'button', class: 'btn primary', 'data-fix': m.fqdn }, 'Enable Exchange Certificate');
          b.addEventListener('click', enableCert(m.fix, reload));
          buttons.append(b);
        } else {
          const b = el('button', { type: 'button', class: 'btn primary', 'data-fix': m.fqdn }, 'New Exchange Certificate...');
          b.addEventListener('click', () => openNewCertificate({ server: ctx.server, onChanged: reload }, { domains: [m.fqdn], enableSmtp: true }));
          buttons.append(b);
        }
      }
      banner.append(el('div', { class: 'banner banner-warn', role: 'status' }, el('span', { class: 'icon-warn', 'aria-hidden': 'true' }, '!'), text, buttons));
    }
  }

  const view = listView({
    ctx,
    label: 'Receive Connectors',
    above: banner,
    fetch: async () => {
      const both = await loadBoth();
      certs = both.certs;
      return both.connectors;
    },
    after: showBanners,
    rowClass: (o) => (marker(o) ? 'row-warn' : ''),
    key: (o) => o.Identity,
    name: (o) => o.Name,
    columns: [
      { label: 'Name', value: (o) => o.Name },
      { label: 'Status', value: (o) => statusCell(o.Enabled), sort: (o) => (o.Enabled ? 0 : 1) },
      { label: 'Bindings', value: (o) => o.Bindings },
      { label: 'Fqdn', value: (o) => connectorFqdn(o, ctx.server) },
      { label: 'TLS', value: (o) => { const m = marker(o); return m ? warnCell(`No certificate for ${m.fqdn}`) : offersTls(o) ? 'STARTTLS' : 'Not offered (no Tls)'; } },
    ],
    open: (o) => receiveConnectorProperties(cctx, o.Identity),
    actions: () => [{ label: 'New Receive Connector...', icon: 'new', change: true, run: () => newReceiveConnector(cctx) }],
    rowActions: (o) => connectorRowActions('ReceiveConnector', o, reload, () => receiveConnectorProperties(cctx, o.Identity)),
  });
  return view;
}

export function certificatesView(ctx) {
  let connectors = [];
  const reload = async () => { await view.load(); ctx.changed(); };
  const dctx = { server: ctx.server, onChanged: reload };
  const statusText = (c) => {
    const e = expiry(c);
    if (e === 'expired') return warnCell('Expired');
    if (e === 'soon') {
      const days = Math.max(0, Math.ceil((new Date(c.NotAfter).getTime() - Date.now()) / 86400000));
      return warnCell(`Expires in ${days} day${days === 1 ? '' : 's'}`);
    }
    return c.Status || '';
  };
  const usedText = (c) => {
    const names = usedBy(c, connectors, ctx.server);
    if (names.length) return names.join(', ');
    if (!smtpEnabled(c) && usable(c)) {
      const could = connectors.filter((r) => certNamesFqdn(c, connectorFqdn(r, ctx.server))).map((r) => r.Name);
      if (could.length) return `None (names ${could.join(', ')}; not enabled for SMTP)`;
    }
    return '';
  };
  const view = listView({
    ctx,
    label: 'Exchange Certificates',
    fetch: async () => {
      const both = await loadBoth();
      connectors = both.connectors;
      return both.certs;
    },
    key: (o) => o.Thumbprint,
    rowClass: (o) => (expiry(o) ? `row-${expiry(o)}` : ''),
    name: (o) => o.Subject || o.Thumbprint,
    columns: [
      { label: 'Subject', value: (o) => o.Subject, sort: (o) => o.Subject || '' },
      { label: 'Services', value: (o) => services(o).join(', ') || 'None' },
      { label: 'Status', value: statusText, sort: (o) => o.Status || '' },
      { label: 'Expires', value: (o) => dateOnly(o.NotAfter), sort: (o) => o.NotAfter || '' },
      { label: 'Used by', value: usedText },
      { label: 'Thumbprint', value: (o) => o.Thumbprint, cls: 'mono' },
    ],
    actions: () => [
      { label: 'New Exchange Certificate...', icon: 'new', change: true, run: () => openNewCertificate(dctx) },
      { label: 'Import Exchange Certificate...', icon: 'import', change: true, run: () => openImportCertificate(dctx) },
      { label: 'Import Trusted Root or CRL...', icon: 'import', change: true, run: () => openImportTrusted(dctx) },
    ],
    rowActions: (o) => [
      { label: 'Enable Exchange Certificate', icon: 'enable', change: true, disabled: !usable(o) || services(o).includes('SMTP'), run: enableCert(o, reload) },
      { label: 'Remove', icon: 'remove', change: true, run: async () => {
        if (!(await confirmDialog('postern', `Are you sure you want to remove the certificate ${o.Subject} (${o.Thumbprint})?`))) return;
        if (await runChange('Remove-ExchangeCertificate', { Thumbprint: o.Thumbprint })) reload();
      } },
      { label: 'Properties', icon: 'properties', run: () => objectDialog(`${o.Subject || o.Thumbprint} Properties`, o) },
    ],
    open: (o) => objectDialog(`${o.Subject || o.Thumbprint} Properties`, o),
  });
  return view;
}

