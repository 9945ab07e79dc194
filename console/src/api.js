// Reads the public API (/public/...). Errors carry the API's own sentence (problem+json detail).

export class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? { Accept: "application/json" } : {
        Accept: "application/json",
        "Content-Type": "application/json",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
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
  try {
    const problem = await response.json();
    if (typeof problem.detail === "string" && problem.detail) detail = problem.detail;
  } catch {
    // not problem+json: keep the status sentence
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  throw new ApiError(response.status, detail, Number.isFinite(retry) ? retry : undefined);
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
