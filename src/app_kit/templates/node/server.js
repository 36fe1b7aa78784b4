// Serves the app: `npm start` (or `nexus app dev`, which reads nexus.dev.toml).
import { createServer } from 'node:http';

import { configFromEnv, createApp } from './app.js';

const config = configFromEnv();
const handle = createApp(config);
const MAX_BODY_BYTES = 1024 * 1024;

createServer((request, response) => {
  const chunks = [];
  let size = 0;
  request.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) request.destroy();
    else chunks.push(chunk);
  });
  request.on('end', async () => {
    try {
      const [status, type, body, headers = {}] = await handle(request, Buffer.concat(chunks).toString('utf8'));
      response.writeHead(status, { 'content-type': type, ...headers });
      response.end(body);
    } catch (e) {
      console.error(e);
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('internal error');
    }
  });
}).listen(config.port, '127.0.0.1', function () {
  console.log(`__NAME__ listening on http://127.0.0.1:${this.address().port}/graphql`);
});
