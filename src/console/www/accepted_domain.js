// accepted_domain.js — the New Accepted Domain wizard and the accepted
// domain's Properties dialog (General tab), as in EMC. Each runs one cmdlet
// (New-AcceptedDomain / Set-AcceptedDomain) and shows the line it ran.
// Must never: offer a change to a ViewOnlyAdmin, or edit the DomainName after creation (Exchange sets it at creation only).

import { el } from './dom.js';
import { cmdlet } from './api.js';
import { openSimpleWizard, openModal, field, commandBlock } from './dialog.js';
import { reportSignedOut } from './errors.js';
import { noteCommand } from './actions.js';

const TYPES = [
  ['Authoritative', 'Authoritative Domain. E-mail is delivered to a recipient in this Exchange organization.'],
  ['InternalRelay', 'Internal Relay Domain. E-mail is delivered to recipients in this Exchange organization or relayed to an e-mail server at another physical location.'],
  ['ExternalRelay', 'External Relay Domain. E-mail is relayed to an e-mail server at another physical location.'],
];

function typeChooser(name, current) {
  const box = el('fieldset', { class: 'radio-group' }, el('legend', {}, 'This accepted domain is:'));
  for (const [value, text] of TYPES) {
    const input = el('input', { type: 'radio', name, value, checked: value === current || undefined });
    box.append(el('label', { class: 'radio' }, input, text));
  }
  return {
    node: box,
    value: () => (box.querySelector('input:checked') || {}).value || 'Authoritative',
    disable(off) { for (const i of box.querySelectorAll('input')) i.disabled = off; },
  };
}

// ctx: {onChanged}
export function openNewAcceptedDomain(ctx) {
  const nameInput = el('input', { type: 'text', name: 'Name', autocomplete: 'off' });
  const domainInput = el('input', { type: 'text', name: 'DomainName', placeholder: 'contoso.com or *.contoso.com', autocomplete: 'off' });
  const type = typeChooser('new-ad-type', 'Authoritative');
  const page = el('div', { class: 'form' },
    el('p', { class: 'intro' }, 'This wizard helps you create an accepted domain. Accepted domains are the SMTP namespaces for which this organization sends and receives e-mail.'),
    field('Name:', nameInput),
    field('Accepted Domain:', domainInput, 'Example: contoso.com or *.contoso.com to include all subdomains.'),
    type.node);
  const params = () => ({ Name: nameInput.value.trim(), DomainName: domainInput.value.trim(), DomainType: type.value() });
  openSimpleWizard({
    title: 'New Accepted Domain',
    pages: [{
      name: 'New Accepted Domain',
      render: () => page,
      validate: () => (!params().Name ? 'Enter a name for the accepted domain.' : !params().DomainName ? 'Enter the accepted domain, for example contoso.com.' : null),
    }],
    summaryName: 'Configuration Summary',
    summary: () => {
      const p = params();
      return el('dl', { class: 'summary' },
        el('dt', {}, 'Name:'), el('dd', {}, p.Name),
        el('dt', {}, 'Accepted Domain:'), el('dd', {}, p.DomainName),
        el('dt', {}, 'Domain Type:'), el('dd', {}, p.DomainType));
    },
    run: async () => { const r = await cmdlet('New-AcceptedDomain', params()); noteCommand(r); return r; },
    onDone: () => ctx.onChanged(),
  });
}

// The General tab of an accepted domain's Properties; OK/Apply run Set-AcceptedDomain with what changed.
export function openAcceptedDomainProperties(ctx, domain) {
  const ro = !ctx.canChange;
  const nameInput = el('input', { type: 'text', name: 'Name', value: domain.Name || '', readonly: ro || undefined });
  const domainInput = el('input', { type: 'text', name: 'DomainName', value: domain.DomainName || '', readonly: true });
  const type = typeChooser('props-ad-type', domain.DomainType);
  type.disable(ro);
  const done = el('div', { class: 'done' });
  const body = el('div', {},
    el('div', { class: 'tabs small' }, el('span', { class: 'tab selected' }, 'General')),
    el('div', { class: 'form props' },
      field('Name:', nameInput),
      field('Accepted Domain:', domainInput, 'The domain is set when the accepted domain is created.'),
      el('div', { class: 'field' }, el('label', {}, 'Default:'), el('span', {}, domain.Default ? 'True: this is the default accepted domain.' : 'False')),
      type.node),
    done);
  let current = { ...domain };
  async function apply(m, close) {
    const p = {};
    if (nameInput.value.trim() !== current.Name) p.Name = nameInput.value.trim();
    if (type.value() !== current.DomainType) p.DomainType = type.value();
    if (!Object.keys(p).length) { if (close) m.close(); return; }
    m.setBusy(true);
    m.setError(null);
    let r;
    try {
      r = await cmdlet('Set-AcceptedDomain', { Identity: current.Identity, ...p });
    } catch (e) {
      m.setBusy(false);
      if (reportSignedOut(e)) { m.close(); return; }
      m.setError(e.message);
      return;
    }
    m.setBusy(false);
    noteCommand(r);
    done.replaceChildren();
    if (!r.ok) { m.setError(r.error || 'Set-AcceptedDomain failed'); done.append(commandBlock('The following Exchange Management Shell command failed:', r.command)); return; }
    current = { ...current, ...p, Identity: p.Name || current.Identity };
    ctx.onChanged();
    if (close) m.close();
    else done.append(commandBlock('The following Exchange Management Shell command completed successfully:', r.command));
  }
  const buttons = ro
    ? [{ label: 'Close', primary: true, onClick: (m) => m.close() }]
    : [
      { label: 'OK', primary: true, onClick: (m) => apply(m, true) },
      { label: 'Cancel', onClick: (m) => m.close() },
      { label: 'Apply', onClick: (m) => apply(m, false) },
    ];
  openModal({ title: `${domain.Name} Properties`, body, buttons });
}
