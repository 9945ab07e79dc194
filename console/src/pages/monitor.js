// The monitors' dashboard (#/monitor): open alerts with acknowledge, running instances, recent
// violations and open supervision cases, kept up to date from the event stream
// (GET /v1/events/stream after the newest event at load). The API decides who may read it: a
// person without the monitor or admin role gets its refusal.
import { api, sentence } from "../api.js";
import { whoami } from "../account.js";
import { h, notice } from "../dom.js";
import { timeEl } from "../format.js";
import { debounce, onLeave } from "../live.js";
import { follow } from "../stream.js";
import { caseForm } from "../caseform.js";
import { instanceLink, levelBadge, liveLine, replaceKeepingFocus, table } from "../supervise.js";
import { signInFirst } from "../work.js";

const COMMENT_MAX = 4000;
const WATCHED = [
  "alert.raised", "alert.acknowledged", "alert.resolved",
  "violation.recorded", "violation.blocked",
  "instance.started", "instance.completed", "instance.cancelled", "instance.failed",
  "instance.suspended", "instance.resumed", "instance.retried",
  "task.ready", "task.completed", "task.cancelled", "deadline.extended",
  "case.opened", "case.closed",
];
const SECTIONS_OF = (type) => {
  if (type.startsWith("alert.") || type === "deadline.extended") return ["alerts", "instances"];
  if (type.startsWith("violation.")) return ["violations", "alerts", "instances"];
  if (type.startsWith("case.")) return ["cases"];
  return ["instances", "alerts"];
};
const STATUS = { running: "Running", suspended: "Suspended", failed: "Failed" };
const EFFECT = { warn: "Recorded (warning)", block: "Blocked" };

