// Preloaded into the cache-tests origin so it listens on 127.0.0.1 only (never on every interface).
const http = require('http')
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (port, ...rest) {
  if (typeof port === 'number' || typeof port === 'string') {
    return listen.call(this, Number(port), '127.0.0.1', ...rest)
  }
  return listen.call(this, port, ...rest)
}
