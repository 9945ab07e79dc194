// The designer's pages: the deployed definitions and their versions, uploading a model (its
// problems listed and marked on the chart drawn from the file itself), a version's chart with
// its risk map, and the comparison of two versions.
import { api, sentence } from "../api.js";
import { whoami } from "../account.js";
import { drawn, reveal, showDiagram } from "../chart.js";
import { compareModels, parseXml, typeName } from "../diff.js";
import { facts, h, notice } from "../dom.js";
import { flash, takeFlash } from "../flash.js";
import { limit, timeEl } from "../format.js";
import { signInFirst } from "../work.js";
import { readZip } from "../zip.js";

const enc = encodeURIComponent;

export function versionHref(key, version, compare) {
  return `#/designer/${enc(key)}/${enc(version)}${compare ? `?compare=${enc(compare)}` : ""}`;
}

function runs(definition) {
  if (definition.kind === "decision") return "Evaluated by business rule tasks";
  return definition.executable ? "Can be started" : `Viewing only: ${definition.not_executable_reason || "it cannot run"}`;
}

function definitionsTable(items) {
  return h(
    "table",
    { class: "definitions" },
    h("caption", {}, "Deployed processes and decision tables, each with its versions"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Name"),
      h("th", { scope: "col" }, "Key"),
      h("th", { scope: "col" }, "Versions"),
      h("th", { scope: "col" }, "Latest version"),
      h("th", { scope: "col" }, "Deployed"))),
    h("tbody", {}, items.map((d) => {
      const versions = [];
      for (let v = d.version; v >= 1; v -= 1) {
        if (versions.length) versions.push(" ");
        versions.push(h("a", { href: versionHref(d.key, v) }, `v${v}`,
          h("span", { class: "visually-hidden" }, ` (version ${v} of ${d.name || d.key})`)));
      }
      return h("tr", { "data-key": d.key },
        h("th", { scope: "row" }, h("a", { href: versionHref(d.key, d.version) }, d.name || d.key)),
        h("td", { "data-label": "Key" }, h("span", { class: "code" }, d.key),
          d.kind === "decision" ? " (decision table)" : ""),
        h("td", { "data-label": "Versions" }, versions),
        h("td", { "data-label": "Latest version" }, runs(d)),
        h("td", { "data-label": "Deployed" }, `by ${d.deployed_by}, `, timeEl(h, d.deployed_at)));
    })),
  );
}

/** The files chosen, with any zip opened in the browser: [{name, text}] of model files. */
async function readChosen(files) {
  const read = [];
  for (const file of files) {
    if (/\.zip$/i.test(file.name)) {
      try {
        read.push(...(await readZip(file)));
      } catch {
        // the API says what is wrong with the archive
      }
    } else {
      read.push({ name: file.name, text: await file.text() });
    }
  }
  return read;
}

const SEVERITY = { error: "Problem", warning: "Warning" };

