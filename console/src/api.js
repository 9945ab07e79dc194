// Reads the public API (/public/...) and, for a signed-in person, the authenticated API (/v1/...)
// with their own bearer token. Errors carry the API's own sentence (problem+json detail).
import { token } from "./session.js";

export class ApiError extends Error {
  constructor(status, detail, retryAfter, fields, problem) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
    this.fields = fields || [];
    this.problem = problem || {};
  }
}

async function request(method, path, body, bearer) {
  let response;
  const headers = { Accept: "application/json" };
  const multipart = typeof FormData !== "undefined" && body instanceof FormData;
  // a FormData body gets its multipart Content-Type (with the boundary) from the browser
  if (body !== undefined && !multipart) headers["Content-Type"] = "application/json";
  // The token goes only to the API under /v1/, never to the public side.
  const secret = path.startsWith("/v1/") ? bearer || token() : null;
  if (secret) headers.Authorization = `Bearer ${secret}`;
  try {
    response = await fetch(path, {
      method,
      headers,
      cache: "no-store",
      body: body === undefined || multipart ? body : JSON.stringify(body),
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check the connection and try again.");
  }
  if (response.ok) {
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : response.text();
  }
  let detail = `The server answered ${response.status}.`;
  let fields = [];
  let problem = {};
  try {
    problem = await response.json();
    if (typeof problem.detail === "string" && problem.detail) detail = problem.detail;
    if (Array.isArray(problem.fields)) fields = problem.fields.filter((f) => typeof f === "string");
  } catch {
    // not problem+json: keep the status sentence
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  throw new ApiError(response.status, detail, Number.isFinite(retry) ? retry : undefined, fields, problem);
}

const enc = encodeURIComponent;

export const api = {
  powers: () => request("GET", "/public/powers"),
  process: (key) => request("GET", `/public/processes/${enc(key)}`),
  diagram: (key) => request("GET", `/public/processes/${enc(key)}/diagram`),
  progress: (key, businessKey) =>
    request("GET", `/public/progress/${enc(key)}/${enc(businessKey)}`),
  notices: (closed) => request("GET", closed ? "/public/notices?closed=true" : "/public/notices"),
  notice: (id) => request("GET", `/public/notices/${enc(id)}`),
  object: (id, objection) => request("POST", `/public/notices/${enc(id)}/objections`, objection),
  // the authenticated API, with the signed-in person's token (or the one being checked)
  me: (bearer) => request("GET", "/v1/me", undefined, bearer),
  inbox: (state) => request("GET", `/v1/tasks?state=${enc(state)}&limit=100`),
  task: (id) => request("GET", `/v1/tasks/${enc(id)}`),
  claim: (id) => request("POST", `/v1/tasks/${enc(id)}/claim`),
  unclaim: (id) => request("POST", `/v1/tasks/${enc(id)}/unclaim`),
  complete: (id, data, comment) =>
    request("POST", `/v1/tasks/${enc(id)}/complete`, comment ? { data, comment } : { data }),
  countersigns: (id) => request("GET", `/v1/tasks/${enc(id)}/countersigns`),
  countersign: (id, decision, comment) =>
    request("POST", `/v1/tasks/${enc(id)}/countersign`, comment ? { decision, comment } : { decision }),
  instance: (id) => request("GET", `/v1/instances/${enc(id)}`),
  instanceTasks: (id) => request("GET", `/v1/tasks?instance_id=${enc(id)}&limit=500`),
  events: (id) => request("GET", `/v1/instances/${enc(id)}/events?limit=1000`),
  xml: (key, version) => request("GET", `/v1/definitions/${enc(key)}/xml?version=${enc(version)}`),
  riskMap: (key, version) =>
    request("GET", `/v1/definitions/${enc(key)}/risk-map?version=${enc(version)}`),
  // the designer's pages
  definitions: () => request("GET", "/v1/definitions?limit=500"),
  versions: (key) => request("GET", `/v1/definitions/${enc(key)}`),
  /** Upload File objects as one deployment (multipart "file" parts: a bundle when several). */
  upload: (files, purpose = "deploy") => {
    const form = new FormData();
    for (const file of files) form.append("file", file, file.name);
    return request("POST", `/v1/definitions?purpose=${enc(purpose)}`, form);
  },
  // the monitors' pages (the API refuses them to anyone else, and the page shows its sentence)
  latestEvent: () => request("GET", "/v1/events/latest"),
  alerts: (state) => request("GET", `/v1/alerts?state=${enc(state)}&limit=100`),
  acknowledge: (id, comment) =>
    request("POST", `/v1/alerts/${enc(id)}/acknowledge`, comment ? { comment } : {}),
  instances: (status) => request("GET", `/v1/instances?status=${enc(status)}&limit=100`),
  violations: () => request("GET", "/v1/violations?limit=20"),
  cases: (state, instanceId) => request("GET", `/v1/cases?limit=100${state ? `&state=${enc(state)}` : ""}${
    instanceId ? `&instance_id=${enc(instanceId)}` : ""}`),
  case: (id) => request("GET", `/v1/cases/${enc(id)}`),
  openCase: (body) => request("POST", "/v1/cases", body),
  finding: (id, body) => request("POST", `/v1/cases/${enc(id)}/findings`, body),
  correction: (id, body) => request("POST", `/v1/cases/${enc(id)}/corrections`, body),
  suspendCase: (id, reason) => request("POST", `/v1/cases/${enc(id)}/suspend`, { reason }),
  resumeCase: (id, reason) => request("POST", `/v1/cases/${enc(id)}/resume`, { reason }),
  closeCase: (id, body) => request("POST", `/v1/cases/${enc(id)}/close`, body),
  audit: (id) => request("GET", `/v1/instances/${enc(id)}/audit`),
  // `query` is the period's "?from=…&to=…" (period.js), or ""
  processStats: (query = "") => request("GET", `/v1/stats/processes${query}`),
  stats: (key, query = "") => request("GET", `/v1/stats/processes/${enc(key)}${query}`),
  roleStats: (query = "") => request("GET", `/v1/stats/roles${query}`),
  peopleStats: (query = "") => request("GET", `/v1/stats/people${query}`),
  anomalies: (query = "") => request("GET", `/v1/stats/anomalies${query}`),
  personRecord: (name, query = "") => request("GET", `/v1/people/${enc(name)}/record${query}`),
  definition: (key) => request("GET", `/v1/definitions/${enc(key)}`),
};

/** The sentence to show for an error, with the wait a 429 asks for. */
export function sentence(error) {
  if (!(error instanceof ApiError)) {
    return error && error.message && error.message.startsWith("The flow chart")
      ? error.message
      : "Something went wrong in this page. Reload it to try again.";
  }
  if (error.status === 429 && error.retryAfter && !error.detail.includes(String(error.retryAfter))) {
    return `${error.detail} (Try again in ${error.retryAfter} s.)`;
  }
  return error.detail;
}
