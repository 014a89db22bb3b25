// Building DOM nodes safely: text always goes in as text nodes, never as HTML.

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple', 'open', 'required', 'readOnly', 'max', 'min']);

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  if (kind === 'error') console.warn('uait:', message); // for whoever reads the console
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

// A modal form in a <dialog>: resolves with the values, or null when cancelled.
export function ask(title, fields, { submit = 'Save', danger = false } = {}) {
  return new Promise((resolve) => {
    const inputs = fields.map((field) => {
      const id = `ask-${Math.random().toString(36).slice(2)}`;
      const input = field.multiline
        ? h('textarea', { id, name: field.name, rows: 4, required: field.required })
        : h('input', { id, name: field.name, type: field.type || 'text', required: field.required, autocomplete: 'off' });
      input.value = field.value ?? '';
      return [field.name, input, h('label', { for: id }, field.label), input];
    });
    const dialog = h('dialog', { class: 'modal', 'aria-label': title });
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title),
      inputs.map(([, , label, input]) => h('div', { class: 'field' }, label, input)),
      h('div', { class: 'row end' },
        h('button', { type: 'button', value: 'cancel', onclick: () => dialog.close('cancel') }, 'Cancel'),
        h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary' }, submit)));
    dialog.append(form);
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (dialog.returnValue !== 'ok') return resolve(null);
      resolve(Object.fromEntries(inputs.map(([name, input]) => [name, input.value])));
    });
    form.addEventListener('submit', (event) => { event.preventDefault(); dialog.close('ok'); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export const confirmAction = (title, submit = 'Delete') => ask(title, [], { submit, danger: true }).then((v) => v !== null);

// A read-only modal showing some text (JSON, a prompt...).
export function showText(title, text) {
  const dialog = h('dialog', { class: 'modal wide', 'aria-label': title },
    h('h2', {}, title), h('pre', { class: 'inspect', tabindex: 0 }, text),
    h('div', { class: 'row end' }, h('button', { type: 'button', onclick: () => dialog.close() }, 'Close')));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied');
  } catch {
    toast('Copying is not allowed here', 'error');
  }
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// Runs an async action, reporting its failure as a toast; resolves to its result or undefined.
export async function attempt(action, success) {
  try {
    const result = await action();
    if (success) toast(success);
    return result;
  } catch (error) {
    toast(error.message || String(error), 'error');
    return undefined;
  }
}

export function field(label, input) {
  input.id ||= `f-${Math.random().toString(36).slice(2)}`;
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

export function section(title, ...children) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), children);
}

export function table(headers, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'Nothing yet.')))));
}
