// The phone page's service worker, served as /inventory/sw.js (app/web/phone.py) so that it
// controls the pages under /inventory/. It keeps the phone page and its assets in the Cache API
// so the page reloads with no signal (a basement archive); the reads themselves wait in the
// page's IndexedDB queue (static/phone.js), never here.
//
// Network first: with a network the page is always the server's current one (its CSRF token,
// the campaign as it is now) and the copy is refreshed; without one, or when the network does
// not answer in NETWORK_WAIT_MS (one bar of signal), the copy answers. The pages carry
// "Cache-Control: no-store": that keeps them out of the browser's HTTP cache, not out of the
// Cache API, which stores what it is given. Bump VERSION whenever an asset below changes.
"use strict";
const VERSION = "mediatrack-phone-1";
const ASSETS = [
  "/static/app.css",
  "/static/phone.css",
  "/static/app.js",
  "/static/phone.js",
  "/static/vendor/htmx-2.0.11/htmx.min.js",
  "/static/vendor/htmx-ext-sse-2.2.4/sse.min.js",
];
const PAGE = /^\/inventory\/\d+\/phone$/;
const NETWORK_WAIT_MS = 5000;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(VERSION);
    await cache.addAll(ASSETS);
    // The page that registered this worker is not under its control yet: keep it now, so that
    // it reloads offline even if the network goes before its next load.
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      const url = new URL(client.url);
      if (PAGE.test(url.pathname)) { await keep(cache, url.pathname); }
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== VERSION) { await caches.delete(name); }
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (PAGE.test(url.pathname) || ASSETS.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
});

// A page or asset as the network gives it (a copy kept when it is a plain 200), else the copy.
async function networkFirst(request, key) {
  const cache = await caches.open(VERSION);
  let timer;
  const slow = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error("the network did not answer")), NETWORK_WAIT_MS);
  });
  try {
    // The request as it came (a navigation's own mode and redirect handling); raced, not
    // aborted: an init with a signal would turn a navigation into another kind of request.
    const response = await Promise.race([fetch(request), slow]);
    // Not a redirect to the log-in page, nor an error page: those are no copy of the page.
    if (response.status === 200 && !response.redirected) {
      await cache.put(key, response.clone());
    }
    return response;
  } catch (error) {
    const copy = await cache.match(key, { ignoreVary: true });
    if (copy) { return copy; }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function keep(cache, path) {
  try {
    const response = await fetch(path, { credentials: "same-origin" });
    if (response.status === 200 && !response.redirected) { await cache.put(path, response); }
  } catch (error) {
    // Offline while installing: the page is kept at its next load instead.
  }
}
