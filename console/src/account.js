// Who is signed in (GET /v1/me, read once per sign-in) and the header's account area.
import { api } from "./api.js";
import { h } from "./dom.js";
import { signOut, token } from "./session.js";

let me = null;

/** The roles that may upload definitions (DEPLOY_ROLES in services/definitions.py). */
export const DEPLOY_ROLES = ["designer", "admin"];

export function forget() {
  me = null;
}

/** The signed-in person ({name, roles}), or null when nobody is. */
export async function whoami() {
  if (!token()) return null;
  if (!me) me = await api.me();
  return me;
}

/** Fill the header's account area: the inbox link and who is signed in, or the sign-in link. */
export async function showAccount(area, section) {
  let person = null;
  try {
    person = await whoami();
  } catch (error) {
    if (error.status === 401) signOut();
  }
  const current = (name) => (section === name ? "page" : null);
  if (!person) {
    area.replaceChildren(h("ul", {}, h("li", {},
      h("a", { href: "#/login", "data-section": "login", "aria-current": current("login") }, "Sign in"))));
    return;
  }
  const out = h("button", { type: "button", class: "link" }, "Sign out");
  out.addEventListener("click", () => {
    signOut();
    forget();
    location.hash = "#/login";
  });
  // the designer's pages are linked for those who may deploy (the API decides: services/definitions.py)
  const designs = person.roles.some((role) => DEPLOY_ROLES.includes(role));
  // the dashboard link only for those the API lets read every instance's events
  const supervises = person.roles.includes("monitor") || person.roles.includes("admin");
  area.replaceChildren(h("ul", {},
    h("li", {}, h("a", { href: "#/inbox", "data-section": "inbox", "aria-current": current("inbox") }, "Inbox")),
    supervises
      ? h("li", {}, h("a", { href: "#/monitor", "data-section": "monitor", "aria-current": current("monitor") }, "Dashboard"))
      : null,
    designs
      ? h("li", {}, h("a", { href: "#/designer", "data-section": "designer", "aria-current": current("designer") }, "Designer"))
      : null,
    h("li", { class: "who" },
      h("span", { class: "visually-hidden" }, "Signed in as "),
      h("span", { class: "name" }, person.name),
      h("span", { class: "roles" }, ` (${person.roles.join(", ") || "no roles"})`)),
    h("li", {}, out)));
}
