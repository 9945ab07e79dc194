// A person's record (#/people/{name}) for monitors, auditors and administrators: the alerts on
// tasks they held or completed, the violations they committed and the outcomes of closed cases
// naming them, with counts, over a period (GET /v1/people/{name}/record?since&until). Linked
// from the people's statistics and from a case's "people it concerns".
import { ApiError, api, sentence } from "../api.js";
import { whoami } from "../account.js";
import { facts, h, notice } from "../dom.js";
import { timeEl } from "../format.js";
import { instanceLink, levelBadge, table } from "../supervise.js";
import { signInFirst } from "../work.js";
import { OUTCOMES } from "./cases.js";
import { periodOf, periodPicker, periodQuery, periodWords, recordQuery } from "../period.js";

const EFFECT = { warn: "Recorded (warning)", block: "Blocked" };
const STATE = { open: "Open", acknowledged: "Acknowledged", resolved: "Resolved" };
const byKey = (counts, words = (k) => k) =>
  Object.entries(counts || {}).map(([k, v]) => `${words(k)}: ${v}`).join("; ");

export async function personPage(name, params = new URLSearchParams()) {
  const me = await whoami();
  if (!me) return signInFirst("A person's record");
  const range = periodOf(params);
  const title = `Record of ${name}`;
  const head = [
    h("p", { class: "crumbs" }, h("a", { href: `#/stats/people${periodQuery(range)}` }, "Statistics by person"), " › record"),
    h("h1", { tabindex: "-1" }, title),
    periodPicker(range, `#/people/${encodeURIComponent(name)}`),
  ];
  let record;
  try {
    record = await api.personRecord(name, recordQuery(range));
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) return { title, nodes: [...head, notice("error", sentence(error))] };
    throw error;
  }
  const nodes = [
    ...head,
    h("p", { class: "lead", id: "record-range" }, `Over ${periodWords(range)}: the alerts on tasks ${name} claimed or completed, the rules they broke, and the outcomes of closed supervision cases that name them. Each list shows the newest 100; the counts cover the whole period.`),
    facts([
      ["Alerts", byKey(record.alerts_by_level) || "None"],
      ["Violations", byKey(record.violations_by_rule) || "None"],
      ["Case outcomes", byKey(record.outcomes_by_kind, (k) => OUTCOMES[k] || k) || "None"],
    ]),
    h("section", { "aria-labelledby": "record-alerts" },
      h("h2", { id: "record-alerts" }, "Alerts"),
      record.alerts.length
        ? table("cases record-alerts", `${record.counts.alerts} alert${record.counts.alerts === 1 ? "" : "s"}, newest first`,
          ["Level", "Alert", "Case", "State", "Raised"],
          record.alerts.map((a) => ({ item: a, cells: [
            levelBadge(a.level), a.message, instanceLink(a.instance_id, a.business_key),
            STATE[a.state] || a.state, timeEl(h, a.raised_at),
          ] })),
          (a) => ({ "data-alert": a.id }))
        : h("p", {}, "No alert in this period.")),
    h("section", { "aria-labelledby": "record-violations" },
      h("h2", { id: "record-violations" }, "Violations"),
      record.violations.length
        ? table("cases record-violations", `${record.counts.violations} violation${record.counts.violations === 1 ? "" : "s"}, newest first`,
          ["Rule", "What", "Effect", "Case", "When"],
          record.violations.map((v) => ({ item: v, cells: [
            v.rule_id, v.message, EFFECT[v.effect] || v.effect,
            instanceLink(v.instance_id, v.business_key), timeEl(h, v.occurred_at),
          ] })),
          (v) => ({ "data-violation": v.id }))
        : h("p", {}, "No violation in this period.")),
    h("section", { "aria-labelledby": "record-outcomes" },
      h("h2", { id: "record-outcomes" }, "Outcomes of supervision cases"),
      record.outcomes.length
        ? table("cases record-outcomes", `${record.counts.outcomes} closed case${record.counts.outcomes === 1 ? "" : "s"} naming ${name}, newest first`,
          ["Supervision case", "Outcome", "Case", "Closed", "Summary"],
          record.outcomes.map((o) => ({ item: o, cells: [
            h("a", { href: `#/cases/${o.id}` }, o.title), OUTCOMES[o.outcome] || o.outcome,
            instanceLink(o.instance_id, o.business_key),
            h("span", {}, timeEl(h, o.closed_at), ` by ${o.closed_by}`), o.summary || "",
          ] })),
          (o) => ({ "data-case": o.id }))
        : h("p", {}, "No closed case names them in this period.")),
  ];
  return { title, nodes };
}
