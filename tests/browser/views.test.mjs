// views.test.mjs — the console's shell and non-wizard views in a real
// browser: names made of markup show as text, the New Accepted Domain
// wizard and Properties, Transport Settings' Apply, the Queue Viewer acting
// on a real queued message, the Audit Log, the event 12014 marker and its
// fixes, certificate requests, Message Tracking, a ViewOnlyAdmin's view,
// and a session that ends. A screenshot of each view goes to screenshots/.
// Must never: reach beyond loopback, or leave the instance running.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { start, waitFor, freePort, DOMAIN } from './harness.mjs';
import * as certs from '../../src/console/www/certs_match.js';

const XSS = '<img src=x onerror=alert(1)>';
const RELAY = 'relay.test';
const SENDER = 'carol@fabrikam.test';

let h = null;
let page = null;
const dialogs = []; // window.alert/confirm/prompt that fired: must stay empty

before(async () => {
  h = await start();
  page = h.page;
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await h.signIn();
}, { timeout: 90000 });

after(async () => {
  if (h) {
    if (h.consoleErrors.length) console.log('browser console errors:\n', h.consoleErrors.join('\n'));
    await h.stop();
  }
});

const json = (args) => {
  const out = h.postern([...args, '|', 'ConvertTo-Json']).trim();
  if (!out) return [];
  const v = JSON.parse(out);
  return Array.isArray(v) ? v : [v];
};
const dialog = (name) => page.getByRole('dialog', { name, exact: true });
const action = (name) => page.locator('.actions').getByRole('button', { name, exact: true });
const row = (text) => page.locator('table.list tbody tr', { hasText: text });

async function openView(group, node, tab) {
  const tree = group ? page.locator('.tree-group', { hasText: group }) : page.locator('.tree');
  await tree.getByRole('treeitem', { name: node, exact: true }).click();
  if (tab) await page.getByRole('tab', { name: tab, exact: true }).click();
  await page.waitForFunction(() => !/Loading/.test(document.querySelector('.status-count')?.textContent || ''));
}

function sendMail(to, subject) {
  const py = `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('client.test')
s.sendmail(sys.argv[2], [sys.argv[3]], 'From: %s\\r\\nTo: %s\\r\\nSubject: %s\\r\\nMessage-ID: <views-1@fabrikam.test>\\r\\n\\r\\nhello\\r\\n' % (sys.argv[2], sys.argv[3], sys.argv[4]))
s.quit()
`;
  const r = spawnSync('python3', ['-c', py, String(h.smtpPort), SENDER, to, subject], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `smtplib failed: ${r.stderr}`);
}

test('a name made of markup shows as text in every list, and no script runs', { timeout: 60000 }, async () => {
  h.postern(['New-AcceptedDomain', '-Name', XSS, '-DomainName', 'xss.contoso.test']);
  h.postern(['New-SendConnector', '-Name', XSS, '-AddressSpaces', 'xss.example', '-DNSRoutingEnabled', '$false', '-SmartHosts', '127.0.0.1', '-Port', '1']);
  await openView('Organization Configuration', 'Hub Transport', 'Accepted Domains');
  const cell = page.locator('table.list td', { hasText: XSS }).first();
  await cell.waitFor();
  assert.equal(await cell.textContent(), XSS);
  await cell.click();
  assert.equal(await page.locator('.action-group h3').last().textContent(), XSS);
  await h.shot('views-01-accepted-domains');
  await openView('Organization Configuration', 'Hub Transport', 'Send Connectors');
  await row(XSS).waitFor();
  assert.equal(await row(XSS).locator('td').first().textContent(), XSS);
  await row(XSS).click();
  await h.shot('views-02-send-connectors');
  assert.equal(await page.locator('img').count(), 0, 'an <img> element was made from a value');
  assert.deepEqual(dialogs, []);
  // Disable and Enable (Set-SendConnector -Enabled $false / $true).
  const enabled = () => json(['Get-SendConnector']).find((c) => c.Name === XSS).Enabled;
  await action('Disable').click();
  await waitFor('the connector disabled', () => enabled() === false);
  await row(XSS).getByText('Disabled').waitFor();
  await action('Enable').click();
  await waitFor('the connector enabled', () => enabled() === true);
  await row(XSS).getByText('Enabled').waitFor();
  // Clean up through the console: Remove asks first, then runs the cmdlet.
  await action('Remove').click();
  await dialog('postern').getByRole('button', { name: 'Yes' }).click();
  await waitFor('the connector to go', async () => !(await row(XSS).count()));
  assert.equal(json(['Get-SendConnector']).filter((c) => c.Name === XSS).length, 0);
});

