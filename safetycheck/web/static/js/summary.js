// Draws the summary's charts with Chart.js from the page's JSON block (#summary-charts).
// The numbers are also in the table after each chart: that table is what screen readers and
// printers use, so a chart that fails to draw loses nothing.
(function () {
  'use strict'

  // GOV.UK colours, in an order where neighbours differ in lightness too (not by hue alone).
  var COLOURS = ['#1d70b8', '#f47738', '#00703c', '#912b88', '#003078', '#d4351c', '#5694ca',
    '#85994b', '#6f72af', '#b58840', '#28a197', '#d53880', '#505a5f', '#0b0c0c']

  function draw (canvas, spec) {
    var stacked = Boolean(spec.stacked)
    var horizontal = Boolean(spec.horizontal)
    var many = spec.datasets.length > 1
    var datasets = spec.datasets.map(function (set, i) {
      return {
        label: set.label,
        data: set.data,
        backgroundColor: COLOURS[i % COLOURS.length],
        borderColor: '#0b0c0c',
        borderWidth: 0
      }
    })
    var valueAxis = { beginAtZero: true, stacked: stacked, ticks: { precision: 0 }, title: { display: true, text: spec.unit } }
    var labelAxis = { stacked: stacked, ticks: { autoSkip: false } }
    // A horizontal chart needs a row per label: grow the box to fit, so long addresses stay legible.
    if (horizontal) {
      canvas.parentNode.style.height = Math.max(160, 48 + spec.labels.length * 36) + 'px'
    }
    return new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false, // drawn at once: printable, and no motion for those who avoid it
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? 'y' : 'x',
        plugins: { legend: { display: many, position: 'bottom' } },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis }
      }
    })
  }

  function start () {
    var block = document.getElementById('summary-charts')
    if (!block || !window.Chart) return
    var specs = JSON.parse(block.textContent)
    // The page's own font (set on GOV.UK's text classes, not on <body>), at a readable size.
    var text = document.querySelector('.govuk-body') || document.body
    window.Chart.defaults.font.family = getComputedStyle(text).fontFamily
    window.Chart.defaults.font.size = 14
    window.Chart.defaults.color = '#0b0c0c'
    document.querySelectorAll('canvas[data-chart]').forEach(function (canvas) {
      var spec = specs[canvas.getAttribute('data-chart')]
      if (spec) draw(canvas, spec)
    })
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start)
  } else {
    start()
  }
})()
