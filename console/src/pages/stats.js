// Statistics for monitors: figures per process (#/stats) and one process's figures per element
// (#/stats/{key}) as a table, simple CSS bar charts, and a heat map on the flow chart: each
// element coloured by its p90 duration, overdue rate or violations, with the value written on
// it and a legend. The table is the accessible equivalent of the chart.
import { ApiError, api, sentence } from "../api.js";
import { whoami } from "../account.js";
import { showDiagram } from "../chart.js";
import { facts, h, notice } from "../dom.js";
import { timeEl } from "../format.js";
import { signInFirst } from "../work.js";
import { supervises, table } from "../supervise.js";
import { OUTCOMES } from "./cases.js";
import { periodOf, periodPicker, periodQuery, periodWords, statsQuery } from "../period.js";

/** Seconds as a person reads them ("under 1 s", "45 s", "12 min", "3.5 h", "2.1 days"). */
export function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1) return "under 1 s";
  if (value < 90) return `${Math.round(value)} s`;
  if (value < 90 * 60) return `${Math.round(value / 60)} min`;
  if (value < 36 * 3600) return `${(value / 3600).toFixed(1)} h`;
  return `${(value / 86400).toFixed(1)} days`;
}

const percent = (rate) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)} %`);
const total = (counts) => Object.values(counts || {}).reduce((a, b) => a + b, 0);
const byKey = (counts) => Object.entries(counts || {}).map(([k, v]) => `${k}: ${v}`).join(", ");

/** A value with a bar proportional to `max` (a CSS bar chart in a table cell). */
function bar(text, value, max, bad) {
  const width = max > 0 && value ? Math.max(2, Math.round((value / max) * 100)) : 0;
  return h("span", {}, text,
    width ? h("span", { class: `bar${bad ? " bad" : ""}`, style: null, "data-width": width }) : null);
}

/** Bars get their widths after rendering (the CSP forbids inline style attributes in markup,
 * but setting a property from the script is allowed). */
function sizeBars(root) {
  for (const el of root.querySelectorAll(".bar[data-width]")) el.style.width = `${el.dataset.width}%`;
}

/** The range the API counted, in words, and how fresh the counts are. */
function rangeLead(prefix, range, suffix) {
  return h("p", { class: "lead", id: "stats-range" }, prefix,
    periodWords({ from: range.from, to: range.to }), "; counted up to ",
    range.as_of ? timeEl(h, range.as_of) : "now", `.${suffix ? ` ${suffix}` : ""}`);
}

/** The links between the statistics pages, keeping the period. */
function statsNav(range, current) {
  const q = periodQuery(range);
  const links = [["processes", "#/stats", "By process"], ["roles", "#/stats/roles", "By role"], ["people", "#/stats/people", "By person"]];
  return h("nav", { "aria-label": "Statistics" }, h("ul", { class: "legend" }, [
    ...links.map(([name, href, words]) =>
      h("li", {}, h("a", { href: `${href}${q}`, "aria-current": name === current ? "page" : null }, words))),
    h("li", {}, h("a", { href: "#/stats/anomalies", "aria-current": current === "anomalies" ? "page" : null }, "Anomalies")),
  ]));
}

/** Read the API for the period; a refused range (422) leaves the picker up with the sentence. */
async function counted(read) {
  try {
    return { data: await read() };
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) return { refused: notice("error", sentence(error)) };
    throw error;
  }
}

export async function statsListPage(params = new URLSearchParams()) {
  const me = await whoami();
  if (!me) return signInFirst("Statistics");
  const range = periodOf(params);
  const { data: listing, refused } = await counted(() => api.processStats(statsQuery(range)));
  const head = [
    supervises(me) ? h("p", { class: "crumbs" }, h("a", { href: "#/monitor" }, "Dashboard"), " › statistics") : null,
    h("h1", { tabindex: "-1" }, "Statistics"),
    supervises(me) ? statsNav(range, "processes") : null,
    periodPicker(range, "#/stats"),
  ];
  if (refused) return { title: "Statistics", nodes: [...head, refused] };
  const q = periodQuery(range);
  const maxStarted = Math.max(0, ...listing.items.map((p) => p.figures.started));
  const nodes = [
    ...head,
    rangeLead("Figures per process over ", listing.range, "Open a process for its figures per step and the heat map."),
    listing.items.length
      ? table("figures", `${listing.items.length} process${listing.items.length === 1 ? "" : "es"}`,
        ["Process", "Started", "Completed", "Running", "Cancelled", "Failed", "Median duration", "p90 duration", "Overdue rate", "Alerts", "Violations"],
        listing.items.map((p) => ({ item: p, cells: [
          h("a", { href: `#/stats/${encodeURIComponent(p.name)}${q}` }, p.name),
          bar(String(p.figures.started), p.figures.started, maxStarted),
          String(p.figures.completed), String(p.figures.running ?? "—"), String(p.figures.cancelled), String(p.figures.failed),
          seconds(p.figures.durations.p50_seconds), seconds(p.figures.durations.p90_seconds),
          percent(p.figures.overdue_rate), String(total(p.figures.alerts)), String(total(p.figures.violations)),
        ] })),
        (p) => ({ "data-process": p.name }))
      : h("p", {}, "Nothing is counted in this period."),
  ];
  return { title: "Statistics", nodes, after: () => sizeBars(document.getElementById("main")) };
}

