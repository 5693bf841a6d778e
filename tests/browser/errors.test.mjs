// errors.test.mjs — how the connector wizards and properties show what is
// wrong: the browser's cheap checks next to the field on Next; a cmdlet's
// refusal on the Completion page ("failed:") and, after Back, next to the
// field it names; a Properties error inline on the field's tab. Also that
// a connector name made of markup shows as text.
// Must never: reach beyond loopback, or leave the instance running.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, waitFor } from './harness.mjs';

const XSS_NAME = '<img src=x onerror="window.__xss=1">';

let h = null;

before(async () => {
  h = await start();
  await h.signIn();
  const linked = await h.page.evaluate(() => !!document.querySelector('link[href="/static/wizard.css"]'));
  if (!linked) await h.page.addStyleTag({ url: '/static/wizard.css' });
}, { timeout: 90000 });

after(async () => { if (h) await h.stop(); });

const dialog = (name) => h.page.getByRole('dialog', { name, exact: true });

test('New Send Connector: cheap checks on Next, the cmdlet\'s refusal next to its field, markup as text', { timeout: 120000 }, async () => {
  const page = h.page;
  await page.locator('.tree-group', { hasText: 'Organization Configuration' }).getByRole('treeitem', { name: 'Hub Transport' }).click();
  await page.getByRole('tab', { name: 'Send Connectors' }).click();
  await page.getByRole('button', { name: 'New Send Connector...' }).click();
  const wiz = dialog('New SMTP Send Connector');
  // An empty name: the browser says so next to the field.
  await wiz.getByRole('button', { name: 'Next >' }).click();
  await wiz.getByText('Type a name for the connector.').waitFor();
  await wiz.getByLabel('Name:', { exact: true }).fill(XSS_NAME);
  await wiz.getByRole('button', { name: 'Next >' }).click();
  // No address space: said on Next.
  await wiz.getByRole('heading', { name: 'Address space' }).waitFor();
  await wiz.getByRole('button', { name: 'Next >' }).click();
  await wiz.getByText('Add at least one address space.').waitFor();
  // A cost out of range: said in the dialog.
  await wiz.getByRole('button', { name: 'Add...' }).click();
  const space = dialog('SMTP Address Space');
  await space.getByLabel('Address:').fill('*contoso.com');
  await space.getByLabel('Cost:').fill('101');
  await space.getByRole('button', { name: 'OK' }).click();
  await space.getByText('The cost must be a whole number from 1 to 100.').waitFor();
  await space.getByLabel('Cost:').fill('5');
  await space.getByRole('button', { name: 'OK' }).click();
  await space.waitFor({ state: 'detached' });
  // "*contoso.com" is the cmdlet's to refuse.
  for (const page2 of ['Network settings', 'Source Server', 'New Connector']) {
    await wiz.getByRole('button', { name: 'Next >' }).click();
    await wiz.getByRole('heading', { name: page2, exact: true }).waitFor();
  }
  await wiz.getByRole('button', { name: 'New', exact: true }).click();
  await wiz.getByText('The following Exchange Management Shell command failed:').waitFor();
  await h.shot('errors-01-completion-failed');
  const errorText = await wiz.locator('.wz-error-text').textContent();
  assert.match(errorText, /AddressSpaces: 'SMTP:\*contoso\.com;5'/);
  // The name shows as text everywhere.
  assert.equal(await wiz.locator('.wz-item-name').textContent(), XSS_NAME);
  // Back: to the Address space page, the error next to the list.
  await wiz.getByRole('button', { name: '< Back' }).click();
  await wiz.getByRole('heading', { name: 'Address space' }).waitFor();
  const listError = wiz.locator('.wz-listfield .wz-field-error');
  await listError.waitFor();
  assert.match(await listError.textContent(), /AddressSpaces: 'SMTP:\*contoso\.com;5'/);
  await h.shot('errors-02-back-to-field');
  // Fix it with Edit, go on, New succeeds.
  await wiz.getByRole('option', { name: /\*contoso\.com/ }).click();
  await wiz.getByRole('button', { name: 'Edit...' }).click();
  const edit = dialog('Edit SMTP Address Space');
  await edit.getByLabel('Address:').fill('contoso.com');
  await edit.getByLabel('Include all subdomains').check();
  await edit.getByRole('button', { name: 'OK' }).click();
  await wiz.getByRole('option', { name: /\*\.contoso\.com/ }).waitFor();
  for (const page2 of ['Network settings', 'Source Server', 'New Connector']) {
    await wiz.getByRole('button', { name: 'Next >' }).click();
    await wiz.getByRole('heading', { name: page2, exact: true }).waitFor();
  }
  await wiz.getByRole('button', { name: 'New', exact: true }).click();
  await wiz.getByText('The following Exchange Management Shell command completed successfully:').waitFor();
  await wiz.getByRole('button', { name: 'Finish' }).click();
  await page.getByRole('row', { name: /img src=x/ }).waitFor();
  assert.equal(await page.locator('img[src="x"]').count(), 0, 'no element made from the name');
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  const sc = JSON.parse(h.postern(['Get-SendConnector', '-Identity', XSS_NAME, '|', 'ConvertTo-Json']));
  assert.deepEqual(sc.AddressSpaces, ['SMTP:*.contoso.com;5']);
});

