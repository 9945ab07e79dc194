// Progress lookup by business key (/public/progress/{key}/{business_key}).
import { api, sentence } from "../api.js";
import { showDiagram } from "../chart.js";
import { facts, h, notice } from "../dom.js";
import { STATUS, timeEl, value } from "../format.js";

let processes = null;

/** The public processes whose cases' progress is published (read once per visit). */
async function trackable() {
  if (processes) return processes;
  const powers = await api.powers();
  const keys = [...new Set(powers.flatMap((p) => p.processes.map((x) => x.key)))];
  const pages = await Promise.all(keys.map((key) => api.process(key).catch(() => null)));
  processes = pages.filter((p) => p && p.progress_public);
  processes.sort((a, b) => a.name.localeCompare(b.name));
  return processes;
}

function lookupForm(list, key, businessKey) {
  const select = h("select", { id: "process", name: "process", required: true },
    list.map((p) => h("option", { value: p.key, selected: p.key === key }, p.name)));
  const input = h("input", {
    id: "business-key", name: "business_key", type: "text", required: true, maxlength: 255,
    autocomplete: "off", spellcheck: "false", value: businessKey || "",
    "aria-describedby": "business-key-hint",
  });
  const form = h("form", { class: "lookup", "aria-label": "Look up a case" },
    h("div", { class: "field" }, h("label", { for: "process" }, "Process"), select),
    h("div", { class: "field" },
      h("label", { for: "business-key" }, "Business key"),
      input,
      h("p", { id: "business-key-hint", class: "hint" },
        "The case number the office gave you, for example on your receipt.")),
    h("button", { type: "submit" }, "Look up"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const bk = input.value.trim();
    if (!bk) { input.focus(); return; }
    location.hash = `#/progress/${encodeURIComponent(select.value)}/${encodeURIComponent(bk)}`;
  });
  return form;
}

function within(overdue) {
  return overdue
    ? h("span", { class: "state overdue" }, "Past its time limit")
    : h("span", { class: "state ok" }, "Within its time limit");
}

function result(progress) {
  const results = Object.entries(progress.results || {});
  return h("section", { class: "result", "aria-labelledby": "case-heading" },
    h("h2", { id: "case-heading" }, `Case ${progress.business_key}`),
    facts([
      ["Process", progress.process_name],
      ["Status", STATUS[progress.status] || progress.status],
      ["Started", timeEl(h, progress.started_at)],
      ["Ended", timeEl(h, progress.ended_at)],
      ["Promised by", timeEl(h, progress.promised_due_at)],
      ["Statutory limit", timeEl(h, progress.statutory_due_at)],
      ["Time limit", within(progress.overdue)],
    ]),
    h("h3", {}, "Current steps"),
    progress.current_steps.length
      ? h("table", { class: "current" },
        h("caption", { class: "visually-hidden" }, "Current steps"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Step"), h("th", { scope: "col" }, "Since"),
          h("th", { scope: "col" }, "Due"), h("th", { scope: "col" }, "Time limit"))),
        h("tbody", {}, progress.current_steps.map((step) => h("tr", {},
          h("th", { scope: "row" }, step.name || step.element_id),
          h("td", {}, timeEl(h, step.since)),
          h("td", {}, step.due_at ? timeEl(h, step.due_at) : "No limit"),
          h("td", {}, within(step.overdue))))))
      : h("p", {}, progress.status === "in_progress" ? "No step is open to the public right now." : "None: the case has ended."),
    h("h3", {}, "Steps done"),
    progress.steps_done.length
      ? h("table", { class: "done" },
        h("caption", { class: "visually-hidden" }, "Steps done"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Step"), h("th", { scope: "col" }, "Done at"))),
        h("tbody", {}, progress.steps_done.map((step) => h("tr", {},
          h("th", { scope: "row" }, step.name || step.element_id),
          h("td", {}, timeEl(h, step.completed_at))))))
      : h("p", {}, "No step is done yet."),
    results.length
      ? [h("h3", {}, "Published results"),
        facts(results.map(([name, v]) => [name, value(v)]))]
      : null,
    progress.notices.length
      ? [h("h3", {}, "Public notices of this case"),
        h("ul", {}, progress.notices.map((id) =>
          h("li", {}, h("a", { href: `#/notices/${id}` }, `Notice ${id}`))))]
      : null,
  );
}

export async function progressPage(key, businessKey) {
  const list = await trackable();
  const preset = key || new URLSearchParams(location.hash.split("?")[1] || "").get("process");
  const nodes = [
    h("h1", { tabindex: "-1" }, "Case progress"),
    h("p", { class: "lead" },
      "Look up where a case stands: the steps done and when, the step it is at now, and whether it is within its time limit. ",
      "Only processes that publish their cases' progress are listed."),
  ];
  if (!list.length) {
    nodes.push(h("p", {}, "No process publishes its cases' progress."));
    return { title: "Case progress", nodes };
  }
  nodes.push(lookupForm(list, preset, businessKey));
  if (!key || !businessKey) return { title: "Case progress", nodes };
  let progress;
  try {
    progress = await api.progress(key, businessKey);
  } catch (error) {
    nodes.push(notice("error", sentence(error)));
    return { title: "Case progress: not found", nodes };
  }
  nodes.push(result(progress));
  const process = list.find((p) => p.key === key);
  const diagramHost = h("div", { class: "diagram", id: "diagram" });
  if (process && process.diagram) {
    nodes.push(h("section", { "aria-labelledby": "case-chart" },
      h("h3", { id: "case-chart" }, "Where the case is on the flow chart"),
      h("p", { class: "hint" }, h("span", { class: "key done" }, "Done"), " ",
        h("span", { class: "key current" }, "Current"), " ",
        h("span", { class: "key overdue" }, "Current, past its limit")),
      diagramHost));
  }
  const after = async () => {
    if (!process || !process.diagram) return;
    const marks = {};
    for (const step of progress.steps_done) marks[step.element_id] = "done";
    for (const step of progress.current_steps) marks[step.element_id] = step.overdue ? "overdue" : "current";
    try {
      await showDiagram(diagramHost, await api.diagram(key), {
        steps: process.steps, marks,
        label: `Flow chart of ${process.name} with the case's steps marked; the tables above list them.`,
      });
    } catch (error) {
      diagramHost.append(notice("error", sentence(error)));
    }
  };
  return { title: `Case ${businessKey}`, nodes, after };
}