const GROUPS = {
  roles: {
    title: "Statistics by role",
    read: (q) => api.roleStats(q),
    lead: "Tasks per role over ",
    first: "Role",
    started: "Tasks ready",
    running: "Open at the end",
    what: (n) => `${n} role${n === 1 ? "" : "s"}`,
    name: (name) => name,
  },
  people: {
    title: "Statistics by person",
    read: (q) => api.peopleStats(q),
    lead: "Work per person over ",
    first: "Person",
    started: "Instances started",
    running: "Tasks held at the end",
    what: (n) => `${n} ${n === 1 ? "person" : "people"}`,
    name: (name, q) => h("a", { href: `#/people/${encodeURIComponent(name)}${q}` }, name),
  },
};

/** Figures per role (#/stats/roles) or per person (#/stats/people), over the period. */
export async function groupStatsPage(kind, params = new URLSearchParams()) {
  const group = GROUPS[kind];
  const me = await whoami();
  if (!me) return signInFirst(group.title);
  const range = periodOf(params);
  const { data: listing, refused } = await counted(() => group.read(statsQuery(range)));
  const head = [
    h("p", { class: "crumbs" }, h("a", { href: `#/stats${periodQuery(range)}` }, "Statistics"), ` › by ${kind === "roles" ? "role" : "person"}`),
    h("h1", { tabindex: "-1" }, group.title),
    statsNav(range, kind),
    periodPicker(range, `#/stats/${kind}`),
  ];
  if (refused) return { title: group.title, nodes: [...head, refused] };
  const q = periodQuery(range);
  const maxP90 = Math.max(0, ...listing.items.map((r) => r.figures.durations.p90_seconds || 0));
  const nodes = [
    ...head,
    rangeLead(group.lead, listing.range, kind === "people" ? "Open a person for their record of alerts, violations and case outcomes." : ""),
    listing.items.length
      ? table(`figures ${kind}`, group.what(listing.items.length),
        [group.first, group.started, "Completed", group.running, "Cancelled", "Median duration", "p90 duration", "Overdue rate", "Alerts", "Violations"],
        listing.items.map((r) => ({ item: r, cells: [
          group.name(r.name, q),
          String(r.figures.started), String(r.figures.completed), String(r.figures.running ?? "—"), String(r.figures.cancelled),
          seconds(r.figures.durations.p50_seconds),
          bar(seconds(r.figures.durations.p90_seconds), r.figures.durations.p90_seconds, maxP90),
          bar(percent(r.figures.overdue_rate), r.figures.overdue_rate, 1, true),
          byKey(r.figures.alerts) || "0", byKey(r.figures.violations) || "0",
        ] })),
        (r) => ({ "data-name": r.name }))
      : h("p", {}, "Nothing is counted in this period."),
  ];
  return { title: group.title, nodes, after: () => sizeBars(document.getElementById("main")) };
}

