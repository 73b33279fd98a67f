// SafetyCheck's service worker for /app: the page and its assets open with no signal.
// The page is fetched from the network first (it shows the live visit) and kept as the copy to
// open offline; static files carry their content hash in the URL, so cache-first is safe.
// What the page queues while offline is sent by the page itself (static/js/app.js).
const CACHE = 'safetycheck-app-{{ version }}'
const PAGE = '/app'
const ASSETS = {{ urls | tojson }}

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting())
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('safetycheck-app-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  )
})

self.addEventListener('message', (event) => {
  // The page asks for its own copy to be kept once it has loaded (the first load came before
  // this worker was in charge), and for everything to be forgotten at sign-out.
  if (event.data === 'cache-page') {
    event.waitUntil(caches.open(CACHE).then((cache) => cache.add(PAGE)).catch(() => undefined))
  } else if (event.data === 'forget') {
    event.waitUntil(caches.delete(CACHE))
  }
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== self.location.origin) return
  if (url.pathname === PAGE && request.mode === 'navigate') {
    event.respondWith(
      fetch(request)
        .then((response) => {
          // Only the page itself: not the sign-in page a redirect may have led to.
          if (response.ok && !response.redirected) {
            const copy = response.clone()
            caches.open(CACHE).then((cache) => cache.put(PAGE, copy))
          }
          return response
        })
        .catch(() => caches.open(CACHE).then((cache) => cache.match(PAGE)).then((hit) => hit || Response.error()))
    )
    return
  }
  if (url.pathname.startsWith('/static/')) {
    event.respondWith(
      caches.open(CACHE).then((cache) => cache.match(request).then((hit) => hit || fetch(request).then((response) => {
        if (response.ok) cache.put(request, response.clone())
        return response
      })))
    )
  }
})