/** The problems of a refused upload: a numbered list, and a chart per file marking them. */
async function showProblems(host, problems, files) {
  const sources = await readChosen(files);
  const byFile = new Map();
  problems.forEach((problem, i) => {
    problem.number = i + 1;
    const name = problem.file || (sources.length === 1 ? sources[0].name : null);
    if (!byFile.has(name)) byFile.set(name, []);
    byFile.get(name).push(problem);
  });
  const items = problems.map((p) => {
    const where = [];
    if (p.file) where.push(p.file);
    if (p.line) where.push(`line ${p.line}`);
    if (p.element_id) where.push(`element ${p.element_id}`);
    return h("li", { class: `problem problem-${p.severity}`, id: `problem-${p.number}`, "data-element": p.element_id || null },
      h("span", { class: `severity severity-${p.severity}` }, `${SEVERITY[p.severity] || "Problem"} ${p.number}`), " ",
      h("span", { class: "what" }, p.message),
      where.length ? h("span", { class: "where" }, ` (${where.join(", ")})`) : null);
  });
  const list = h("ol", { class: "problems", "aria-label": "Problems found in the upload" }, items);
  const errors = problems.filter((p) => p.severity !== "warning").length;
  const warnings = problems.length - errors;
  host.append(h("section", { "aria-labelledby": "problems-heading" },
    h("h2", { id: "problems-heading" },
      `${errors} problem${errors === 1 ? "" : "s"}${warnings ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}`),
    list));
  for (const [name, found] of byFile) {
    const marked = found.filter((p) => p.element_id);
    if (!marked.length) continue;
    const source = sources.find((s) => s.name === name);
    if (!source) continue;
    const doc = parseXml(source.text);
    if (!doc || doc.documentElement.localName !== "definitions" || /DMN/i.test(doc.documentElement.namespaceURI || "")) {
      continue; // not XML, or not a BPMN model: the list says it all
    }
    const chartHost = h("div", { class: "diagram" });
    const heading = `Where the problems are in ${name}`;
    host.append(h("section", { "aria-label": heading, class: "problem-chart" },
      h("h3", {}, heading),
      h("p", { class: "hint" },
        h("span", { class: "key error" }, "Problem"), " ", h("span", { class: "key warning" }, "Warning"),
        " The numbers on the chart are those of the list above."),
      chartHost));
    const marks = {};
    for (const p of marked) if (p.severity === "warning" && !marks[p.element_id]) marks[p.element_id] = "warning";
    for (const p of marked) if (p.severity !== "warning") marks[p.element_id] = "error";
    let viewer = null;
    try {
      viewer = await showDiagram(chartHost, source.text, {
        marks,
        notes: marked.map((p) => ({
          element_id: p.element_id,
          kind: p.severity === "warning" ? "warning" : "error",
          items: `${SEVERITY[p.severity] || "Problem"} ${p.number}`,
        })),
        label: `Flow chart of ${name} with the problems marked; the list above describes them.`,
      });
    } catch (error) {
      chartHost.append(notice("info", sentence(error)));
      continue;
    }
    for (const p of marked) {
      if (!drawn(viewer, p.element_id)) continue;
      const item = items[p.number - 1];
      const el = doc.querySelector(`[id="${CSS.escape(p.element_id)}"]`);
      const label = el && el.getAttribute("name") ? `${el.getAttribute("name")} (${p.element_id})` : p.element_id;
      const show = h("button", { type: "button", class: "secondary small" },
        "Show on the chart", h("span", { class: "visually-hidden" }, `: ${label}`));
      show.addEventListener("click", () => {
        reveal(viewer, p.element_id);
        chartHost.scrollIntoView({ block: "nearest" });
      });
      item.append(" ", show);
    }
  }
}

/** The upload's purposes as POST /v1/definitions takes them, with what each does in words. */
export const PURPOSES = [
  ["deploy", "Deploy",
    "The processes that can run are deployed to run; one that cannot (a Java service task, say) is stored for viewing only, and its page says why."],
  ["run", "Deploy to run, or not at all",
    "Every process in the upload must be able to run; if one cannot, nothing is stored and the problems are listed."],
  ["view", "Store for viewing only",
    "Nothing can be started from this upload: its processes are kept to read, draw and compare, and what would stop a deployment is listed as warnings."],
];