// What the heat map can show, how each element's value is read and put into one of 4 bands.
const violationBands = (max) => [1, Math.ceil(Math.max(2, max * 0.5)), Math.ceil(Math.max(3, max * 0.75))];
const durationLegend = (max) => {
  const [a, b, c] = [0.25, 0.5, 0.75].map((x) => seconds(x * max));
  return [`under ${a}`, `${a} to under ${b}`, `${b} to under ${c}`, `${c} to ${seconds(max)}`];
};
const MEASURES = {
  p50: {
    label: "median duration (ready to completed)",
    value: (f) => f.durations.p50_seconds,
    text: (v) => seconds(v),
    bands: (max) => [0.25, 0.5, 0.75].map((x) => x * max),
    legend: durationLegend,
  },
  p90: {
    label: "p90 duration (ready to completed)",
    value: (f) => f.durations.p90_seconds,
    text: (v) => seconds(v),
    bands: (max) => [0.25, 0.5, 0.75].map((x) => x * max),
    legend: durationLegend,
  },
  overdue: {
    label: "overdue rate",
    value: (f) => f.overdue_rate,
    text: (v) => `${percent(v)} overdue`,
    bands: () => [0.0001, 0.1, 0.25],
    legend: () => ["none overdue", "under 10 %", "10 % to under 25 %", "25 % or more"],
  },
  violations: {
    label: "violations",
    value: (f) => total(f.violations),
    text: (v) => `${v} violation${v === 1 ? "" : "s"}`,
    bands: violationBands,
    legend: (max) => {
      const [, b, c] = violationBands(max);
      return ["none", `1 to ${b - 1}`, `${b} to ${c - 1}`, `${c} or more`];
    },
  },
};

/** The band (0 to 3) of `value` among the thresholds `bands` (each the lower bound of the next). */
export function band(value, bands) {
  let b = 0;
  for (const t of bands) if (value >= t) b += 1;
  return b;
}

/** Element names from the BPMN XML (read as XML, never inserted as HTML). */
function elementNames(xml) {
  const names = {};
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  for (const el of doc.getElementsByTagName("*")) {
    const id = el.getAttribute("id");
    const name = el.getAttribute("name");
    if (id && name) names[id] = name;
  }
  return names;
}

