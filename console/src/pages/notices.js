// Public notices (公示) and objections to them.
import { api, sentence } from "../api.js";
import { clear, facts, h, notice } from "../dom.js";
import { timeEl, value } from "../format.js";

const STATE = { open: "Open for objections", closed: "Ended", withdrawn: "Withdrawn" };

function fieldList(fields) {
  const entries = Object.entries(fields || {});
  return entries.length ? facts(entries.map(([name, v]) => [name, value(v)])) : null;
}

export async function noticesPage(closed) {
  const list = await api.notices(closed);
  const title = closed ? "Ended public notices" : "Public notices";
  const nodes = [
    h("h1", { tabindex: "-1" }, title),
    h("p", { class: "lead" }, closed
      ? "Notices whose period ended, or that were withdrawn, in the last 90 days."
      : "Notices open now. During a notice's period anyone may raise an objection."),
    h("p", {}, closed
      ? h("a", { href: "#/notices" }, "Show the open notices")
      : h("a", { href: "#/notices?closed=true" }, "Show the notices that ended in the last 90 days")),
  ];
  if (!list.length) {
    nodes.push(h("p", {}, closed ? "No notice ended in the last 90 days." : "No notice is open now."));
    return { title, nodes };
  }
  nodes.push(h("ul", { class: "cards", "aria-label": title }, list.map((n) => h("li", {},
    h("article", { class: "card", "aria-labelledby": `notice-${n.id}` },
      h("h2", { id: `notice-${n.id}` }, h("a", { href: `#/notices/${n.id}` }, n.title)),
      facts([
        ["Process", n.process_name],
        ["State", STATE[n.state] || n.state],
        ["Published", timeEl(h, n.published_at)],
        [n.state === "open" ? "Ends" : "Ended", timeEl(h, n.withdrawn_at || n.ends_at)],
      ]),
      fieldList(n.fields))))));
  return { title, nodes };
}

function objectionForm(id) {
  const status = h("div", { class: "form-status", id: "objection-status" });
  const text = h("textarea", {
    id: "objection-text", name: "text", required: true, maxlength: 4000, rows: 6,
    "aria-describedby": "objection-text-hint",
  });
  const name = h("input", { id: "objection-name", name: "name", type: "text", maxlength: 100, autocomplete: "name" });
  const contact = h("input", {
    id: "objection-contact", name: "contact", type: "text", maxlength: 255, autocomplete: "email",
    "aria-describedby": "objection-contact-hint",
  });
  const button = h("button", { type: "submit" }, "Send the objection");
  const form = h("form", { class: "objection", "aria-labelledby": "objection-heading", novalidate: true },
    h("h2", { id: "objection-heading" }, "Raise an objection"),
    h("div", { class: "field" },
      h("label", { for: "objection-text" }, "Your objection (required)"),
      text,
      h("p", { id: "objection-text-hint", class: "hint" }, "What is wrong, and why; up to 4,000 characters.")),
    h("div", { class: "field" }, h("label", { for: "objection-name" }, "Your name (optional)"), name),
    h("div", { class: "field" },
      h("label", { for: "objection-contact" }, "How to reach you (optional)"),
      contact,
      h("p", { id: "objection-contact-hint", class: "hint" },
        "Your name and contact are seen only by the supervising office, never published.")),
    button,
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    if (!text.value.trim()) {
      status.append(notice("error", "Write your objection before sending it."));
      text.focus();
      return;
    }
    button.disabled = true;
    try {
      const receipt = await api.object(id, {
        text: text.value,
        name: name.value.trim() || null,
        contact: contact.value.trim() || null,
      });
      status.append(notice("success",
        `Your objection was received (number ${receipt.id}) at `, timeEl(h, receipt.received_at), ". ",
        receipt.delivered
          ? "It was passed to the case for review."
          : "It was recorded with the case."));
      form.reset();
    } catch (error) {
      status.append(notice("error", sentence(error)));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function noticePage(id) {
  const n = await api.notice(id);
  const nodes = [
    h("p", { class: "crumbs" }, h("a", { href: "#/notices" }, "Public notices"), " › ", `Notice ${n.id}`),
    h("h1", { tabindex: "-1" }, n.title),
    facts([
      ["Process", n.process_name],
      ["State", STATE[n.state] || n.state],
      ["Published", timeEl(h, n.published_at)],
      ["Period ends", timeEl(h, n.ends_at)],
      ["Withdrawn", timeEl(h, n.withdrawn_at)],
    ]),
    h("section", { "aria-labelledby": "fields-heading" },
      h("h2", { id: "fields-heading" }, "What is announced"),
      fieldList(n.fields) || h("p", {}, "This notice lists no fields.")),
  ];
  if (n.accepts_objections) nodes.push(objectionForm(n.id));
  else nodes.push(h("p", { class: "message info" }, "This notice no longer accepts objections."));
  return { title: n.title, nodes };
}
