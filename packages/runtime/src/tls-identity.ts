/**
 * The AM's TLS identity: a certificate and its private key, and the SHA-256 fingerprint of the
 * certificate that join URLs pin. Off loopback the AM serves TLS with a fresh self-signed
 * certificate per job (made with Debian's `openssl`; Node's crypto can make keys but not
 * certificates), or with the certificate and key the user gives.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DependencyMissingError } from '@millrace/core';

export interface TlsIdentity {
  /** PEM: the certificate the AM serves (first), then any chain. */
  certificate: string;
  /** PEM private key of the certificate. */
  privateKey: string;
  /** SHA-256 of the served certificate's DER bytes, lower-case hex without separators. */
  fingerprint: string;
}

/** The SHA-256 fingerprint of the first certificate in `pem`, lower-case hex without colons. */
export function certificateFingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
}

/** Reads a certificate (PEM, leaf first) and its key; a bad file is a ConfigError naming it. */
export async function loadTlsIdentity(paths: {
  certificate: string;
  privateKey: string;
}): Promise<TlsIdentity> {
  const read = async (path: string, field: string) =>
    readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(
        [{ path: field, message: `cannot read ${path}: ${error.code ?? error.message}` }],
        {
          subject: 'options',
        },
      );
    });
  const [certificate, privateKey] = await Promise.all([
    read(paths.certificate, 'tlsCertificate'),
    read(paths.privateKey, 'tlsKey'),
  ]);
  let fingerprint: string;
  try {
    fingerprint = certificateFingerprint(certificate);
  } catch (error) {
    throw new ConfigError(
      [
        {
          path: 'tlsCertificate',
          message: `${paths.certificate} is not a PEM certificate: ${(error as Error).message}`,
        },
      ],
      { subject: 'options' },
    );
  }
  return { certificate, privateKey, fingerprint };
}

/**
 * A fresh P-256 key and a self-signed certificate valid for 30 days, made by `openssl` in a private
 * temporary directory that is removed afterwards. The certificate's names do not matter: clients
 * pin its fingerprint instead of checking names.
 */
export async function createSelfSignedIdentity(options: { commonName?: string } = {}): Promise<TlsIdentity> {
  const directory = await mkdtemp(join(tmpdir(), 'millrace-tls-'));
  try {
    const keyPath = join(directory, 'key.pem');
    const certificatePath = join(directory, 'certificate.pem');
    await runOpenssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '30',
      '-subj',
      `/CN=${options.commonName ?? 'millrace-application-manager'}`,
      '-keyout',
      keyPath,
      '-out',
      certificatePath,
    ]);
    const [certificate, privateKey] = await Promise.all([
      readFile(certificatePath, 'utf8'),
      readFile(keyPath, 'utf8'),
    ]);
    return { certificate, privateKey, fingerprint: certificateFingerprint(certificate) };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function runOpenssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2_000);
    });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new DependencyMissingError(
              'openssl',
              'the application manager needs `openssl` to make its TLS certificate off loopback: install it (apt-get install openssl), or pass --tls-cert/--tls-key',
            )
          : error,
      ),
    );
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`openssl ${args[0]} exited with ${code}: ${stderr.trim()}`)),
    );
  });
}