test('Receive connector binding: an invalid IP address or port is refused in the dialog', { timeout: 120000 }, async () => {
  const page = h.page;
  await page.locator('.tree-group', { hasText: 'Server Configuration' }).getByRole('treeitem', { name: 'Hub Transport' }).click();
  await page.getByRole('tab', { name: 'Receive Connectors' }).click();
  await page.getByRole('button', { name: 'New Receive Connector...' }).click();
  const wiz = dialog('New SMTP Receive Connector');
  await wiz.getByLabel('Name:', { exact: true }).fill('Bad binding');
  await wiz.getByRole('button', { name: 'Next >' }).click();
  await wiz.getByRole('button', { name: 'Add...' }).click();
  const bind = dialog('Add Receive Connector Binding');
  await bind.getByLabel('Specify an IP address:').check();
  await bind.getByLabel('Local IP address').fill('10.0.0');
  await bind.getByRole('button', { name: 'OK' }).click();
  await bind.getByText('Type a valid IP address').waitFor();
  await bind.getByLabel('Local IP address').fill('::1');
  await bind.getByLabel('Port:').fill('70000');
  await bind.getByRole('button', { name: 'OK' }).click();
  await bind.getByText('The port must be a number from 1 to 65535.').waitFor();
  await bind.getByRole('button', { name: 'Cancel' }).click();
  await wiz.getByRole('button', { name: 'Cancel' }).click();
  await wiz.waitFor({ state: 'detached' });
});

test('Receive connector Properties: the cmdlet\'s error shows next to the field, on its tab', { timeout: 120000 }, async () => {
  const page = h.page;
  await page.getByRole('row', { name: /Default mail/ }).dblclick();
  const props = dialog('Default mail Properties');
  await props.getByRole('tab', { name: 'Network' }).waitFor();
  await props.getByRole('tab', { name: 'Permission Groups' }).click();
  await props.getByLabel('Partners').check();
  await props.getByRole('tab', { name: 'General' }).click();
  await props.getByLabel('Specify the FQDN this connector will provide in response to HELO or EHLO:').fill('bad..name');
  await props.getByRole('tab', { name: 'Permission Groups' }).click();
  await props.getByRole('button', { name: 'Apply' }).click();
  // The dialog goes to the General tab and shows the error under the field.
  const err = props.locator('.wz-field .wz-field-error:not([hidden])');
  await err.waitFor();
  assert.match(await err.textContent(), /Fqdn: 'bad\.\.name'/);
  await props.getByText('The following Exchange Management Shell command failed:').waitFor();
  await h.shot('errors-03-properties-inline');
  // Nothing changed (one Set- line, refused as a whole).
  let rc = JSON.parse(h.postern(['Get-ReceiveConnector', '-Identity', 'Default mail', '|', 'ConvertTo-Json']));
  assert.equal(rc.PermissionGroups.includes('Partners'), false);
  await props.getByLabel('Specify the FQDN this connector will provide in response to HELO or EHLO:').fill('');
  await props.getByRole('button', { name: 'OK' }).click();
  await props.waitFor({ state: 'detached' });
  rc = JSON.parse(h.postern(['Get-ReceiveConnector', '-Identity', 'Default mail', '|', 'ConvertTo-Json']));
  assert.ok(rc.PermissionGroups.includes('Partners'));
  assert.equal(rc.Fqdn, null);
});

