// The REST API, as the browser client uses it.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }
}

function basicCredentials(nickname, password) {
  // btoa only takes Latin-1; encode as UTF-8 bytes first.
  const bytes = new TextEncoder().encode(`${nickname}:${password}`);
  return 'Basic ' + btoa(String.fromCharCode(...bytes));
}

export async function request(method, path, { token, body, credentials } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (credentials) headers.Authorization = basicCredentials(credentials.nickname, credentials.password);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
