// Email addresses that could be look-alikes. "bob@exаmple.com" with a
// Cyrillic "а" reads as bob@example.com; sharing a document with it shares
// it with someone else. Wherever the page shows an address to act on, it
// shows an address with non-ASCII characters flagged, with an ASCII form:
// the domain in punycode (IDNA, as the browser's URL parser makes it) and
// each non-ASCII character of the local part as [U+XXXX].

const nonASCII = /[^\u0000-\u007f]/u;

/**
 * asciiEmail returns {nonAscii, ascii} for an address: whether it has any
 * non-ASCII character, and its ASCII form.
 */
export function asciiEmail(email) {
  const at = email.lastIndexOf('@');
  const local = at < 0 ? email : email.slice(0, at);
  const domain = at < 0 ? '' : email.slice(at + 1);
  const localFlag = nonASCII.test(local);
  const domainFlag = nonASCII.test(domain);
  let asciiDomain = domain;
  if (domainFlag) {
    try {
      asciiDomain = new URL(`http://${domain}`).hostname;
    } catch {
      asciiDomain = escape(domain);
    }
  }
  const asciiLocal = localFlag ? escape(local) : local;
  return {
    nonAscii: localFlag || domainFlag,
    ascii: at < 0 ? asciiLocal : `${asciiLocal}@${asciiDomain}`,
  };
}

function escape(s) {
  return s.replace(/[^\u0000-\u007f]/gu, (c) => `[U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}
