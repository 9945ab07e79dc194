// A disclosed process: legal basis, time limits, the flow chart with overlays, and its steps.
import { api, sentence } from "../api.js";
import { badges, showDiagram } from "../chart.js";
import { facts, h, notice } from "../dom.js";
import { duration, limit, limits } from "../format.js";

function stepsTable(steps) {
  return h(
    "table",
    { class: "steps" },
    h("caption", {}, "Steps, their time limits, risk points and notices"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Step"),
      h("th", { scope: "col" }, "Time limit"),
      h("th", { scope: "col" }, "Risk point"),
      h("th", { scope: "col" }, "Public notice"),
      h("th", { scope: "col" }, "Published when done"))),
    h("tbody", {}, steps.map((step) => h("tr", { "data-element": step.element_id },
      h("th", { scope: "row" }, step.name || step.element_id),
      h("td", {}, limit(step.time_limit) || "—"),
      h("td", {}, step.risk
        ? [h("span", { class: `level risk-${step.risk.level}` }, step.risk.level),
           step.risk.measures && step.risk.measures.length
             ? h("ul", {}, step.risk.measures.map((m) => h("li", {}, m))) : null]
        : "—"),
      h("td", {}, step.notice
        ? `${duration(step.notice.period, step.notice.calendar)}: ${step.notice.fields.join(", ")}${step.notice.objections ? "; objections accepted" : ""}`
        : "—"),
      h("td", {}, step.published_fields.length ? step.published_fields.join(", ") : "—"),
    ))),
  );
}

export async function processPage(key) {
  const process = await api.process(key);
  const diagramHost = h("div", { class: "diagram", id: "diagram" });
  const nodes = [
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Power list"), " › ", process.name),
    h("h1", { tabindex: "-1" }, process.name),
    facts([
      ["Power item", process.power_item
        ? `${process.power_item.code} ${process.power_item.name}` : null],
      ["Legal basis", process.legal_basis.length
        ? h("ul", {}, process.legal_basis.map((b) => h("li", {}, b))) : null],
      ["Time limits", limits(process.time_limits)],
      ["Version", String(process.version)],
      ["Case progress", process.progress_public
        ? h("a", { href: `#/progress?process=${encodeURIComponent(process.key)}` },
          "Look up a case of this process")
        : "Not published for this process"],
    ]),
    h("section", { "aria-labelledby": "chart-heading" },
      h("h2", { id: "chart-heading" }, "Flow chart"),
      process.diagram
        ? h("p", { class: "hint" },
          "Badges on the chart show each step's time limit, risk level and public notice; the table below lists the same. ",
          "Drag to move the chart, or use the buttons.")
        : null,
      diagramHost),
    h("section", { "aria-labelledby": "steps-heading" },
      h("h2", { id: "steps-heading" }, "Steps"),
      stepsTable(process.steps)),
  ];
  const after = async () => {
    if (!process.diagram) {
      diagramHost.append(h("p", {}, "The flow chart of this process is not published."));
      return;
    }
    try {
      const xml = await api.diagram(process.key);
      await showDiagram(diagramHost, xml, {
        steps: process.steps,
        label: `Flow chart of ${process.name}; the steps table lists each step's limits.`,
      });
    } catch (error) {
      diagramHost.append(notice("error", sentence(error)));
    }
  };
  return { title: process.name, nodes, after };
}

export { badges };
