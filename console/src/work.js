// What the clerk's pages share: alert colours, task states, the sign-in requirement.
import { h } from "./dom.js";

export const ALERT = { prompt: "Prompt", yellow: "Yellow alert", red: "Red alert" };

export const TASK_STATE = {
  ready: "Ready",
  awaiting_countersign: "Awaiting countersignature",
  completed: "Completed",
  cancelled: "Cancelled",
};

/** The task's alert level and overdue mark, as coloured badges with words (not colour alone). */
export function alertBadges(task) {
  const items = [];
  if (task.alert_level) {
    items.push(h("span", { class: `alert alert-${task.alert_level}` }, ALERT[task.alert_level] || task.alert_level));
  }
  if (task.overdue) {
    if (items.length) items.push(" ");
    items.push(h("span", { class: "alert overdue" }, "Overdue"));
  }
  return items.length ? items : [h("span", { class: "hint" }, "None")];
}

/** The page shown instead when nobody is signed in. */
export function signInFirst(title) {
  const next = encodeURIComponent(location.hash || "#/inbox");
  return {
    title,
    nodes: [
      h("h1", { tabindex: "-1" }, title),
      h("p", {}, "This page is for people who work on cases. ",
        h("a", { href: `#/login?next=${next}` }, "Sign in with your API token"), " to see it."),
    ],
  };
}
