// Follows a Server-Sent Events stream of the API with the signed-in person's token in the
// Authorization header: EventSource cannot send headers, and the token never goes in a URL or a
// cookie (docs/security.md). fetch() with a ReadableStream reader, the SSE lines parsed here,
// and after a drop the stream is opened again with Last-Event-ID, so nothing is missed or
// received twice (the API's SSE id is the event id).
import { token } from "./session.js";

const FIRST_WAIT_MS = 1000;
const LONGEST_WAIT_MS = 15000;

/** Split an SSE text into messages ({id, event, data}); returns [messages, unfinished rest]. */
export function parseSse(text) {
  let hold = "";
  if (text.endsWith("\r")) {
    hold = "\r"; // maybe the first half of a CRLF: wait for the next chunk
    text = text.slice(0, -1);
  }
  const lines = text.split(/\r\n|\r|\n/);
  const tail = lines.pop(); // the line not ended yet
  const messages = [];
  let start = 0;
  let current = { data: [] };
  lines.forEach((line, index) => {
    if (line === "") {
      if (current.data.length) messages.push({ id: current.id, event: current.event, data: current.data.join("\n") });
      current = { data: [] };
      start = index + 1;
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's keep-alive ping
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") current.data.push(value);
    else if (field === "id") current.id = value;
    else if (field === "event") current.event = value;
  });
  // the lines after the last blank line belong to a message still arriving
  return [messages, [...lines.slice(start), tail].join("\n") + hold];
}

/**
 * Follow `path` (a /v1/ stream) after the event id `after`: `onEvent(event)` gets each parsed
 * event (the API's EventRead), `onStatus(state, sentence)` hears "live", "reconnecting" and
 * "refused" (with the API's sentence; the stream is not retried then). Returns `stop()`.
 */
export function follow(path, { after = 0, onEvent, onStatus = () => {} }) {
  let last = after;
  let stopped = false;
  let controller = null;
  let wait = FIRST_WAIT_MS;
  let timer = null;

  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const [messages, rest] = parseSse(buffer);
      buffer = rest;
      for (const message of messages) {
        if (message.id && /^\d+$/.test(message.id)) last = Number(message.id);
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          continue; // not an event of the API
        }
        if (!stopped) onEvent(event);
      }
    }
  }

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch(path, {
          headers: {
            Accept: "text/event-stream",
            Authorization: `Bearer ${token() || ""}`,
            "Last-Event-ID": String(last),
          },
          cache: "no-store",
          credentials: "omit",
          signal: controller.signal,
        });
        if (!response.ok) {
          let detail = `The server answered ${response.status}.`;
          try {
            const problem = await response.json();
            if (typeof problem.detail === "string" && problem.detail) detail = problem.detail;
          } catch {
            // keep the status sentence
          }
          if (response.status < 500 && response.status !== 429) {
            onStatus("refused", detail);
            return;
          }
        } else {
          onStatus("live");
          wait = FIRST_WAIT_MS;
          await read(response.body);
        }
      } catch {
        // dropped (network, server restart) or stopped
      }
      if (stopped) return;
      onStatus("reconnecting");
      await new Promise((resolve) => { timer = setTimeout(resolve, wait); });
      wait = Math.min(wait * 2, LONGEST_WAIT_MS);
    }
  }

  run();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (controller) controller.abort();
  };
}
