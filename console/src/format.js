// Durations, time limits and dates as a person reads them.

const UNITS = [
  ["Y", "year"], ["M", "month"], ["W", "week"], ["D", "day"],
];
const TIME_UNITS = [["H", "hour"], ["M", "minute"], ["S", "second"]];

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "P5D" + "working" -> "5 working days"; other ISO 8601 durations in words. */
export function duration(iso, calendar) {
  if (!iso) return "";
  const match = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso);
  if (!match) return iso;
  const numbers = match.slice(1).map((v) => (v === undefined ? null : Number(v)));
  const parts = [];
  UNITS.forEach(([, word], i) => {
    if (numbers[i]) {
      const label = word === "day" && calendar === "working" ? "working day" : word;
      parts.push(plural(numbers[i], label));
    }
  });
  TIME_UNITS.forEach(([, word], i) => {
    if (numbers[i + 4]) parts.push(plural(numbers[i + 4], word));
  });
  if (!parts.length) return iso;
  const text = parts.join(" ");
  const onlyDays = numbers.every((v, i) => !v || i === 3);
  return calendar === "working" && !onlyDays ? `${text} (working time)` : text;
}

export function limit(value) {
  if (!value) return "";
  return duration(value.duration, value.calendar);
}

const KIND = { promised: "Promised", statutory: "Statutory" };

/** A process's or power's time limits: "Promised: 30 working days; Statutory: …". */
export function limits(map) {
  return Object.entries(map || {})
    .filter(([, value]) => value && value.duration)
    .map(([kind, value]) => `${KIND[kind] || kind}: ${limit(value)}`)
    .join("; ");
}

const DATE = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
});

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : DATE.format(date);
}

/** A <time> element for an ISO date (or an empty string). */
export function timeEl(h, iso) {
  return iso ? h("time", { datetime: iso }, when(iso)) : "";
}

export function value(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export const STATUS = {
  in_progress: "In progress",
  completed: "Completed",
  ended: "Ended",
};
