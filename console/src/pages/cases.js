// Supervision cases (督办) for monitors: the list (#/cases) and a case's page (#/cases/{id}) with
// its facts, findings, corrections and timeline, and the forms that act on it: record a finding,
// demand a correction, suspend or resume the instance, close with an accountability outcome.
// Each form sends what the API takes and shows its sentence when it refuses.
import { api, sentence } from "../api.js";
import { whoami } from "../account.js";
import { facts, h, notice } from "../dom.js";
import { timeEl } from "../format.js";
import { flash, takeFlash } from "../flash.js";
import { debounce, onLeave } from "../live.js";
import { follow } from "../stream.js";
import { instanceLink, liveLine, supervises, table } from "../supervise.js";
import { trailRow } from "./task.js";
import { signInFirst } from "../work.js";

/** The API's accountability outcomes (the enum of CaseClose.outcome, services OUTCOMES). */
export const OUTCOMES = {
  no_fault: "No fault found (予以了结): the case is closed without accountability",
  criticism_education: "Criticism and education / admonitory talk (批评教育 / 约谈)",
  written_self_examination: "Written self-examination (书面检查)",
  circular: "Notice of criticism (通报批评)",
  org_handling: "Organisational handling (组织处理)",
  disciplinary_sanction: "Party or government discipline, transferred (党纪政务处分, 移送)",
  judicial_transfer: "Transferred to the judicial organs (移送司法机关)",
};
const STATE = { open: "Open", closed: "Closed", answered: "Answered" };
const SUBJECT = { instance: "An instance", alert: "An alert", violation: "A violation" };
const FILTERS = [["open", "Open cases"], ["closed", "Closed cases"], ["all", "All cases"]];

export async function casesPage(state) {
  const me = await whoami();
  if (!me) return signInFirst("Supervision cases");
  const page = await api.cases(state === "all" ? null : state);
  const heading = FILTERS.find(([s]) => s === state) || FILTERS[0];
  return {
    title: "Supervision cases",
    nodes: [
      supervises(me) ? h("p", { class: "crumbs" }, h("a", { href: "#/monitor" }, "Dashboard"), " › cases") : null,
      h("h1", { tabindex: "-1" }, "Supervision cases"),
      h("nav", { "aria-label": "Which cases" }, h("ul", { class: "legend" }, FILTERS.map(([s, words]) =>
        h("li", {}, h("a", { href: `#/cases?state=${s}`, "aria-current": s === heading[0] ? "page" : null }, words))))),
      page.items.length
        ? table("cases", `${heading[1]}: ${page.items.length}${page.has_more ? "+" : ""}, newest first`,
          ["Case", "Concerning", "Subject", "State", "Opened", "Due", "Outcome"],
          page.items.map((c) => ({ item: c, cells: [
            h("a", { href: `#/cases/${c.id}` }, c.title),
            instanceLink(c.instance_id, c.business_key),
            SUBJECT[c.subject] || c.subject,
            STATE[c.state] || c.state,
            h("span", {}, timeEl(h, c.opened_at), ` by ${c.opened_by}`),
            c.due_at ? timeEl(h, c.due_at) : "No date",
            c.outcome ? OUTCOMES[c.outcome] || c.outcome : "",
          ] })),
          (c) => ({ "data-case": c.id }))
        : h("p", {}, "No case to show."),
    ],
  };
}

/** A form section whose submit calls `send(values)`; the page is shown again after it. */
function actForm(id, title, hint, controls, button, send, done) {
  const status = h("div", { class: "form-status" });
  const submit = h("button", { type: "submit" }, button);
  const form = h("form", { "aria-labelledby": `${id}-heading`, novalidate: true },
    hint ? h("p", { class: "hint" }, hint) : null, controls, status, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    let body;
    try {
      body = send.check(form);
    } catch (problem) {
      status.append(notice("error", problem.message));
      if (problem.control) {
        problem.control.setAttribute("aria-invalid", "true");
        problem.control.focus();
      }
      return;
    }
    submit.disabled = true;
    try {
      await send.call(body);
      flash(done);
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (error) {
      submit.disabled = false;
      status.append(notice("error", sentence(error)));
    }
  });
  return h("section", { "aria-labelledby": `${id}-heading` }, h("h2", { id: `${id}-heading` }, title), form);
}

