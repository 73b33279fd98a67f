// The practitioner's phone page (/app): countdown, press-and-hold Panic, location with consent,
// the offline queue and the status poll. The page works without this file (plain form posts);
// this adds what needs a script. Loaded from a file because the Content-Security-Policy forbids
// inline scripts and on* attributes.
(function () {
  'use strict'
  const root = document.querySelector('[data-app]')
  if (!root) return

  const HOLD_MS = 2000 // Panic fires after this long held down; never more than 3 s
  const POLL_MS = 5000
  const user = root.dataset.user || 'me'
  const QUEUE_KEY = 'safetycheck.queue.' + user
  const serverOffset = Date.parse(root.dataset.serverNow) - Date.now()
  const serverNow = () => Date.now() + serverOffset
  const visitId = root.dataset.visitId ? Number(root.dataset.visitId) : null
  let dueAt = root.dataset.dueAt ? Date.parse(root.dataset.dueAt) : null
  const $ = (selector) => root.querySelector(selector)

  function csrfToken () {
    const field = document.querySelector('input[name="csrf_token"]')
    return field ? field.value : ''
  }

  function newKey () {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID()
    return String(Date.now()) + '-' + Math.random().toString(16).slice(2)
  }

  function clock (ms) {
    const d = new Date(ms)
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0')
  }

  // --- the countdown ---------------------------------------------------------------------------
  const countdown = $('[data-countdown-time]')
  const countdownLabel = $('[data-countdown-label]')
  function tick () {
    if (!countdown || dueAt === null) return
    let left = Math.round((dueAt - serverNow()) / 1000)
    const late = left < 0
    left = Math.abs(left)
    const h = Math.floor(left / 3600)
    const m = Math.floor((left % 3600) / 60)
    const s = left % 60
    countdown.textContent = (h ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + String(s).padStart(2, '0')
    countdownLabel.textContent = late ? 'Overdue by' : 'Due back in'
    root.classList.toggle('sc-app--late', late)
  }
  tick()
  setInterval(tick, 1000)

  // --- the queue: requests kept on the phone until they are delivered --------------------------
  const banner = $('[data-queue-banner]')
  const offlineNote = $('[data-offline]')
  const LABELS = { checkout: 'Check out', extend: 'Extend', panic: 'Panic alarm', report: 'Incident report' }

  function load () {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || '[]') } catch (e) { return [] }
  }
  function save (items) { localStorage.setItem(QUEUE_KEY, JSON.stringify(items)) }

  function showQueue () {
    const items = load()
    banner.hidden = items.length === 0
    $('[data-queue-count]').textContent = items.length === 1 ? 'One request' : items.length + ' requests'
    const list = $('[data-queue-list]')
    list.replaceChildren(...items.map((item) => {
      const li = document.createElement('li')
      li.textContent = item.label + ': queued at ' + clock(item.made_at)
      return li
    }))
    offlineNote.hidden = navigator.onLine
  }

  function notice (message) {
    let box = $('[data-app-notice]')
    if (!box) {
      box = document.createElement('div')
      box.className = 'sc-app__notice govuk-body'
      box.setAttribute('role', 'alert')
      box.dataset.appNotice = ''
      root.prepend(box)
    }
    box.textContent = message
  }

  function enqueue (action, body, label) {
    const items = load()
    items.push({ key: newKey(), action, body, label: label || LABELS[action], made_at: serverNow() })
    save(items)
    showQueue()
    banner.scrollIntoView({ block: 'start' })
    flush()
  }

  let flushing = false
  async function flush () {
    if (flushing) return
    flushing = true
    let delivered = false
    try {
      for (;;) {
        const [item] = load()
        if (!item) break
        let response
        try {
          response = await fetch(root.dataset.queueUrl + item.action, {
            method: 'POST',
            credentials: 'same-origin',
            headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken(), 'Idempotency-Key': item.key },
            body: JSON.stringify(item.body)
          })
        } catch (e) {
          break // no signal: keep it, try again when the connection returns
        }
        if (response.status === 401 || response.status === 400) {
          notice('Sign in again to send what is waiting on this phone.')
          break
        }
        save(load().filter((other) => other.key !== item.key))
        if (response.ok) {
          delivered = true
        } else {
          const answer = await response.json().catch(() => ({}))
          notice((LABELS[item.action] || 'Request') + ' was not accepted: ' + (answer.message || response.status))
        }
      }
    } finally {
      flushing = false
      showQueue()
    }
    if (delivered && load().length === 0) window.location.assign(root.dataset.homeUrl)
  }

  window.addEventListener('online', () => { showQueue(); flush() })
  window.addEventListener('offline', showQueue)
  setInterval(() => { if (navigator.onLine && load().length) flush() }, 10000)
  showQueue()
  if (load().length) flush()

  // --- forms that queue: check out, extend, reports ---------------------------------------------
  function intercept (selector, build) {
    const form = $(selector)
    if (!form) return
    form.addEventListener('submit', (event) => {
      const built = build(form, event.submitter)
      if (!built) return // let the server answer (and explain) as a plain form post
      event.preventDefault()
      enqueue(built.action, built.body, built.label)
    })
  }

  intercept('[data-check-out-form]', (form) => {
    const pin = form.querySelector('input[name="pin"]')
    const body = { visit_id: visitId }
    if (pin && pin.value) body.pin = pin.value
    if (pin) pin.value = ''
    return { action: 'checkout', body }
  })

  intercept('[data-extend-form]', (form, submitter) => {
    const typed = form.querySelector('input[name="minutes"]').value
    const minutes = submitter && submitter.name === 'quick' ? Number(submitter.value) : Number(typed)
    if (!Number.isInteger(minutes) || minutes < 1) return null
    return { action: 'extend', body: { visit_id: visitId, minutes }, label: 'Extend by ' + minutes + ' minutes' }
  })

  intercept('[data-near-miss-form]', (form, submitter) => {
    if (!submitter) return null
    return { action: 'report', body: { near_miss_kind: submitter.value }, label: 'Near miss: ' + submitter.textContent.trim() }
  })

  intercept('[data-report-form]', (form) => {
    const value = (name) => {
      const field = form.querySelector('[name="' + name + '"]:checked') || form.querySelector('select[name="' + name + '"], textarea[name="' + name + '"]')
      return field ? field.value : ''
    }
    const body = {
      category: value('category'),
      description: value('description').trim(),
      near_miss: value('near_miss') === 'yes',
      harmed: value('harmed') === 'yes'
    }
    if (!body.category || !body.description || !value('near_miss') || !value('harmed')) return null
    const time = form.querySelector('input[name="occurred_at"]').value
    const made = new Date(serverNow())
    if (time) {
      const [h, m] = time.split(':').map(Number)
      made.setHours(h, m, 0, 0)
      if (made.getTime() > serverNow()) made.setDate(made.getDate() - 1)
    }
    body.occurred_at = made.toISOString()
    return { action: 'report', body }
  })

  // --- location: only during a visit, only with consent ---------------------------------------
  function position (timeout) {
    return new Promise((resolve) => {
      if (!navigator.geolocation) return resolve(null)
      navigator.geolocation.getCurrentPosition(
        (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy }),
        () => resolve(null),
        { enableHighAccuracy: true, timeout, maximumAge: 60000 }
      )
    })
  }

  const checkIn = $('[data-check-in-form]')
  if (checkIn) {
    checkIn.addEventListener('submit', (event) => {
      const consent = checkIn.querySelector('input[name="share_location"]')
      const lat = checkIn.querySelector('[data-lat]')
      if (!consent || !consent.checked || !lat || lat.value) return
      event.preventDefault()
      const button = event.submitter
      if (button) button.disabled = true
      position(8000).then((p) => {
        if (p) {
          lat.value = p.lat
          checkIn.querySelector('[data-lon]').value = p.lon
          checkIn.querySelector('[data-accuracy]').value = p.accuracy_m
        }
        checkIn.submit()
      })
    })
  }

  // --- Panic: press and hold --------------------------------------------------------------------
  const panicButton = $('[data-panic-button]')
  const fill = $('[data-panic-fill]')
  const hint = $('[data-panic-hint]')
  const raised = $('[data-panic-status]')
  let holdStart = null
  let frame = null

  function setProgress (fraction) {
    fill.style.setProperty('--hold', String(fraction)) // CSSOM, which the CSP allows
  }
  function step () {
    const fraction = Math.min(1, (performance.now() - holdStart) / HOLD_MS)
    setProgress(fraction)
    if (fraction >= 1) { finish(); return }
    frame = requestAnimationFrame(step)
  }
  function start (event) {
    if (holdStart !== null) return
    holdStart = performance.now()
    panicButton.classList.add('sc-panic__button--holding')
    hint.textContent = 'Keep holding…'
    frame = requestAnimationFrame(step)
    if (event && event.pointerId !== undefined && panicButton.setPointerCapture) panicButton.setPointerCapture(event.pointerId)
  }
  function cancel () {
    if (holdStart === null) return
    holdStart = null
    cancelAnimationFrame(frame)
    setProgress(0)
    panicButton.classList.remove('sc-panic__button--holding')
    hint.textContent = 'Not sent. Press and hold for 2 seconds to alert your managers.'
  }
  function finish () {
    holdStart = null
    panicButton.classList.remove('sc-panic__button--holding')
    setProgress(0)
    hint.textContent = 'Alarm sent. Hold again to send another.'
    raised.hidden = false
    raised.scrollIntoView({ block: 'start' })
    raised.querySelector('[data-panic-detail]').textContent = navigator.onLine
      ? 'Your alarm is raised and your managers are being texted. This page shows when one of them takes charge.'
      : 'Your alarm is waiting for a signal. Text HELP if you can.'
    const body = visitId ? { visit_id: visitId } : {}
    enqueue('panic', body)
    if (visitId && root.dataset.locationShared === 'true') {
      // Sent after the alarm, never holding it up: a second press joins the open alarm.
      position(10000).then((p) => { if (p) enqueue('panic', { visit_id: visitId, location: p }, 'Your position') })
    }
  }

  if (panicButton) {
    panicButton.addEventListener('click', (event) => event.preventDefault()) // a tap does nothing
    panicButton.addEventListener('contextmenu', (event) => event.preventDefault())
    panicButton.addEventListener('pointerdown', (event) => { event.preventDefault(); start(event) })
    for (const name of ['pointerup', 'pointercancel', 'lostpointercapture']) panicButton.addEventListener(name, cancel)
    panicButton.addEventListener('keydown', (event) => {
      if (event.key !== ' ' && event.key !== 'Enter') return
      event.preventDefault()
      if (!event.repeat) start()
    })
    panicButton.addEventListener('keyup', (event) => {
      if (event.key === ' ' || event.key === 'Enter') cancel()
    })
    panicButton.addEventListener('blur', cancel)
  }

  // --- the status poll: reminders, who took charge, a visit ended by text -----------------------
  async function poll () {
    if (!navigator.onLine || flushing || load().length) return
    let data
    try {
      const response = await fetch(root.dataset.statusUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      if (!response.ok) return
      data = await response.json()
    } catch (e) { return }
    const shownVisit = visitId
    const serverVisit = data.visit ? data.visit.id : null
    // A visit begun or ended elsewhere (a text, another phone): the main page follows it; the
    // report form and the check-in confirmation are left alone.
    const onMainPage = window.location.pathname === root.dataset.homeUrl
    if (onMainPage && shownVisit !== serverVisit) { window.location.assign(root.dataset.homeUrl); return }
    if (data.visit) {
      dueAt = Date.parse(data.visit.due_at)
      const due = $('[data-due-time]')
      if (due) due.textContent = data.due_time
    }
    const reminder = $('[data-reminder]')
    if (reminder && data.reminder) {
      reminder.hidden = false
      reminder.querySelector('[data-reminder-text]').textContent = data.reminder
    }
    if (raised && data.panic) {
      raised.hidden = false
      if (data.panic.taken_by) {
        raised.querySelector('[data-panic-detail]').textContent = data.panic.taken_by + ' has taken charge (' + data.panic.taken_at + ').'
      }
    }
  }
  setInterval(poll, POLL_MS)

  // --- installable, and opens with no signal -----------------------------------------------------
  if ('serviceWorker' in navigator && root.dataset.swUrl) {
    navigator.serviceWorker.register(root.dataset.swUrl, { scope: root.dataset.homeUrl })
      .then(() => navigator.serviceWorker.ready)
      .then((registration) => { if (registration.active) registration.active.postMessage('cache-page') })
      .catch(() => undefined)
    const signOut = document.querySelector('.sc-account__signout')
    if (signOut) {
      signOut.addEventListener('submit', () => {
        // The kept copy of the page is this person's: nobody else should open it offline.
        if (navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage('forget')
      })
    }
  }
})()
