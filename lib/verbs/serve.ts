/** `serve`: the registry over HTTPS for Incus and LXD clients, until SIGINT/SIGTERM. */
import { availableParallelism, hostname } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { defineVerb, opt, type VerbContext } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { REGISTRY_OPTION, notRegistryProblem, registryDirOf } from '../registry/options.ts';
import { certCovers } from '../serve/cert.ts';
import { bareHost } from '../url.ts';
import { startServer, type RunningServer } from '../serve/server.ts';
import { startCluster } from '../serve/cluster.ts';
import { DEFAULT_LIMITS, type ServeLimits } from '../serve/limits.ts';
import { isRoot, lookupUser, type RunAs } from '../serve/privileges.ts';
import { existsSync } from 'node:fs';
import { IMAGES_JSON } from '../registry/format.ts';
import { KeyError, keyPaths, loadSigningKey, publicKeyText } from '../trust/keys.ts';
import { SIGNATURE_FILE } from '../trust/index-signature.ts';

/**
 * The registry's public key, for users to pin (`verify --key`), or a note that the index is
 * unsigned. Read before the privilege drop; a key readable by others is a warning here (the
 * build refuses to sign with it).
 */
function signingLines(ctx: Ctx, registryDir: string): string {
  const paths = keyPaths(ctx.root, ctx.env);
  let key;
  try {
    key = loadSigningKey(paths);
  } catch (e) {
    if (!(e instanceof KeyError)) throw e;
    ctx.stderr(`warning: ${e.message}\n`);
    return '';
  }
  if (!key) return `The index is not signed (no ${paths.secret}; \`npx tsx build.ts keygen\` creates one).\n`;
  const { text, keyId } = publicKeyText(key);
  const signed = existsSync(join(registryDir, SIGNATURE_FILE));
  return `Index signing key ${keyId} (${paths.pub}); clients check the registry with \`npx tsx build.ts verify URL --key registry.pub\`${signed ? '' : ' (not signed yet: run `npx tsx build.ts sign`)'}:\n${text}`;
}

const REMOTE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * What a user runs to use the server: remote add, and the certificate copy that is the whole
 * trust step for a simplestreams remote (`--accept-certificate` does nothing there).
 */
export function clientInstructions(o: { url: string; remote: string; certPath: string; selfSigned: boolean; otherUrl?: string }): string {
  const lines: string[] = [];
  const block = (url: string, where: string, copy: (dir: string) => string) => {
    lines.push(`${where}, with Incus:`);
    if (o.selfSigned) lines.push(`  mkdir -p ~/.config/incus/servercerts && ${copy('~/.config/incus/servercerts')}`);
    lines.push(`  incus remote add ${o.remote} ${url} --protocol simplestreams`, `  incus image list ${o.remote}:`, `  incus launch ${o.remote}:<appliance> <instance-name>`);
    lines.push(`${where}, with the LXD client (lxc; LXD_CONF, default ~/.config/lxc, snap: ~/snap/lxd/common/config):`);
    if (o.selfSigned) lines.push(`  mkdir -p \${LXD_CONF:-~/.config/lxc}/servercerts && ${copy('${LXD_CONF:-~/.config/lxc}/servercerts')}`);
    lines.push(`  lxc remote add ${o.remote} ${url} --protocol simplestreams --public`, `  lxc image list ${o.remote}:`, '');
  };
  block(o.url, 'On this machine', (dir) => `cp ${o.certPath} ${dir}/${o.remote}.crt`);
  if (o.otherUrl) block(o.otherUrl, 'From another machine', (dir) => `scp ${hostname()}:${o.certPath} ${dir}/${o.remote}.crt`);
  if (o.selfSigned) {
    lines.push('The certificate copy is the trust step: --accept-certificate does nothing for simplestreams remotes.');
    lines.push('After publishing new images, clients see them within 5 min (CLI cache) / 1 h (daemon cache).', '');
  }
  return lines.join('\n');
}

