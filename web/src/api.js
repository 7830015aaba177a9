// The data API of `desirelines serve`, same origin. Every call returns parsed
// JSON or throws an ApiError carrying the status and the server's message.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function request(method, path, { body, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

const seg = (s) => encodeURIComponent(String(s));

export const api = {
  years: () => request('GET', '/api/v1/years'),
  year: (year, category) => request('GET', `/api/v1/years/${seg(year)}/${seg(category)}`),
  pacing: (year, category, unit) =>
    request('GET', `/api/v1/years/${seg(year)}/${seg(category)}/pacing?unit=${seg(unit)}`),
  goals: (year, category, unit) => request('GET', `/api/v1/goals/${seg(year)}/${seg(category)}?unit=${seg(unit)}`),
  saveGoals: (year, category, goals, token) =>
    request('PUT', `/api/v1/goals/${seg(year)}/${seg(category)}`, { body: { goals }, token }),
};