export async function monitorPage() {
  const me = await whoami();
  if (!me) return signInFirst("Dashboard");
  // the feed's cursor first: events after it are applied to what is read next (no gap)
  const cursor = await api.latestEvent();
  const hosts = {
    alerts: h("div", { id: "alerts" }),
    instances: h("div", { id: "instances" }),
    violations: h("div", { id: "violations" }),
    cases: h("div", { id: "cases" }),
  };
  const live = liveLine();
  const ackStatus = h("div", { class: "form-status" });
  const names = new Map(); // task id -> task name, from the running instances' open tasks
  const keys = new Map(); // instance id -> business key
  const caseOf = (id, key) => instanceLink(id, key || keys.get(id));

  // the acknowledge form, shown for one alert at a time
  const ackHeading = h("h3", { id: "ack-heading", tabindex: "-1" }, "Acknowledge an alert");
  const ackComment = h("textarea", { id: "ack-comment", name: "comment", rows: 2, maxlength: COMMENT_MAX, "aria-describedby": "ack-hint" });
  const ackSubmit = h("button", { type: "submit" }, "Acknowledge the alert");
  const ackCancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const ackForm = h("form", { class: "ack", "aria-labelledby": "ack-heading", hidden: true, novalidate: true },
    ackHeading,
    h("p", { id: "ack-what" }),
    h("div", { class: "field" },
      h("label", { for: "ack-comment" }, "What was done or will be done (optional)"),
      h("p", { id: "ack-hint", class: "hint" }, "Recorded with the acknowledgement in the case's trail."),
      ackComment),
    h("div", { class: "buttons" }, ackSubmit, ackCancel));
  let acking = null;
  const openAck = (alert) => {
    acking = alert;
    ackStatus.replaceChildren();
    const key = alert.business_key || keys.get(alert.instance_id);
    ackForm.querySelector("#ack-what").textContent =
      `${alert.message} (alert ${alert.id}, case ${key || alert.instance_id.slice(0, 8)})`;
    ackComment.value = "";
    ackForm.hidden = false;
    ackComment.focus();
  };
  ackCancel.addEventListener("click", () => {
    const back = acking && hosts.alerts.querySelector(`[data-focus="ack-${acking.id}"]`);
    ackForm.hidden = true;
    acking = null;
    if (back) back.focus();
  });
  ackForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!acking) return;
    ackSubmit.disabled = true;
    ackStatus.replaceChildren();
    try {
      const done = await api.acknowledge(acking.id, ackComment.value.trim() || undefined);
      ackForm.hidden = true;
      acking = null;
      const said = notice("success", `You acknowledged alert ${done.id}: ${done.message}`);
      said.setAttribute("tabindex", "-1");
      ackStatus.append(said);
      await refresh(["alerts"]);
      said.focus();
    } catch (error) {
      ackStatus.append(notice("error", sentence(error)));
    } finally {
      ackSubmit.disabled = false;
    }
  });

  // the form that opens a supervision case on an alert or a violation (the instance page's
  // form), shown under the table of the row it was opened from, one at a time
  let casingFrom = null; // the data-focus key of the button that opened it
  const opener = caseForm({}, "", {
    onCancel: () => {
      const back = casingFrom && document.querySelector(`[data-focus="${casingFrom}"]`);
      opener.section.hidden = true;
      casingFrom = null;
      if (back) back.focus();
    },
  });
  opener.section.hidden = true;
  const openCase = (where, subject, about, focusKey) => {
    casingFrom = focusKey;
    opener.setSubject(subject, about);
    where.after(opener.section);
    opener.section.hidden = false;
    opener.focus();
  };
  const caseButton = (key, what) => {
    const button = h("button", { type: "button", class: "small secondary", "data-focus": key },
      "Open a case", h("span", { class: "visually-hidden" }, ` on ${what}`));
    return button;
  };

  const render = {
    async instances() {
      const page = await api.instances("running");
      for (const i of page.items) {
        keys.set(i.id, i.business_key);
        for (const t of i.tasks || []) names.set(t.id, t.name || t.element_id);
      }
      replaceKeepingFocus(hosts.instances, [
        page.items.length
          ? table("running", `${page.items.length}${page.has_more ? "+" : ""} running instance${page.items.length === 1 ? "" : "s"}, newest first`,
            ["Case", "Process", "Status", "Started", "Open tasks", "Promised by", "Alert"],
            page.items.map((i) => ({ item: i, cells: [
              caseOf(i.id, i.business_key),
              `${i.definition_key} (version ${i.definition_version})`,
              STATUS[i.status] || i.status,
              timeEl(h, i.created_at),
              (i.tasks || []).map((t) => t.name || t.element_id).join(", ") || "None",
              i.promised_due_at ? timeEl(h, i.promised_due_at) : "No limit",
              levelBadge(i.alert_level),
            ] })),
            (i) => ({ "data-instance": i.id, class: i.alert_level ? `row-${i.alert_level}` : null }))
          : h("p", {}, "No instance is running."),
      ]);
    },
    async alerts() {
      const page = await api.alerts("open");
      replaceKeepingFocus(hosts.alerts, [
        page.items.length
          ? table("alerts", `${page.items.length}${page.has_more ? "+" : ""} open alert${page.items.length === 1 ? "" : "s"}, newest first`,
            ["Level", "Alert", "Task", "Case", "Due", "Since", "Action"],
            page.items.map((a) => {
              const ack = h("button", { type: "button", class: "small", "data-focus": `ack-${a.id}` },
                "Acknowledge", h("span", { class: "visually-hidden" }, ` alert ${a.id}`));
              ack.addEventListener("click", () => openAck(a));
              const key = a.business_key || keys.get(a.instance_id);
              const onCase = caseButton(`case-alert-${a.id}`, `alert ${a.id}`);
              onCase.addEventListener("click", () => openCase(ackForm, { alert_id: a.id },
                `The case concerns alert ${a.id}: ${a.message} (case ${key || a.instance_id.slice(0, 8)}).`,
                `case-alert-${a.id}`));
              return { item: a, cells: [
                levelBadge(a.level),
                a.message,
                a.task_id ? names.get(a.task_id) || a.element_id || "" : a.element_id || "(the case)",
                caseOf(a.instance_id, a.business_key),
                a.deadline_at ? timeEl(h, a.deadline_at) : "No date",
                timeEl(h, a.raised_at),
                h("span", { class: "actions" }, ack, " ", onCase),
              ] };
            }),
            (a) => ({ "data-alert": a.id, class: `row-${a.level}` }))
          : h("p", {}, "No alert is open."),
      ]);
    },
    async violations() {
      const page = await api.violations();
      replaceKeepingFocus(hosts.violations, [
        page.items.length
          ? table("violations", `The ${page.items.length} most recent violations`,
            ["Rule", "What", "By", "Effect", "Case", "When", "Action"],
            page.items.map((v) => {
              const onCase = caseButton(`case-violation-${v.id}`, `violation ${v.id}`);
              onCase.addEventListener("click", () => openCase(hosts.violations, { violation_id: v.id },
                `The case concerns violation ${v.id} of rule ${v.rule_id} by ${v.actor}: ${v.message} (case ${
                  v.business_key || keys.get(v.instance_id) || v.instance_id.slice(0, 8)}).`,
                `case-violation-${v.id}`));
              return { item: v, cells: [
                v.rule_id, v.message, v.actor, EFFECT[v.effect] || v.effect,
                caseOf(v.instance_id, v.business_key), timeEl(h, v.occurred_at), onCase,
              ] };
            }),
            (v) => ({ "data-violation": v.id }))
          : h("p", {}, "No violation is recorded."),
      ]);
    },
    async cases() {
      const page = await api.cases("open");
      replaceKeepingFocus(hosts.cases, [
        page.items.length
          ? table("cases", `${page.items.length}${page.has_more ? "+" : ""} open supervision case${page.items.length === 1 ? "" : "s"}, newest first`,
            ["Case", "Concerning", "Opened by", "Opened", "Due", "Responsible"],
            page.items.map((c) => ({ item: c, cells: [
              h("a", { href: `#/cases/${c.id}` }, c.title),
              caseOf(c.instance_id, c.business_key),
              c.opened_by, timeEl(h, c.opened_at),
              c.due_at ? timeEl(h, c.due_at) : "No date",
              [c.responsible_unit, c.responsible_role].filter(Boolean).join(", ") || "Not named",
            ] })),
            (c) => ({ "data-case": c.id }))
          : h("p", {}, "No supervision case is open."),
      ]);
    },
  };

  // the instances first: they name the tasks and cases the other tables link to
  async function refresh(which) {
    const order = ["instances", "alerts", "violations", "cases"].filter((s) => which.includes(s));
    if (order[0] === "instances") await render.instances();
    await Promise.all(order.filter((s) => s !== "instances").map((s) => render[s]()));
  }
  await refresh(["instances", "alerts", "violations", "cases"]);

  const dirty = new Set();
  const failed = h("div", {});
  const flush = debounce(async () => {
    const which = [...dirty];
    dirty.clear();
    try {
      await refresh(which);
      failed.replaceChildren();
    } catch (error) {
      failed.replaceChildren(notice("error", sentence(error)));
    }
  }, 250);

  const after = () => {
    const stop = follow(`/v1/events/stream?types=${WATCHED.join(",")}`, {
      after: cursor.id,
      onEvent: (event) => {
        for (const s of SECTIONS_OF(event.type)) dirty.add(s);
        flush();
      },
      onStatus: live.set,
    });
    onLeave(stop);
  };

  return {
    title: "Dashboard",
    nodes: [
      h("h1", { tabindex: "-1" }, "Dashboard"),
      h("p", { class: "lead" },
        "What needs a supervisor's attention now: open alerts, running instances, recent violations and open supervision cases. ",
        h("a", { href: "#/cases" }, "All supervision cases"), " · ",
        h("a", { href: "#/stats" }, "Statistics"), "."),
      live.el,
      failed,
      h("section", { "aria-labelledby": "alerts-heading" },
        h("h2", { id: "alerts-heading" }, "Open alerts"), hosts.alerts, ackStatus, ackForm),
      h("section", { "aria-labelledby": "instances-heading" },
        h("h2", { id: "instances-heading" }, "Running instances"), hosts.instances),
      h("section", { "aria-labelledby": "violations-heading" },
        h("h2", { id: "violations-heading" }, "Recent violations"), hosts.violations),
      h("section", { "aria-labelledby": "cases-heading" },
        h("h2", { id: "cases-heading" }, "Open supervision cases"), hosts.cases),
    ],
    after,
  };
}
