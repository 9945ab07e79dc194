// A task's form rendered from the fields the API declares (`form`: id, label, type, required,
// default, options, readonly, limits) and checked in the browser with the same rules and the same
// sentences as the API (services/forms.py); the API's own 422 sentences are shown at the fields
// when it refuses anyway.
import { h } from "./dom.js";

const DATE_HINT = "must be a date such as 2026-01-31.";

function number(value) {
  return String(value); // 1.0 from the API prints as 1, as the API's sentences do
}

function label(field) {
  return field.label || field.id;
}

/** The form's controls; `values` are the task's current data (a prefilled field). */
export function renderFields(form, values) {
  return form.map((field) => {
    const id = `field-${field.id}`;
    const errorId = `${id}-error`;
    const current = values[field.id] ?? field.default ?? null;
    const mark = field.required ? h("span", { class: "required" }, " (required)") : null;
    const error = h("p", { id: errorId, class: "field-error", hidden: true });
    const described = [errorId];
    const limits = field.limits || {};
    const hints = [];
    if ("min" in limits) hints.push(`at least ${number(limits.min)}`);
    if ("max" in limits) hints.push(`at most ${number(limits.max)}`);
    if ("minlength" in limits) hints.push(`at least ${number(limits.minlength)} characters`);
    if ("maxlength" in limits) hints.push(`at most ${number(limits.maxlength)} characters`);
    if (field.type === "long") hints.unshift("a whole number");
    if (field.type === "date") hints.unshift("a date");
    const hint = hints.length ? h("p", { id: `${id}-hint`, class: "hint" }, hints.join(", ")) : null;
    if (hint) described.unshift(`${id}-hint`);
    if (field.readonly) {
      return h("div", { class: "field readonly", "data-field": field.id },
        h("span", { class: "label" }, label(field)),
        h("p", { class: "value" }, current === null ? "(empty)" : String(current)),
        h("p", { class: "hint" }, "Read-only in this form."));
    }
    if (field.type === "boolean") {
      const radios = [["true", "Yes"], ["false", "No"]].map(([v, text]) => h("label", { class: "choice" },
        h("input", {
          type: "radio", name: field.id, value: v, checked: current === (v === "true"),
          "aria-describedby": described.join(" "),
        }), ` ${text}`));
      return h("fieldset", { class: "field", "data-field": field.id, id, "aria-describedby": errorId },
        h("legend", {}, label(field), mark), radios, error);
    }
    let control;
    const common = {
      id, name: field.id, "aria-describedby": described.join(" "),
      "aria-required": field.required ? "true" : null,
    };
    if (field.type === "enum") {
      control = h("select", common,
        h("option", { value: "" }, field.required ? "Choose…" : "(none)"),
        (field.options || []).map((o) => h("option", { value: o.id, selected: o.id === current }, o.name || o.id)));
    } else if (field.type === "date") {
      control = h("input", { ...common, type: "date", value: current ? String(current).slice(0, 10) : "" });
    } else if (field.type === "long") {
      control = h("input", { ...common, type: "text", inputmode: "numeric", autocomplete: "off", value: current ?? "" });
    } else {
      const long = field.type === "textarea" || (limits.maxlength || 0) > 200;
      control = long
        ? h("textarea", { ...common, rows: 4 }, current ?? "")
        : h("input", { ...common, type: "text", autocomplete: "off", value: current ?? "" });
    }
    return h("div", { class: "field", "data-field": field.id },
      h("label", { for: id }, label(field), mark), hint, control, error);
  });
}

/** Read the controls: {data, problems: [[field id, sentence]]}, the API's rules in the API's words. */
export function readFields(formEl, form, current) {
  const data = {};
  const problems = [];
  for (const field of form) {
    if (field.readonly) continue;
    const name = label(field);
    const say = (what) => problems.push([field.id, `'${name}' (${field.id}) ${what}`]);
    let raw;
    if (field.type === "boolean") {
      const checked = formEl.querySelector(`input[name="${CSS.escape(field.id)}"]:checked`);
      raw = checked ? checked.value : "";
    } else {
      raw = formEl.querySelector(`[name="${CSS.escape(field.id)}"]`).value;
      if (field.type !== "string" && field.type !== "textarea") raw = raw.trim();
    }
    if (raw === "") {
      // left out: the API takes a required field left out when the task already holds a value
      if (field.required && (current[field.id] === null || current[field.id] === undefined)) {
        say("is required.");
      }
      continue;
    }
    let value = raw;
    if (field.type === "long") {
      if (!/^[-+]?\d+$/.test(raw)) {
        say("must be a whole number.");
        continue;
      }
      if (!Number.isSafeInteger(Number(raw))) {
        say("is a whole number too large for this page (at most 15 digits); ask for the API to be used instead.");
        continue;
      }
      value = Number(raw);
    } else if (field.type === "boolean") {
      value = raw === "true";
    } else if (field.type === "date") {
      const day = new Date(`${raw}T00:00:00Z`);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== raw) {
        say(DATE_HINT);
        continue;
      }
    } else if (field.type === "enum") {
      const allowed = (field.options || []).map((o) => o.id);
      if (!allowed.includes(raw)) {
        say(`must be one of: ${allowed.join(", ")}.`);
        continue;
      }
    }
    const limits = field.limits || {};
    if (typeof value === "number") {
      if ("min" in limits && value < limits.min) { say(`must be at least ${number(limits.min)}.`); continue; }
      if ("max" in limits && value > limits.max) { say(`must be at most ${number(limits.max)}.`); continue; }
    }
    if (typeof value === "string") {
      const length = [...value].length; // code points, as Python's len()
      if ("minlength" in limits && length < limits.minlength) {
        say(`must be at least ${number(limits.minlength)} characters long.`);
        continue;
      }
      if ("maxlength" in limits && length > limits.maxlength) {
        say(`must be at most ${number(limits.maxlength)} characters long.`);
        continue;
      }
    }
    data[field.id] = value;
  }
  return { data, problems };
}

/** Show sentences at their fields; those naming no field of the form are returned. */
export function showProblems(formEl, form, problems) {
  for (const el of formEl.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of formEl.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const ids = new Set(form.map((f) => f.id));
  const unplaced = [];
  let first = null;
  for (const [fid, text] of problems) {
    if (!fid || !ids.has(fid)) {
      unplaced.push(text);
      continue;
    }
    const error = formEl.querySelector(`#field-${CSS.escape(fid)}-error`);
    error.hidden = false;
    error.textContent = error.textContent ? `${error.textContent} ${text}` : text;
    const controls = formEl.querySelectorAll(`[name="${CSS.escape(fid)}"]`);
    for (const c of controls) c.setAttribute("aria-invalid", "true");
    if (!first && controls.length) first = controls[0];
  }
  return { unplaced, first };
}

/** The field a sentence of the API's `fields` names: "'Label' (id) ...". */
export function fieldOf(sentence, form) {
  for (const field of form) {
    if (sentence.includes(`(${field.id}) `) || sentence.startsWith(`'${field.id}' `)) return field.id;
  }
  return null;
}

export { h };