/** Limit options: option name, limit, unit (timeouts are given in seconds). */
const LIMIT_OPTIONS: [string, keyof ServeLimits, 's' | 'n', string][] = [
  ['handshake-timeout', 'handshakeTimeoutMs', 's', 'seconds from connect to a completed TLS handshake'],
  ['header-timeout', 'headersTimeoutMs', 's', 'seconds from the first byte of a request to the end of its headers'],
  ['idle-timeout', 'idleTimeoutMs', 's', 'seconds an idle keep-alive connection stays open'],
  ['send-timeout', 'sendTimeoutMs', 's', 'seconds a response may go without the client accepting a byte'],
  ['max-pipelined', 'maxPipelined', 'n', 'requests in flight on one connection (one more closes it)'],
  ['max-connections-per-address', 'maxConnectionsPerAddress', 'n', 'open connections per client address and server process'],
  ['max-connections', 'maxConnections', 'n', 'open connections per server process'],
  ['max-cuts-per-address', 'maxCutsPerAddress', 'n', 'connections of one address cut by a timeout or the pipelining cap within a minute before its new ones are refused'],
];

const OPTIONS = {
  ...REGISTRY_OPTION,
  host: opt.string({ value: 'ADDR', default: '0.0.0.0', description: 'listen address (default 0.0.0.0)' }),
  port: opt.integer({ value: 'N', min: 0, max: 65535, default: 8443, description: 'listen port (default 8443; 0 picks a free one)' }),
  cert: opt.path({ value: 'FILE', description: 'PEM certificate to serve instead of the self-signed one in .certs/' }),
  key: opt.path({ value: 'FILE', description: 'PEM private key of --cert' }),
  'cert-dir': opt.path({ value: 'DIR', description: 'where the self-signed certificate is kept (default <project>/.certs)' }),
  workers: opt.integer({ value: 'N', min: 1, max: 1024, description: 'server processes sharing the port (default: one per CPU)' }),
  remote: opt.string({ value: 'NAME', default: 'appliance', check: (v) => (REMOTE.test(v) ? undefined : `"${v}" is not a valid remote name`), description: 'remote name used in the printed client commands (default appliance)' }),
  user: opt.string({ value: 'NAME', description: 'when started as root, become this user once the port is bound and the key read (default nobody; a dedicated user is better)' }),
  ...Object.fromEntries(LIMIT_OPTIONS.map(([name, key, unit, what]) => [name, opt.integer({
    value: unit === 's' ? 'S' : 'N', min: 1,
    description: `${what} (default ${unit === 's' ? DEFAULT_LIMITS[key] / 1000 : DEFAULT_LIMITS[key]})`,
  })])),
};

/** What the verb's helpers receive. */
type Ctx = VerbContext<typeof OPTIONS>;

/** The limits given on the command line (unset ones keep the defaults). */
function limitsOf(ctx: Ctx): Partial<ServeLimits> {
  const out: Partial<ServeLimits> = {};
  for (const [name, key, unit] of LIMIT_OPTIONS) {
    const n = (ctx.options as Record<string, unknown>)[name] as number | undefined;
    if (n !== undefined) out[key] = unit === 's' ? n * 1000 : n;
  }
  return out;
}

/** The user to become when started as root (`--user`, default nobody); undefined when not root. */
async function runAsOf(ctx: Ctx): Promise<RunAs | undefined> {
  const name = ctx.options.user ?? 'nobody';
  if (!isRoot()) {
    if (ctx.options.user !== undefined) ctx.stderr(`note: --user applies when serve is started as root; running as uid ${process.getuid?.()}\n`);
    return undefined;
  }
  const who = await lookupUser(name);
  if (who.uid === 0) ctx.stderr(`warning: --user ${name} keeps root: every server process can read anything on this machine\n`);
  return who;
}

