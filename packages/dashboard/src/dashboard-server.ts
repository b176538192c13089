/**
 * The HTTP server a job host (or an AM) runs to be seen: the dashboard page, its chart code
 * (uPlot, served from node_modules: nothing is fetched from the internet), a server-sent-events
 * stream of the {@link JobView}, and `/metrics` for Prometheus. Every route but the static chart
 * code needs a token: the read-only token this server makes (it is in the printed URL), or any
 * other token given in `acceptTokens` (the job token), as `Authorization: Bearer` or `?token=`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { JobView } from './job-view.js';
import { dashboardPage } from './page.js';
import { createMetricsRegistry } from './prometheus.js';

export interface DashboardServerOptions {
  view: JobView;
  /** Interface to listen on. Default 127.0.0.1 (loopback). */
  host?: string | undefined;
  /** Port; 0 (the default) picks a free one. */
  port?: number | undefined;
  /** The read-only token the printed URL carries; a random one when absent. */
  readOnlyToken?: string | undefined;
  /** Further tokens that may read (e.g. the job token). */
  acceptTokens?: readonly string[] | undefined;
  /** The page's title. Default `millrace`. */
  title?: string | undefined;
  /** How often the event stream sends the view while nothing changes. Default 1000 ms. */
  keepAliveMs?: number | undefined;
}

export interface DashboardServer {
  /** The page, with the read-only token: open it as it is. */
  readonly url: string;
  /** `/metrics` (without a token: scrapers send it as a bearer header). */
  readonly metricsUrl: string;
  readonly readOnlyToken: string;
  close(): Promise<void>;
}

/** How long `close` waits for open pages to receive the last change. */
const closeFlushMs = 2_000;

const require = createRequire(import.meta.url);
const uplotDirectory = require.resolve('uplot/package.json').replace(/package\.json$/, '');

export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const { view } = options;
  const host = options.host ?? '127.0.0.1';
  const readOnlyToken = options.readOnlyToken ?? randomBytes(16).toString('hex');
  const tokens = [readOnlyToken, ...(options.acceptTokens ?? [])].map((token) => Buffer.from(token));
  const registry = createMetricsRegistry(view);
  const keepAliveMs = options.keepAliveMs ?? 1_000;
  const uplotScript = readFileSync(`${uplotDirectory}dist/uPlot.iife.min.js`, 'utf8');
  const uplotStyle = readFileSync(`${uplotDirectory}dist/uPlot.min.css`, 'utf8');
  const page = dashboardPage({ title: options.title ?? 'millrace' });

  const authorized = (header: string | undefined, query: string | undefined): boolean => {
    const given = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : query;
    if (!given) return false;
    const bytes = Buffer.from(given);
    return tokens.some((token) => token.length === bytes.length && timingSafeEqual(token, bytes));
  };

  const app = new Hono();
  app.get('/assets/uplot.js', (c) =>
    c.body(uplotScript, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'max-age=3600',
    }),
  );
  app.get('/assets/uplot.css', (c) =>
    c.body(uplotStyle, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }),
  );
  app.use('*', async (c, next) => {
    if (authorized(c.req.header('authorization'), c.req.query('token'))) return next();
    return c.text(
      '401 unauthorized: pass the dashboard token as "Authorization: Bearer TOKEN" or ?token=TOKEN (it is in the URL millrace printed)\n',
      401,
      { 'www-authenticate': 'Bearer realm="millrace"' },
    );
  });
  app.get('/', (c) => c.html(page));
  app.get('/api/state', (c) => c.json(view.snapshot()));
  app.get('/metrics', async (c) =>
    c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }),
  );
  /** The view version each open event stream last sent. */
  const streams = new Map<object, number>();
  app.get('/events', (c) =>
    streamSSE(c, async (stream) => {
      const key = {};
      let changed = true;
      let wake: (() => void) | undefined;
      const unsubscribe = view.onChange(() => {
        changed = true;
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      try {
        while (!stream.aborted && !stream.closed) {
          changed = false;
          const version = view.version;
          await stream.writeSSE({ event: 'state', data: JSON.stringify(view.snapshot()) });
          streams.set(key, version);
          // At most four updates a second, at least one a second.
          await stream.sleep(250);
          if (!changed) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, keepAliveMs - 250);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = undefined;
          }
        }
      } finally {
        unsubscribe();
        streams.delete(key);
      }
    }),
  );

  const server = createAdaptorServer({ fetch: app.fetch, hostname: host, port: options.port ?? 0 });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) =>
      reject(new Error(`the dashboard cannot listen on ${host}:${options.port ?? 0}: ${error.message}`));
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  const sockets = new Set<import('node:stream').Duplex>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return {
    url: `${origin}/?token=${readOnlyToken}`,
    metricsUrl: `${origin}/metrics`,
    readOnlyToken,
    close: async () => {
      // Open pages get the final state (the outcome) before the server goes, within a bound.
      const deadline = Date.now() + closeFlushMs;
      while (Date.now() < deadline && [...streams.values()].some((sent) => sent < view.version))
        await new Promise((resolve) => setTimeout(resolve, 50));
      await new Promise<void>((resolve) => {
        // Event streams never end on their own: cut them, then let the server close.
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
    },
  };
}

/** Parses `[HOST:]PORT` (`8080`, `0.0.0.0:8080`, `[::1]:0`); the host defaults to loopback. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(text.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(
      `'${text}' is not a listen address: give [HOST:]PORT, e.g. 8080, 127.0.0.1:0 or 0.0.0.0:9100 (port 0 picks a free one)`,
    );
  }
  const host = match[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1';
  return { host, port };
}
