/**
 * The rules every appliance README and its catalogue row follow, checked by
 * `test/appliances/readme.test.ts` and by `new` on the scaffold it writes, and documented in
 * docs/creating-appliances.md ("The README and the catalogue row"). {@link readmeProblems}
 * reports every broken rule at once, so an author fixes them all in one pass.
 * @module
 */
import { GENERATED_KINDS, generatedPart, type GeneratedKind } from './readme.ts';
import type { ApplianceSpec } from '../../lib/compile/model.ts';

/** The command that refreshes the generated sections of every README. */
export const UPDATE_README_COMMAND = 'UPDATE_README=1 npm test -- appliances/readme';

/** A phrase every README must contain, and the section that usually holds it. */
export interface RequiredPhrase {
  phrase: string;
  section: string;
}

/** The phrases a README of appliance `name` must contain (exact text, case-sensitive). */
export function requiredPhrases(name: string): RequiredPhrase[] {
  return [
    { phrase: `npx tsx build.ts profile ${name}`, section: 'Ports: how to make the profile' },
    { phrase: 'incus profile create', section: 'Ports: how to make the profile' },
    { phrase: 'incus storage volume create', section: 'Persistent data (the generated volumes part has it when volumes are declared)' },
    { phrase: 'incus snapshot create', section: 'Snapshots, backup and restore' },
    { phrase: 'incus export', section: 'Snapshots, backup and restore' },
    { phrase: 'incus storage volume snapshot create', section: 'Snapshots, backup and restore' },
    { phrase: `incus rebuild appliance:${name}`, section: 'Upgrade to a new image, keeping the data' },
    { phrase: 'Alpine', section: 'Bases' },
    { phrase: 'not built on our CI', section: 'Bases (Alpine images are not built on our CI)' },
    { phrase: '## How it was tested', section: 'its own heading' },
    { phrase: '## Size', section: 'its own heading' },
  ];
}

/** A measured size in bold (`**24.8 MiB**`), or `Not measured: ` and why. */
export const SIZE_PATTERN = /\*\*\d+(\.\d+)? MiB\*\*|Not measured: /;

/** The start of the catalogue row of `name` in docs/appliances.md. */
export function catalogueRowStart(name: string): string {
  return `| [${name}](../appliances/${name}/README.md) |`;
}

/** The pattern the catalogue row of `name` must match (a line starting with {@link catalogueRowStart}). */
export function catalogueRowPattern(name: string): RegExp {
  return new RegExp(`^${catalogueRowStart(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm');
}

function markers(kind: GeneratedKind): [string, string] {
  return [`<!-- generated:${kind} -->`, `<!-- /generated:${kind} -->`];
}

/** The text between the markers of `kind`, or undefined when they are missing or out of order. */
function sectionOf(text: string, kind: GeneratedKind): string | undefined {
  const [open, close] = markers(kind);
  const a = text.indexOf(open);
  const b = a < 0 ? -1 : text.indexOf(close, a + open.length);
  return b < 0 ? undefined : text.slice(a + open.length, b);
}

/**
 * Every rule the README of `app` breaks, one line each (empty: it passes):
 * the five generated sections present (marked) and up to date, the required phrases, a
 * measured size, and the row in docs/appliances.md.
 * @param readme the README text, or undefined when the file does not exist
 * @param catalogue the text of docs/appliances.md
 */
export function readmeProblems(app: ApplianceSpec, readme: string | undefined, catalogue: string): string[] {
  const out: string[] = [];
  const readmePath = `appliances/${app.name}/README.md`;
  if (readme === undefined) out.push(`${readmePath}: missing (\`npx tsx build.ts new\` writes one with every required part)`);
  else {
    const stale: string[] = [];
    for (const kind of GENERATED_KINDS) {
      const inner = sectionOf(readme, kind);
      const [open, close] = markers(kind);
      if (inner === undefined) out.push(`${readmePath}: no generated ${kind} section: add a line ${open} and a line ${close} (\`${UPDATE_README_COMMAND}\` fills them)`);
      else if (inner !== `\n${generatedPart(app, kind)}\n`) stale.push(kind);
    }
    if (stale.length) out.push(`${readmePath}: generated section(s) ${stale.join(', ')} differ from appliance.ts: run \`${UPDATE_README_COMMAND}\``);
    for (const r of requiredPhrases(app.name)) {
      if (!readme.includes(r.phrase)) out.push(`${readmePath}: does not contain "${r.phrase}" (section: ${r.section})`);
    }
    if (!SIZE_PATTERN.test(readme)) out.push(`${readmePath}: no measured image size: write it in bold as **N.N MiB** (the IMAGE column of \`npx tsx build.ts test ${app.name}\`), or "Not measured: " and why`);
  }
  if (!catalogueRowPattern(app.name).test(catalogue)) out.push(`docs/appliances.md: no catalogue row for ${app.name}: add a table line starting with ${catalogueRowStart(app.name)}`);
  return out;
}
