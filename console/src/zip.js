// Reads the model files of a zip archive in the browser (stored or deflated entries, as the API
// accepts: services/bundles.py), so a bundle's problems can be drawn on the file they are in.
// Deflate is undone by the browser's own DecompressionStream; nothing leaves the page.
const MODEL = /\.(bpmn|bpmn20\.xml|xml|dmn)$/i;
const MAX_ENTRY = 10 * 1024 * 1024; // larger entries are refused by the API anyway

/** Inflate a deflated entry, stopping past MAX_ENTRY bytes (a zip bomb stays on the disk). */
async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  const reader = stream.getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_ENTRY) {
      await reader.cancel();
      throw new Error("an entry larger than the upload limit");
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The model files in `file` (a zip): [{name, text}] with the API's entry names. */
export async function readZip(file) {
  const data = new Uint8Array(await file.arrayBuffer());
  const view = new DataView(data.buffer);
  let end = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - 65535); i -= 1) {
    if (view.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error("not a zip archive");
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const decoder = new TextDecoder();
  const found = [];
  for (let n = 0; n < count; n += 1) {
    if (view.getUint32(at, true) !== 0x02014b50) throw new Error("a damaged zip archive");
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const unpacked = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = decoder.decode(data.subarray(at + 46, at + 46 + nameLength)).replace(/\\/g, "/");
    at += 46 + nameLength + extraLength + commentLength;
    const base = name.split("/").pop();
    if (name.endsWith("/") || name.startsWith("__MACOSX/") || base.startsWith(".") || !MODEL.test(name)) continue;
    if (flags & 1 || (method !== 0 && method !== 8) || size > MAX_ENTRY || unpacked > MAX_ENTRY) continue;
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const raw = data.subarray(start, start + size);
    let bytes;
    try {
      bytes = method === 8 ? await inflate(raw) : raw;
    } catch {
      continue; // not drawn; the API's problems still list it
    }
    found.push({ name, text: decoder.decode(bytes) });
  }
  return found;
}
