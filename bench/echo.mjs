// The benchmark's backend: answers every request 200 with a short body, on 127.0.0.1.
//
// Environment: ECHO_PORT (default 0: a free port chosen by the OS).
// A path containing `/__headers` answers the request headers as JSON instead (used once
// per gateway to see what the gateway sends upstream, e.g. `Authorization`).
// Prints exactly one line `READY http://127.0.0.1:PORT` on stdout once listening.

import * as http from 'node:http';

const BODY = Buffer.from('ok\n');
const port = Number(process.env.ECHO_PORT || 0);

const server = http.createServer((req, res) => {
  if (req.url.includes('/__headers')) {
    const body = JSON.stringify(req.headers);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  // Drain a request body, if any, before answering.
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.on('error', (err) => {
  console.error(`[bench/echo.mjs] cannot listen: ${err.message}`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`[bench/echo.mjs] exiting on ${signal}`);
    process.exit(0);
  });
}
process.stdout.on('error', () => {});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${server.address().port}\n`);
});