test('New Accepted Domain wizard, Properties and Make Default', { timeout: 60000 }, async () => {
  await openView('Organization Configuration', 'Hub Transport', 'Accepted Domains');
  await action('New Accepted Domain...').click();
  const wiz = dialog('New Accepted Domain');
  await wiz.getByRole('button', { name: 'Next >' }).click();
  await wiz.getByText('Enter a name for the accepted domain.').waitFor();
  await wiz.getByLabel('Name:').fill('Fabrikam');
  await wiz.getByLabel('Accepted Domain:').fill('fabrikam.test');
  await wiz.getByLabel(/^Internal Relay Domain/).check();
  await h.shot('views-03-new-accepted-domain', wiz);
  await wiz.getByRole('button', { name: 'Next >' }).click();
  await wiz.getByRole('button', { name: 'New', exact: true }).click();
  await wiz.getByText('The following Exchange Management Shell command completed successfully:').waitFor();
  const cmd = await wiz.locator('.command-line').textContent();
  assert.match(cmd, /^New-AcceptedDomain .*-Name 'Fabrikam'/);
  assert.match(cmd, /-DomainType 'InternalRelay'/);
  await h.shot('views-04-new-accepted-domain-done', wiz);
  await wiz.getByRole('button', { name: 'Finish' }).click();
  await row('fabrikam.test').waitFor();
  const made = json(['Get-AcceptedDomain', '-Identity', 'Fabrikam'])[0];
  assert.equal(made.DomainType, 'InternalRelay');

  // Properties (double-click): the type back to Authoritative.
  await row('fabrikam.test').dblclick();
  const props = dialog('Fabrikam Properties');
  await props.getByLabel(/^Authoritative Domain/).check();
  await h.shot('views-05-accepted-domain-properties', props);
  await props.getByRole('button', { name: 'OK' }).click();
  await props.waitFor({ state: 'detached' });
  assert.equal(json(['Get-AcceptedDomain', '-Identity', 'Fabrikam'])[0].DomainType, 'Authoritative');
  await waitFor('the list to show the new type', async () => /Authoritative/.test(await row('fabrikam.test').textContent()));

  // Make Default.
  await row('fabrikam.test').click();
  await action('Make Default').click();
  await waitFor('Make Default', () => json(['Get-AcceptedDomain', '-Identity', 'Fabrikam'])[0].Default === true);
  assert.equal(json(['Get-AcceptedDomain', '-Identity', DOMAIN])[0].Default, false);

  // The right-click menu of a row: the same actions as the action pane.
  await row(DOMAIN).first().click({ button: 'right' });
  const menu = page.getByRole('menu');
  assert.deepEqual(await menu.getByRole('menuitem').allTextContents(), ['Make Default', 'Remove', 'Properties']);
  await h.shot('views-05b-context-menu');
  await menu.getByRole('menuitem', { name: 'Properties' }).click();
  await dialog(`${DOMAIN} Properties`).getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await menu.count(), 0);
});

test('New Accepted Domain: a refusal shows in the cmdlet\'s words, and Back returns to the field', { timeout: 30000 }, async () => {
  await openView('Organization Configuration', 'Hub Transport', 'Accepted Domains');
  await action('New Accepted Domain...').click();
  const wiz = dialog('New Accepted Domain');
  await wiz.getByLabel('Name:').fill('Bad');
  await wiz.getByLabel('Accepted Domain:').fill('domain.*.contoso.test');
  await wiz.getByRole('button', { name: 'Next >' }).click();
  await wiz.getByRole('button', { name: 'New', exact: true }).click();
  await wiz.getByText('The following Exchange Management Shell command failed:').waitFor();
  const why = (await wiz.locator('.error-text').textContent()).trim();
  assert.ok(why.length > 0);
  await h.shot('views-04b-new-accepted-domain-failed', wiz);
  await wiz.getByRole('button', { name: '< Back' }).click();
  await wiz.getByRole('alert').getByText(why).waitFor();
  assert.equal(await wiz.getByLabel('Accepted Domain:').inputValue(), 'domain.*.contoso.test');
  await wiz.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(json(['Get-AcceptedDomain']).filter((d) => d.Name === 'Bad').length, 0);
});

