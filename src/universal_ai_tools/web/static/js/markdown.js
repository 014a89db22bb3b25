// A small, safe Markdown renderer: it builds DOM nodes and sets only textContent, so no
// text (a user's, a model's) is ever parsed as HTML. Links are kept only for http(s)
// and mailto URLs; images become links; code blocks get a tiny keyword highlighter.

import { copyText, h } from './dom.js';

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

export function safeUrl(raw) {
  try {
    const url = new URL(raw, window.location.href);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(label, raw) {
  const href = safeUrl(raw);
  if (!href) return document.createTextNode(label);
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, label || href);
}

const INLINE = new RegExp([
  /(`+)([^`][\s\S]*?)\1(?!`)/.source, // 1,2 code
  /\*\*(?=\S)([\s\S]*?\S)\*\*/.source, // 3 strong
  /__(?=\S)([\s\S]*?\S)__/.source, // 4 strong
  /\*(?=[^\s*])([^*]*?[^\s*])\*/.source, // 5 em
  /\b_(?=[^\s_])([^_]*?[^\s_])_\b/.source, // 6 em
  /(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/.source, // 7,8,9 link/image
  /<((?:https?:\/\/|mailto:)[^>\s]+)>/.source, // 10 autolink
  /(https?:\/\/[^\s<]*[^\s<.,;:!?)\]'"])/.source, // 11 bare URL
].join('|'), 'g');

export function inline(text, parent) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] !== undefined) parent.append(h('code', {}, m[2]));
    else if (m[3] !== undefined || m[4] !== undefined) parent.append(inline(m[3] ?? m[4], h('strong')));
    else if (m[5] !== undefined || m[6] !== undefined) parent.append(inline(m[5] ?? m[6], h('em')));
    else if (m[9] !== undefined) parent.append(link(m[7] ? `image: ${m[8] || m[9]}` : m[8], m[9]));
    else parent.append(link(m[10] ?? m[11], m[10] ?? m[11]));
  }
  if (last < text.length) parent.append(text.slice(last));
  return parent;
}

const KEYWORDS = new Set(('as async await break case catch class const continue def del do elif else enum export extends ' +
  'false finally fn for from func function go if impl import in interface is lambda let match mod mut new nil none null ' +
  'not or and pass pub raise return self static struct super switch this throw true try type typeof use var void while with yield ' +
  'None True False print int str float bool string char long double public private protected package select where echo').split(' '));
const HASH_COMMENTS = new Set(['python', 'py', 'sh', 'bash', 'shell', 'zsh', 'ruby', 'rb', 'yaml', 'yml', 'toml', 'perl', 'r', 'dockerfile', 'makefile', 'ini', 'conf']);

// Tokens: comments, strings, numbers, words; everything else stays plain text.
export function highlight(code, lang) {
  const comment = HASH_COMMENTS.has(lang) ? String.raw`#[^\n]*` : String.raw`\/\/[^\n]*|\/\*[\s\S]*?\*\/|--[^\n]*`;
  const tokens = new RegExp(String.raw`(${comment})|("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\x60(?:\\.|[^\x60\\])*\x60)|(\b\d[\d_.]*(?:e[+-]?\d+)?\b|\b0x[\da-f]+\b)|([A-Za-z_$][\w$]*)`, 'gi');
  const out = document.createDocumentFragment();
  let last = 0;
  for (const m of code.matchAll(tokens)) {
    let kind = null;
    if (m[1]) kind = 'tok-c';
    else if (m[2]) kind = 'tok-s';
    else if (m[3]) kind = 'tok-n';
    else if (KEYWORDS.has(m[4])) kind = 'tok-k';
    else if (code[m.index + m[0].length] === '(') kind = 'tok-f';
    if (!kind) continue;
    if (m.index > last) out.append(code.slice(last, m.index));
    out.append(h('span', { class: kind }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < code.length) out.append(code.slice(last));
  return out;
}

function codeBlock(code, lang) {
  const language = (lang || '').toLowerCase();
  return h('div', { class: 'code' },
    h('div', { class: 'code-bar' }, h('span', {}, language || 'text'),
      h('button', { type: 'button', class: 'small', 'aria-label': 'Copy code', onclick: () => copyText(code) }, 'Copy')),
    h('pre', { tabindex: 0 }, h('code', { class: language ? `lang-${language}` : null }, highlight(code, language))));
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}>\s?/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || QUOTE.test(line) || ITEM.test(line) || RULE.test(line);
}

function paragraph(lines) {
  const p = h('p');
  lines.forEach((line, index) => {
    if (index) p.append(h('br'));
    inline(line.trim(), p);
  });
  return p;
}

export function render(text) {
  const out = document.createDocumentFragment();
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = line.match(FENCE))) {
      const fence = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i += 1; // the closing fence (an unclosed block, while streaming, runs to the end)
      out.append(codeBlock(body.join('\n'), m[2]));
    } else if ((m = line.match(HEADING))) {
      out.append(inline(m[2], h(`h${Math.min(6, m[1].length + 2)}`)));
      i += 1;
    } else if (RULE.test(line)) {
      out.append(h('hr'));
      i += 1;
    } else if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(lines[i++].replace(QUOTE, ''));
      out.append(h('blockquote', {}, render(body.join('\n'))));
    } else if ((m = line.match(ITEM))) {
      const ordered = /\d/.test(m[2]);
      const list = h(ordered ? 'ol' : 'ul');
      if (ordered && parseInt(m[2], 10) !== 1) list.setAttribute('start', String(parseInt(m[2], 10)));
      while (i < lines.length && (m = lines[i].match(ITEM)) && /\d/.test(m[2]) === ordered) {
        const item = [m[3]];
        i += 1;
        while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) item.push(lines[i++]);
        list.append(h('li', {}, ...paragraph(item).childNodes));
      }
      out.append(list);
    } else if (!line.trim()) {
      i += 1;
    } else {
      const body = [];
      while (i < lines.length && lines[i].trim() && !(body.length && startsBlock(lines[i]))) body.push(lines[i++]);
      out.append(paragraph(body));
    }
  }
  return out;
}

export function renderInto(el, text) {
  el.replaceChildren(render(text));
  return el;
}
