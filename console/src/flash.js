// A message carried to the next page (for example "Task completed" on the inbox).
let pending = null;

export function flash(message) {
  pending = message;
}

export function takeFlash() {
  const message = pending;
  pending = null;
  return message;
}
