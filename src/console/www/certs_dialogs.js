// certs_dialogs.js — the certificate dialogs: New Exchange Certificate
// (a request for a CA, offered as a download, or a self-signed one),
// Import Exchange Certificate (.pfx/.pem upload), Import trusted root or CRL.
// Each runs one cmdlet with the admin's values and shows the line it ran.
// Must never: read a file the admin did not pick, or put the request text into the page as HTML.

import { el, clear } from './dom.js';
import { cmdlet } from './api.js';
import { openModal, field, commandBlock } from './dialog.js';
import { reportSignedOut } from './errors.js';
import { noteCommand } from './actions.js';

async function run(m, name, params, done) {
  m.setBusy(true);
  m.setError(null);
  clear(done);
  try {
    const r = await cmdlet(name, params);
    m.setBusy(false);
    noteCommand(r);
    if (!r.ok) {
      m.setError(r.error || `${name} failed`);
      done.append(commandBlock('The following Exchange Management Shell command failed:', r.command));
      return null;
    }
    done.append(commandBlock('The following Exchange Management Shell command completed successfully:', r.command));
    const warnings = [].concat(r.warnings || []).filter(Boolean);
    if (warnings.length) done.append(el('pre', { class: 'warning-text' }, warnings.join('\n')));
    return r;
  } catch (e) {
    m.setBusy(false);
    if (reportSignedOut(e)) m.close(); else m.setError(e.message);
    return null;
  }
}

function lines(text) {
  return text.split(/[\n,;\s]+/).map((s) => s.trim()).filter(Boolean);
}

// ctx: {server, onChanged}; prefill: {domains: [...], enableSmtp: bool}
export function openNewCertificate(ctx, prefill = {}) {
  const domains = prefill.domains && prefill.domains.length ? prefill.domains : [ctx.server.fqdn];
  const subject = el('input', { type: 'text', name: 'SubjectName', value: `CN=${domains[0]}` });
  const names = el('textarea', { name: 'DomainName', rows: '3' });
  names.value = domains.join('\n');
  const keySize = el('select', { name: 'KeySize' }, ...['2048', '3072', '4096'].map((k) => el('option', { value: k }, k)));
  const smtp = el('input', { type: 'checkbox', name: 'EnableSmtp', checked: prefill.enableSmtp || undefined });
  const done = el('div', { class: 'done' });
  const body = el('div', { class: 'form' },
    el('p', { class: 'intro' }, 'Create a certificate request to send to a certification authority, or a self-signed certificate. The names are the FQDNs your Receive connectors answer with (Subject and subject alternative names).'),
    field('Subject name:', subject, 'For example CN=mail.contoso.com'),
    field('Domain names:', names, 'One name a line; *.contoso.com covers one label.'),
    field('Key size:', keySize),
    el('label', { class: 'check' }, smtp, 'Enable the self-signed certificate for SMTP (STARTTLS) at once'),
    done);
  const params = () => ({ SubjectName: subject.value.trim(), DomainName: lines(names.value), KeySize: keySize.value });
  const check = (m) => {
    if (!lines(names.value).length) { m.setError('Enter at least one domain name.'); return false; }
    return true;
  };
  openModal({
    title: 'New Exchange Certificate',
    wide: true,
    body,
    buttons: [
      { label: 'Generate request', primary: true, onClick: async (m) => {
        if (!check(m)) return;
        const r = await run(m, 'New-ExchangeCertificate', { ...params(), GenerateRequest: true }, done);
        if (!r) return;
        const text = r.text || '';
        const blob = new Blob([text], { type: 'application/pkcs10' });
        const link = el('a', { class: 'btn download', download: `${(lines(names.value)[0] || 'certreq').replace(/[^A-Za-z0-9.-]/g, '_')}.req`, href: URL.createObjectURL(blob) }, 'Download the request (.req)');
        done.append(el('p', {}, 'Send this request to your certification authority, then import its answer with Import Exchange Certificate.'),
          link, el('textarea', { class: 'request-text', readonly: true, rows: '8', 'aria-label': 'Certificate request' }, text));
        ctx.onChanged();
      } },
      { label: 'Create self-signed', onClick: async (m) => {
        if (!check(m)) return;
        const r = await run(m, 'New-ExchangeCertificate', { ...params(), Services: smtp.checked ? 'SMTP' : 'None' }, done);
        if (r) ctx.onChanged();
      } },
      { label: 'Close', onClick: (m) => m.close() },
    ],
  });
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const s = String(reader.result);
      resolve(s.slice(s.indexOf(',') + 1));
    };
    reader.onerror = () => reject(new Error(`Could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

// Import-ExchangeCertificate -FileName <upload> [-Password]
export function openImportCertificate(ctx) {
  const file = el('input', { type: 'file', name: 'FileName', accept: '.pfx,.p12,.pem,.cer,.crt,.p7b' });
  const password = el('input', { type: 'password', name: 'Password', autocomplete: 'off' });
  const done = el('div', { class: 'done' });
  openModal({
    title: 'Import Exchange Certificate',
    body: el('div', { class: 'form' },
      el('p', { class: 'intro' }, 'Import a certificate with its private key (PKCS#12 .pfx, or PEM), or the certification authority\'s answer to a request made here.'),
      field('File to import:', file), field('Password (PKCS#12 only):', password), done),
    buttons: [
      { label: 'Import', primary: true, onClick: async (m) => {
        const f = file.files[0];
        if (!f) { m.setError('Choose the file to import.'); return; }
        let data;
        try { data = await readBase64(f); } catch (e) { m.setError(e.message); return; }
        const p = { FileName: { upload: data, name: f.name } };
        if (password.value) p.Password = password.value;
        if (await run(m, 'Import-ExchangeCertificate', p, done)) ctx.onChanged();
      } },
      { label: 'Close', onClick: (m) => m.close() },
    ],
  });
}

// Import-Certificate -FilePath <upload> -CertStoreLocation Cert:\LocalMachine\Root|CA
export function openImportTrusted(ctx) {
  const file = el('input', { type: 'file', name: 'FilePath', accept: '.cer,.crt,.pem,.der,.crl' });
  const store = el('select', { name: 'CertStoreLocation' },
    el('option', { value: 'Cert:\\LocalMachine\\Root' }, 'Trusted Root Certification Authorities (Cert:\\LocalMachine\\Root)'),
    el('option', { value: 'Cert:\\LocalMachine\\CA' }, 'Intermediate Certification Authorities (Cert:\\LocalMachine\\CA)'));
  const done = el('div', { class: 'done' });
  openModal({
    title: 'Import Trusted Root Certificate or CRL',
    body: el('div', { class: 'form' },
      el('p', { class: 'intro' }, 'Trust a partner\'s certification authority (or import its certificate revocation list) for Domain Security (mutual TLS).'),
      field('Certificate or CRL file:', file), field('Store:', store), done),
    buttons: [
      { label: 'Import', primary: true, onClick: async (m) => {
        const f = file.files[0];
        if (!f) { m.setError('Choose the certificate or CRL file.'); return; }
        let data;
        try { data = await readBase64(f); } catch (e) { m.setError(e.message); return; }
        if (await run(m, 'Import-Certificate', { FilePath: { upload: data, name: f.name }, CertStoreLocation: store.value }, done)) ctx.onChanged();
      } },
      { label: 'Close', onClick: (m) => m.close() },
    ],
  });
}
