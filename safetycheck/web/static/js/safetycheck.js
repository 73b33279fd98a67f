// Every page: start GOV.UK Frontend's components (error summary focus, buttons, navigation).
// Loaded as a module from a file (never inline) because the Content-Security-Policy forbids
// inline scripts. GOV.UK Frontend's own URL carries its content hash; the layout puts it in
// <meta name="safetycheck-govuk-frontend">.
const meta = document.querySelector('meta[name="safetycheck-govuk-frontend"]')
if (meta && document.body.classList.contains('govuk-frontend-supported')) {
  import(meta.content).then(({ initAll }) => initAll())
}
