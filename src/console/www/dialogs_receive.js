// dialogs_receive.js — the small dialogs of the Receive connector pages:
// "Add Receive Connector Binding" (all addresses, or one IP, and a port)
// and the three remote-server dialogs of the seed: IP Address (bare or
// CIDR, sent as typed), IP and Mask (`ip(mask)`), IP Range (`start-end`).
// Must never: accept a local IP address that is not syntactically one (the
// seed: an invalid local IP may stop the service from starting), or alter
// a remote range the admin typed (the cmdlet validates and normalises).

import { el } from './dom.js';
import { okCancel } from './wizard_modal.js';
import { textField, radioGroup, intro } from './wizard_form.js';
import { isIP, isIPv4, isIPv6, isPort } from './wizard_ipcheck.js';

export const ALL_ADDRESSES = 'Use all IP addresses available on this server';
export const ONE_ADDRESS = 'Specify an IP address:';

// '10.0.0.1:25' -> {ip: '10.0.0.1', port: '25'}; '[::1]:25' -> {ip: '::1', ...}
export function parseBinding(b) {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(String(b));
  if (!m) return { ip: String(b), port: '' };
  return { ip: m[1] !== undefined ? m[1] : m[2], port: m[3] };
}

const isAll = (ip) => ip === '0.0.0.0' || ip === '::';

export const bindingColumns = [
  { label: 'IP address', value: (b) => (isAll(parseBinding(b).ip) ? '(All available)' : parseBinding(b).ip) },
  { label: 'Port', value: (b) => parseBinding(b).port },
];

// "Add Receive Connector Binding": done('ip:port' | '[v6]:port').
export function bindingDialog(entry, done) {
  const cur = entry ? parseBinding(entry) : { ip: '0.0.0.0', port: '25' };
  const ip = textField('IP address', { value: isAll(cur.ip) ? '' : cur.ip });
  ip.node.classList.add('wz-sub');
  ip.node.querySelector('label').hidden = true;
  ip.input.setAttribute('aria-label', 'Local IP address');
  const which = radioGroup(null, [
    { value: 'all', label: ALL_ADDRESSES },
    { value: 'one', label: ONE_ADDRESS, extra: ip.node },
  ], { value: isAll(cur.ip) ? 'all' : 'one', onChange: sync });
  function sync() { ip.input.disabled = which.get() !== 'one'; }
  sync();
  const port = textField('Port:', { value: cur.port, cls: 'wz-short' });
  okCancel(entry ? 'Edit Receive Connector Binding' : 'Add Receive Connector Binding',
    el('div', {}, which.node, port.node), () => {
      let addr = '0.0.0.0';
      if (which.get() === 'one') {
        addr = ip.get().replace(/^\[(.*)\]$/, '$1');
        if (!isIP(addr)) {
          ip.error.set('Type a valid IP address of this server, for example 10.0.0.1.');
          return false;
        }
      }
      if (!isPort(port.get())) { port.error.set('The port must be a number from 1 to 65535.'); return false; }
      done(`${isIPv6(addr) ? `[${addr}]` : addr}:${Number(port.get())}`);
      return true;
    });
}

// Which dialog an entry came from: 'mask' for ip(mask), 'range' for a-b, else 'ip'.
export function remoteKind(entry) {
  if (/\(.*\)$/.test(entry)) return 'mask';
  if (entry.includes('-')) return 'range';
  return 'ip';
}

// "Add IP address(es) of Remote Servers": the text as typed (bare or CIDR).
export function remoteIpDialog(entry, done) {
  const addr = textField('Address:', { value: entry || '', hint: 'Examples: 192.168.1.0 or 192.168.1.0/24' });
  okCancel(entry ? 'Edit IP address(es) of Remote Servers' : 'Add IP address(es) of Remote Servers', el('div', {},
    intro('Type an IP address, or an IP address with a subnet mask in CIDR notation. Without a mask the classful default subnet mask is assumed.'),
    addr.node), () => {
    if (!addr.get()) { addr.error.set('Type an IP address.'); return false; }
    done(addr.get());
    return true;
  });
}

// "Add Remote Servers - IP and Mask": 'ip(mask)'.
export function remoteMaskDialog(entry, done) {
  const m = entry ? /^(.*)\((.*)\)$/.exec(entry) : null;
  const ip = textField('IP Address:', { value: m ? m[1] : '', hint: 'Example: 192.168.1.0' });
  const mask = textField('Subnet Mask:', { value: m ? m[2] : '', hint: 'Example: 255.255.255.0' });
  okCancel(entry ? 'Edit Remote Servers - IP and Mask' : 'Add Remote Servers - IP and Mask', el('div', {}, ip.node, mask.node), () => {
    if (!isIPv4(ip.get())) { ip.error.set('Type a valid IP address, for example 192.168.1.0.'); return false; }
    if (!isIPv4(mask.get())) { mask.error.set('Type a subnet mask in dotted decimal notation, for example 255.255.255.0.'); return false; }
    done(`${ip.get()}(${mask.get()})`);
    return true;
  });
}

// "Add Remote Servers - IP Range": 'start-end'.
export function remoteRangeDialog(entry, done) {
  const m = entry ? /^([^-]*)-(.*)$/.exec(entry) : null;
  const start = textField('Start Address:', { value: m ? m[1] : '', hint: 'Example: 192.168.1.1' });
  const end = textField('End Address:', { value: m ? m[2] : '', hint: 'Example: 192.168.255.255' });
  okCancel(entry ? 'Edit Remote Servers - IP Range' : 'Add Remote Servers - IP Range', el('div', {}, start.node, end.node), () => {
    if (!isIP(start.get())) { start.error.set('Type a valid IP address, for example 192.168.1.1.'); return false; }
    if (!isIP(end.get())) { end.error.set('Type a valid IP address, for example 192.168.255.255.'); return false; }
    done(`${start.get()}-${end.get()}`);
    return true;
  });
}

// The "Add" menu of the remote list, and Edit by the entry's form.
export const remoteAddMenu = [
  { label: 'IP Address', open: (done) => remoteIpDialog(null, done) },
  { label: 'IP and Mask', open: (done) => remoteMaskDialog(null, done) },
  { label: 'IP Range', open: (done) => remoteRangeDialog(null, done) },
];

export function editRemote(entry, done) {
  const kind = remoteKind(entry);
  if (kind === 'mask') remoteMaskDialog(entry, done);
  else if (kind === 'range') remoteRangeDialog(entry, done);
  else remoteIpDialog(entry, done);
}

export const remoteColumns = [{ label: 'Remote IP address(es)', value: (r) => r }];
