/**
 * Joining securely, on loopback (the cross-host versions run in network namespaces in
 * test/multi-host): an AM serving TLS with a per-job certificate, clients that pin its fingerprint
 * from the join URL, a wrong fingerprint refused before anything is sent, plaintext refused.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as connectTcp, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { credentials } from '@grpc/grpc-js';
import { ConfigError, ServerIdentityError } from '@millrace/core';
import { ApplicationManagerClient, tokenMetadata } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplicationManagerConnection } from './am-client.js';
import { ApplicationManager } from './application-manager.js';
import { createGenericEngine } from './generic-engine.js';
import { formatJoinUrl, parseJoinUrl } from './join-url.js';
import { NodeAgent } from './node-agent.js';
import { certificateFingerprint, createSelfSignedIdentity } from './tls-identity.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startTlsAm() {
  const am = await ApplicationManager.start({
    config: { engine: 'generic', roles: { worker: { instances: 2 } } },
    engine: createGenericEngine(),
    tls: 'self-signed',
  });
  cleanups.push(() => am.close());
  return am;
}

const succeedingRunner = {
  description: 'succeeds at once',
  async start() {
    return { result: Promise.resolve({ status: 'succeeded' as const }), stop: async () => {} };
  },
};

describe('join URL', () => {
  it('round-trips address, token and fingerprint, and names what is wrong in a bad one', () => {
    const target = { address: '10.1.2.3:4567', token: 'abc', fingerprint: 'ab'.repeat(32) };
    const url = formatJoinUrl(target);
    expect(url).toBe(`millrace://10.1.2.3:4567?token=abc&ca=sha256:${'ab'.repeat(32)}`);
    expect(parseJoinUrl(url)).toEqual(target);
    expect(parseJoinUrl('millrace://[fd00::1]:80?token=t')).toEqual({
      address: '[fd00::1]:80',
      token: 't',
      fingerprint: undefined,
    });
    expect(() => parseJoinUrl('http://h:1?token=t')).toThrow(/scheme 'http:'/);
    expect(() => parseJoinUrl('millrace://h:1?ca=sha256:00')).toThrow(/no token/);
    expect(() => parseJoinUrl('millrace://h:1?token=t&ca=md5:00')).toThrow(/not sha256: and 64 hex digits/);
    expect(() => parseJoinUrl('millrace://h?token=t')).toThrow(ConfigError);
  });
});

describe('an AM serving TLS', () => {
  it('forms a cluster with nodes that pin its fingerprint, and prints a join URL that carries it', async () => {
    const am = await startTlsAm();
    expect(am.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const target = parseJoinUrl(am.joinUrl);
    expect(target).toEqual({ address: am.address, token: am.token, fingerprint: am.fingerprint });
    const agents = [0, 1].map(
      (index) =>
        new NodeAgent({ ...target, role: 'worker', index, engine: am.engine, runner: succeedingRunner }),
    );
    const outcomes = await Promise.all(agents.map((agent) => agent.run()));
    expect(outcomes.map((outcome) => outcome.lastResult?.status)).toEqual(['succeeded', 'succeeded']);
    expect(await am.result).toMatchObject({ status: 'succeeded' });
  });

  it('lets the agents of one process share one pinned handshake and one TLS connection', async () => {
    // A TLS pass-through in front of the AM counts the connections the agents open.
    const am = await startTlsAm();
    let connections = 0;
    const proxy = createTcpServer((client) => {
      connections += 1;
      const upstream = connectTcp(Number(am.address.split(':')[1]), '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => proxy.close(resolve)));
    const address = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const agents = [0, 1].map(
      (index) =>
        new NodeAgent({
          address,
          token: am.token,
          fingerprint: am.fingerprint,
          role: 'worker',
          index,
          engine: am.engine,
          runner: succeedingRunner,
        }),
    );
    const outcomes = await Promise.all(agents.map((agent) => agent.run()));
    expect(outcomes.map((outcome) => outcome.lastResult?.status)).toEqual(['succeeded', 'succeeded']);
    // One bare handshake to check the fingerprint, one connection for both agents' calls.
    expect(connections).toBe(2);
  });

  it('gives a plaintext client no answer', async () => {
    const am = await startTlsAm();
    const plaintext = new ApplicationManagerClient(am.address, credentials.createInsecure());
    cleanups.push(() => plaintext.close());
    const answer = await new Promise<Error | null>((resolve) =>
      plaintext.getJobStatus(
        { observer: '' },
        tokenMetadata(am.token),
        { deadline: Date.now() + 2_000 },
        (error) => resolve(error),
      ),
    );
    expect(answer).toMatchObject({ code: expect.any(Number) });
    expect(answer?.message).not.toMatch(/OK/);
    expect(am.snapshot.state).toBe('initializing');
  });

  it('refuses a server whose certificate is not the pinned one, before it sends a single byte', async () => {
    // An impostor: a TLS server with its own certificate that records every byte a client sends
    // after the handshake (a gRPC client would send the HTTP/2 preface, then the token).
    const impostor = await createSelfSignedIdentity();
    const received: Buffer[] = [];
    const server = createServer(
      { key: impostor.privateKey, cert: impostor.certificate, ALPNProtocols: ['h2'] },
      (socket: TLSSocket) => {
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('error', () => {});
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as { port: number }).port;
    const pinned = 'cd'.repeat(32);
    const connection = new ApplicationManagerConnection({
      address: `127.0.0.1:${port}`,
      token: 'secret-token',
      fingerprint: pinned,
    });
    cleanups.push(() => connection.close());
    const refused = await connection.getJobStatus().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ServerIdentityError);
    expect(refused).toMatchObject({ expected: pinned, actual: impostor.fingerprint });
    expect((refused as Error).message).toMatch(/Nothing was sent to it/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(Buffer.concat(received).length).toBe(0);
  });

  it('serves a user certificate signed by a CA when given with its chain', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'millrace-ca-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: directory, stdio: 'ignore' });
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(
      'req',
      '-x509',
      ...key,
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    );
    openssl('req', ...key, '-subj', '/CN=am', '-keyout', 'am.key', '-out', 'am.csr');
    openssl(
      'x509',
      '-req',
      '-in',
      'am.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      'am.pem',
    );
    const leaf = readFileSync(join(directory, 'am.pem'), 'utf8');
    const am = await ApplicationManager.start({
      config: { engine: 'generic', roles: { worker: { instances: 1 } } },
      engine: createGenericEngine(),
      tls: {
        certificate: leaf + readFileSync(join(directory, 'ca.pem'), 'utf8'),
        privateKey: readFileSync(join(directory, 'am.key'), 'utf8'),
        fingerprint: certificateFingerprint(leaf),
      },
    });
    cleanups.push(() => am.close());
    const connection = new ApplicationManagerConnection(parseJoinUrl(am.joinUrl));
    cleanups.push(() => connection.close());
    await expect(connection.getJobStatus()).resolves.toMatchObject({ state: 'initializing' });
  });

  it('a client refuses plaintext to a non-loopback address unless told insecure', () => {
    expect(() => new ApplicationManagerConnection({ address: '10.9.9.9:1', token: 't' })).toThrow(
      /would cross the network unverified and in the clear/,
    );
    new ApplicationManagerConnection({ address: '10.9.9.9:1', token: 't', insecure: true }).close();
  });
});
