/**
 * Where the HorizontalPodAutoscaler controller reads pod resource usage: the small contract the
 * node agents' stats will implement (the Docker agent's container stats, a later issue), and a
 * hollow source whose numbers simulations set.
 *
 * Without a source the controller does not guess: autoscalers get ScalingActive=False with reason
 * FailedGetResourceMetric, as on a Kubernetes cluster without metrics-server.
 */

/** One pod's current usage, summed over its containers. */
export interface PodUsage {
  readonly cpuMillicores: number
  readonly memoryBytes: number
}

/** Recent resource usage of pods, by namespace and name. */
export interface PodMetricsSource {
  /** The pod's latest usage sample; undefined when there is none (not yet scraped, gone). */
  podUsage(namespace: string, podName: string): PodUsage | undefined
}

/**
 * Usage numbers a simulation decides: per pod, else per namespace (every pod of it), else none.
 */
export class HollowPodMetrics implements PodMetricsSource {
  private readonly byPod = new Map<string, PodUsage>()
  private readonly byNamespace = new Map<string, PodUsage>()

  /** Sets one pod's usage (undefined: forget it, falling back to its namespace's). */
  setPod(namespace: string, podName: string, usage: PodUsage | undefined): void {
    const key = `${namespace}/${podName}`
    if (usage === undefined) this.byPod.delete(key)
    else this.byPod.set(key, usage)
  }

  /** Sets the usage of every pod of a namespace without its own (undefined: no samples). */
  setNamespace(namespace: string, usage: PodUsage | undefined): void {
    if (usage === undefined) this.byNamespace.delete(namespace)
    else this.byNamespace.set(namespace, usage)
  }

  podUsage(namespace: string, podName: string): PodUsage | undefined {
    return this.byPod.get(`${namespace}/${podName}`) ?? this.byNamespace.get(namespace)
  }
}