function problem(message, control) {
  const error = new Error(message);
  error.control = control;
  return error;
}

function field(id, label, control, hint) {
  if (hint) control.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" }, h("label", { for: id }, label),
    hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null, control);
}

function required(form, id, what) {
  const control = form.querySelector(`#${id}`);
  const text = control.value.trim();
  if (!text) throw problem(`Write ${what}.`, control);
  return text;
}

function dueValue(form, id) {
  const value = form.querySelector(`#${id}`).value;
  return value ? new Date(value).toISOString() : undefined;
}

function findingForm(c, events) {
  const evidence = h("select", { id: "finding-evidence", name: "evidence", multiple: true, size: Math.min(6, Math.max(events.length, 2)) },
    events.map((e) => h("option", { value: e.id },
      `#${e.seq} ${e.type}${e.element_name || e.element_id ? ` at ${e.element_name || e.element_id}` : ""} by ${e.actor}`)));
  return actForm("finding", "Record a finding", null, [
    field("finding-text", "Finding (required)", h("textarea", { id: "finding-text", rows: 3, maxlength: 8000 })),
    field("finding-evidence", "Evidence (optional)", evidence,
      "Steps of the instance's trail the finding rests on; hold Ctrl (or ⌘) to choose several."),
  ], "Record the finding", {
    check: (form) => ({
      text: required(form, "finding-text", "the finding"),
      evidence: [...evidence.selectedOptions].map((o) => Number(o.value)),
    }),
    call: (body) => api.finding(c.id, body),
  }, "The finding is recorded.");
}

function correctionForm(c) {
  const byRole = h("input", { type: "radio", id: "to-role", name: "to", value: "role", checked: true });
  const byPerson = h("input", { type: "radio", id: "to-person", name: "to", value: "person" });
  return actForm("correction", "Demand a correction", null, [
    field("correction-demand", "What must be corrected (required)", h("textarea", { id: "correction-demand", rows: 3, maxlength: 4000 })),
    h("fieldset", { class: "field" }, h("legend", {}, "Addressed to"),
      h("label", { class: "choice", for: "to-role" }, byRole, "a role"),
      h("label", { class: "choice", for: "to-person" }, byPerson, "a person")),
    field("correction-to", "Role or person's user name (required)", h("input", { id: "correction-to", type: "text", maxlength: 100 })),
    field("correction-due", "Due (optional)", h("input", { id: "correction-due", type: "datetime-local" }), "In your time zone; it must be in the future."),
  ], "Demand the correction", {
    check: (form) => {
      const body = { demand: required(form, "correction-demand", "what must be corrected") };
      const to = required(form, "correction-to", "the role or the person's user name it is addressed to");
      body[byPerson.checked ? "to_person" : "to_role"] = to;
      const due = dueValue(form, "correction-due");
      if (due) body.due_at = due;
      return body;
    },
    call: (body) => api.correction(c.id, body),
  }, "The correction is demanded.");
}

function suspendForm(c, instance) {
  const suspended = instance.status === "suspended";
  if (!suspended && instance.status !== "running") return null;
  return actForm("suspend", suspended ? "Resume the instance" : "Suspend the instance",
    suspended
      ? "The instance's work goes on; the reason is recorded with the case."
      : "Nobody can act on the instance's tasks until it is resumed; the reason is recorded with the case.",
    [field("suspend-reason", "Reason (required)", h("textarea", { id: "suspend-reason", rows: 2, maxlength: 2000 }))],
    suspended ? "Resume the instance" : "Suspend the instance", {
      check: (form) => required(form, "suspend-reason", "the reason"),
      call: (reason) => (suspended ? api.resumeCase(c.id, reason) : api.suspendCase(c.id, reason)),
    }, suspended ? "The instance is resumed." : "The instance is suspended.");
}

