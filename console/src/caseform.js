// The form that opens a supervision case (POST /v1/cases) on one subject: an instance, an alert
// or a violation (the API's instance_id, alert_id or violation_id). The instance page and the
// dashboard's alert and violation rows use the same form.
import { api, sentence } from "./api.js";
import { h, notice } from "./dom.js";

const TEXT_MAX = 2000;

/**
 * The form's section. `subject` is {instance_id} or {alert_id} or {violation_id}; `about` says
 * in words what the case follows up on. `onCancel`, when given, adds a Cancel button.
 * Returns {section, form, focus(), setSubject(subject, about)}.
 */
export function caseForm(subject, about, { onCancel } = {}) {
  let body0 = { ...subject };
  const status = h("div", { class: "form-status" });
  const field = (id, label, control, hint) => h("div", { class: "field" },
    h("label", { for: id }, label), hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null, control);
  const title = h("input", { id: "case-title", name: "title", type: "text", maxlength: 200, required: true, "aria-required": "true" });
  const reason = h("textarea", { id: "case-reason", name: "reason", rows: 3, maxlength: TEXT_MAX, required: true, "aria-required": "true" });
  const unit = h("input", { id: "case-unit", name: "responsible_unit", type: "text", maxlength: 255 });
  const role = h("input", { id: "case-role", name: "responsible_role", type: "text", maxlength: 64, "aria-describedby": "case-role-hint" });
  const due = h("input", { id: "case-due", name: "due_at", type: "datetime-local", "aria-describedby": "case-due-hint" });
  const button = h("button", { type: "submit" }, "Open the case");
  const cancel = onCancel ? h("button", { type: "button", class: "secondary" }, "Cancel") : null;
  if (cancel) cancel.addEventListener("click", onCancel);
  const what = h("p", { id: "case-about" }, about);
  const form = h("form", { "aria-labelledby": "open-case-heading", "aria-describedby": "case-about", novalidate: true },
    field("case-title", "Title (required)", title),
    field("case-reason", "Why the case is opened (required)", reason),
    field("case-unit", "Responsible unit (optional)", unit),
    field("case-role", "Responsible role (optional)", role, "A role name as the processes use it, for example licence-clerk."),
    field("case-due", "Due (optional)", due, "In your time zone; it must be in the future."),
    status, h("div", { class: "buttons" }, button, cancel));
  form.addEventListener("input", (event) => event.target.removeAttribute("aria-invalid"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const missing = [[title, "a title"], [reason, "why the case is opened"]].filter(([c]) => !c.value.trim());
    for (const c of [title, reason]) c.removeAttribute("aria-invalid");
    if (missing.length) {
      for (const [c] of missing) c.setAttribute("aria-invalid", "true");
      status.append(notice("error", `Write ${missing.map(([, w]) => w).join(" and ")} before opening the case.`));
      missing[0][0].focus();
      return;
    }
    const body = { ...body0, title: title.value.trim(), reason: reason.value.trim() };
    if (unit.value.trim()) body.responsible_unit = unit.value.trim();
    if (role.value.trim()) body.responsible_role = role.value.trim();
    if (due.value) body.due_at = new Date(due.value).toISOString();
    button.disabled = true;
    try {
      const opened = await api.openCase(body);
      location.hash = `#/cases/${opened.id}`;
    } catch (error) {
      button.disabled = false;
      status.append(notice("error", sentence(error)));
    }
  });
  const heading = h("h2", { id: "open-case-heading", tabindex: "-1" }, "Open a supervision case");
  const section = h("section", { "aria-labelledby": "open-case-heading", class: "open-case" },
    heading,
    what,
    h("p", { class: "hint" }, "A case (督办) follows up: findings, corrections demanded, suspension, and an accountability outcome when it is closed."),
    form);
  return {
    section,
    form,
    focus: () => title.focus(),
    /** Point the form at another subject (the dashboard's rows share one form). */
    setSubject(next, words) {
      body0 = { ...next };
      what.textContent = words;
      status.replaceChildren();
      for (const c of [title, reason, unit, role, due]) {
        c.value = "";
        c.removeAttribute("aria-invalid");
      }
      button.disabled = false;
    },
  };
}
