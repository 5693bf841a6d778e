// certs_match.js — which certificate SMTP would present for a name, as
// Exchange chooses it for STARTTLS (docs/exchange-model.md): a certificate
// enabled for SMTP whose Subject CN or CertificateDomains name the FQDN,
// exactly or by a wildcard of one label. Event 12014 is "none does".
// Must never: change anything (pure functions over Get- objects).

const DAY = 24 * 3600 * 1000;

export function services(cert) {
  return String(cert.Services || '').split(/[,\s]+/).filter((s) => s && s !== 'None');
}

function cn(subject) {
  const m = /(?:^|,)\s*CN=([^,]+)/i.exec(subject || '');
  return m ? m[1].trim() : null;
}

export function certNames(cert) {
  const names = [...(cert.CertificateDomains || [])];
  const c = cn(cert.Subject);
  if (c && !names.some((n) => n.toLowerCase() === c.toLowerCase())) names.unshift(c);
  return names;
}

// Does name (from a certificate) cover fqdn? Exact, or *.rest for one label.
export function nameCovers(name, fqdn) {
  const n = String(name).toLowerCase().replace(/\.$/, '');
  const f = String(fqdn).toLowerCase().replace(/\.$/, '');
  if (n === f) return true;
  if (n.startsWith('*.')) {
    const dot = f.indexOf('.');
    return dot > 0 && f.slice(dot + 1) === n.slice(2);
  }
  return false;
}

export function certNamesFqdn(cert, fqdn) {
  return certNames(cert).some((n) => nameCovers(n, fqdn));
}

export function isExpired(cert, now = Date.now()) {
  return !!cert.NotAfter && new Date(cert.NotAfter).getTime() < now;
}

// 'expired', 'soon' (within 30 days) or null.
export function expiry(cert, now = Date.now()) {
  if (!cert.NotAfter) return null;
  const t = new Date(cert.NotAfter).getTime();
  if (Number.isNaN(t)) return null;
  if (t < now) return 'expired';
  if (t - now < 30 * DAY) return 'soon';
  return null;
}

// A certificate that could serve TLS at all: issued (not a pending request), with its key, in date.
export function usable(cert) {
  return cert.Status !== 'PendingRequest' && cert.HasPrivateKey !== false && !isExpired(cert);
}

export function smtpEnabled(cert) {
  return usable(cert) && services(cert).includes('SMTP');
}

export function connectorFqdn(connector, server) {
  return connector.Fqdn || (server && server.fqdn) || '';
}

export function offersTls(connector) {
  return String(connector.AuthMechanism || '').split(/[,\s]+/).includes('Tls');
}

// For a Receive connector: null when STARTTLS will have a certificate, else
// {fqdn, fix} where fix is a usable certificate naming the FQDN that is not
// enabled for SMTP (Enable-ExchangeCertificate fixes it) or null (a new one is needed).
export function missingCertificate(connector, certs, server) {
  if (!offersTls(connector)) return null;
  const fqdn = connectorFqdn(connector, server);
  if (!fqdn) return null;
  if (certs.some((c) => smtpEnabled(c) && certNamesFqdn(c, fqdn))) return null;
  const candidates = certs.filter((c) => usable(c) && certNamesFqdn(c, fqdn))
    .sort((a, b) => (a.IsSelfSigned === b.IsSelfSigned ? String(b.NotAfter).localeCompare(String(a.NotAfter)) : a.IsSelfSigned ? 1 : -1));
  return { fqdn, fix: candidates[0] || null };
}

// Names of the Receive connectors whose FQDN an SMTP certificate names.
export function usedBy(cert, connectors, server) {
  if (!smtpEnabled(cert)) return [];
  return connectors.filter((c) => offersTls(c) && certNamesFqdn(cert, connectorFqdn(c, server))).map((c) => c.Name);
}