function closeForm(c) {
  const outcome = h("select", { id: "close-outcome" },
    h("option", { value: "" }, "Choose…"),
    Object.entries(OUTCOMES).map(([value, words]) => h("option", { value }, words)));
  return actForm("close", "Close the case", "A closed case does not change any more.", [
    field("close-outcome", "Outcome (required)", outcome),
    field("close-people", "People it concerns", h("input", { id: "close-people", type: "text", maxlength: 2000 }),
      "User names separated by commas; at least one unless no fault was found."),
    field("close-summary", "Summary (required)", h("textarea", { id: "close-summary", rows: 3, maxlength: 8000 })),
  ], "Close the case", {
    check: (form) => {
      if (!outcome.value) throw problem("Choose the outcome.", outcome);
      const people = form.querySelector("#close-people").value.split(",").map((p) => p.trim()).filter(Boolean);
      const summary = required(form, "close-summary", "the summary");
      return { outcome: outcome.value, people, summary };
    },
    call: (body) => api.closeCase(c.id, body),
  }, "The case is closed.");
}

/** The case's facts, findings, corrections and timeline (what a live update redraws). */
function caseView(c, instance) {
  return [
    facts([
      ["State", STATE[c.state] || c.state],
      ["Concerning", h("span", {}, instanceLink(c.instance_id, c.business_key || (instance && instance.business_key)), ` (${(SUBJECT[c.subject] || c.subject).toLowerCase()}${
        c.alert_id ? `: alert ${c.alert_id}` : ""}${c.violation_id ? `: violation ${c.violation_id}` : ""})`)],
      ["Why", c.reason],
      ["Responsible", [c.responsible_unit, c.responsible_role].filter(Boolean).join(", ")],
      ["Due", timeEl(h, c.due_at)],
      ["Opened", h("span", {}, timeEl(h, c.opened_at), ` by ${c.opened_by}`)],
      ["Closed", c.closed_at ? h("span", {}, timeEl(h, c.closed_at), ` by ${c.closed_by}`) : ""],
      ["Outcome", c.outcome ? OUTCOMES[c.outcome] || c.outcome : ""],
      ["People it concerns", (c.people || []).length
        ? h("span", {}, c.people.map((name, i) => [i ? ", " : "", h("a", { href: `#/people/${encodeURIComponent(name)}` }, name)]))
        : ""],
      ["Summary", c.summary || ""],
    ]),
    h("section", { "aria-labelledby": "findings-heading" },
      h("h2", { id: "findings-heading" }, "Findings"),
      c.findings.length
        ? h("ol", { class: "findings" }, c.findings.map((f) => h("li", { "data-finding": f.id },
          h("p", {}, f.text),
          h("p", { class: "hint" }, timeEl(h, f.recorded_at), ` by ${f.recorded_by}`,
            f.evidence.length ? `; evidence: events ${f.evidence.join(", ")}` : ""))))
        : h("p", {}, "No finding yet.")),
    h("section", { "aria-labelledby": "corrections-heading" },
      h("h2", { id: "corrections-heading" }, "Corrections demanded"),
      c.corrections.length
        ? table("cases", `${c.corrections.length} correction${c.corrections.length === 1 ? "" : "s"}`,
          ["Demand", "Addressed to", "Due", "State", "Demanded", "Reply"],
          c.corrections.map((k) => ({ item: k, cells: [
            k.demand, k.to_person || `role ${k.to_role}`, k.due_at ? timeEl(h, k.due_at) : "No date",
            STATE[k.state] || k.state, h("span", {}, timeEl(h, k.requested_at), ` by ${k.requested_by}`),
            k.reply ? h("span", {}, k.reply, " (", timeEl(h, k.replied_at), ` by ${k.replied_by})`) : "",
          ] })),
          (k) => ({ "data-correction": k.id }))
        : h("p", {}, "No correction demanded.")),
    h("section", { "aria-labelledby": "timeline-heading" },
      h("h2", { id: "timeline-heading" }, "The case's timeline"),
      c.timeline.length
        ? h("table", { class: "trail" },
          h("caption", { class: "visually-hidden" }, "The instance's recorded steps that belong to the case, oldest first"),
          h("thead", {}, h("tr", {}, ["#", "When", "What", "Step", "By", "Comment or detail"].map((col) => h("th", { scope: "col" }, col)))),
          h("tbody", {}, c.timeline.map(trailRow)))
        : h("p", {}, "Nothing is recorded yet.")),
  ];
}

