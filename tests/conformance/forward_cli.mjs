// The suite's CLI with every request sent through a forward proxy in absolute-form (the suite itself only
// talks to its base URL directly). Run from the unpacked package dir; env QOSLAB_PROXY=host:port.
import http from 'http'
import fetch from 'node-fetch'
import { runTests, getResults } from './client/runner.mjs'
import tests from './tests/index.mjs'
import surrogate from './tests/surrogate-control.mjs'

tests.push(surrogate)
const [proxyHost, proxyPort] = process.env.QOSLAB_PROXY.split(':')

class ForwardAgent extends http.Agent {
  addRequest (req, options) {
    req.path = `http://${options.host}:${options.port}${req.path}` // absolute-form request target
    return super.addRequest(req, { ...options, host: proxyHost, port: Number(proxyPort) })
  }
}
const agent = new ForwardAgent({ keepAlive: true })
const viaProxy = (url, init = {}) => fetch(url, { ...init, agent })

runTests(tests, viaProxy, false, process.env.npm_config_base)
  .then(() => console.log(JSON.stringify(getResults(), null, 2)))
  .catch(err => console.error(err))
