// What differs between two versions of a model, element by element (by id): added, removed,
// and changed in type, name, attributes, or the powerflow extension (pf:*) it carries.
// Read from the XML in the browser; nothing of it is ever inserted as HTML.
const BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL";
const PF = "urn:powerflow:bpmn:1.0";
// BPMN elements that are parts of another element, not elements of the model in their own right
const PARTS = new Set(["definitions", "extensionElements", "incoming", "outgoing", "documentation"]);

/** Parse XML, or null when it is not well-formed. */
export function parseXml(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  return doc.getElementsByTagName("parsererror").length ? null : doc;
}

/** "userTask" -> "user task". */
export function typeName(localName) {
  return localName.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

function attributes(el, skip) {
  const found = {};
  for (const attr of Array.from(el.attributes)) {
    if (attr.name.startsWith("xmlns") || skip.includes(attr.name)) continue;
    found[attr.name] = attr.value;
  }
  return found;
}

/** A pf:* element as one comparable line: its name, attributes, and text or children. */
function canonical(el) {
  const attrs = Object.entries(attributes(el, []))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`);
  const children = Array.from(el.children).map(canonical);
  const text = children.length ? children.join(" ") : (el.textContent || "").trim();
  return `pf:${el.localName}${attrs.length ? " " + attrs.join(" ") : ""}${text ? ` [${text}]` : ""}`;
}

/** The pf:* extension entries of an element, keyed by name (and id, for rules). */
function extension(el) {
  const entries = {};
  for (const holder of Array.from(el.children)) {
    if (holder.namespaceURI !== BPMN || holder.localName !== "extensionElements") continue;
    for (const child of Array.from(holder.children)) {
      if (child.namespaceURI !== PF) continue;
      let key = `pf:${child.localName}`;
      if (child.getAttribute("id")) key += ` ${child.getAttribute("id")}`;
      while (key in entries) key += "+";
      entries[key] = { line: canonical(child), attrs: attributes(child, []) };
    }
  }
  return entries;
}

/** Every BPMN element with an id: {id, type, name, attrs, pf}. */
export function modelElements(doc) {
  const found = new Map();
  for (const el of Array.from(doc.getElementsByTagNameNS(BPMN, "*"))) {
    const id = el.getAttribute("id");
    if (!id || PARTS.has(el.localName)) continue;
    found.set(id, {
      id,
      type: el.localName,
      name: el.getAttribute("name") || "",
      attrs: attributes(el, ["id", "name"]),
      pf: extension(el),
    });
  }
  return found;
}

function quote(value) {
  return value === undefined || value === "" ? "none" : `“${value}”`;
}

/** The sentences saying how element `a` became `b` (empty when nothing differs). */
function changes(a, b) {
  const said = [];
  if (a.type !== b.type) said.push(`type: ${typeName(a.type)} → ${typeName(b.type)}`);
  if (a.name !== b.name) said.push(`name: ${quote(a.name)} → ${quote(b.name)}`);
  for (const attr of new Set([...Object.keys(a.attrs), ...Object.keys(b.attrs)])) {
    if (a.attrs[attr] !== b.attrs[attr]) said.push(`${attr}: ${quote(a.attrs[attr])} → ${quote(b.attrs[attr])}`);
  }
  for (const key of new Set([...Object.keys(a.pf), ...Object.keys(b.pf)])) {
    const before = a.pf[key];
    const after = b.pf[key];
    if (!before) said.push(`${key.replace(/\+*$/, "")} added: ${after.line}`);
    else if (!after) said.push(`${key.replace(/\+*$/, "")} removed: ${before.line}`);
    else if (before.line !== after.line) {
      const names = new Set([...Object.keys(before.attrs), ...Object.keys(after.attrs)]);
      const differing = [...names].filter((n) => before.attrs[n] !== after.attrs[n]);
      if (differing.length) {
        for (const n of differing) {
          said.push(`${key.replace(/\+*$/, "")} ${n}: ${quote(before.attrs[n])} → ${quote(after.attrs[n])}`);
        }
      } else {
        said.push(`${key.replace(/\+*$/, "")}: ${before.line} → ${after.line}`);
      }
    }
  }
  return said;
}

/**
 * The differences from the older model to the newer (both parsed documents): a list of
 * {id, name, type, change: "added" | "removed" | "changed", details: [sentence]}, in the newer
 * model's order, removed elements last.
 */
export function compareModels(older, newer) {
  const before = modelElements(older);
  const after = modelElements(newer);
  const found = [];
  for (const [id, b] of after) {
    const a = before.get(id);
    if (!a) found.push({ id, name: b.name, type: b.type, change: "added", details: [] });
    else {
      const details = changes(a, b);
      if (details.length) found.push({ id, name: b.name || a.name, type: b.type, change: "changed", details });
    }
  }
  for (const [id, a] of before) {
    if (!after.has(id)) found.push({ id, name: a.name, type: a.type, change: "removed", details: [] });
  }
  return found;
}