/** Waits for SIGINT or SIGTERM; resolves with the signal name. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((res) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      res(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function run(ctx: Ctx): Promise<number> {
  const registryDir = registryDirOf(ctx);
  const { host, port, remote, cert, key } = ctx.options;
  if (!!cert !== !!key) throw new UserError('--cert and --key go together');
  if (!existsSync(registryDir)) throw new UserError(`${registryDir}: no registry yet (build something first, or pass --registry DIR)`);
  const notRegistry = notRegistryProblem(registryDir, { emptyOk: true });
  if (notRegistry) throw new UserError(notRegistry);
  if (!existsSync(join(registryDir, IMAGES_JSON))) ctx.stderr(`warning: ${registryDir} has no ${IMAGES_JSON} yet: clients will list nothing\n`);
  const workers = ctx.options.workers ?? availableParallelism();
  const limits = limitsOf(ctx);
  const runAs = await runAsOf(ctx);
  let srv: Pick<RunningServer, 'url' | 'port' | 'certificate' | 'close'>;
  try {
    const common = {
      registryDir,
      host,
      port,
      certDir: ctx.options['cert-dir'] ?? join(ctx.root, '.certs'),
      ...(cert && key ? { cert, key } : {}),
      limits,
      runAs,
    };
    srv = workers > 1
      ? await startCluster({ ...common, workers, log: (line) => ctx.stdout(line + '\n'), warn: (line) => ctx.stderr(`warning: ${line}\n`) })
      : await startServer({ ...common, log: (line) => ctx.stdout(line + '\n') });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new UserError(`${host}:${port} is already in use (another serve running?); pick --port`);
    if (err.code === 'EACCES') throw new UserError(`${host}:${port}: permission denied (ports below 1024 need privileges)`);
    if (err.code === 'EADDRNOTAVAIL') throw new UserError(`--host ${host}: not an address of this machine`);
    if (e instanceof UserError) throw e;
    // A --cert/--key that is missing or that OpenSSL refuses; anything else is a bug.
    if (cert && (err.code === 'ENOENT' || err.code === 'EISDIR' || err.code?.startsWith('ERR_OSSL'))) throw new UserError(`--cert ${cert} / --key ${key}: ${err.message}`);
    throw e;
  }
  const c = srv.certificate;
  const selfSigned = !cert;
  const all = host === '0.0.0.0' || host === '::';
  const localUrl = all ? `https://localhost:${srv.port}` : srv.url;
  const otherUrl = all ? `https://${hostname()}:${srv.port}` : undefined;
  ctx.stdout(`Serving ${registryDir} on ${srv.url.replace('127.0.0.1', host)} (TLS 1.3 and 1.2, ${workers} process${workers > 1 ? 'es' : ''})\n`);
  if (runAs && runAs.uid !== 0) ctx.stdout(`Running as user ${runAs.name} (uid ${runAs.uid}): root was needed only to bind the port and read the key\n`);
  ctx.stdout(`${c.generated ? 'Generated a self-signed certificate' : 'Certificate'}: ${c.certPath} (valid until ${c.validTo.toISOString().slice(0, 10)}, SHA-256 ${c.fingerprint256})\n`);
  const x509 = new X509Certificate(c.cert);
  for (const u of [localUrl, otherUrl].filter((x): x is string => !!x)) {
    const h = bareHost(new URL(u).hostname);
    if (!certCovers(x509, h)) ctx.stderr(`warning: the certificate does not name "${h}" (it has ${c.subjectAltName}); clients using ${u} will refuse it${selfSigned ? `; delete ${c.certPath} to generate a new one` : ''}\n`);
  }
  ctx.stdout(signingLines(ctx, registryDir));
  ctx.stdout('\n' + clientInstructions({ url: localUrl, remote, certPath: c.certPath, selfSigned, otherUrl }) + '\n');
  ctx.stdout(`Access log follows (one line per request). Stop with Ctrl-C.\n`);
  const sig = await untilSignal();
  ctx.stderr(`${sig}: finishing in-flight requests, then stopping\n`);
  await srv.close();
  ctx.stderr('stopped\n');
  return 0;
}

export const serveVerb = defineVerb({
  name: 'serve',
  summary: 'serve the registry over HTTPS for `incus remote add ... --protocol simplestreams` (self-signed certificate on first run)',
  args: { max: 0 },
  usage: 'serve [--host ADDR] [--port N] [--cert FILE --key FILE | --cert-dir DIR] [--workers N] [--user NAME] [--remote NAME] [--registry DIR] [limits]',
  options: OPTIONS,
  examples: ['npx tsx build.ts serve', 'npx tsx build.ts serve --host 127.0.0.1 --port 9443', 'npx tsx build.ts serve --cert /etc/ssl/site.pem --key /etc/ssl/site.key'],
  run,
});
