// dialogs_send.js — the small dialogs of the Send connector pages: "SMTP
// Address Space", "Add Smart Host" (and their Edit forms), and "Select Hub
// Transport servers and Edge Subscriptions"; plus how their entries read.
// Must never: accept an empty entry, or an IP smart host that is not an
// IP address; anything subtler is the cmdlet's to refuse.

import { el } from './dom.js';
import { okCancel } from './wizard_modal.js';
import { textField, checkField, radioGroup, intro } from './wizard_form.js';
import { isIP, isIPv6, isIntIn } from './wizard_ipcheck.js';

// 'SMTP:*.contoso.com;1' -> {type: 'SMTP', address: '*.contoso.com', cost: '1'}
export function parseAddressSpace(s) {
  const m = /^(?:([A-Za-z0-9]+):)?([^;]*)(?:;(\d+))?$/.exec(String(s).trim());
  if (!m) return { type: 'SMTP', address: String(s), cost: '1' };
  return { type: (m[1] || 'SMTP').toUpperCase(), address: m[2], cost: m[3] || '1' };
}

export const addressSpaceColumns = [
  { label: 'Type', value: (s) => parseAddressSpace(s).type },
  { label: 'Address', value: (s) => parseAddressSpace(s).address },
  { label: 'Cost', value: (s) => parseAddressSpace(s).cost },
];

// "SMTP Address Space": done('SMTP:<address>;<cost>').
export function addressSpaceDialog(entry, done) {
  const cur = entry ? parseAddressSpace(entry) : { type: 'SMTP', address: '', cost: '1' };
  const sub = cur.address.startsWith('*.');
  const address = textField('Address:', { value: sub ? cur.address.slice(2) : cur.address, hint: 'Example: contoso.com or *.contoso.com' });
  const include = checkField('Include all subdomains', { checked: sub });
  const cost = textField('Cost:', { value: cur.cost, cls: 'wz-short' });
  okCancel(entry ? 'Edit SMTP Address Space' : 'SMTP Address Space', el('div', {},
    intro('Type the domain of the address space. Use * for all domains.'), address.node, include.node, cost.node), () => {
    let a = address.get();
    let withSub = include.get();
    if (a.startsWith('*.')) { a = a.slice(2); withSub = true; }
    if (!a) { address.error.set('Type an address space, for example contoso.com.'); return false; }
    if (!isIntIn(cost.get(), 1, 100)) { cost.error.set('The cost must be a whole number from 1 to 100.'); return false; }
    const space = a === '*' ? '*' : (withSub ? `*.${a}` : a);
    done(`${cur.type}:${space};${Number(cost.get())}`);
    return true;
  });
}

// "Add Smart Host" / "Edit Smart Host": done('192.168.1.5' | '[::1]' | 'smart.contoso.com').
export function smartHostDialog(entry, done) {
  const bare = entry ? entry.replace(/^\[(.*)\]$/, '$1') : '';
  const wasIP = entry ? isIP(bare) : true;
  const ip = textField('IP address', { value: wasIP ? bare : '' });
  const fqdn = textField('Fully qualified domain name (FQDN)', { value: wasIP ? '' : bare });
  ip.node.classList.add('wz-sub');
  fqdn.node.classList.add('wz-sub');
  ip.input.setAttribute('aria-label', 'IP address of the smart host');
  fqdn.input.setAttribute('aria-label', 'FQDN of the smart host');
  const kind = radioGroup('Select how to locate the smart host:', [
    { value: 'ip', label: 'IP Address:', extra: ip.node },
    { value: 'fqdn', label: 'Fully qualified domain name (FQDN):', extra: fqdn.node },
  ], { value: wasIP ? 'ip' : 'fqdn', onChange: sync });
  function sync() {
    ip.input.disabled = kind.get() !== 'ip';
    fqdn.input.disabled = kind.get() !== 'fqdn';
  }
  sync();
  // The labels of the two text boxes are the radio buttons'.
  ip.node.querySelector('label').hidden = true;
  fqdn.node.querySelector('label').hidden = true;
  okCancel(entry ? 'Edit Smart Host' : 'Add Smart Host', el('div', {}, kind.node), () => {
    if (kind.get() === 'ip') {
      const v = ip.get().replace(/^\[(.*)\]$/, '$1');
      if (!isIP(v)) { ip.error.set('Type a valid IP address, for example 192.168.1.5.'); return false; }
      done(isIPv6(v) ? `[${v}]` : v);
      return true;
    }
    const v = fqdn.get();
    if (!v || /\s/.test(v)) { fqdn.error.set('Type the fully qualified domain name of the smart host.'); return false; }
    done(v);
    return true;
  });
}

export const SMART_HOST_AUTH = [
  { value: 'None', label: 'None' },
  { value: 'BasicAuth', label: 'Basic Authentication' },
  { value: 'BasicAuthRequireTLS', label: 'Basic Authentication over TLS' },
  { value: 'ExchangeServer', label: 'Exchange Server authentication' },
  { value: 'ExternalAuthoritative', label: 'Externally Secured (for example, with IPsec)' },
];
export const isBasicAuth = (m) => m === 'BasicAuth' || m === 'BasicAuthRequireTLS';
export const authLabel = (m) => (SMART_HOST_AUTH.find((a) => a.value === m) || { label: m }).label;

// "Configure smart host authentication settings" (the Properties' Change...):
// cur {auth, user, password, savedUser}; done({auth, user, password}).
// A Basic method needs a user name; the password may stay empty only when
// the connector already has a credential for that user (savedUser).
export function smartHostAuthDialog(cur, done) {
  const user = textField('User name:', { value: cur.user });
  const pass = textField('Password:', { type: 'password', value: cur.password,
    hint: cur.savedUser ? 'Leave empty to keep the current password.' : undefined });
  const auth = radioGroup(null, SMART_HOST_AUTH, { value: cur.auth, onChange: sync });
  function sync() { user.input.disabled = !isBasicAuth(auth.get()); pass.input.disabled = !isBasicAuth(auth.get()); }
  sync();
  okCancel('Configure smart host authentication settings', el('div', {},
    intro('Select the authentication method the smart hosts expect:'), auth.node,
    el('div', { class: 'wz-credential' }, user.node, pass.node)), () => {
    const a = auth.get();
    if (isBasicAuth(a)) {
      const u = user.get();
      if (!u || u.includes(':')) { user.error.set('Type a user name (without a colon).'); return false; }
      const keep = !!cur.savedUser && u === cur.savedUser;
      if (!pass.input.value && !keep) { pass.error.set('Type the password for Basic authentication.'); return false; }
      done({ auth: a, user: u, password: pass.input.value });
    } else {
      done({ auth: a, user: cur.user, password: '' });
    }
    return true;
  });
}

// "Select Hub Transport servers and Edge Subscriptions": the servers not
// yet listed; done(name) for each one ticked.
export function sourceServerDialog(servers, listed, done) {
  const free = servers.filter((s) => !listed.some((l) => l.toLowerCase() === s.name.toLowerCase()));
  const boxes = free.map((s) => ({ s, f: checkField(s.name, { checked: true }) }));
  const body = el('div', {},
    intro('Select the Hub Transport servers that will send mail through this connector.'),
    boxes.length ? el('div', { class: 'wz-checklist' }, boxes.map((b) => b.f.node))
      : el('div', { class: 'wz-list-empty' }, 'There are no items to show in this view.'));
  okCancel('Select Hub Transport servers and Edge Subscriptions', body, () => {
    for (const b of boxes) if (b.f.get()) done(b.s.name);
    return true;
  });
}
