// Signing in with an API token (the same tokens as the API; docs/console.md, "Signing in").
import { api, sentence } from "../api.js";
import { h, notice } from "../dom.js";
import { forget, whoami } from "../account.js";
import { signIn, signOut, token } from "../session.js";

export async function loginPage(params) {
  const next = params.get("next") || "#/inbox";
  const nodes = [h("h1", { tabindex: "-1" }, "Sign in")];
  const me = token() ? await whoami().catch(() => null) : null;
  if (me) {
    const out = h("button", { type: "button", class: "secondary" }, "Sign out");
    out.addEventListener("click", () => {
      signOut();
      forget();
      location.hash = "#/login";
    });
    nodes.push(
      h("p", {}, `You are signed in as ${me.name}, with the roles ${me.roles.join(", ") || "(none)"}.`),
      h("p", {}, h("a", { href: "#/inbox" }, "Go to your inbox"), " or ", out),
    );
    return { title: "Sign in", nodes };
  }
  const input = h("input", {
    id: "token", name: "token", type: "password", required: true, autocomplete: "off",
    spellcheck: "false", "aria-describedby": "token-hint",
  });
  const status = h("div", { class: "form-status" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { "aria-label": "Sign in", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "token" }, "Your API token"),
      input,
      h("p", { id: "token-hint", class: "hint" },
        "The token your administrator gave you (the same one the API takes). It is kept in this ",
        "browser tab only and forgotten when you sign out or close the tab.")),
    status,
    button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const value = input.value.trim();
    if (!value) {
      status.append(notice("error", "Paste your API token to sign in."));
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await api.me(value); // the API says whether the token is good
      signIn(value);
      forget();
      location.hash = next.startsWith("#/") ? next : "#/inbox";
    } catch (error) {
      status.append(notice("error", sentence(error)));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  nodes.push(
    h("p", { class: "lead" },
      "Clerks, reviewers and supervisors sign in to see the tasks their roles allow. ",
      "The public pages need no sign-in."),
    form,
  );
  return { title: "Sign in", nodes };
}