/** The forms that act on an open case (none once it is closed, or for a non-supervisor). */
function caseForms(me, c, instance, events) {
  if (!(supervises(me) && c.state === "open")) return [];
  return [findingForm(c, events), correctionForm(c), instance ? suspendForm(c, instance) : null, closeForm(c)]
    .filter(Boolean);
}

// the instance's events that change what the case page shows
const INSTANCE_STATES = ["instance.suspended", "instance.resumed", "instance.completed", "instance.cancelled", "instance.failed"];

export async function casePage(id) {
  const me = await whoami();
  if (!me) return signInFirst("Supervision case");
  const c = await api.case(id);
  const acts = supervises(me) && c.state === "open";
  const [instance, events] = await Promise.all([
    api.instance(c.instance_id).catch(() => null),
    acts ? api.events(c.instance_id).then((p) => p.items) : [],
  ]);
  const said = takeFlash();
  const live = liveLine();
  const viewHost = h("div", { class: "case-view" }, caseView(c, instance));
  const formsHost = h("div", { class: "case-forms" }, caseForms(me, c, instance, events));
  const failed = h("div", {});
  const heading = h("h1", { tabindex: "-1" }, c.title);
  const nodes = [
    h("p", { class: "crumbs" }, h("a", { href: "#/cases" }, "Supervision cases"), " › case"),
    heading,
    live.el,
    said ? notice("success", said) : null,
    failed,
    viewHost,
    formsHost,
  ];

  // kept up to date from the instance's event stream: this case's events (case.*, and a
  // suspension or resumption from it) and the instance's ending redraw the case; the forms
  // are rebuilt only when what they offer changes (closed, suspended, resumed), so text being
  // typed is not lost
  let shown = { state: c.state, status: instance && instance.status };
  const reload = debounce(async () => {
    try {
      const [again, inst] = await Promise.all([api.case(id), api.instance(c.instance_id).catch(() => null)]);
      viewHost.replaceChildren(...caseView(again, inst));
      const now = { state: again.state, status: inst && inst.status };
      if (now.state !== shown.state || now.status !== shown.status) {
        const evs = supervises(me) && again.state === "open" ? (await api.events(c.instance_id)).items : [];
        formsHost.replaceChildren(...caseForms(me, again, inst, evs));
      }
      shown = now;
      failed.replaceChildren();
    } catch (error) {
      failed.replaceChildren(notice("error", sentence(error)));
    }
  }, 200);
  const after = () => {
    const last = Math.max(0, ...events.map((e) => e.id), ...c.timeline.map((e) => e.id));
    onLeave(follow(`/v1/instances/${encodeURIComponent(c.instance_id)}/events/stream`, {
      after: last,
      onEvent: (event) => {
        const mine = event.payload && Number(event.payload.case_id) === c.id;
        if ((event.type.startsWith("case.") && mine) || INSTANCE_STATES.includes(event.type)) reload();
      },
      onStatus: live.set,
    }));
  };
  return { title: c.title, nodes, after };
}
