/**
 * The server certificate: a self-signed EC P-256 certificate generated once into `.certs/` by
 * the `openssl` CLI (present on every host we run on, well kept, and it writes the ASN.1 for
 * us), reused across runs so clients that pinned it keep working. Parsing and checks use
 * node:crypto's X509Certificate.
 * @module
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { fsyncDir, tempPathFor } from '../files.ts';
import { UserError } from '../diagnostics.ts';

/** File names inside the certificate folder. */
export const CERT_FILE = 'server.crt';
export const KEY_FILE = 'server.key';

/** A certificate ready to serve. */
export interface ServerCertificate {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
  /** True when this call created it. */
  generated: boolean;
  /** Subject alternative names, e.g. `DNS:localhost, IP Address:127.0.0.1`. */
  subjectAltName: string;
  /** SHA-256 fingerprint (colon-separated hex). */
  fingerprint256: string;
  validTo: Date;
}

/** Names a certificate must carry: localhost, 127.0.0.1, ::1, the host name, and `extra`. */
export function wantedNames(extra: string[] = []): string[] {
  const names = ['localhost', '127.0.0.1', '::1', hostname(), ...extra];
  return [...new Set(names.filter((n) => n && n !== '0.0.0.0' && n !== '::'))];
}

/** Does `cert` cover `name` (a DNS name or an IP address)? */
export function certCovers(cert: X509Certificate, name: string): boolean {
  return isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name, { wildcards: true }) !== undefined;
}

async function load(certPath: string, keyPath: string, now: Date): Promise<{ cert: Buffer; key: Buffer; x509: X509Certificate } | undefined> {
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  } catch {
    return undefined;
  }
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) return undefined; // a write was interrupted between the two renames
    if (Date.parse(x509.validTo) < now.getTime() + 24 * 3600 * 1000) return undefined; // expired or about to
    return { cert, key, x509 };
  } catch {
    return undefined;
  }
}

/**
 * Loads the certificate from `certDir`, or generates it (key mode 0600, written atomically:
 * temporary files, then rename). An existing valid certificate is kept even if it lacks a name
 * in `names` (clients pinned it); the caller can warn with {@link certCovers}.
 */
export async function ensureCertificate(certDir: string, names: string[] = wantedNames(), now = new Date()): Promise<ServerCertificate> {
  const certPath = join(certDir, CERT_FILE);
  const keyPath = join(certDir, KEY_FILE);
  let loaded = await load(certPath, keyPath, now);
  let generated = false;
  if (!loaded) {
    await mkdir(certDir, { recursive: true, mode: 0o700 });
    const tmpKey = tempPathFor(keyPath);
    const tmpCert = tempPathFor(certPath);
    const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    const cn = names.find((n) => !isIP(n)) ?? 'localhost';
    try {
      await execa('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
        '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`, '-keyout', tmpKey, '-out', tmpCert,
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      await chmod(tmpKey, 0o600);
      await chmod(tmpCert, 0o644);
      await rename(tmpKey, keyPath);
      await rename(tmpCert, certPath);
      await fsyncDir(certDir);
    } catch (e) {
      await rm(tmpKey, { force: true });
      await rm(tmpCert, { force: true });
      const err = e as Error & { stderr?: string; code?: string };
      if (err.code === 'ENOENT') throw new CertificateError('the openssl command is needed to generate the server certificate (apt-get install openssl), or pass --cert and --key');
      throw new Error(`generating the server certificate failed: ${err.stderr?.trim() || err.message}`);
    }
    loaded = await load(certPath, keyPath, now);
    if (!loaded) throw new Error(`${certDir}: the generated certificate does not load`);
    generated = true;
  }
  return {
    certPath,
    keyPath,
    cert: loaded.cert,
    key: loaded.key,
    generated,
    subjectAltName: loaded.x509.subjectAltName ?? '',
    fingerprint256: loaded.x509.fingerprint256,
    validTo: new Date(loaded.x509.validTo),
  };
}

/** A certificate the user supplied (or the tool to make one) that cannot serve: their mistake to fix, not a bug. */
export class CertificateError extends UserError {}

/** Loads a user-supplied certificate and key (e.g. from an ACME client). */
export async function loadCertificate(certPath: string, keyPath: string): Promise<ServerCertificate> {
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw new CertificateError(`--key ${keyPath} is not the key of --cert ${certPath}`);
  return { certPath, keyPath, cert, key, generated: false, subjectAltName: x509.subjectAltName ?? '', fingerprint256: x509.fingerprint256, validTo: new Date(x509.validTo) };
}

/**
 * The certificate a server uses: the user's `cert`/`key` pair when given (both or neither), else
 * the self-signed one kept in `certDir` (default `<registry>/../.certs`), generated on first use
 * with the listen address among its names. Shared by the single-process and cluster servers.
 */
export async function resolveCertificate(opts: { cert?: string; key?: string; certDir?: string; registryDir: string; host: string }): Promise<ServerCertificate> {
  if ((opts.cert && !opts.key) || (!opts.cert && opts.key)) throw new CertificateError('--cert and --key go together');
  return opts.cert && opts.key
    ? loadCertificate(opts.cert, opts.key)
    : ensureCertificate(opts.certDir ?? join(opts.registryDir, '..', '.certs'), wantedNames([opts.host]));
}
