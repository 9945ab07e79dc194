// What a page leaves running (event streams, timers) is stopped when the person navigates away.
const stops = [];

/** Run `stop` when the page is left. */
export function onLeave(stop) {
  stops.push(stop);
}

/** Stop everything the previous page left running (the router calls this on each navigation). */
export function leave() {
  while (stops.length) {
    try {
      stops.pop()();
    } catch {
      // already stopped
    }
  }
}

/** A function that runs `fn` once, `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  const call = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
  onLeave(() => clearTimeout(timer));
  return call;
}
