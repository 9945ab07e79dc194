// An instance for those who supervise (#/instances/{id}): its facts, open tasks, the flow chart
// with the steps done, open, overdue and failed marked, the trail with its audit verification,
// all kept up to date from the instance's event stream; and a form to open a supervision case.
// What shows is what the API shows the signed-in person (its 404 sentence otherwise).
import { api, sentence } from "../api.js";
import { whoami } from "../account.js";
import { setMarks, showDiagram } from "../chart.js";
import { facts, h, notice } from "../dom.js";
import { timeEl } from "../format.js";
import { debounce, onLeave } from "../live.js";
import { follow } from "../stream.js";
import { caseForm } from "../caseform.js";
import { levelBadge, liveLine, supervises, table } from "../supervise.js";
import { trail, trailRow } from "./task.js";
import { TASK_STATE, alertBadges, signInFirst } from "../work.js";

const STATUS = {
  running: "Running", suspended: "Suspended", completed: "Completed",
  failed: "Failed (parked at an incident)", cancelled: "Cancelled",
};

/** The chart's marks: steps done, open (or open past their limit), and where it failed. */
function marksOf(instance, tasks) {
  const marks = {};
  for (const t of tasks) if (t.state === "completed") marks[t.element_id] = marks[t.element_id] || "done";
  for (const t of tasks) {
    if (t.state === "ready" || t.state === "awaiting_countersign") marks[t.element_id] = t.overdue ? "overdue" : "current";
  }
  if (instance.incident && instance.incident.element_id) marks[instance.incident.element_id] = "failed";
  return marks;
}

function factsOf(instance) {
  return facts([
    ["Process", `${instance.definition_key} (version ${instance.definition_version})`],
    ["Business key", instance.business_key || "(none)"],
    ["Status", STATUS[instance.status] || instance.status],
    ["Started", h("span", {}, timeEl(h, instance.created_at), ` by ${instance.started_by}`)],
    ["Ended", timeEl(h, instance.ended_at)],
    ["Promised by", timeEl(h, instance.promised_due_at)],
    ["Statutory limit", timeEl(h, instance.statutory_due_at)],
    ["Case clock", instance.clock_paused ? "Paused" : ""],
    ["Alert", levelBadge(instance.alert_level)],
    ["Failed step", instance.incident ? `${instance.incident.element_name || instance.incident.element_id || ""}: ${instance.incident.message}` : ""],
  ]);
}

function openTasks(tasks) {
  const open = tasks.filter((t) => t.state === "ready" || t.state === "awaiting_countersign");
  if (!open.length) return h("p", {}, "No task is open.");
  return table("running", `${open.length} open task${open.length === 1 ? "" : "s"}`,
    ["Task", "State", "For the roles", "Held by", "Ready since", "Due", "Alert"],
    open.map((t) => ({ item: t, cells: [
      t.name || t.element_id, TASK_STATE[t.state] || t.state, t.roles.join(", "),
      t.assignee || "Nobody", timeEl(h, t.created_at),
      t.due_at ? timeEl(h, t.due_at) : "No limit", h("span", {}, alertBadges(t)),
    ] })),
    (t) => ({ "data-task": t.id, class: t.overdue ? "row-red" : (t.alert_level ? `row-${t.alert_level}` : null) }));
}

function verification(audit) {
  if (audit.verified) {
    return h("p", { class: "verified" },
      `The trail verifies: each of its ${audit.events.length} recorded steps carries the hash of the one before, and none was changed.`);
  }
  const where = audit.broken && audit.broken.seq !== null ? ` at step ${audit.broken.seq}` : "";
  return h("p", { class: "broken", role: "alert" },
    `The trail does not verify${where}: ${audit.broken ? audit.broken.reason : "the chain is broken"}.`);
}

