/**
 * The join URL: everything a node, `millrace status` or `millrace stop` needs to reach one AM,
 * in one pasteable string:
 *
 *   millrace://HOST:PORT?token=TOKEN&ca=sha256:HEX
 *
 * `ca` is the SHA-256 fingerprint of the certificate the AM serves. A client checks it during the
 * TLS handshake, before it sends anything, so the token only ever reaches the AM that printed the
 * URL (the idea of kubeadm's `--discovery-token-ca-cert-hash`). Without `ca` the connection is
 * plaintext, which a client accepts only for a loopback host or when told `insecure`.
 */
import { isIP } from 'node:net';
import { ConfigError } from '@millrace/core';

export interface JoinTarget {
  /** `host:port` (IPv6 hosts in brackets). */
  address: string;
  token: string;
  /** The pinned certificate fingerprint (lower-case hex); undefined for a plaintext AM. */
  fingerprint?: string | undefined;
}

const scheme = 'millrace:';
const fingerprintPattern = /^[0-9a-f]{64}$/;

export function formatJoinUrl(target: JoinTarget): string {
  const query = new URLSearchParams({ token: target.token });
  if (target.fingerprint) query.set('ca', `sha256:${target.fingerprint}`);
  // URLSearchParams would escape the ':' of `sha256:`; both forms parse, the plain one reads better.
  return `millrace://${target.address}?${query.toString().replace('sha256%3A', 'sha256:')}`;
}

/** Parses a join URL; anything malformed is a ConfigError that says what a good one looks like. */
export function parseJoinUrl(text: string, field = 'join'): JoinTarget {
  const bad = (message: string) =>
    new ConfigError(
      [
        {
          path: field,
          message: `${message} (expected millrace://HOST:PORT?token=TOKEN&ca=sha256:HEX, as printed by \`millrace am\`)`,
        },
      ],
      { subject: 'options' },
    );
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw bad('is not a URL');
  }
  if (url.protocol !== scheme) throw bad(`has scheme '${url.protocol}', not 'millrace:'`);
  if (!url.hostname || !url.port) throw bad('has no host:port');
  const token = url.searchParams.get('token');
  if (!token) throw bad('has no token');
  const ca = url.searchParams.get('ca');
  let fingerprint: string | undefined;
  if (ca !== null) {
    const match = /^sha256:(.*)$/i.exec(ca);
    const hex = match?.[1]?.replaceAll(':', '').toLowerCase();
    if (!hex || !fingerprintPattern.test(hex)) throw bad(`has ca '${ca}', not sha256: and 64 hex digits`);
    fingerprint = hex;
  }
  // URL keeps IPv6 hosts in brackets, which is also what gRPC addresses want.
  return { address: `${url.hostname}:${url.port}`, token, fingerprint };
}

/** True for 127.0.0.0/8, ::1 and `localhost`: addresses no other host can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/** The host part of `host:port` (brackets kept off). */
export function hostOfAddress(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  const colon = address.lastIndexOf(':');
  return colon === -1 ? address : address.slice(0, colon);
}
