// The clerk's inbox: the tasks their roles allow (GET /v1/tasks), claim and unclaim.
import { api, sentence } from "../api.js";
import { whoami } from "../account.js";
import { h, notice } from "../dom.js";
import { timeEl } from "../format.js";
import { TASK_STATE, alertBadges, signInFirst } from "../work.js";
import { takeFlash } from "../flash.js";

function actions(task, me, status, reload) {
  const act = async (button, call, done) => {
    button.disabled = true;
    status.replaceChildren();
    try {
      await call(task.id);
      status.append(notice("success", done));
      await reload();
    } catch (error) {
      status.append(notice("error", sentence(error)));
      button.disabled = false;
    }
  };
  if (task.state !== "ready") return "";
  if (!task.assignee) {
    const claim = h("button", { type: "button", class: "small" }, "Claim", h("span", { class: "visually-hidden" }, ` ${task.name}`));
    claim.addEventListener("click", () => act(claim, api.claim, `You claimed “${task.name}”.`));
    return claim;
  }
  if (task.assignee === me.name) {
    const unclaim = h("button", { type: "button", class: "small secondary" }, "Unclaim", h("span", { class: "visually-hidden" }, ` ${task.name}`));
    unclaim.addEventListener("click", () => act(unclaim, api.unclaim, `You released “${task.name}”.`));
    return unclaim;
  }
  return "";
}

function table(tasks, me, status, reload) {
  return h("table", { class: "inbox" },
    h("caption", {}, `${tasks.length} task${tasks.length === 1 ? "" : "s"}, oldest first`),
    h("thead", {}, h("tr", {},
      ["Task", "Case", "Process", "State", "Held by", "Ready since", "Due", "Alert", "Action"].map((c) =>
        h("th", { scope: "col" }, c)))),
    h("tbody", {}, tasks.map((task) => h("tr", {
      "data-task": task.id,
      class: [task.overdue ? "row-overdue" : "", task.alert_level ? `row-${task.alert_level}` : ""].join(" ").trim() || null,
    },
    h("th", { scope: "row" }, h("a", { href: `#/tasks/${encodeURIComponent(task.id)}` }, task.name || task.element_id)),
    h("td", { "data-label": "Case" }, task.business_key || h("span", { class: "hint" }, "No business key")),
    h("td", { "data-label": "Process" }, task.definition_key),
    h("td", { "data-label": "State" }, TASK_STATE[task.state] || task.state),
    h("td", { "data-label": "Held by" }, task.assignee ? (task.assignee === me.name ? "You" : task.assignee) : "Nobody"),
    h("td", { "data-label": "Ready since" }, timeEl(h, task.created_at)),
    h("td", { "data-label": "Due" }, task.due_at ? timeEl(h, task.due_at) : "No limit"),
    h("td", { "data-label": "Alert" }, alertBadges(task)),
    h("td", {}, actions(task, me, status, reload))))));
}

export async function inboxPage() {
  const me = await whoami();
  if (!me) return signInFirst("Inbox");
  const status = h("div", { class: "form-status" });
  const flash = takeFlash();
  if (flash) status.append(notice("success", flash));
  const host = h("div", {});
  const reload = async () => {
    // open tasks only: those ready, and the completions waiting for a countersignature
    const [ready, waiting] = await Promise.all([api.inbox("ready"), api.inbox("awaiting_countersign")]);
    const items = [...ready.items, ...waiting.items]
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
    host.replaceChildren(items.length
      ? table(items, me, status, reload)
      : h("p", {}, ready.hint || "No task waits for you."));
    if (ready.has_more || waiting.has_more) {
      host.append(h("p", { class: "hint" }, "Only the first 100 tasks of each kind are shown; complete some to see the rest."));
    }
  };
  await reload();
  return {
    title: "Inbox",
    nodes: [
      h("h1", { tabindex: "-1" }, "Inbox"),
      h("p", { class: "lead" },
        `The open tasks your roles (${me.roles.join(", ") || "none"}) allow you to act on, and the completions waiting for a countersignature. `,
        "Claim a task to hold it while you work on it; open it to complete it."),
      status,
      host,
    ],
  };
}
