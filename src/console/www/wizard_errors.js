// wizard_errors.js — places a cmdlet's error next to the field it names.
// postern's errors read `New-ReceiveConnector: ReceiveConnector "R": Bindings: '1.2.3.4:0': port must be 1-65535`:
// the parameter's name followed by a colon. The whole text is shown, as
// the cmdlet wrote it; this module only chooses where.
// Must never: rewrite or drop the cmdlet's words.

// The error of an answer as one string (the server may give lines).
export function errorText(answer) {
  const e = answer && answer.error;
  if (Array.isArray(e)) return e.join('\n');
  return e ? String(e) : 'The command failed (no error text).';
}

// The params (among candidates) the text names, in the order given.
export function namedParams(text, candidates) {
  return candidates.filter((p) => new RegExp(`(^|[\\s:"'-])${p}:`, 'i').test(text));
}

// Shows text next to the fields it names (fields: {param: {error: slot}});
// else in top (a slot). Returns true when some field took it.
export function placeError(text, fields, top) {
  const hit = namedParams(text, Object.keys(fields));
  for (const p of hit) fields[p].error.set(text);
  if (!hit.length && top) top.set(text);
  return hit.length > 0;
}
