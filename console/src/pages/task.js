// A task page: its facts, the risk point, the form (complete), countersign or refuse, the
// instance's trail and where the case is on the flow chart. Everything comes from the API with
// the signed-in person's token, so it shows only what the API lets them see.
import { api, ApiError, sentence } from "../api.js";
import { whoami } from "../account.js";
import { showDiagram } from "../chart.js";
import { facts, h, notice } from "../dom.js";
import { fieldOf, readFields, renderFields, showProblems } from "../form.js";
import { limit, timeEl, value } from "../format.js";
import { flash } from "../flash.js";
import { ALERT, TASK_STATE, alertBadges, signInFirst } from "../work.js";

const LEVEL = { high: "High", medium: "Medium", low: "Low" };
const COMMENT_MAX = 4000;

function riskSection(task) {
  const risk = task.metadata && task.metadata.risk;
  if (!risk || !risk.level) return null;
  return h("section", { class: `risk-point risk-box-${risk.level}`, "aria-labelledby": "risk-heading" },
    h("h2", { id: "risk-heading" }, "Risk point of this step"),
    facts([
      ["Risk level", h("span", { class: `level risk-${risk.level}` }, LEVEL[risk.level] || risk.level)],
      ["What can go wrong", risk.description || ""],
      ["Prevention measures", risk.measures && risk.measures.length
        ? h("ul", {}, risk.measures.map((m) => h("li", {}, m))) : ""],
      ["Before completing", [
        risk.require_comment ? "A reasoned comment is required. " : "",
        risk.countersign ? `A second person with the role ${risk.countersign} countersigns your completion before the case moves on.` : "",
      ].join("").trim()],
    ]));
}

function announceNext(task, instance) {
  const open = (instance.tasks || []).filter((t) => t.id !== task.id && t.state === "ready");
  const mine = (instance.tasks || []).find((t) => t.id === task.id);
  if (mine && mine.state === "awaiting_countersign") {
    return `You completed “${task.name}”; it now waits for a countersignature by a holder of the role ${task.metadata.risk.countersign}.`;
  }
  if (!open.length) {
    return instance.status === "completed"
      ? `You completed “${task.name}”; the case is complete.`
      : `You completed “${task.name}”.`;
  }
  return `You completed “${task.name}”. The case moves on to: ${open.map((t) => `${t.name} (${t.roles.join(", ")})`).join("; ")}.`;
}