export async function statsPage(key, params = new URLSearchParams()) {
  const me = await whoami();
  if (!me) return signInFirst("Statistics");
  const range = periodOf(params);
  const picker = periodPicker(range, `#/stats/${encodeURIComponent(key)}`);
  const { data: stats, refused } = await counted(() => api.stats(key, statsQuery(range)));
  if (refused) {
    return { title: `Statistics: ${key}`, nodes: [
      h("p", { class: "crumbs" }, h("a", { href: `#/stats${periodQuery(range)}` }, "Statistics"), " › process"),
      h("h1", { tabindex: "-1" }, key), picker, refused] };
  }
  const versions = await api.definition(key).catch(() => []);
  const latest = versions.reduce((a, v) => (!a || v.version > a.version ? v : a), null);
  const xml = latest ? await api.xml(key, latest.version).catch(() => null) : null;
  const names = xml ? elementNames(xml) : {};
  const f = stats.process;
  const elements = stats.elements;
  const maxOf = (pick) => Math.max(0, ...elements.map((e) => pick(e.figures) || 0));
  const maxP90 = maxOf((x) => x.durations.p90_seconds);
  const choose = h("select", { id: "heat-measure", name: "measure" },
    Object.entries(MEASURES).map(([value, m]) => h("option", { value, selected: value === "p90" }, m.label)));
  const legend = h("ul", { class: "legend", id: "heat-legend", "aria-label": "Colours of the heat map" });
  const diagramHost = h("div", { class: "diagram", id: "diagram" });
  const nodes = [
    h("p", { class: "crumbs" }, h("a", { href: `#/stats${periodQuery(range)}` }, "Statistics"), " › process"),
    h("h1", { tabindex: "-1" }, latest ? `${latest.name || key}` : key),
    picker,
    rangeLead(`Figures of ${key} over `, stats.range, ""),
    facts([
      ["Instances started", String(f.started)],
      ["Completed", String(f.completed)],
      ["Running", String(f.running ?? "—")],
      ["Cancelled / failed", `${f.cancelled} / ${f.failed}`],
      ["Duration (median, p90)", `${seconds(f.durations.p50_seconds)}, ${seconds(f.durations.p90_seconds)}`],
      ["Overdue rate", percent(f.overdue_rate)],
      ["Alerts", byKey(f.alerts) || "None"],
      ["Violations", byKey(f.violations) || "None"],
      ["Cases closed", Object.entries(f.cases || {}).map(([k, v]) => `${OUTCOMES[k] || k}: ${v}`).join("; ") || "None"],
    ]),
    h("section", { "aria-labelledby": "elements-heading" },
      h("h2", { id: "elements-heading" }, "Figures per step"),
      elements.length
        ? table("figures", "Each step's tasks over the range (the heat map below shows the same)",
          ["Step", "Ready", "Completed", "Open", "Median", "p90", "Overdue rate", "Alerts", "Violations"],
          elements.map((e) => ({ item: e, cells: [
            names[e.name] ? `${names[e.name]} (${e.name})` : e.name,
            String(e.figures.started), String(e.figures.completed), String(e.figures.running ?? "—"),
            seconds(e.figures.durations.p50_seconds),
            bar(seconds(e.figures.durations.p90_seconds), e.figures.durations.p90_seconds, maxP90),
            bar(percent(e.figures.overdue_rate), e.figures.overdue_rate, 1, true),
            byKey(e.figures.alerts) || "0",
            byKey(e.figures.violations) || "0",
          ] })),
          (e) => ({ "data-element": e.name }))
        : h("p", {}, "No step is counted yet.")),
    h("section", { "aria-labelledby": "heat-heading" },
      h("h2", { id: "heat-heading" }, "Heat map on the flow chart"),
      h("div", { class: "field heat-choice" }, h("label", { for: "heat-measure" }, "Colour the steps by"), choose),
      legend,
      diagramHost),
  ];
  const after = async () => {
    sizeBars(document.getElementById("main"));
    if (!xml) {
      diagramHost.append(notice("error", "The process's flow chart cannot be read."));
      return;
    }
    let viewer;
    try {
      viewer = await showDiagram(diagramHost, xml, {
        label: `Flow chart of ${key} with each step coloured by the chosen figure; the table above lists the figures.`,
      });
    } catch (error) {
      diagramHost.append(notice("error", sentence(error)));
      return;
    }
    const overlays = viewer.get("overlays");
    const registry = viewer.get("elementRegistry");
    const canvas = viewer.get("canvas");
    const paint = () => {
      const measure = MEASURES[choose.value];
      const values = elements.map((e) => measure.value(e.figures)).filter((v) => v !== null && v !== undefined);
      const max = Math.max(0, ...values);
      const bands = measure.bands(max);
      overlays.remove({ type: "heat" });
      for (const e of elements) {
        if (registry.get(e.name)) for (const b of [0, 1, 2, 3]) canvas.removeMarker(e.name, `pf-heat-${b}`);
      }
      legend.replaceChildren(...(values.length
        ? measure.legend(max).map((words, i) => h("li", {}, h("span", { class: `heat heat-${i}` }, words)))
        : [h("li", { class: "hint" }, `No step has a figure for the ${measure.label} yet.`)]));
      for (const e of elements) {
        const value = measure.value(e.figures);
        if (value === null || value === undefined || !registry.get(e.name)) continue;
        const b = band(value, bands);
        canvas.addMarker(e.name, `pf-heat-${b}`);
        overlays.add(e.name, "heat", {
          position: { top: -3, left: -4 },
          html: h("div", { class: "overlay heat-overlay", "data-element": e.name, "data-band": b },
            h("span", { class: `heat heat-${b}` }, measure.text(value))),
        });
      }
    };
    choose.addEventListener("change", paint);
    paint();
  };
  return { title: `Statistics: ${key}`, nodes, after };
}

// Statistical anomalies (R26): the indicators that moved against a baseline period.
const SUBJECTS = [["process", "Processes"], ["role", "Roles"], ["person", "People"]];
const BASELINES = [["previous", "the same number of days just before"], ["year", "the same days a year earlier"]];
const INDICATOR_WORDS = {
  started: "started", completed: "completed", cancelled: "cancelled", overdue: "overdue",
  alerts: "alerts", violations: "violations", overdue_rate: "overdue rate",
  p50_seconds: "median duration", p90_seconds: "p90 duration",
};
const DAY_TEXT = /^\d{4}-\d{2}-\d{2}$/;

/** A finding's value as a person reads it (durations in time, rates in per cent). */
function indicatorValue(indicator, value) {
  if (indicator.endsWith("_seconds")) return seconds(value);
  if (indicator === "overdue_rate") return percent(value);
  return String(value);
}

/** What the address asks of the anomalies page (defaults as the API's). */
function anomalyAsk(params) {
  const pick = (name, options, fallback) => (options.some(([v]) => v === params.get(name)) ? params.get(name) : fallback);
  const day = (name) => (DAY_TEXT.test(params.get(name) || "") ? params.get(name) : null);
  const number = (name, fallback) => (Number(params.get(name)) > 0 ? Number(params.get(name)) : fallback);
  return {
    by: pick("by", SUBJECTS, "process"),
    baseline: pick("baseline", BASELINES, "previous"),
    from: day("from"),
    to: day("to"),
    threshold: number("threshold", 30),
    minimum: Math.round(number("minimum", 10)),
  };
}

