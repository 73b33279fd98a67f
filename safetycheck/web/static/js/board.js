// The board: after each poll that changed something, set the tab's title from the fragment
// ("(1) New alarm – Board – SafetyCheck") so a manager working in another tab notices, and
// announce new alarms to screen readers. The fragment itself comes from the server (htmx).
(function () {
  const live = document.getElementById('board-live')
  const announcer = document.getElementById('board-announcer')
  if (!live) return

  const idsIn = (board) => new Set((board?.dataset.alarmIds || '').split(',').filter(Boolean))
  let known = idsIn(live.querySelector('.sc-board'))

  document.body.addEventListener('htmx:afterSwap', (event) => {
    if (event.target !== live) return
    const board = live.querySelector('.sc-board')
    if (!board) return
    if (board.dataset.title) document.title = board.dataset.title
    const now = idsIn(board)
    const fresh = [...now].filter((id) => !known.has(id))
    known = now
    if (fresh.length && announcer) {
      const names = fresh.map((id) => {
        const heading = board.querySelector(`[data-alarm-id="${id}"] h3`)
        return heading ? heading.textContent.replace(/\s+/g, ' ').trim() : ''
      })
      announcer.textContent = `New alarm: ${names.join('; ')}`
    }
  })
})()
