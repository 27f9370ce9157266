// Prints the cache-tests catalogue as JSON: [{id, kind, depends_on, browser_only, ...}], run from the
// unpacked package dir.
import tests from './tests/index.mjs'
import surrogate from './tests/surrogate-control.mjs'

tests.push(surrogate)
const out = []
for (const suite of tests) {
  for (const test of suite.tests) {
    out.push({
      id: test.id,
      suite: suite.id,
      name: test.name,
      kind: test.kind || 'required',
      depends_on: test.depends_on || [],
      browser_only: test.browser_only === true,
      browser_skip: test.browser_skip === true,
      cdn_only: test.cdn_only === true
    })
  }
}
console.log(JSON.stringify(out))
