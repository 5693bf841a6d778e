// wizard_ipcheck.js — the cheap checks the browser makes before it asks the
// server: an IP address's syntax, a port number, a cost. Everything else
// (ranges, masks, domains) is the cmdlet's to judge.
// Must never: accept what the cmdlet would refuse for these same values
// (a check here may only be stricter in saying "wrong" earlier).

export function isIPv4(s) {
  const parts = String(s).split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

export function isIPv6(s) {
  const t = String(s);
  if (!/^[0-9A-Fa-f:.]+$/.test(t) || !t.includes(':')) return false;
  try {
    // The URL parser knows IPv6 literals exactly.
    new URL(`http://[${t}]/`);
    return true;
  } catch {
    return false;
  }
}

export function isIP(s) {
  return isIPv4(s) || isIPv6(s);
}

// An integer in [lo, hi] written in decimal digits only.
export function isIntIn(s, lo, hi) {
  const t = String(s).trim();
  return /^\d+$/.test(t) && Number(t) >= lo && Number(t) <= hi;
}

export function isPort(s) {
  return isIntIn(s, 1, 65535);
}
