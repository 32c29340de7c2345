/**
 * Where on a cluster remote a node's builder container goes: on a member of the node's
 * architecture (`incus launch --target MEMBER`), so arm64 builds natively on an arm64 member;
 * when the cluster has none, on a member of an architecture there is a builder image for, where
 * the node runs through qemu-user inside the builder (and the log says so). Members are taken
 * in turn, so the nodes of one run spread over the members of an architecture.
 * A remote that is not a cluster has no members: no `--target`, as before. A configured target
 * (`builder.target`: a member or `@group`, for every architecture or per architecture) pins the
 * nodes of an architecture that has a builder image there instead; Incus picks the group's member.
 * @module
 */
import { normalizeArch, type Arch } from '../arch.ts';

/** A cluster member as `incus cluster list REMOTE: -f json` reports it. */
export interface Member {
  name: string;
  /** Incus spelling (x86_64, aarch64). */
  architecture: string;
  arch?: Arch;
  /** `Online`, `Offline`, `Evacuated`... */
  status: string;
}

/** Parses `incus cluster list REMOTE: -f json`. */
export function parseMembers(json: string): Member[] {
  const list = JSON.parse(json) as Array<{ server_name: string; architecture: string; status?: string }>;
  return list.map((m) => ({ name: m.server_name, architecture: m.architecture, arch: normalizeArch(m.architecture), status: m.status ?? 'Online' }));
}

/** Where one node's container goes: the member (none off a cluster), the image, and a note for the log. */
export interface Placement {
  target?: string;
  image: string;
  /** Set when the node runs through qemu-user (no member of its architecture). */
  emulated?: string;
}

/** Picks members for nodes; one per executor (the turn-taking is per run). */
export class Placer {
  private readonly turn = new Map<string, number>();

  /**
   * @param members the cluster's members (empty: not a cluster)
   * @param images the builder image per architecture available on the remote
   */
  constructor(private readonly members: Member[], private readonly images: Partial<Record<Arch, string>>, private readonly targets: Partial<Record<Arch | 'all', string>> = {}) {}

  /** Where a node of architecture `arch` runs. */
  place(arch: Arch | undefined, fallbackImage: string): Placement {
    const pinned = arch ? this.targets[arch] ?? this.targets.all : undefined;
    if (pinned && this.images[arch!]) return { target: pinned, image: this.images[arch!]! };
    const online = this.members.filter((m) => m.status === 'Online' && m.arch);
    if (!online.length) return { image: arch ? this.images[arch] ?? fallbackImage : fallbackImage };
    const native = arch ? online.filter((m) => m.arch === arch && this.images[arch]) : [];
    if (native.length) return { target: this.next(arch!, native).name, image: this.images[arch!]! };
    // No member of the node's architecture (or no builder image for it): qemu-user in a builder
    // of an architecture the cluster has, on a member of that architecture.
    const hosts = online.filter((m) => this.images[m.arch!]);
    if (!hosts.length) return { image: fallbackImage, emulated: `no online cluster member has a builder image (members: ${online.map((m) => `${m.name} ${m.architecture}`).join(', ')})` };
    const m = this.next(hosts[0].arch!, hosts.filter((h) => h.arch === hosts[0].arch));
    return {
      target: m.name, image: this.images[m.arch!]!,
      emulated: `no online cluster member of architecture ${arch ?? 'unknown'}: running through qemu-user inside a builder on ${m.name} (${m.architecture})`,
    };
  }

  private next(arch: string, of: Member[]): Member {
    const i = this.turn.get(arch) ?? 0;
    this.turn.set(arch, i + 1);
    return of[i % of.length];
  }
}