function completeForm(task, me) {
  const form = task.form || [];
  const current = task.data || {};
  const risk = (task.metadata && task.metadata.risk) || {};
  const status = h("div", { class: "form-status" });
  const commentError = h("p", { id: "comment-error", class: "field-error", hidden: true });
  const comment = h("textarea", {
    id: "comment", name: "comment", rows: 3, maxlength: COMMENT_MAX,
    "aria-describedby": "comment-hint comment-error",
    "aria-required": risk.require_comment ? "true" : null,
  });
  const button = h("button", { type: "submit" }, "Complete the task");
  const el = h("form", { class: "task-form", "aria-labelledby": "form-heading", novalidate: true },
    h("h2", { id: "form-heading" }, "Complete the task"),
    form.length ? renderFields(form, current) : h("p", { class: "hint" }, "This task has no form fields."),
    h("div", { class: "field" },
      h("label", { for: "comment" }, risk.require_comment ? "Reasoned comment (required)" : "Comment (optional)"),
      h("p", { id: "comment-hint", class: "hint" },
        risk.require_comment
          ? "This is a high-risk step: say what you checked and why you decide so. It is recorded with the completion."
          : "Recorded with the completion; not part of the case data."),
      comment, commentError),
    status, button);
  if (task.assignee && task.assignee !== me.name) {
    status.append(notice("info", `${task.assignee} holds this task; the API will refuse your completion unless they release it.`));
  }
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    commentError.hidden = true;
    comment.removeAttribute("aria-invalid");
    const { data, problems } = readFields(el, form, current);
    const text = comment.value.trim();
    let commentProblem = null;
    if (risk.require_comment && !text) commentProblem = "This is a high-risk step: write a reasoned comment before completing it.";
    else if ([...text].length > COMMENT_MAX) commentProblem = `The comment is at most ${COMMENT_MAX} characters long.`;
    const placed = showProblems(el, form, problems);
    if (commentProblem) {
      commentError.textContent = commentProblem;
      commentError.hidden = false;
      comment.setAttribute("aria-invalid", "true");
    }
    if (problems.length || commentProblem) {
      const count = problems.length + (commentProblem ? 1 : 0);
      status.append(notice("error", `The form has ${count} problem${count === 1 ? "" : "s"}; each is shown at its field.`));
      (placed.first || comment).focus();
      return;
    }
    button.disabled = true;
    try {
      const instance = await api.complete(task.id, data, text || undefined);
      flash(announceNext(task, instance));
      location.hash = "#/inbox";
    } catch (error) {
      button.disabled = false;
      if (error instanceof ApiError && error.status === 422 && error.fields.length) {
        const pairs = error.fields.map((s) => [fieldOf(s, form), s]);
        const shown = showProblems(el, form, pairs);
        status.append(notice("error", "The API refused the completion:", shown.unplaced.length
          ? h("ul", {}, shown.unplaced.map((s) => h("li", {}, s))) : " each problem is shown at its field."));
        (shown.first || button).focus();
      } else if (error instanceof ApiError && error.problem.code === "rule_violated") {
        // a rule of the model refused it; a reason-required rule names the field to fill
        const pairs = (error.problem.violations || [])
          .filter((v) => v.evidence && typeof v.evidence.reason === "string")
          .map((v) => [v.evidence.reason, v.message]);
        const shown = showProblems(el, form, pairs);
        status.append(notice("error", error.detail));
        (shown.first || button).focus();
      } else if (error instanceof ApiError && error.status === 422 && /comment/i.test(error.detail)) {
        commentError.textContent = error.detail;
        commentError.hidden = false;
        comment.setAttribute("aria-invalid", "true");
        status.append(notice("error", error.detail));
        comment.focus();
      } else {
        status.append(notice("error", sentence(error)));
      }
    }
  });
  return el;
}

async function countersignSection(task, me) {
  const role = task.metadata && task.metadata.risk && task.metadata.risk.countersign;
  const list = await api.countersigns(task.id);
  const pending = list.find((c) => c.state === "pending");
  const nodes = [h("h2", { id: "countersign-heading" }, "Countersignature")];
  if (!pending) {
    nodes.push(h("p", {}, "Nothing waits for a countersignature."));
    return h("section", { "aria-labelledby": "countersign-heading" }, nodes);
  }
  nodes.push(
    h("p", {}, `${pending.requested_by} completed this task; the completion waits for a countersignature by a holder of the role ${pending.role}.`),
    facts([
      ["Submitted", timeEl(h, pending.requested_at)],
      ["Their comment", pending.comment || "(none)"],
      ["Submitted data", Object.keys(pending.data || {}).length
        ? h("ul", {}, Object.entries(pending.data).map(([k, v]) => h("li", {}, `${k}: ${value(v)}`))) : "(none)"],
    ]));
  const mayDecide = me.roles.includes(role || pending.role) && pending.requested_by !== me.name;
  if (!mayDecide) {
    nodes.push(h("p", { class: "hint" }, pending.requested_by === me.name
      ? "You submitted it, so a second person decides."
      : `Only a holder of the role ${pending.role} other than ${pending.requested_by} decides.`));
    return h("section", { "aria-labelledby": "countersign-heading" }, nodes);
  }
  const status = h("div", { class: "form-status" });
  const comment = h("textarea", { id: "decision-comment", name: "comment", rows: 3, maxlength: COMMENT_MAX, "aria-describedby": "decision-hint" });
  const approve = h("button", { type: "submit", value: "approve" }, "Countersign");
  const refuse = h("button", { type: "submit", value: "refuse", class: "secondary" }, "Refuse");
  const form = h("form", { "aria-labelledby": "countersign-heading", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "decision-comment" }, "Your comment (required to refuse)"),
      h("p", { id: "decision-hint", class: "hint" }, "Countersigning completes the task with the data above; refusing sends it back to be done again, with your reasons."),
      comment),
    status,
    h("div", { class: "buttons" }, approve, refuse));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const decision = event.submitter && event.submitter.value === "refuse" ? "refuse" : "approve";
    status.replaceChildren();
    const text = comment.value.trim();
    if (decision === "refuse" && !text) {
      status.append(notice("error", "A refusal needs a comment saying why, for the person who submitted."));
      comment.focus();
      return;
    }
    approve.disabled = refuse.disabled = true;
    try {
      await api.countersign(task.id, decision, text || undefined);
      flash(decision === "approve"
        ? `You countersigned “${task.name}”; the case moves on.`
        : `You refused the completion of “${task.name}”; it is ready to be done again.`);
      location.hash = "#/inbox";
    } catch (error) {
      approve.disabled = refuse.disabled = false;
      status.append(notice("error", sentence(error)));
    }
  });
  nodes.push(form);
  return h("section", { "aria-labelledby": "countersign-heading" }, nodes);
}

