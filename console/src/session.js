// The signed-in person's API token, kept in this tab's sessionStorage (docs/console.md, "Signing
// in"): sent only as `Authorization: Bearer` on the console's own fetches to /v1/, never as a
// cookie, so no other site can make the browser use it (no CSRF), and gone when the tab closes.
const KEY = "powerflow.token";

export function token() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: nobody is signed in
  }
}

export function signIn(value) {
  sessionStorage.setItem(KEY, value);
}

export function signOut() {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
