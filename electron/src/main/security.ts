/**
 * The renderer's origin and Content-Security-Policy. No Electron here: main serves the
 * renderer with these, and the end-to-end tests' static server sends the same header.
 */

/** The renderer is served from this origin (a privileged custom scheme, not file://). */
export const APP_ORIGIN = "app://enttok";

/**
 * Scripts and styles only from the app itself; network only to the host on loopback; no
 * plugins, frames, forms or <base>.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src http://127.0.0.1:* ws://127.0.0.1:*",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Only https URLs leave the app, and only for the system browser (OAuth start pages): a
 * compromised renderer must not reach file:, custom schemes or plain-http pages through it.
 */
export function isExternalUrl(url: unknown): url is string {
  if (typeof url !== "string") return false;
  try {
    return new URL(url).protocol === "https:";
  } catch {
    return false;
  }
}

/** The URL itself, or an error naming why it may not be opened. */
export function checkedExternalUrl(url: unknown): string {
  if (!isExternalUrl(url)) throw new Error("only https URLs are opened in the system browser");
  return url;
}
