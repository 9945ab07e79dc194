// Builds the console into the Python package (src/powerflow/console/static/):
// the entry script, the chunks it loads (bpmn-js only when a page draws a chart: chart.js) and one
// stylesheet, all with content-hashed names, and index.html naming the entry, its stylesheet and
// the chunks it imports at once (modulepreload).
// Run by hatch_build.py on install; by hand: `npm ci && npm run build` in this folder.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "powerflow", "console", "static");
const assets = join(out, "assets");

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  outdir: assets,
  splitting: true,
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const [entry, built] = Object.entries(result.metafile.outputs).find(
  ([path, output]) => path.endsWith(".js") && output.entryPoint,
) || [];
const script = entry && basename(entry);
const style = built && built.cssBundle && basename(built.cssBundle);
if (!script || !style) throw new Error(`the build made no script or stylesheet: ${outputs}`);
// the chunks the entry imports statically, fetched beside it rather than after it
const preload = built.imports
  .filter((i) => i.kind === "import-statement" && i.path.endsWith(".js"))
  .map((i) => `<link rel="modulepreload" href="/console/assets/${basename(i.path)}">`);

// Compressed copies of the script and stylesheet, served to browsers that accept gzip.
for (const name of outputs.filter((n) => n.endsWith(".js") || n.endsWith(".css"))) {
  const file = join(assets, name);
  writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
}

const template = readFileSync(join(here, "src", "index.html"), "utf8");
const html = template
  .replace("%SCRIPT%", `/console/assets/${script}`)
  .replace("%STYLE%", `/console/assets/${style}`)
  .replace("%PRELOAD%", preload.join("\n  "));
writeFileSync(join(out, "index.html"), html);

// What the server may serve, and a stamp of the sources the bundle was built from.
const digest = createHash("sha256").update(html).digest("hex").slice(0, 16);
writeFileSync(
  join(out, "manifest.json"),
  JSON.stringify({ index: "index.html", assets: outputs.sort(), digest }, null, 1) + "\n",
);
console.log(`console built: ${outputs.length} assets in ${out}`);
