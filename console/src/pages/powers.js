// The public power list (/public/powers).
import { api } from "../api.js";
import { facts, h } from "../dom.js";
import { limits } from "../format.js";

export async function powersPage() {
  const powers = await api.powers();
  const nodes = [
    h("h1", { tabindex: "-1" }, "Power list"),
    h(
      "p",
      { class: "lead" },
      "The powers this office exercises, their legal basis and time limits, and the processes that carry them out. ",
      "Open a process to see its flow chart, or look up a case's progress by its business key.",
    ),
  ];
  if (!powers.length) {
    nodes.push(h("p", {}, "No process publishes its power yet."));
    return { title: "Power list", nodes };
  }
  nodes.push(
    h(
      "ul",
      { class: "cards", "aria-label": "Powers" },
      powers.map((power) =>
        h(
          "li",
          {},
          h(
            "article",
            { class: "card", "aria-labelledby": `power-${power.code}` },
            h("h2", { id: `power-${power.code}` }, h("span", { class: "code" }, power.code), " ", power.name),
            facts([
              ["Category", power.category],
              ["Legal basis", power.legal_basis.length
                ? h("ul", {}, power.legal_basis.map((basis) => h("li", {}, basis)))
                : null],
              ["Responsible units", power.responsible_roles.join(", ")],
              ["Time limits", limits(power.time_limits)],
              ["Processes", h(
                "ul",
                {},
                power.processes.map((process) =>
                  h("li", {}, h("a", { href: `#/processes/${encodeURIComponent(process.key)}` },
                    process.name), ` (version ${process.version})`)),
              )],
            ]),
          ),
        ),
      ),
    ),
  );
  return { title: "Power list", nodes };
}