function anomalyQuery(ask) {
  const q = new URLSearchParams({ by: ask.by, baseline: ask.baseline, threshold: String(ask.threshold / 100), minimum: String(ask.minimum) });
  if (ask.from) q.set("from", ask.from);
  if (ask.to) q.set("to", ask.to);
  return `?${q}`;
}

function anomalyForm(ask) {
  const field = (id, words, control) => h("div", { class: "field" }, h("label", { for: id }, words), control);
  const select = (id, options, value) => h("select", { id, name: id }, options.map(([v, words]) =>
    h("option", { value: v, selected: v === value }, words)));
  const form = h("form", { class: "period", "aria-label": "What to compare", novalidate: true },
    field("anomaly-by", "Compare", select("anomaly-by", SUBJECTS, ask.by)),
    field("anomaly-from", "From (first day; empty: 30 days to the last day)", h("input", { type: "date", id: "anomaly-from", value: ask.from })),
    field("anomaly-to", "To (last day, included; empty: today)", h("input", { type: "date", id: "anomaly-to", value: ask.to })),
    field("anomaly-baseline", "Against", select("anomaly-baseline", BASELINES, ask.baseline)),
    field("anomaly-threshold", "Smallest change, in per cent", h("input", { type: "number", id: "anomaly-threshold", min: "1", step: "1", value: String(ask.threshold) })),
    field("anomaly-minimum", "Smallest count compared", h("input", { type: "number", id: "anomaly-minimum", min: "1", step: "1", value: String(ask.minimum) })),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Compare")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = (id) => form.querySelector(`#${id}`).value;
    const q = new URLSearchParams({ by: value("anomaly-by"), baseline: value("anomaly-baseline"), threshold: value("anomaly-threshold"), minimum: value("anomaly-minimum") });
    if (value("anomaly-from")) q.set("from", value("anomaly-from"));
    if (value("anomaly-to")) q.set("to", value("anomaly-to"));
    location.hash = `#/stats/anomalies?${q}`;
  });
  return form;
}

/** #/stats/anomalies: the indicators of each process, role or person that changed by at least
 * the threshold against the baseline period (GET /v1/stats/anomalies), largest change first. */
export async function anomaliesPage(params = new URLSearchParams()) {
  const me = await whoami();
  if (!me) return signInFirst("Anomalies");
  const ask = anomalyAsk(params);
  const head = [
    h("p", { class: "crumbs" }, h("a", { href: "#/stats" }, "Statistics"), " › anomalies"),
    h("h1", { tabindex: "-1" }, "Anomalies"),
    statsNav({ period: "all" }, "anomalies"),
    anomalyForm(ask),
  ];
  const { data: report, refused } = await counted(() => api.anomalies(anomalyQuery(ask)));
  if (refused) return { title: "Anomalies", nodes: [...head, refused] };
  const link = (name) => {
    if (report.by === "process") return h("a", { href: `#/stats/${encodeURIComponent(name)}` }, name);
    if (report.by === "person") return h("a", { href: `#/people/${encodeURIComponent(name)}` }, name);
    return name;
  };
  const change = (f) => (f.change === null ? "new (none before)" : `${f.change > 0 ? "+" : "−"}${Math.round(Math.abs(f.change) * 100)} %`);
  const nodes = [
    ...head,
    h("p", { class: "lead", id: "anomaly-range" }, "Changes of at least ", `${Math.round(report.threshold * 100)} %`,
      " over ", periodWords({ from: report.range.from, to: report.range.to }), ", against ",
      periodWords({ from: report.baseline_range.from, to: report.baseline_range.to }),
      `; counts under ${report.minimum} are not compared.`),
    report.findings.length
      ? table("anomalies", `${report.findings.length} change${report.findings.length === 1 ? "" : "s"}`,
        [SUBJECTS.find(([v]) => v === report.by)?.[1] || "Name", "Indicator", "Before", "Now", "Change"],
        report.findings.map((f) => ({ item: f, cells: [
          link(f.name), INDICATOR_WORDS[f.indicator] || f.indicator,
          indicatorValue(f.indicator, f.baseline), indicatorValue(f.indicator, f.current), change(f),
        ] })),
        (f) => ({ "data-name": f.name, "data-indicator": f.indicator }))
      : h("p", {}, "Nothing changed that much."),
  ];
  return { title: "Anomalies", nodes };
}