export async function instancePage(id) {
  const me = await whoami();
  if (!me) return signInFirst("Instance");
  const [instance, audit, tasks, cases] = await Promise.all([
    api.instance(id),
    api.audit(id),
    api.instanceTasks(id).then((p) => p.items),
    supervises(me) ? api.cases(null, id).then((p) => p.items).catch(() => []) : Promise.resolve([]),
  ]);
  const live = liveLine();
  const factsHost = h("div", {}, factsOf(instance));
  const tasksHost = h("div", {}, openTasks(tasks));
  const trailSection = trail(audit.events, false);
  const verifyHost = h("div", {}, verification(audit));
  const verifyButton = h("button", { type: "button", class: "secondary" }, "Verify the trail again");
  verifyButton.addEventListener("click", async () => {
    verifyButton.disabled = true;
    try {
      verifyHost.replaceChildren(verification(await api.audit(id)));
    } catch (error) {
      verifyHost.replaceChildren(notice("error", sentence(error)));
    } finally {
      verifyButton.disabled = false;
    }
  });
  const diagramHost = h("div", { class: "diagram", id: "diagram" });
  const failed = h("div", {});
  const title = instance.business_key ? `Case ${instance.business_key}` : `Instance ${instance.id.slice(0, 8)}`;
  const nodes = [
    supervises(me) ? h("p", { class: "crumbs" }, h("a", { href: "#/monitor" }, "Dashboard"), " › instance") : null,
    h("h1", { tabindex: "-1" }, title),
    live.el,
    factsHost,
    failed,
    cases.length
      ? h("p", {}, "Supervision cases on it: ", cases.map((c, i) => [i ? ", " : "",
        h("a", { href: `#/cases/${c.id}` }, `${c.title} (${c.state})`)]))
      : null,
    h("section", { "aria-labelledby": "tasks-heading" }, h("h2", { id: "tasks-heading" }, "Open tasks"), tasksHost),
    h("section", { "aria-labelledby": "chart-heading" },
      h("h2", { id: "chart-heading" }, "Where the case is on the flow chart"),
      h("p", { class: "hint" }, h("span", { class: "key done" }, "Done"), " ",
        h("span", { class: "key current" }, "Open"), " ",
        h("span", { class: "key overdue" }, "Open, past its limit"), " ",
        h("span", { class: "key failed" }, "Failed")),
      diagramHost),
    trailSection,
    h("section", { "aria-labelledby": "audit-heading" },
      h("h2", { id: "audit-heading" }, "Audit verification"), verifyHost, verifyButton),
    supervises(me) && !["completed", "cancelled"].includes(instance.status)
      ? caseForm({ instance_id: id }, `The case concerns this instance${instance.business_key ? `, case ${instance.business_key}` : ""}.`).section
      : null,
  ];

  let viewer = null;
  let current = { instance, tasks };
  let dueTimer = null;
  const seen = new Set(audit.events.map((e) => e.seq));

  // when an open task's due time passes, ask the API again (the chart marks it overdue then,
  // even under an alert profile with no alert at the deadline)
  const watchDue = () => {
    clearTimeout(dueTimer);
    const now = Date.now();
    const next = current.tasks
      .filter((t) => (t.state === "ready" || t.state === "awaiting_countersign") && t.due_at && !t.overdue)
      .map((t) => Date.parse(t.due_at))
      .filter((at) => at > now - 1000)
      .sort((a, b) => a - b)[0];
    if (next !== undefined) dueTimer = setTimeout(reload, Math.max(next - now, 0) + 500);
  };
  const reload = debounce(async () => {
    try {
      const [i, t] = await Promise.all([api.instance(id), api.instanceTasks(id).then((p) => p.items)]);
      current = { instance: i, tasks: t };
      factsHost.replaceChildren(factsOf(i));
      tasksHost.replaceChildren(openTasks(t));
      if (viewer) setMarks(viewer, marksOf(i, t));
      failed.replaceChildren();
      watchDue();
    } catch (error) {
      failed.replaceChildren(notice("error", sentence(error)));
    }
  }, 200);
  onLeave(() => clearTimeout(dueTimer));

  const after = async () => {
    const last = audit.events.length ? audit.events[audit.events.length - 1].id : 0;
    onLeave(follow(`/v1/instances/${encodeURIComponent(id)}/events/stream`, {
      after: last,
      onEvent: (event) => {
        if (seen.has(event.seq)) return;
        seen.add(event.seq);
        const body = trailSection.querySelector("table.trail tbody");
        if (!body) {
          trailSection.replaceWith(trail([event], false));
          return reload();
        }
        body.append(trailRow(event));
        reload();
      },
      onStatus: live.set,
    }));
    watchDue();
    try {
      const [xml, riskMap] = await Promise.all([
        api.xml(instance.definition_key, instance.definition_version),
        api.riskMap(instance.definition_key, instance.definition_version).catch(() => ({ elements: [] })),
      ]);
      const steps = riskMap.elements.map((e) => ({
        element_id: e.element_id,
        time_limit: e.time_limits && (e.time_limits.step || Object.values(e.time_limits)[0]),
        risk: e.risk,
      }));
      viewer = await showDiagram(diagramHost, xml, {
        steps, marks: marksOf(current.instance, current.tasks),
        label: `Flow chart of ${instance.definition_key} with the case's steps marked; the open tasks and the trail list them.`,
      });
    } catch (error) {
      diagramHost.append(notice("error", sentence(error)));
    }
  };
  return { title, nodes, after };
}
