// The REST API, as the browser client uses it.

export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter; // seconds, when the server said when to try again
  }
}

function basicCredentials(nickname, password) {
  // btoa only takes Latin-1; encode as UTF-8 bytes first.
  const bytes = new TextEncoder().encode(`${nickname}:${password}`);
  return 'Basic ' + btoa(String.fromCharCode(...bytes));
}

export async function request(method, path, { token, body, credentials, keepalive = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (credentials) headers.Authorization = basicCredentials(credentials.nickname, credentials.password);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get('Retry-After'), 10);
    throw new ApiError(response.status, data, Number.isNaN(retryAfter) ? null : retryAfter);
  }
  return data;
}
