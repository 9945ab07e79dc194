// The console's entry: a hash router over the public pages and, for a signed-in person, the
// inbox and task pages.
// bpmn-js's stylesheets sit in the main stylesheet; its script is loaded on demand (chart.js)
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "./style.css";
import { clear, h, notice } from "./dom.js";
import { sentence } from "./api.js";
import { forget, showAccount } from "./account.js";
import { signOut } from "./session.js";
import { loginPage } from "./pages/login.js";
import { inboxPage } from "./pages/inbox.js";
import { taskPage } from "./pages/task.js";
import { powersPage } from "./pages/powers.js";
import { processPage } from "./pages/process.js";
import { progressPage } from "./pages/progress.js";
import { noticesPage, noticePage } from "./pages/notices.js";
import { designerPage, versionPage } from "./pages/designer.js";
import { monitorPage } from "./pages/monitor.js";
import { instancePage } from "./pages/instance.js";
import { casePage, casesPage } from "./pages/cases.js";
import { anomaliesPage, groupStatsPage, statsPage, statsListPage } from "./pages/stats.js";
import { personPage } from "./pages/person.js";
import { leave } from "./live.js";

const main = document.getElementById("main");
const announcer = document.getElementById("announcer");

const ROUTES = [
  [/^\/?$/, "powers", () => powersPage()],
  [/^\/processes\/([^/]+)$/, "powers", (m) => processPage(decodeURIComponent(m[1]))],
  [/^\/progress$/, "progress", () => progressPage()],
  [/^\/progress\/([^/]+)\/(.+)$/, "progress", (m) =>
    progressPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^\/notices$/, "notices", (_, q) => noticesPage(q.get("closed") === "true")],
  [/^\/notices\/(\d+)$/, "notices", (m) => noticePage(m[1])],
  [/^\/login$/, "login", (_, q) => loginPage(q)],
  [/^\/inbox$/, "inbox", () => inboxPage()],
  [/^\/tasks\/([^/]+)$/, "inbox", (m) => taskPage(decodeURIComponent(m[1]))],
  [/^\/designer$/, "designer", () => designerPage()],
  [/^\/designer\/([^/]+)\/([^/]+)$/, "designer", (m, q) =>
    versionPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]), q.get("compare"))],
  [/^\/monitor$/, "monitor", () => monitorPage()],
  [/^\/instances\/([^/]+)$/, "monitor", (m) => instancePage(decodeURIComponent(m[1]))],
  [/^\/cases$/, "monitor", (_, q) => casesPage(q.get("state") || "open")],
  [/^\/cases\/(\d+)$/, "monitor", (m) => casePage(m[1])],
  [/^\/stats$/, "monitor", (_, q) => statsListPage(q)],
  [/^\/stats\/roles$/, "monitor", (_, q) => groupStatsPage("roles", q)],
  [/^\/stats\/people$/, "monitor", (_, q) => groupStatsPage("people", q)],
  [/^\/stats\/anomalies$/, "monitor", (_, q) => anomaliesPage(q)],
  [/^\/stats\/([^/]+)$/, "monitor", (m, q) => statsPage(decodeURIComponent(m[1]), q)],
  [/^\/people\/([^/]+)$/, "monitor", (m, q) => personPage(decodeURIComponent(m[1]), q)],
];

const account = document.getElementById("account");

let generation = 0;

async function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  const mine = ++generation;
  leave(); // the previous page's streams and timers
  let section = null;
  let render = null;
  for (const [pattern, name, page] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      section = name;
      render = () => page(match, params);
      break;
    }
  }
  for (const link of document.querySelectorAll("nav a[data-section]")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.setAttribute("aria-busy", "true");
  await showAccount(account, section);
  let content;
  try {
    content = render
      ? await render()
      : { title: "Page not found", nodes: [h("h1", { tabindex: "-1" }, "Page not found"),
          h("p", {}, "No page has this address. ", h("a", { href: "#/" }, "Go to the power list"), ".")] };
  } catch (error) {
    const nodes = [h("h1", { tabindex: "-1" }, "Cannot show this page"), notice("error", sentence(error))];
    if (error && error.status === 401) {
      // the token was replaced or the person disabled: sign out, offer to sign in again
      signOut();
      forget();
      await showAccount(account, section);
      nodes.push(h("p", {}, h("a", { href: `#/login?next=${encodeURIComponent(location.hash)}` }, "Sign in again"), "."));
    }
    content = { title: "Cannot show this page", nodes };
  }
  if (mine !== generation) return; // a later navigation won
  clear(main).append(...content.nodes.filter((node) => node !== null && node !== undefined));
  main.removeAttribute("aria-busy");
  document.title = `${content.title} — powerflow`;
  announcer.textContent = content.title;
  // the focus moves to the new page at once, not after its chart or stream is set up (a
  // keyboard user may start reading while bpmn-js loads)
  if (!initial) {
    const heading = main.querySelector("h1");
    (heading || main).focus({ preventScroll: false });
  }
  initial = false;
  if (content.after) await content.after();
}

let initial = true;
window.addEventListener("hashchange", route);
// The skip link moves focus to the content without touching the hash the pages live in.
document.querySelector("a.skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
route();