function uploadForm() {
  const input = h("input", {
    type: "file", id: "upload-files", name: "file", multiple: true,
    accept: ".bpmn,.dmn,.xml,.zip", "aria-describedby": "upload-hint",
  });
  const button = h("button", { type: "submit" }, "Upload and deploy");
  const result = h("div", { class: "upload-result" });
  // POST /v1/definitions?purpose=: deploy (the API's default), run or view
  const purposes = PURPOSES.map(([value, words, hint], i) => {
    const radio = h("input", {
      type: "radio", id: `purpose-${value}`, name: "purpose", value, checked: i === 0,
      "aria-describedby": `purpose-${value}-hint`,
    });
    return h("div", { class: "choice-block" },
      h("label", { class: "choice", for: `purpose-${value}` }, radio, words),
      h("p", { class: "hint", id: `purpose-${value}-hint` }, hint));
  });
  const form = h("form", { class: "upload", novalidate: true, "aria-labelledby": "upload-heading" },
    h("div", { class: "field" },
      h("label", { for: "upload-files" }, "BPMN or DMN files, or a zip of them"),
      input,
      h("p", { class: "hint", id: "upload-hint" },
        "Several files are deployed together, all or nothing. A file with problems is not deployed: ",
        "they are listed below and marked on its chart.")),
    h("fieldset", { class: "field purpose" }, h("legend", {}, "What the upload is for"), purposes),
    h("div", { class: "buttons" }, button));
  form.addEventListener("change", (event) => {
    if (event.target.name === "purpose") {
      button.textContent = event.target.value === "view" ? "Upload for viewing" : "Upload and deploy";
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(input.files || []);
    result.replaceChildren();
    if (!files.length) {
      result.append(notice("error", "Choose a file to upload first."));
      input.focus();
      return;
    }
    button.disabled = true;
    result.append(h("p", { class: "loading", role: "status" }, "Uploading and checking…"));
    try {
      const purpose = form.querySelector("input[name=purpose]:checked").value;
      const outcome = await api.upload(files, purpose);
      const shown = outcome.definitions.find((d) => d.kind === "process") || outcome.definitions[0];
      flash(outcome.message);
      if (shown) location.hash = versionHref(shown.key, shown.version);
      else result.replaceChildren(notice("success", outcome.message));
    } catch (error) {
      result.replaceChildren(notice("error", sentence(error)));
      const problems = Array.isArray(error.problem && error.problem.problems) ? error.problem.problems : [];
      if (error.status === 422 && problems.length) {
        try {
          await showProblems(result, problems, files);
        } catch (failure) {
          result.append(notice("info", sentence(failure)));
        }
      }
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { "aria-labelledby": "upload-heading" },
    h("h2", { id: "upload-heading" }, "Upload a model"), form, result);
}

export async function designerPage() {
  const me = await whoami();
  if (!me) return signInFirst("Designer");
  const listed = await api.definitions();
  const message = takeFlash();
  const nodes = [
    h("h1", { tabindex: "-1" }, "Designer"),
    message ? notice("success", message) : null,
    h("p", { class: "lead" },
      "Upload process models (BPMN) and decision tables (DMN), see their problems on the chart, ",
      "and browse and compare the versions deployed."),
    uploadForm(),
    h("section", { "aria-labelledby": "definitions-heading" },
      h("h2", { id: "definitions-heading" }, "Deployed models"),
      listed.items.length
        ? definitionsTable(listed.items)
        : h("p", {}, "Nothing is deployed yet."),
      listed.has_more ? h("p", { class: "hint" }, "Only the first 500 are listed.") : null),
  ];
  return { title: "Designer", nodes };
}

function riskMapTable(riskMap) {
  return h("table", { class: "risk-map" },
    h("caption", {}, "The risk map: each activity's risk point, roles, time limits and rules"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Activity"),
      h("th", { scope: "col" }, "Roles"),
      h("th", { scope: "col" }, "Risk point"),
      h("th", { scope: "col" }, "Time limits"),
      h("th", { scope: "col" }, "Rules"))),
    h("tbody", {}, riskMap.elements.map((e) => h("tr", { "data-element": e.element_id },
      h("th", { scope: "row" }, e.name || e.element_id, " ", h("span", { class: "code" }, e.element_id)),
      h("td", {}, e.roles.join(", ") || "—"),
      h("td", {}, e.risk
        ? [h("span", { class: `level risk-${e.risk.level}` }, e.risk.level),
           e.risk.description ? `: ${e.risk.description}` : "",
           e.requirements.comment ? h("div", {}, "A reasoned comment is required") : null,
           e.requirements.countersign ? h("div", {}, `Countersigned by ${e.requirements.countersign}`) : null]
        : "—"),
      h("td", {}, Object.entries(e.time_limits).map(([kind, value]) => h("div", {}, `${kind}: ${limit(value)}`))),
      h("td", {}, e.rules.length ? h("ul", {}, e.rules.map((r) => h("li", {}, `${r.id}: ${r.message}`))) : "—"),
    ))));
}

const CHANGE = { added: "Added", removed: "Removed", changed: "Changed" };

function changesTable(found, older, newer) {
  if (!found.length) return h("p", {}, `Versions ${older} and ${newer} have the same elements, names, types and powerflow attributes.`);
  return h("table", { class: "changes" },
    h("caption", {}, `What changed from version ${older} to version ${newer}`),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Element"),
      h("th", { scope: "col" }, "Type"),
      h("th", { scope: "col" }, "Change"),
      h("th", { scope: "col" }, "What differs"))),
    h("tbody", {}, found.map((c) => h("tr", { "data-element": c.id, class: `change-${c.change}` },
      h("th", { scope: "row" }, c.name || c.id, " ", h("span", { class: "code" }, c.id)),
      h("td", {}, typeName(c.type)),
      h("td", {}, h("span", { class: `key ${c.change}` }, CHANGE[c.change])),
      h("td", {}, c.details.length ? h("ul", {}, c.details.map((d) => h("li", {}, d))) : "—")))));
}

