// The API client. The access token lives only in memory; the refresh token in
// sessionStorage (it survives a reload but is not shared between tabs: a refresh
// token is rotated at every use, and presenting a spent one ends the whole session).

import { saveBlob } from './dom.js';

const REFRESH_KEY = 'uait.refresh';
let access = null;
let expiresAt = 0;
let refreshing = null;
const expiredListeners = [];

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const onExpired = (listener) => expiredListeners.push(listener);
export const hasSession = () => Boolean(sessionStorage.getItem(REFRESH_KEY));

function keep(tokens) {
  access = tokens.access_token;
  expiresAt = Date.now() + (tokens.expires_in || 900) * 1000;
  sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
}

function forget() {
  access = null;
  expiresAt = 0;
  sessionStorage.removeItem(REFRESH_KEY);
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let code;
  try {
    const body = await response.json();
    const error = body.error;
    message = typeof error === 'string' ? error : error?.message || message;
    code = error?.code;
  } catch { /* not JSON */ }
  return new ApiError(response.status, message, code);
}

const post = (path, body) => fetch(path, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

export async function login(email, password) {
  const response = await post('/auth/login', { email, password });
  if (!response.ok) throw await errorOf(response);
  keep(await response.json());
}

// One refresh at a time; each returns a new refresh token, which replaces the old one.
export function refresh() {
  refreshing ||= (async () => {
    const token = sessionStorage.getItem(REFRESH_KEY);
    if (!token) return false;
    const response = await post('/auth/refresh', { refresh_token: token });
    if (!response.ok) {
      forget();
      return false;
    }
    keep(await response.json());
    return true;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

export async function logout() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  forget();
  if (token) await post('/auth/logout', { refresh_token: token }).catch(() => {});
}

// A valid access token (refreshed a minute before it expires), for the WebSocket.
export async function freshToken() {
  if (!access || Date.now() > expiresAt - 60000) await refresh();
  return access;
}

// fetch with the access token; on 401, refresh once and retry.
export async function request(path, { method = 'GET', body, headers = {}, signal, raw = false } = {}) {
  const send = () => {
    const all = { ...headers };
    if (access) all.authorization = `Bearer ${access}`;
    let payload = body;
    if (body !== undefined && !raw) {
      all['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    return fetch(path, { method, headers: all, body: payload, signal });
  };
  if (!access) await refresh();
  let response = await send();
  if (response.status === 401) {
    // a new access token and one more try; a 401 after that is about the request itself
    // (a wrong current password, say), not the session
    if (await refresh()) response = await send();
    else expiredListeners.forEach((listener) => listener());
  }
  return response;
}

export async function api(path, options = {}) {
  const query = options.query ? `?${new URLSearchParams(Object.entries(options.query).filter(([, v]) => v !== undefined && v !== null && v !== ''))}` : '';
  const response = await request(path + (query === '?' ? '' : query), options);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.blob();
}

// POST that answers server-sent events (`data: {...}` blocks); calls onEvent for each.
export async function stream(path, body, { onHeaders, onEvent, signal, headers } = {}) {
  const response = await request(path, { method: 'POST', body, signal, headers });
  if (!response.ok) throw await errorOf(response);
  onHeaders?.(response.headers);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split('\n')) {
        if (line.startsWith('data:') && line.slice(5).trim() !== '[DONE]') onEvent(JSON.parse(line.slice(5)));
      }
    }
  }
  return response;
}

// Multipart upload with progress (fetch cannot report upload progress).
export async function upload(path, file, onProgress) {
  const token = await freshToken();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body?.error?.message || `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'upload failed: network error'));
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}

export async function download(path, name) {
  const blob = await api(path);
  saveBlob(blob instanceof Blob ? blob : new Blob([JSON.stringify(blob, null, 2)]), name);
}
