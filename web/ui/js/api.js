// The hub's JSON API. Errors come back as {"error": "..."}; api throws an
// Error with that message (and the status, and the whole answer: a 422
// lists problems) so views can show it.

export class APIError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** api fetches path and returns its JSON; opts.body is sent as JSON. */
export async function api(path, opts = {}) {
  const init = {method: opts.method || 'GET', headers: {Accept: 'application/json'}, signal: opts.signal};
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError(0, 'The hub cannot be reached.');
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // A proxy's HTML error page, or an empty answer.
  }
  // A session that ended (logged out elsewhere, expired): the page shows
  // the login form again.
  if (res.status === 401 && path !== '/api/login') window.dispatchEvent(new Event('hearth:login'));
  if (!res.ok) throw new APIError(res.status, (body && body.error) || `${res.status} ${res.statusText}`, body);
  return body;
}

/** enc encodes a path segment. */
export const enc = encodeURIComponent;
