// Reads an HTML page and prints what a browser would submit for its first <form>:
//   line 1: the method (GET or POST)
//   line 2: the absolute action URL
//   line 3: the fields, application/x-www-form-urlencoded
// Hidden (and other valued) inputs are kept; `login` and `password` are filled in; a named
// submit button sends its name/value. Exits 3 when the page has no form.
//
// Usage: node bench/form.mjs PAGE.html PAGE_URL LOGIN
// Good enough for the plain forms of oidc-provider's devInteractions (login, consent) and
// of oauth2-proxy-like sign-in pages; not a general HTML parser.

import * as fs from 'node:fs';

const [file, pageUrl, login] = process.argv.slice(2);
const html = fs.readFileSync(file, 'utf8');

const formMatch = html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i);
if (!formMatch) process.exit(3);
const [, formAttrs, inner] = formMatch;

function decode(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/gi, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x2F;/gi, '/')
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

function attrs(s) {
  const out = {};
  for (const m of s.matchAll(/([a-zA-Z_:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    out[m[1].toLowerCase()] = decode(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

const form = attrs(formAttrs);
const method = (form.method || 'GET').toUpperCase();
const action = new URL(form.action || pageUrl, pageUrl).href;

const fields = new URLSearchParams();
let submitted = false;
for (const m of inner.matchAll(/<(input|button)\b([^>]*)>/gi)) {
  const tag = m[1].toLowerCase();
  const a = attrs(m[2]);
  const type = (a.type || (tag === 'button' ? 'submit' : 'text')).toLowerCase();
  if (!a.name) continue;
  if (type === 'submit' || type === 'image') {
    if (!submitted) {
      fields.append(a.name, a.value ?? '');
      submitted = true;
    }
    continue;
  }
  if (type === 'reset' || type === 'button') continue;
  if ((type === 'checkbox' || type === 'radio') && !('checked' in a)) continue;
  let value = a.value ?? '';
  if (a.name === 'login' || a.name === 'username' || a.name === 'email') value = login;
  if (a.name === 'password') value = 'any-password';
  fields.append(a.name, value);
}

process.stdout.write(`${method}\n${action}\n${fields.toString()}\n`);