function compareForm(key, version, versions, compare) {
  const others = versions.filter((v) => v.version !== version);
  if (!others.length) return h("p", {}, "This is the only version; there is nothing to compare it with yet.");
  const select = h("select", { id: "compare-with", name: "compare" },
    others.map((v) => h("option", { value: String(v.version), selected: v.version === compare },
      `Version ${v.version} (${v.deployed_at.slice(0, 10)})`)));
  const form = h("form", { class: "lookup", "aria-label": "Compare versions" },
    h("div", { class: "field" }, h("label", { for: "compare-with" }, "Compare with"), select),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = versionHref(key, version, select.value);
  });
  return form;
}

export async function versionPage(key, version, compareText) {
  const me = await whoami();
  if (!me) return signInFirst("A model's version");
  const number = Number.parseInt(version, 10);
  const versions = await api.versions(key);
  const definition = versions.find((v) => v.version === number);
  if (!definition) {
    const title = "Unknown version";
    return { title, nodes: [
      h("p", { class: "crumbs" }, h("a", { href: "#/designer" }, "Designer")),
      h("h1", { tabindex: "-1" }, title),
      notice("error", `${key} has no version ${version}; its versions are ${versions.map((v) => v.version).join(", ")}.`)] };
  }
  const compare = compareText ? Number.parseInt(compareText, 10) : null;
  const other = compare && compare !== number ? versions.find((v) => v.version === compare) : null;
  const title = `${definition.name || key}, version ${number}`;
  const message = takeFlash();
  const meta = definition.metadata || {};
  const decision = definition.kind === "decision";
  const nodes = [
    h("p", { class: "crumbs" }, h("a", { href: "#/designer" }, "Designer"), " › ", definition.name || key),
    h("h1", { tabindex: "-1" }, title),
    message ? notice("success", message) : null,
    facts([
      ["Key", h("span", { class: "code" }, key)],
      ["Kind", decision ? "Decision table (DMN)" : "Process (BPMN)"],
      ["Runs", runs(definition)],
      ["Deployed", h("span", {}, `by ${definition.deployed_by}, `, timeEl(h, definition.deployed_at))],
      ["Power item", meta.power_item ? `${meta.power_item.code} ${meta.power_item.name}` : null],
      ["Legal basis", meta.legal_basis && meta.legal_basis.length ? meta.legal_basis.join("; ") : null],
      ["Content hash", h("span", { class: "code hash" }, definition.content_hash)],
    ]),
    h("nav", { "aria-label": "Versions", class: "versions" },
      h("h2", {}, "Versions"),
      h("ul", {}, versions.map((v) => h("li", {},
        h("a", { href: versionHref(key, v.version), "aria-current": v.version === number ? "page" : null },
          `Version ${v.version}`), ` by ${v.deployed_by}, `, timeEl(h, v.deployed_at))))),
  ];
  if (definition.warnings.length) {
    nodes.push(h("section", { "aria-labelledby": "warnings-heading" },
      h("h2", { id: "warnings-heading" }, "Warnings"),
      h("ol", { class: "problems" }, definition.warnings.map((w, i) => h("li", { class: "problem problem-warning", "data-element": w.element_id || null },
        h("span", { class: "severity severity-warning" }, `Warning ${i + 1}`), " ", w.message,
        w.element_id ? h("span", { class: "where" }, ` (element ${w.element_id})`) : null)))));
  }
  if (decision) {
    if (definition.decision) {
      nodes.push(facts([
        ["Hit policy", definition.decision.hit_policy],
        ["Inputs", definition.decision.inputs.join(", ")],
        ["Outputs", definition.decision.outputs.join(", ")],
        ["Rules", String(definition.decision.rules)],
      ]));
    }
    return { title, nodes };
  }
  nodes.push(h("section", { "aria-labelledby": "compare-heading" },
    h("h2", { id: "compare-heading" }, "Compare versions"),
    compareForm(key, number, versions, compare)));
  if (compareText && !other) {
    nodes.push(notice("error", compare === number
      ? `Choose another version than ${number} to compare it with.`
      : `${key} has no version ${compareText} to compare with.`));
  }
  const [xml, riskMap, otherXml] = await Promise.all([
    api.xml(key, number),
    api.riskMap(key, number),
    other ? api.xml(key, other.version) : Promise.resolve(null),
  ]);
  let found = null;
  let older = null;
  let newer = null;
  if (other) {
    [older, newer] = other.version < number ? [other.version, number] : [number, other.version];
    const docs = { [number]: parseXml(xml), [other.version]: parseXml(otherXml) };
    if (docs[older] && docs[newer]) found = compareModels(docs[older], docs[newer]);
  }
  const chartHost = h("div", { class: "diagram", id: "diagram" });
  const otherHost = h("div", { class: "diagram", id: "diagram-other" });
  const legend = found
    ? h("p", { class: "hint legend" }, "Marked on the charts: ",
      h("span", { class: "key added" }, "Added"), " ", h("span", { class: "key changed" }, "Changed"), " ",
      h("span", { class: "key removed" }, "Removed"),
      ` (from version ${older} to version ${newer}; the table below says what differs).`)
    : h("p", { class: "hint" }, "Badges show each activity's time limit and risk level; the risk map below lists them.");
  nodes.push(h("section", { "aria-labelledby": "chart-heading" },
    h("h2", { id: "chart-heading" }, found ? `Version ${number}` : "Flow chart"), legend, chartHost));
  if (found) {
    nodes.push(h("section", { "aria-labelledby": "other-heading" },
      h("h2", { id: "other-heading" }, `Version ${other.version}`), otherHost));
    nodes.push(h("section", { "aria-labelledby": "changes-heading" },
      h("h2", { id: "changes-heading" }, "Changes"), changesTable(found, older, newer)));
  }
  nodes.push(h("section", { "aria-labelledby": "risk-heading" },
    h("h2", { id: "risk-heading" }, "Risk map"),
    riskMap.elements.length ? riskMapTable(riskMap) : h("p", {}, "This process has no activities.")));
  const after = async () => {
    const marks = {};
    const notes = [];
    for (const w of definition.warnings) {
      if (w.element_id) {
        marks[w.element_id] = "warning";
        notes.push({ element_id: w.element_id, kind: "warning", items: "Warning" });
      }
    }
    for (const c of found || []) {
      if (c.type === "process") continue;
      marks[c.id] = c.change;
      notes.push({ element_id: c.id, kind: c.change, items: CHANGE[c.change] });
    }
    const steps = riskMap.elements.map((e) => ({
      element_id: e.element_id,
      time_limit: e.time_limits && (e.time_limits.step || Object.values(e.time_limits)[0]),
      risk: e.risk,
    }));
    try {
      await showDiagram(chartHost, xml, {
        steps, marks, notes,
        label: `Flow chart of ${definition.name || key}, version ${number}${found ? ", with the changes marked; the table of changes lists them" : ""}.`,
      });
    } catch (error) {
      chartHost.append(notice("error", sentence(error)));
    }
    if (found) {
      try {
        await showDiagram(otherHost, otherXml, {
          marks, notes,
          label: `Flow chart of version ${other.version}, with the changes marked; the table of changes lists them.`,
        });
      } catch (error) {
        otherHost.append(notice("error", sentence(error)));
      }
    }
  };
  return { title, nodes, after };
}