test('Send connector Properties: smart host authentication by Change..., and only what changed is sent', { timeout: 120000 }, async () => {
  const page = h.page;
  await page.locator('.tree-group', { hasText: 'Organization Configuration' }).getByRole('treeitem', { name: 'Hub Transport' }).click();
  await page.getByRole('tab', { name: 'Send Connectors' }).click();
  await page.getByRole('row', { name: /img src=x/ }).click();
  await page.getByRole('button', { name: 'Properties' }).click();
  const props = dialog(`${XSS_NAME} Properties`);
  await props.getByRole('tab', { name: 'Network' }).click();
  await props.getByLabel('Route mail through the following smart hosts:').check();
  await props.getByRole('button', { name: 'Add...' }).click();
  const smart = dialog('Add Smart Host');
  await smart.getByLabel('Fully qualified domain name (FQDN):', { exact: true }).check();
  await smart.getByLabel('FQDN of the smart host').fill('relay.fabrikam.test');
  await smart.getByRole('button', { name: 'OK' }).click();
  await props.getByRole('button', { name: 'Change...' }).click();
  const auth = dialog('Configure smart host authentication settings');
  await auth.getByLabel('Basic Authentication', { exact: true }).check();
  await auth.getByLabel('User name:').fill('u1');
  await auth.getByRole('button', { name: 'OK' }).click();
  await auth.getByText('Type the password for Basic authentication.').waitFor();
  await auth.getByLabel('Password:').fill('pw one');
  await h.shot('errors-04-smart-host-auth-dialog');
  await auth.getByRole('button', { name: 'OK' }).click();
  await auth.waitFor({ state: 'detached' });
  await props.getByText('Basic Authentication (user name: u1)').waitFor();
  await props.getByRole('button', { name: 'Apply' }).click();
  let sc = null;
  await waitFor('Apply to change the connector', () => {
    sc = JSON.parse(h.postern(['Get-SendConnector', '-Identity', XSS_NAME, '|', 'ConvertTo-Json']));
    return sc.DNSRoutingEnabled === false;
  }, 10000);
  assert.equal(sc.DNSRoutingEnabled, false);
  assert.deepEqual(sc.SmartHosts, ['relay.fabrikam.test']);
  assert.equal(sc.SmartHostAuthMechanism, 'BasicAuth');
  assert.equal(sc.AuthenticationCredential, 'u1');
  // Then only the size limit: the Set- line names nothing else.
  await props.getByRole('tab', { name: 'General' }).click();
  await props.getByLabel('Limit the size of messages').uncheck();
  await props.getByRole('button', { name: 'OK' }).click();
  await props.waitFor({ state: 'detached' });
  sc = JSON.parse(h.postern(['Get-SendConnector', '-Identity', XSS_NAME, '|', 'ConvertTo-Json']));
  assert.equal(sc.MaxMessageSize, 'Unlimited');
  const audit = await page.evaluate(async () => (await fetch('/api/audit')).json());
  const sets = audit.filter((a) => a.command.startsWith('Set-SendConnector'));
  assert.equal(sets.length, 2);
  assert.match(sets[0].command, /^Set-SendConnector -Identity '.*' -MaxMessageSize 'Unlimited'$/);
  assert.match(sets[1].command, /-DNSRoutingEnabled \$false -SmartHosts 'relay\.fabrikam\.test' -SmartHostAuthMechanism 'BasicAuth' -AuthenticationCredential \(Get-Credential\)$/);
  assert.ok(!sets[1].command.includes('pw one'));
});
