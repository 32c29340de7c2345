/**
 * Runs the nodes of a plan as a DAG on p-queue: a base builds once however many appliances need
 * it, packages layers and images on a built base run in parallel up to `-j` each (two pools:
 * tree builds wait on the network and the disk, packs on the CPU, so one of each overlaps well
 * even on 2 cores), and a node that
 * fails fails its dependants with one message naming it and its log. Waiting for a parent never
 * holds a slot of the pool (the child is queued only once its parent is done), so any `-j` works.
 * @module
 */
import type PQueue from 'p-queue';
import type { NodePlan } from './node-plan.ts';
import { refOf } from './node-plan.ts';
import type { TargetPlan } from './plan.ts';
import type { NodeRecord, NodeRef } from './record.ts';
import { runTreeNode, type NodeOutcome, type RunContext } from './tree-node.ts';
import { packImage, type PackResult } from './image-node.ts';
import type { RemoteCache } from '../cache/stage.ts';
import { lostTree } from './executor.ts';

/** A tree ready to build on, or why it is not. */
type Ready = { ok: true; record: NodeRecord; chain: NodeRef[] } | { ok: false; message: string };

/** Scheduling state of one run. */
export class Scheduler {
  private ready = new Map<string, Promise<Ready>>();
  /** Set after the first failure when `failFast`: nothing new starts. */
  stopped = false;

  /**
   * @param trees pool of `build-dir` runs (downloads and package installs: network and disk bound)
   * @param packs pool of `pack-incus` runs (squashfs compression: CPU bound, itself multi-threaded)
   */
  constructor(private trees: PQueue, private packs: PQueue, private rc: RunContext, private failFast: boolean, private cache?: RemoteCache) {}

  /** Builds (once) or reuses the tree of `n`, after its parent's. */
  tree(n: NodePlan): Promise<Ready> {
    let t = this.ready.get(n.node);
    if (!t) {
      t = this.runTreeAfterParent(n);
      this.ready.set(n.node, t);
    }
    return t;
  }

  private async runTreeAfterParent(n: NodePlan): Promise<Ready> {
    // A fresh tree is used as it is: its parent is not even looked at (it may be gone).
    if (n.status === 'fresh') return { ok: true, record: n.record!, chain: [...(n.record!.parent ? [n.record!.parent] : []), refOf(n)] };
    // Looked up before the parent: a fetched packages layer needs no base here at all.
    const hit = await this.fromCache(n);
    if (hit) return hit;
    let parent = n.parent ? await this.tree(n.parent) : undefined;
    if (parent && !parent.ok) return parent;
    let out = await this.buildTree(n, parent);
    // The parent's tree, left on the builder, is gone or changed there: restored, then once more.
    if (!out.ok && n.parent && parent?.ok && lostTree(out.message) === parent.record.tree) {
      parent = await this.restore(n.parent, out.message);
      if (!parent.ok) return parent;
      out = await this.buildTree(n, parent);
    }
    if (!out.ok) {
      if (out.log) this.rc.emit({ type: 'failed', target: n.node, ms: out.ms, message: out.message, log: out.log, tail: out.tail });
      return { ok: false, message: out.log ? `${n.node} failed: ${out.message} (log: ${out.log})` : out.message };
    }
    this.rc.emit({ type: 'built', target: n.node, ms: out.ms });
    this.cache?.storeTree(n, out.record);
    const chain = parent?.ok ? parent.chain : [];
    return { ok: true, record: out.record, chain: [...chain, refOf(n, out.record)] };
  }

  /** Runs tree node `n` in the pool, on `parent`'s tree. */
  private buildTree(n: NodePlan, parent: Ready | undefined): Promise<NodeOutcome> {
    return this.trees.add(async (): Promise<NodeOutcome> => {
      if (this.stopped || this.rc.signal.aborted) return { ok: false, message: this.rc.signal.aborted ? 'interrupted' : 'an earlier build failed and --fail-fast is set', log: '', tail: [], ms: 0 };
      this.rc.emit({ type: 'start', target: n.node });
      const r = await runTreeNode(n, parent?.ok ? parent.record : undefined, this.rc);
      // Before the pool starts the next task: it must see the stop.
      if (!r.ok && this.failFast && !lostTree(r.message)) this.stopped = true;
      return r;
    });
  }

  /** Runs node `n` again as a restore (its tree was lost where it was left); its children keep their chain. */
  private restore(n: NodePlan, why: string): Promise<Ready> {
    this.rc.emit({ type: 'info', message: `${n.node}: ${why}; restoring it` });
    Object.assign(n, { status: 'stale', refresh: false, reasons: [`${why}: restoring it`] });
    this.ready.delete(n.node);
    return this.tree(n);
  }

  /** Tree node `n` installed from the remote cache, or undefined (no cache, a miss, a problem). */
  private async fromCache(n: NodePlan): Promise<Ready | undefined> {
    const cache = this.cache;
    if (!cache) return undefined;
    const got = await this.trees.add(async () => {
      if (this.stopped || this.rc.signal.aborted) return undefined;
      return cache.fetchTree(n);
    });
    if (!got) return undefined;
    this.rc.emit({ type: 'cached', target: n.node, ms: got.ms, bytes: got.bytes });
    return { ok: true, record: got.record, chain: [...(got.record.parent ? [got.record.parent] : []), refOf(n, got.record)] };
  }

  /** Builds a stale target's image once the tree it is packed on is ready. */
  async image(tp: TargetPlan): Promise<PackResult & { skipped?: boolean; cached?: number }> {
    const cache = this.cache;
    if (cache) {
      // Looked up first: an image from the cache needs none of its trees.
      const got = await this.packs.add(async () => (this.stopped || this.rc.signal.aborted ? undefined : cache.fetchImage(tp)));
      if (got) return { target: tp.target, ok: true, ms: got.ms, record: got.record, log: '', cached: got.bytes };
    }
    const own = tp.chain!.at(-1)!;
    let tree = await this.tree(own);
    if (!tree.ok) return { target: tp.target, ok: false, ms: 0, message: tree.message, log: '', skipped: true };
    let r = await this.pack(tp, tree);
    // The tree, left on the builder, is gone or changed there: restored, then packed once more.
    if (!r.ok && lostTree(r.message) === tree.record.tree) {
      tree = await this.restore(own, r.message!);
      if (!tree.ok) return { target: tp.target, ok: false, ms: 0, message: tree.message, log: '', skipped: true };
      r = await this.pack(tp, tree);
    }
    if (r.ok && r.record) this.cache?.storeImage(r.record);
    return r;
  }

  /** Packs `tp`'s image in the pool, on `tree`. */
  private pack(tp: TargetPlan, tree: Extract<Ready, { ok: true }>): Promise<PackResult & { skipped?: boolean }> {
    return this.packs.add(async () => {
      if (this.stopped || this.rc.signal.aborted) {
        return { target: tp.target, ok: false, ms: 0, message: this.rc.signal.aborted ? 'interrupted' : 'an earlier build failed and --fail-fast is set', log: '', skipped: true };
      }
      this.rc.emit({ type: 'start', target: tp.target });
      const r = await packImage(tp, tree.record, tree.chain, this.rc);
      // Before the pool starts the next task: it must see the stop (a lost tree is restored, not a failure).
      if (!r.ok && this.failFast && !lostTree(r.message)) this.stopped = true;
      return r;
    });
  }
}