test('Transport Settings: Apply runs Set-TransportConfig with only what changed', { timeout: 60000 }, async () => {
  await openView('Organization Configuration', 'Hub Transport', 'Transport Settings');
  const retry = page.getByLabel('Message retry interval:');
  await waitFor('the settings', async () => (await retry.inputValue()) !== '');
  await retry.fill('00:02:00');
  await page.getByLabel('TLS send domain secure list:').fill('partner.example\nother.example');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('The following Exchange Management Shell command completed successfully:').waitFor();
  const cmd = await page.locator('.command-line').textContent();
  assert.equal(cmd, "Set-TransportConfig -TLSSendDomainSecureList 'partner.example','other.example' -MessageRetryInterval '00:02:00'");
  const cfg = json(['Get-TransportConfig'])[0];
  assert.equal(cfg.MessageRetryInterval, '00:02:00');
  assert.deepEqual(cfg.TLSSendDomainSecureList, ['partner.example', 'other.example']);
  await h.shot('views-06-transport-settings');
  // A value the cmdlet refuses: its own words on the page.
  await retry.fill('not a time');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.locator('.settings-view .pane-error').waitFor();
  assert.match(await page.locator('.settings-view .pane-error').textContent(), /MessageRetryInterval|time|interval/i);
  await page.getByRole('button', { name: 'Reset' }).click();
});

test('the Audit Log lists the changes made through the console', { timeout: 30000 }, async () => {
  await openView(null, 'Audit Log');
  await row('New-AcceptedDomain').first().waitFor();
  const text = await row("New-AcceptedDomain -Name 'Fabrikam'").first().textContent();
  assert.match(text, /alice/);
  assert.match(text, /Succeeded/);
  assert.match(text, /127\.0\.0\.1/);
  await row('Set-TransportConfig').first().waitFor();
  await h.shot('views-07-audit-log');
});

test('event 12014: marked until a certificate names the FQDN (enable one, or make one)', { timeout: 90000 }, async () => {
  // One FQDN with a certificate not enabled for SMTP, one with none at all.
  h.postern(['New-ReceiveConnector', '-Name', 'Partner A', '-Bindings', `127.0.0.1:${await freePort()}`, '-RemoteIPRanges', '127.0.0.2', '-Fqdn', 'a.partner.test', '-Usage', 'Custom']);
  h.postern(['New-ReceiveConnector', '-Name', 'Partner B', '-Bindings', `127.0.0.1:${await freePort()}`, '-RemoteIPRanges', '127.0.0.3', '-Fqdn', 'b.partner.test', '-Usage', 'Custom']);
  h.postern(['New-ExchangeCertificate', '-SubjectName', 'CN=a.partner.test', '-DomainName', 'a.partner.test', '-Services', 'None']);
  await openView('Server Configuration', 'Hub Transport', 'Receive Connectors');
  await row('Partner A').getByText('No certificate for a.partner.test').waitFor();
  await row('Partner B').getByText('No certificate for b.partner.test').waitFor();
  assert.equal(await row('Default').getByText(/No certificate/).count(), 0);
  const bannerA = page.locator('.banner', { hasText: 'No certificate for a.partner.test' });
  const bannerB = page.locator('.banner', { hasText: 'No certificate for b.partner.test' });
  await bannerA.getByText(/CN=a\.partner\.test/).waitFor();
  await h.shot('views-08-receive-connectors-12014');

  await bannerA.getByRole('button', { name: 'Enable Exchange Certificate' }).click();
  await waitFor('marker A to go', async () => !(await row('Partner A').getByText('No certificate').count()));
  assert.equal(await bannerA.count(), 0);
  const certA = json(['Get-ExchangeCertificate']).find((c) => c.Subject === 'CN=a.partner.test');
  assert.match(certA.Services, /SMTP/);

  await bannerB.getByRole('button', { name: 'New Exchange Certificate...' }).click();
  const nc = dialog('New Exchange Certificate');
  assert.equal(await nc.getByLabel('Domain names:').inputValue(), 'b.partner.test');
  assert.equal(await nc.getByLabel('Subject name:').inputValue(), 'CN=b.partner.test');
  await nc.getByRole('button', { name: 'Create self-signed' }).click();
  await nc.getByText('completed successfully').waitFor();
  assert.match(await nc.locator('.command-line').textContent(), /^New-ExchangeCertificate -SubjectName 'CN=b\.partner\.test' -DomainName 'b\.partner\.test' -KeySize '2048' -Services 'SMTP'/);
  await nc.getByRole('button', { name: 'Close' }).click();
  await waitFor('marker B to go', async () => !(await row('Partner B').getByText('No certificate').count()));
  assert.equal(await page.locator('.banner').count(), 0);
  await h.shot('views-09-receive-connectors-fixed');
});

