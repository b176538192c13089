/**
 * Certificate pinning for the control plane. A join URL carries the SHA-256 of the AM's
 * certificate, not the certificate; so the client first completes a bare TLS handshake (sending
 * nothing else), takes the certificate the server presents, and compares fingerprints. Only a match
 * yields gRPC credentials, which trust exactly that certificate and check the fingerprint again on
 * every (re)connection, so a server swapped in later is refused too.
 */
import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls';
import { connect } from 'node:tls';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { MillraceTimeoutError, ServerIdentityError } from '@millrace/core';
import { hostOfAddress } from './join-url.js';
import { certificateFingerprint } from './tls-identity.js';

/**
 * The TLS server name clients send. Pinning replaces name checks, and an IP address may not be a
 * TLS server name (RFC 6066; Node warns), so every client sends this fixed name instead.
 */
const pinnedServerName = 'millrace-application-manager';

/** Channel options that go with {@link pinnedCredentials}. */
export const pinnedChannelOptions = { 'grpc.ssl_target_name_override': pinnedServerName } as const;

function portOfAddress(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** The fingerprint of a certificate Node's TLS layer hands over, lower-case hex. */
function fingerprintOf(certificate: PeerCertificate | undefined): string | undefined {
  if (!certificate?.raw) return undefined;
  return certificateFingerprint(certificate.raw);
}

/**
 * Completes a TLS handshake with `address` and returns the certificate it presents (PEM) when its
 * SHA-256 is `fingerprint`. Rejects with ServerIdentityError on a mismatch (or no certificate),
 * with the socket error when nothing answers, with a timeout when the handshake stalls (a
 * plaintext server never answers a ClientHello).
 */
export function fetchPinnedCertificate(options: {
  address: string;
  fingerprint: string;
  timeoutMs: number;
}): Promise<string> {
  const { address, fingerprint } = options;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: hostOfAddress(address),
      port: portOfAddress(address),
      servername: pinnedServerName,
      ALPNProtocols: ['h2'],
      // The chain is not judged by any CA: the pinned fingerprint is the whole trust decision, taken
      // below before a single application byte is written.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new MillraceTimeoutError(
          `the TLS handshake with ${address}`,
          options.timeoutMs,
          'is it a Millrace application manager serving TLS? (a plaintext server never answers)',
        ),
      );
    }, options.timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const certificate = socket.getPeerCertificate(true);
      const actual = fingerprintOf(certificate);
      socket.destroy();
      if (actual !== fingerprint) {
        reject(new ServerIdentityError(address, fingerprint, actual));
        return;
      }
      // Trust every certificate the pinned server presented: for a self-signed one that is itself;
      // for a user certificate served with its chain, OpenSSL then finds the chain's root.
      resolve(presentedChain(certificate).map(derToPem).join(''));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** gRPC credentials that trust only `certificate` and re-check its fingerprint on each connection. */
export function pinnedCredentials(options: {
  address: string;
  fingerprint: string;
  certificate: string;
}): ChannelCredentials {
  return credentials.createSsl(Buffer.from(options.certificate), null, null, {
    checkServerIdentity: (_host, certificate) => {
      const actual = fingerprintOf(certificate);
      return actual === options.fingerprint
        ? undefined
        : new ServerIdentityError(options.address, options.fingerprint, actual);
    },
  });
}

/**
 * The credentials a pinned AM is reached with, one per (address, fingerprint) in this process.
 * Every agent of a host process shares them: one bare handshake instead of one per agent, and
 * grpc-js pools the subchannels of channels whose target, credentials and options are equal, so
 * the agents share one TLS connection too (16 agents made 32 handshakes with the AM). Each new
 * connection still checks the fingerprint. A failed fetch is not kept: the next call tries again.
 */
const sharedCredentials = new Map<string, Promise<ChannelCredentials>>();

export function pinnedConnectionCredentials(options: {
  address: string;
  fingerprint: string;
  timeoutMs: number;
}): Promise<ChannelCredentials> {
  const key = `${options.address} ${options.fingerprint}`;
  let shared = sharedCredentials.get(key);
  if (shared === undefined) {
    shared = fetchPinnedCertificate(options).then((certificate) =>
      pinnedCredentials({ ...options, certificate }),
    );
    sharedCredentials.set(key, shared);
    shared.catch(() => sharedCredentials.delete(key));
  }
  return shared;
}

function presentedChain(leaf: DetailedPeerCertificate): Buffer[] {
  const chain: Buffer[] = [];
  let current: DetailedPeerCertificate | undefined = leaf;
  while (current?.raw && chain.length < 10) {
    chain.push(current.raw);
    if (current.issuerCertificate === current) break;
    current = current.issuerCertificate;
  }
  return chain;
}

function derToPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
