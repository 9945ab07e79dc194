// The period a statistics page counts over, kept in the page's address (the query in the hash)
// so that it can be shared: ?period=month|quarter|year (from the first day of the current one
// to today), ?period=custom&from=YYYY-MM-DD&to=YYYY-MM-DD, or none (everything). The API takes
// from/to as ISO dates (GET /v1/stats/...) and, for a person's record, since/until as times with
// their offset: the days are read in the browser's time zone.
import { h, notice } from "./dom.js";

export const PERIODS = [
  ["all", "Everything"],
  ["month", "This month"],
  ["quarter", "This quarter"],
  ["year", "This year"],
  ["custom", "From a day to a day"],
];
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const pad = (n) => String(n).padStart(2, "0");
/** A local date as YYYY-MM-DD. */
export const isoDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** The period the address asks for: {period, from, to} (dates as YYYY-MM-DD, or null). */
export function periodOf(params, today = new Date()) {
  const period = PERIODS.some(([p]) => p === params.get("period")) ? params.get("period") : "all";
  const y = today.getFullYear();
  const m = today.getMonth();
  if (period === "month") return { period, from: isoDay(new Date(y, m, 1)), to: null };
  if (period === "quarter") return { period, from: isoDay(new Date(y, m - (m % 3), 1)), to: null };
  if (period === "year") return { period, from: isoDay(new Date(y, 0, 1)), to: null };
  if (period === "custom") {
    const day = (name) => (DAY.test(params.get(name) || "") ? params.get(name) : null);
    return { period, from: day("from"), to: day("to") };
  }
  return { period: "all", from: null, to: null };
}

/** The query string (with its "?", or "") that keeps `range` in an address. */
export function periodQuery(range) {
  if (!range || range.period === "all") return "";
  const q = new URLSearchParams({ period: range.period });
  if (range.period === "custom") {
    if (range.from) q.set("from", range.from);
    if (range.to) q.set("to", range.to);
  }
  return `?${q}`;
}

/** The API's from/to query for the stats endpoints ("" or "?from=…&to=…", plus `extra`). */
export function statsQuery(range, extra = {}) {
  const q = new URLSearchParams();
  if (range.from) q.set("from", range.from);
  if (range.to) q.set("to", range.to);
  for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

/** since/until (times with their offset) for a person's record: the days in this time zone,
 * `to` included (until the next midnight). */
export function recordQuery(range) {
  const q = new URLSearchParams();
  const at = (day, plus = 0) => {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(y, m - 1, d + plus).toISOString();
  };
  if (range.from) q.set("since", at(range.from));
  if (range.to) q.set("until", at(range.to, 1));
  const text = q.toString();
  return text ? `?${text}` : "";
}

/** The period in words ("1 Oct 2026 to today"). */
export function periodWords(range) {
  const day = (iso) => new Date(`${iso}T00:00:00`).toLocaleDateString("en-GB", { dateStyle: "medium" });
  if (!range.from && !range.to) return "everything recorded";
  if (range.from && !range.to) return `${day(range.from)} to today`;
  if (!range.from) return `everything up to ${day(range.to)}`;
  return `${day(range.from)} to ${day(range.to)}`;
}

/**
 * The period picker: a form whose choice goes into the address (`base` + the period query), so
 * the page is drawn again for it. A custom period needs a day; its end may not be before its
 * start (the page says so before asking the API).
 */
export function periodPicker(range, base) {
  const status = h("div", { class: "form-status" });
  const from = h("input", { type: "date", id: "period-from", name: "from", value: range.from && range.period === "custom" ? range.from : null });
  const to = h("input", { type: "date", id: "period-to", name: "to", value: range.to && range.period === "custom" ? range.to : null });
  const custom = h("div", { class: "period-days", id: "period-days" },
    h("div", { class: "field" }, h("label", { for: "period-from" }, "From (first day counted)"), from),
    h("div", { class: "field" }, h("label", { for: "period-to" }, "To (last day counted, included)"), to));
  const radios = PERIODS.map(([value, words]) => h("label", { class: "choice", for: `period-${value}` },
    h("input", { type: "radio", id: `period-${value}`, name: "period", value, checked: value === range.period }), words));
  const showDays = () => {
    const on = form.querySelector("input[name=period]:checked").value === "custom";
    custom.hidden = !on;
  };
  const form = h("form", { class: "period", "aria-labelledby": "period-legend", novalidate: true },
    h("fieldset", { class: "field" }, h("legend", { id: "period-legend" }, "Period counted"),
      h("div", { class: "choices" }, radios), custom),
    status,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Show the period")));
  form.addEventListener("change", showDays);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    status.replaceChildren();
    for (const c of [from, to]) c.removeAttribute("aria-invalid");
    const period = form.querySelector("input[name=period]:checked").value;
    const next = { period, from: null, to: null };
    if (period === "custom") {
      next.from = from.value || null;
      next.to = to.value || null;
      const bad = (control, words) => {
        control.setAttribute("aria-invalid", "true");
        status.append(notice("error", words));
        control.focus();
      };
      if (!next.from && !next.to) return bad(from, "Choose the first day, the last day, or both.");
      if (next.from && next.to && next.to < next.from) {
        return bad(to, "The last day comes before the first day: choose a later last day.");
      }
    }
    location.hash = `${base}${periodQuery(next)}`;
  });
  showDays();
  return form;
}