test('Certificates: Used by, a request for a CA offered as a download, Remove', { timeout: 60000 }, async () => {
  await openView('Server Configuration', 'Hub Transport', 'Certificates');
  await waitFor('Used by', async () => /Partner A/.test(await row('CN=a.partner.test').textContent()));
  await action('New Exchange Certificate...').click();
  const nc = dialog('New Exchange Certificate');
  await nc.getByLabel('Domain names:').fill('req.partner.test');
  await nc.getByLabel('Subject name:').fill('CN=req.partner.test');
  await nc.getByRole('button', { name: 'Generate request' }).click();
  const link = nc.getByRole('link', { name: /Download the request/ });
  await link.waitFor();
  assert.match(await nc.getByLabel('Certificate request').inputValue(), /BEGIN CERTIFICATE REQUEST/);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  assert.match(download.suggestedFilename(), /\.req$/);
  await h.shot('views-10-certificate-request', nc);
  await nc.getByRole('button', { name: 'Close' }).click();
  await row('PendingRequest').waitFor();
  // A certificate that expires within 30 days, imported from a PEM file.
  const tmp = mkdtempSync('/tmp/postern-views-');
  try {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '10', '-subj', '/CN=soon.partner.test',
      '-keyout', join(tmp, 'k.pem'), '-out', join(tmp, 'c.pem')], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    const pem = readFileSync(join(tmp, 'k.pem'), 'utf8') + readFileSync(join(tmp, 'c.pem'), 'utf8');
    await action('Import Exchange Certificate...').click();
    const imp = dialog('Import Exchange Certificate');
    await imp.getByLabel('File to import:').setInputFiles({ name: 'soon.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(pem) });
    await imp.getByRole('button', { name: 'Import', exact: true }).click();
    await imp.getByText('completed successfully').waitFor();
    assert.match(await imp.locator('.command-line').textContent(), /^Import-ExchangeCertificate -FileName 'soon\.pem'/);
    await imp.getByRole('button', { name: 'Close' }).click();
    // The same certificate as a trusted root (Import-Certificate).
    await action('Import Trusted Root or CRL...').click();
    const root = dialog('Import Trusted Root Certificate or CRL');
    await root.getByLabel('Certificate or CRL file:').setInputFiles({ name: 'partner-ca.pem', mimeType: 'application/x-pem-file', buffer: readFileSync(join(tmp, 'c.pem')) });
    await root.getByRole('button', { name: 'Import', exact: true }).click();
    await root.getByText('completed successfully').waitFor();
    assert.equal(await root.locator('.command-line').textContent(), "Import-Certificate -FilePath 'partner-ca.pem' -CertStoreLocation 'Cert:\\LocalMachine\\Root'");
    await root.getByRole('button', { name: 'Close' }).click();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  await row('CN=soon.partner.test').getByText(/Expires in 1?[0-9] days/).waitFor();
  await h.shot('views-11-certificates');
  await row('PendingRequest').click();
  await action('Remove').click();
  await dialog('postern').getByRole('button', { name: 'Yes' }).click();
  await waitFor('the request to go', () => !json(['Get-ExchangeCertificate']).some((c) => c.Status === 'PendingRequest'));
});

test('Queue Viewer: suspend, resume and remove a real queued message', { timeout: 90000 }, async () => {
  h.postern(['New-AcceptedDomain', '-Name', RELAY, '-DomainName', RELAY, '-DomainType', 'InternalRelay']);
  h.postern(['New-SendConnector', '-Name', 'Nowhere', '-AddressSpaces', RELAY, '-DNSRoutingEnabled', '$false', '-SmartHosts', '127.0.0.1', '-Port', '1']);
  sendMail(`bob@${RELAY}`, 'queued in the viewer');
  await waitFor('the message in a queue', () => json(['Get-Message']).some((m) => m.Subject === 'queued in the viewer'), 20000);
  const id = json(['Get-Message']).find((m) => m.Subject === 'queued in the viewer').Identity;
  const status = () => (json(['Get-Message']).find((m) => m.Identity === id) || {}).Status;

  await openView('Toolbox', 'Queue Viewer', 'Queues');
  await row('Nowhere').waitFor();
  await h.shot('views-12-queues');
  await row('Nowhere').click();
  await action('Suspend').click();
  await waitFor('the queue suspended', () => json(['Get-Queue']).some((q) => q.NextHopDomain === 'Nowhere' && q.Status === 'Suspended'));
  await action('Resume').click();
  await waitFor('the queue resumed', () => json(['Get-Queue']).some((q) => q.NextHopDomain === 'Nowhere' && q.Status !== 'Suspended'));
  await row('Nowhere').dblclick(); // View Messages of this queue

  await row('queued in the viewer').click();
  await h.shot('views-13-messages');
  await action('Suspend').click();
  await waitFor('the message suspended', () => status() === 'Suspended');
  await action('Resume').click();
  await waitFor('the message resumed', () => status() !== 'Suspended');
  await action('Remove (without NDR)').click();
  await dialog('postern').getByRole('button', { name: 'Yes' }).click();
  await waitFor('the message removed', () => status() === undefined);
  await waitFor('the list to empty', async () => !(await row('queued in the viewer').count()));
});

test('Message Tracking finds a message by its sender', { timeout: 60000 }, async () => {
  await openView('Toolbox', 'Message Tracking');
  await page.getByLabel('Sender:').fill(SENDER);
  await waitFor('the RECEIVE event', async () => {
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForFunction(() => !/Searching/.test(document.querySelector('.result-info')?.textContent || ''));
    return (await row('RECEIVE').count()) > 0;
  }, 20000);
  assert.match(await row('RECEIVE').first().textContent(), /queued in the viewer/);
  await h.shot('views-14-message-tracking');
});

test('a ViewOnlyAdmin sees every view and no action that changes something', { timeout: 90000 }, async () => {
  h.postern(['New-Mailbox', '-Name', 'victor', '-PrimarySmtpAddress', `victor@${DOMAIN}`, '-Password', '-'], { input: 'view only pass 2\n' });
  h.postern(['Add-ExchangeAdministrator', '-Identity', 'victor', '-Role', 'ViewOnlyAdmin']);
  h.postern(['New-ReceiveConnector', '-Name', 'Partner C', '-Bindings', `127.0.0.1:${await freePort()}`, '-RemoteIPRanges', '127.0.0.4', '-Fqdn', 'c.partner.test', '-Usage', 'Custom']);
  const context = await h.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const saved = page;
  try {
    page = await context.newPage();
    await page.goto(`${h.base}/`);
    await page.getByLabel('User name').fill('victor');
    await page.getByLabel('Password').fill('view only pass 2');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('View-Only Administrator').waitFor();
    const changing = /^(New |Import |Remove|Disable|Enable|Make Default|Suspend|Resume|Retry)/;
    const views = [
      ['Organization Configuration', 'Hub Transport', 'Accepted Domains'],
      ['Organization Configuration', 'Hub Transport', 'Send Connectors'],
      ['Server Configuration', 'Hub Transport', 'Receive Connectors'],
      ['Server Configuration', 'Hub Transport', 'Certificates'],
      ['Toolbox', 'Queue Viewer', 'Queues'],
      ['Toolbox', 'Queue Viewer', 'Messages'],
    ];
    for (const [g, n, t] of views) {
      await openView(g, n, t);
      const first = page.locator('table.list tbody tr:not(.empty)').last();
      if (await first.count()) await first.click();
      const labels = await page.locator('.actions button.action').allTextContents();
      assert.deepEqual(labels.filter((l) => changing.test(l)), [], `${t}: ${labels.join(', ')}`);
    }
    await openView('Server Configuration', 'Hub Transport', 'Receive Connectors');
    await page.locator('.banner', { hasText: 'c.partner.test' }).waitFor();
    assert.equal(await page.locator('.banner button').count(), 0);
    await h.shot('views-15-viewonly-receive-connectors', page);
    await openView('Organization Configuration', 'Hub Transport', 'Transport Settings');
    assert.equal(await page.getByRole('button', { name: 'Apply' }).count(), 0);
    assert.equal(await page.getByLabel('Message retry interval:').getAttribute('readonly'), '');
    await openView('Organization Configuration', 'Hub Transport', 'Accepted Domains');
    await row(DOMAIN).first().dblclick();
    const props = page.getByRole('dialog');
    assert.equal(await props.getByRole('button', { name: 'OK' }).count(), 0);
    await props.getByRole('button', { name: 'Close' }).click();
  } finally {
    await context.close();
    page = saved;
  }
});

test('a session that ends returns to the sign-in page with a message', { timeout: 30000 }, async () => {
  await openView('Organization Configuration', 'Hub Transport', 'Accepted Domains');
  await page.context().clearCookies();
  await action('Refresh').click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.match(await page.locator('.signin-error').textContent(), /sign in/i);
  await h.shot('views-16-signed-out');
  await h.signIn();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You have signed out.').waitFor();
  // A wrong password: the server's own answer on the sign-in page.
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitFor('the refusal', async () => !/signed out/.test(await page.locator('.signin-error').textContent()) && await page.locator('.signin-error').isVisible(), 20000);
  const refusal = await page.locator('.signin-error').textContent();
  assert.ok(refusal.length > 0);
  console.log(`sign-in refusal: ${refusal}`);
  assert.deepEqual(dialogs, []);
});

test('certs_match: names, wildcards of one label, expiry, the fix it proposes', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  assert.ok(certs.nameCovers('*.contoso.com', 'mail.contoso.com'));
  assert.ok(!certs.nameCovers('*.contoso.com', 'a.b.contoso.com'));
  assert.ok(!certs.nameCovers('*.contoso.com', 'contoso.com'));
  assert.ok(certs.nameCovers('Mail.Contoso.com', 'mail.contoso.com.'));
  assert.equal(certs.expiry({ NotAfter: '2026-12-01T00:00:00Z' }, now), 'expired');
  assert.equal(certs.expiry({ NotAfter: '2026-12-20T00:00:00Z' }, now), 'soon');
  assert.equal(certs.expiry({ NotAfter: '2027-12-20T00:00:00Z' }, now), null);
  const server = { fqdn: 'mail.contoso.com' };
  const rc = { Name: 'P', AuthMechanism: 'Tls', Fqdn: 'p.contoso.com' };
  const wild = { Thumbprint: 'W', Subject: 'CN=*.contoso.com', CertificateDomains: [], Services: 'None', Status: 'Valid', HasPrivateKey: true, NotAfter: '2099-01-01T00:00:00Z' };
  const pending = { Thumbprint: 'Q', Subject: 'CN=p.contoso.com', CertificateDomains: ['p.contoso.com'], Services: 'None', Status: 'PendingRequest' };
  assert.deepEqual(certs.missingCertificate(rc, [pending], server), { fqdn: 'p.contoso.com', fix: null });
  assert.equal(certs.missingCertificate(rc, [pending, wild], server).fix.Thumbprint, 'W');
  assert.equal(certs.missingCertificate(rc, [{ ...wild, Services: 'IMAP, POP, SMTP' }], server), null);
  assert.equal(certs.missingCertificate({ ...rc, AuthMechanism: 'None' }, [], server), null);
  assert.equal(certs.missingCertificate({ ...rc, Fqdn: null }, [], server).fqdn, 'mail.contoso.com');
  assert.deepEqual(certs.usedBy({ ...wild, Services: 'SMTP' }, [rc, { Name: 'D', AuthMechanism: 'Tls', Fqdn: null }], server), ['P', 'D']);
});