const EVENT_WORDS = (type) => {
  const [first, ...rest] = type.split(".");
  const words = `${first} ${rest.join(" ")}`.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** What an event adds in words: the comment given, an alert's level and message, a countersigner. */
function detail(e) {
  const p = e.payload || {};
  const parts = [];
  if (typeof p.level === "string" && typeof p.message === "string") parts.push(`${ALERT[p.level] || p.level}: ${p.message}`);
  if (typeof p.comment === "string" && p.comment) parts.push(p.comment);
  if (typeof p.countersigned_by === "string") parts.push(`countersigned by ${p.countersigned_by}`);
  return parts.join(" · ");
}

/** One row of a trail table: an event of the instance. */
export function trailRow(e) {
  return h("tr", { "data-type": e.type, "data-seq": e.seq },
    h("td", {}, String(e.seq)),
    h("td", {}, timeEl(h, e.occurred_at)),
    h("th", { scope: "row" }, EVENT_WORDS(e.type)),
    h("td", {}, e.element_name || e.element_id || ""),
    h("td", {}, e.actor || ""),
    h("td", {}, detail(e)));
}

/** The trail of recorded events, oldest first. */
export function trail(events, more) {
  return h("section", { "aria-labelledby": "trail-heading" },
    h("h2", { id: "trail-heading" }, "The case's trail"),
    events.length
      ? h("table", { class: "trail" },
        h("caption", { class: "visually-hidden" }, "Recorded steps of the case, oldest first"),
        h("thead", {}, h("tr", {}, ["#", "When", "What", "Step", "By", "Comment or detail"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, events.map(trailRow)))
      : h("p", {}, "Nothing is recorded yet."),
    more ? h("p", { class: "hint" }, `Only the first ${events.length} recorded steps are shown.`) : null);
}

export async function taskPage(id) {
  const me = await whoami();
  if (!me) return signInFirst("Task");
  const task = await api.task(id);
  // The case itself may be out of the person's sight even when the task is not (a countersigner
  // holds no role of the case's tasks): then the API's sentence stands in for the trail and chart.
  let hidden = null;
  const [instance, events, tasks] = await Promise.all([
    api.instance(task.instance_id).catch((error) => {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
      hidden = sentence(error);
      return null;
    }),
    api.events(task.instance_id).catch(() => ({ items: [], has_more: false })),
    api.instanceTasks(task.instance_id).then((p) => p.items).catch(() => []),
  ]);
  const claimStatus = h("div", { class: "form-status" });
  const claimButtons = [];
  if (task.state === "ready" && !task.assignee) {
    const b = h("button", { type: "button", class: "secondary" }, "Claim this task");
    b.addEventListener("click", async () => {
      try { await api.claim(task.id); window.dispatchEvent(new HashChangeEvent("hashchange")); }
      catch (error) { claimStatus.replaceChildren(notice("error", sentence(error))); }
    });
    claimButtons.push(b);
  } else if (task.state === "ready" && task.assignee === me.name) {
    const b = h("button", { type: "button", class: "secondary" }, "Unclaim this task");
    b.addEventListener("click", async () => {
      try { await api.unclaim(task.id); window.dispatchEvent(new HashChangeEvent("hashchange")); }
      catch (error) { claimStatus.replaceChildren(notice("error", sentence(error))); }
    });
    claimButtons.push(b);
  }
  const nodes = [
    h("p", { class: "crumbs" }, h("a", { href: "#/inbox" }, "Inbox"), " › task"),
    h("h1", { tabindex: "-1" }, task.name || task.element_id),
    facts([
      ["Process", instance ? `${task.definition_key} (version ${instance.definition_version})` : task.definition_key],
      ["Case", instance ? instance.business_key || "(no business key)" : ""],
      ["State", TASK_STATE[task.state] || task.state],
      ["For the roles", task.roles.join(", ")],
      ["Held by", task.assignee ? (task.assignee === me.name ? "You" : task.assignee) : "Nobody"],
      ["Ready since", timeEl(h, task.created_at)],
      ["Due", task.due_at ? h("span", {}, timeEl(h, task.due_at),
        task.metadata && task.metadata.time_limit ? ` (limit ${limit(task.metadata.time_limit)})` : "") : "No limit"],
      ["Alert", h("span", {}, alertBadges(task))],
      ["Completed by", task.completed_by || ""],
      ["Ended", timeEl(h, task.ended_at)],
    ]),
    claimButtons.length ? h("div", { class: "buttons" }, claimButtons) : null,
    claimStatus,
    riskSection(task),
  ];
  if (task.state === "ready") nodes.push(completeForm(task, me));
  else if (task.state === "awaiting_countersign") nodes.push(await countersignSection(task, me));
  if (!instance) {
    nodes.push(h("section", { "aria-labelledby": "trail-heading" },
      h("h2", { id: "trail-heading" }, "The case's trail"),
      h("p", {}, "The case is not shown to you: ", hidden)));
    return { title: task.name || "Task", nodes };
  }
  nodes.push(trail(events.items, events.has_more));
  const diagramHost = h("div", { class: "diagram", id: "diagram" });
  nodes.push(h("section", { "aria-labelledby": "chart-heading" },
    h("h2", { id: "chart-heading" }, "Where the case is on the flow chart"),
    h("p", { class: "hint" }, h("span", { class: "key done" }, "Done"), " ",
      h("span", { class: "key current" }, "Open"), " ",
      h("span", { class: "key overdue" }, "Open, past its limit")),
    diagramHost));
  const after = async () => {
    const marks = {};
    for (const t of tasks) {
      if (t.state === "completed") marks[t.element_id] = marks[t.element_id] || "done";
    }
    for (const t of tasks) {
      if (t.state === "ready" || t.state === "awaiting_countersign") marks[t.element_id] = t.overdue ? "overdue" : "current";
    }
    try {
      const [xml, riskMap] = await Promise.all([
        api.xml(task.definition_key, instance.definition_version),
        api.riskMap(task.definition_key, instance.definition_version).catch(() => ({ elements: [] })),
      ]);
      const steps = riskMap.elements.map((e) => ({
        element_id: e.element_id,
        time_limit: e.time_limits && (e.time_limits.step || Object.values(e.time_limits)[0]),
        risk: e.risk,
      }));
      await showDiagram(diagramHost, xml, {
        steps, marks,
        label: `Flow chart of ${task.definition_key} with the case's steps marked; the trail above lists them.`,
      });
    } catch (error) {
      diagramHost.append(notice("error", sentence(error)));
    }
  };
  return { title: task.name || "Task", nodes, after };
}
