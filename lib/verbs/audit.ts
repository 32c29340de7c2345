/**
 * `audit --tracker FILE [name[:arch]...]`: the CVEs of the published images, offline, from the
 * Debian security tracker's JSON export (lib/trust/audit.ts). Fixable CVEs (a rebuild picks the
 * fix up) and open ones (no fix in the release yet) are listed apart; `--fail-on LEVEL` exits 1
 * when a fixable CVE of that urgency or higher is found (`--fail-on-open`: open ones count too).
 */
import { readFile } from 'node:fs/promises';
import { defineVerb, opt, type VerbContext } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { REGISTRY_OPTION, registryDirOf } from '../registry/options.ts';
import { LEVELS, auditPackages, checkTracker, levelRank, type Finding, type TrackerData } from '../trust/audit.ts';
import { publishedImages, type PublishedImage } from '../trust/published.ts';

/** Reads and checks the tracker file; a clear error naming the file. */
async function readTracker(file: string): Promise<TrackerData> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UserError(`--tracker ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return checkTracker(JSON.parse(text));
  } catch (e) {
    throw new UserError(`--tracker ${file}: ${(e as Error).message}`);
  }
}

/** `--fail-on`: a level, or `any` (-2: every finding counts). */
function failLevel(ctx: Ctx): number | undefined {
  const v = ctx.options['fail-on'];
  if (v === undefined) return undefined;
  return v === 'any' ? -2 : LEVELS.indexOf(v);
}

interface ImageAudit {
  image: PublishedImage;
  release?: string;
  findings: Finding[];
  problem?: string;
}

function line(f: Finding): string {
  const fix = f.state === 'fixable' ? `${f.installed} -> ${f.fixed}` : `${f.installed} (${f.state})`;
  return `  ${f.cve.padEnd(16)} ${f.urgency.padEnd(16)} ${f.source} ${fix}  [${f.packages.join(', ')}]\n`;
}

function printText(ctx: Ctx, audits: ImageAudit[]): void {
  for (const a of audits) {
    const i = a.image;
    if (a.problem) {
      ctx.stdout(`${i.product} ${i.applianceVersion} (${i.version}): not audited: ${a.problem}\n`);
      continue;
    }
    const fixable = a.findings.filter((f) => f.state === 'fixable');
    const open = a.findings.filter((f) => f.state !== 'fixable');
    ctx.stdout(`${i.product} ${i.applianceVersion} (${i.version}, ${a.release}, fingerprint ${i.fingerprint.slice(0, 12)}): ${fixable.length} fixable, ${open.length} without a fix\n`);
    if (fixable.length) ctx.stdout(` fixed in ${a.release} (rebuild the image to pick the fix up):\n${fixable.map(line).join('')}`);
    if (open.length) ctx.stdout(` no fix in ${a.release} yet:\n${open.map(line).join('')}`);
  }
}

const OPTIONS = {
  ...REGISTRY_OPTION,
  tracker: opt.path({ value: 'FILE', description: 'the Debian security tracker export (https://security-tracker.debian.org/tracker/data/json, ~75 MB), downloaded by you' }),
  json: opt.boolean({ description: 'print JSON for machines' }),
  'fail-on': opt.choice([...LEVELS, 'any'], { value: 'LEVEL', description: 'exit 1 when a fixable CVE of this urgency or higher is found: unimportant, low, medium, high, or any' }),
  'fail-on-open': opt.boolean({ description: 'with --fail-on, CVEs without a fix count too' }),
};

/** What the verb's helpers receive. */
type Ctx = VerbContext<typeof OPTIONS>;

export const auditVerb = defineVerb({
  name: 'audit',
  summary: 'list the CVEs of the published images from a Debian security tracker JSON file (offline); --fail-on LEVEL for CI',
  usage: 'audit --tracker FILE [name[:arch]...] [--json] [--fail-on LEVEL] [--fail-on-open] [--registry DIR]',
  options: OPTIONS,

  examples: ['npx tsx build.ts audit --tracker debian-tracker.json', 'npx tsx build.ts audit --tracker debian-tracker.json nginx --fail-on high'],
  async run(ctx) {
    if (ctx.options.tracker === undefined) throw new UserError('audit: --tracker FILE is required (the Debian security tracker\'s JSON export; see docs/trust.md)');
    const level = failLevel(ctx);
    const tracker = await readTracker(ctx.options.tracker);
    const images = await publishedImages(registryDirOf(ctx), ctx.args);
    const audits: ImageAudit[] = images.map((image) => {
      if (!image.sbom) return { image, findings: [], problem: image.problem };
      const release = image.sbom.os.codename;
      if (!release) return { image, findings: [], problem: 'its SBOM names no release codename' };
      try {
        return { image, release, findings: auditPackages(image.sbom.packages, tracker, release) };
      } catch (e) {
        throw new UserError(`audit: --tracker ${ctx.options.tracker}: ${(e as Error).message}`);
      }
    });
    if (ctx.options.json) {
      ctx.stdout(JSON.stringify({ images: audits.map((a) => ({ product: a.image.product, version: a.image.version, applianceVersion: a.image.applianceVersion, fingerprint: a.image.fingerprint, release: a.release, problem: a.problem, fixable: a.findings.filter((f) => f.state === 'fixable'), open: a.findings.filter((f) => f.state !== 'fixable') })) }, null, 2) + '\n');
    } else printText(ctx, audits);
    const notAudited = audits.filter((a) => a.problem);
    if (level === undefined) return notAudited.length ? 1 : 0;
    const counts = (f: Finding) => (f.state === 'fixable' || ctx.options['fail-on-open']) && (level === -2 || levelRank(f.urgency) >= level);
    const hits = audits.flatMap((a) => a.findings.filter(counts));
    if (hits.length) ctx.stderr(`audit: ${hits.length} CVE(s) at --fail-on ${String(ctx.options['fail-on'])}${ctx.options['fail-on-open'] ? ' (open ones included)' : ''}: ${[...new Set(hits.map((h) => h.cve))].slice(0, 8).join(', ')}${hits.length > 8 ? ', ...' : ''}\n`);
    return hits.length || notAudited.length ? 1 : 0;
  },
});
