/**
 * The controller manager: runs the Deployment and ReplicaSet controllers, the scheduler and the
 * node lifecycle controller on the Raft leader, and only there.
 *
 * Leadership is polled from the node (`leadershipPollMs`, 100 ms by default, well inside one
 * election). When this node becomes leader of term T, a session starts:
 *   1. take the controller fence for T (fence.ts): from then on a manager of an older term can no
 *      longer write, wherever its writes were proposed;
 *   2. list and watch pods, ReplicaSets, Deployments, Nodes and Namespaces (shared-informers.ts) —
 *      after the fence, so the caches hold every write of the previous manager that will ever
 *      commit;
 *   3. start the controllers' workers, the scheduler loop and the node lifecycle monitor.
 * When the node stops being leader, or its term changes, the session stops at once: workers take
 * no new keys, plans stop before their next write, and any write already on its way fails at the
 * fence (the next manager moved it) or commits before the next manager lists (Raft orders both).
 * On top, every write carries a resourceVersion or uid precondition (object-client.ts), so no
 * controller ever acts on a state it has not seen.
 *
 * Time and randomness are injected (timers.ts, lib/random.ts); the same seed and the same inputs
 * make the same pod names and placements.
 */
import type { Random } from '../../../../lib/random.ts'
import { ObjectStore, type ObjectBackend } from '../../api/server/object-store.ts'
import type { SchedulerProfile } from '../../scheduler/profile.ts'
import { formatTime } from '../object-fields.ts'
import { ControllerRunner } from './controller-runner.ts'
import { EventRecorder } from './event-recorder.ts'
import { CoalescingBackend } from '../../api/server/coalescing-backend.ts'
import { FencedOutError, acquireFence, type FencedBackend } from './fence.ts'
import { DEFAULT_EVICTION_RATES, NodeLifecycleController, type NodeLiveness } from './node-lifecycle-controller.ts'
import type { EvictionRates } from './node-lifecycle-rules.ts'
import { ObjectClient } from './object-client.ts'
import { ManagerStoppedError, PlanExecutor } from './plan-executor.ts'
import { SchedulerLoop } from './scheduler-loop.ts'
import { SharedInformers } from './shared-informers.ts'
import type { Timer, Timers } from '../../../../lib/timers.ts'
import { EndpointsController } from './endpoints-controller.ts'
import { EndpointSliceController } from './endpoint-slices-controller.ts'
import { HorizontalPodAutoscalerController } from './hpa-controller.ts'
import { ResourceQuotaController } from './resource-quota-controller.ts'
import type { PodMetricsSource } from '../hpa-metrics.ts'
import type { Informer } from './informer.ts'
import { DeploymentController, ReplicaSetController } from './workload-controllers.ts'
import { StatefulSetController } from './statefulset-controller.ts'
import { DaemonSetController } from './daemonset-controller.ts'
import { JobController } from './job-controller.ts'
import { CronJobController } from './cronjob-controller.ts'
import { GarbageCollectorController } from './garbage-collector-controller.ts'
import { NamespaceController } from './namespace-controller.ts'
import { PodGcController } from './pod-gc-controller.ts'
import { LoadBalancerController } from '../load-balancer-controller.ts'

/** Where the manager learns whether its node leads. */
export interface Leadership {
  status(): { readonly isLeader: boolean; readonly term: number }
}

export interface ControllerManagerOptions {
  /** The store as this node sees it (writes go through Raft); the manager fences them itself. */
  readonly backend: ObjectBackend
  readonly leadership: Leadership
  readonly liveness: NodeLiveness
  readonly timers: Timers
  readonly random: Random
  readonly log: (line: string) => void
  /** Who holds the fence (this node's name); also the scheduler's reportingInstance. */
  readonly identity: string
  /** The node this manager runs on (always counted as alive by the lifecycle controller). */
  readonly selfNodeName?: string
  /** Silence after which a node is NotReady (default 5000). */
  readonly nodeNotReadyGraceMs?: number
  /** Toleration of the unreachable/not-ready taints for pods without one (default 5000). */
  readonly podEvictionTimeoutMs?: number
  /** How often the lifecycle controller looks at the nodes (default 500). */
  readonly nodeMonitorPeriodMs?: number
  readonly evictionRates?: Partial<EvictionRates>
  readonly leadershipPollMs?: number
  /** Workers per controller (default 4). */
  readonly workers?: number
  readonly expectationsTimeoutMs?: number
  /** Pod usage for HorizontalPodAutoscalers; without it they report FailedGetResourceMetric. */
  readonly podMetrics?: PodMetricsSource
  readonly scheduler?: {
    readonly profile?: SchedulerProfile
    readonly batchMax?: number
    readonly initialBackoffMs?: number
    readonly maxBackoffMs?: number
    readonly unschedulableFlushMs?: number
  }
}

export const NODE_NOT_READY_GRACE_MS_DEFAULT = 4000
export const POD_EVICTION_TIMEOUT_MS_DEFAULT = 3000
const NODE_MONITOR_PERIOD_MS_DEFAULT = 500
const LEADERSHIP_POLL_MS_DEFAULT = 100
const WORKERS_DEFAULT = 4
const EXPECTATIONS_TIMEOUT_MS_DEFAULT = 30_000
/** Pause before retrying a session that failed to start in the same term. */
const RESTART_DELAY_MS = 1000

/** Errors after which the session must stop rather than retry. */
function isFatal(error: Error): boolean {
  return error instanceof FencedOutError || error instanceof ManagerStoppedError
}

/** Everything that runs for one term of leadership. */
class ManagerSession {
  readonly term: number
  private readonly options: ControllerManagerOptions
  private readonly onEnded: (session: ManagerSession, reason: string) => void
  private fenced: FencedBackend | undefined
  private informers: SharedInformers | undefined
  private recorder: EventRecorder | undefined
  private runners: ControllerRunner[] = []
  /** Informers the Endpoints, ResourceQuota and HPA controllers own (not shared). */
  private ownedInformers: Informer[] = []
  private schedulerLoop: SchedulerLoop | undefined
  private lifecycle: NodeLifecycleController | undefined
  private statefulSetController: StatefulSetController | undefined
  private daemonSetController: DaemonSetController | undefined
  private batchControllers: Array<JobController | CronJobController> = []
  private activeValue = true
  private startedValue = false

  constructor(options: ControllerManagerOptions, term: number, onEnded: (session: ManagerSession, reason: string) => void) {
    this.options = options
    this.term = term
    this.onEnded = onEnded
  }

  /** True until the session stops; a session whose fence was taken ends here. */
  isActive(): boolean {
    if (this.activeValue && this.fenced !== undefined && !this.fenced.holds()) this.end('FencedOutError: another manager took the controller fence')
    return this.activeValue
  }

  /** True once the controllers run. */
  get started(): boolean {
    return this.startedValue
  }

  get scheduler(): SchedulerLoop | undefined {
    return this.schedulerLoop
  }

  get nodeLifecycle(): NodeLifecycleController | undefined {
    return this.lifecycle
  }

  get idle(): boolean {
    if (!this.startedValue) return !this.activeValue
    return (
      this.runners.every((runner) => runner.idle) &&
      (this.schedulerLoop?.idle ?? true) &&
      (this.lifecycle?.idle ?? true) &&
      (this.recorder?.pending ?? 0) === 0
    )
  }

  async start(): Promise<void> {
    const options = this.options
    const { timers, log } = options
    this.fenced = await acquireFence(options.backend, this.term, options.identity)
    if (!this.activeValue) return
    // Writes the controllers issue together (a ReplicaSet's pod creations, a scheduling batch's
    // bindings) commit as one transaction each: see coalescing-backend.ts.
    const objects = new ObjectStore(new CoalescingBackend(this.fenced), { nowIso: () => formatTime(timers.realtimeMs()) })
    const client = new ObjectClient(objects, { log })
    const recorder = new EventRecorder(client, { log })
    this.recorder = recorder
    const isActive = (): boolean => this.isActive()
    const executor = new PlanExecutor({ client, recorder, isActive })
    const informers = new SharedInformers({ objects, timers, log })
    this.informers = informers
    const fatal = (error: Error): void => this.end(`${error.name}: ${error.message}`)
    const workers = options.workers ?? WORKERS_DEFAULT
    const context = { informers, executor, timers, random: options.random, expectationsTimeoutMs: options.expectationsTimeoutMs ?? EXPECTATIONS_TIMEOUT_MS_DEFAULT }
    const replicaSets = new ReplicaSetController(context)
    const deployments = new DeploymentController(context)
    const statefulSets = new StatefulSetController(context, objects, log)
    this.statefulSetController = statefulSets
    const daemonSets = new DaemonSetController(context, objects, log)
    this.daemonSetController = daemonSets
    const jobs = new JobController(context, objects, log)
    const cronJobs = new CronJobController(context, jobs.jobs, objects, log)
    this.batchControllers = [jobs, cronJobs]
    this.runners = [
      new ControllerRunner({ name: 'replicaset-controller', queue: replicaSets.queue, workers, sync: (key) => replicaSets.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'deployment-controller', queue: deployments.queue, workers, sync: (key) => deployments.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'statefulset-controller', queue: statefulSets.queue, workers, sync: (key) => statefulSets.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'daemonset-controller', queue: daemonSets.queue, workers, sync: (key) => daemonSets.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'job-controller', queue: jobs.queue, workers, sync: (key) => jobs.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'cronjob-controller', queue: cronJobs.queue, workers, sync: (key) => cronJobs.sync(key), isFatal, onFatal: fatal, log }),
    ]
    const ownContext = { ...context, objects, log }
    const endpoints = new EndpointsController(ownContext)
    const quotas = new ResourceQuotaController(ownContext)
    const autoscalers = new HorizontalPodAutoscalerController({ ...ownContext, metrics: options.podMetrics })
    this.ownedInformers = [...endpoints.informers, ...quotas.informers, ...autoscalers.informers]
    const endpointSlices = new EndpointSliceController(ownContext)
    this.ownedInformers.push(...endpointSlices.informers)
    this.runners.push(new ControllerRunner({ name: 'endpointslice-controller', queue: endpointSlices.queue, workers, sync: (key) => endpointSlices.sync(key), isFatal, onFatal: fatal, log }))
    const loadBalancers = new LoadBalancerController(ownContext)
    this.ownedInformers.push(...loadBalancers.informers)
    this.runners.push(new ControllerRunner({ name: 'loadbalancer-controller', queue: loadBalancers.queue, workers: 1, sync: (key) => loadBalancers.sync(key), isFatal, onFatal: fatal, log }))
    const garbageCollector = new GarbageCollectorController({ informers, objects, timers, log })
    const namespaceController = new NamespaceController({ informers, objects, timers, log })
    const podGc = new PodGcController({ pods: informers.pods, nodes: informers.nodes, objects, timers, log, podEvictionTimeoutMs: options.podEvictionTimeoutMs ?? POD_EVICTION_TIMEOUT_MS_DEFAULT })
    this.ownedInformers.push(...garbageCollector.informers)
    this.runners.push(
      new ControllerRunner({ name: 'garbage-collector', queue: garbageCollector.queue, workers, sync: (key) => garbageCollector.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'namespace-controller', queue: namespaceController.queue, workers, sync: (key) => namespaceController.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'pod-garbage-collector', queue: podGc.queue, workers: 1, sync: (key) => podGc.sync(key), isFatal, onFatal: fatal, log }),
    )
    this.runners.push(
      new ControllerRunner({ name: 'endpoint-controller', queue: endpoints.queue, workers, sync: (key) => endpoints.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'resourcequota-controller', queue: quotas.queue, workers, sync: (key) => quotas.sync(key), isFatal, onFatal: fatal, log }),
      new ControllerRunner({ name: 'horizontal-pod-autoscaler', queue: autoscalers.queue, workers, sync: (key) => autoscalers.sync(key), isFatal, onFatal: fatal, log }),
    )
    this.schedulerLoop = new SchedulerLoop({
      client,
      recorder,
      pods: informers.pods,
      nodes: informers.nodes,
      namespaces: informers.namespaces,
      volumes: informers,
      timers,
      seed: this.term,
      log,
      isActive,
      isFatal,
      onFatal: fatal,
      reportingInstance: options.identity,
      ...options.scheduler,
    })
    this.lifecycle = new NodeLifecycleController({
      executor,
      nodes: informers.nodes,
      pods: informers.pods,
      liveness: options.liveness,
      timers,
      log,
      isActive,
      isFatal,
      onFatal: fatal,
      ...(options.selfNodeName !== undefined ? { selfNodeName: options.selfNodeName } : {}),
      nodeNotReadyGraceMs: options.nodeNotReadyGraceMs ?? NODE_NOT_READY_GRACE_MS_DEFAULT,
      podEvictionTimeoutMs: options.podEvictionTimeoutMs ?? POD_EVICTION_TIMEOUT_MS_DEFAULT,
      monitorPeriodMs: options.nodeMonitorPeriodMs ?? NODE_MONITOR_PERIOD_MS_DEFAULT,
      rates: { ...DEFAULT_EVICTION_RATES, ...options.evictionRates },
    })
    await informers.start()
    await Promise.all(this.ownedInformers.map((informer) => informer.start()))
    await statefulSets.start()
    await daemonSets.start()
    await Promise.all(this.batchControllers.map((controller) => controller.start()))
    if (!this.activeValue) return this.stopParts()
    for (const runner of this.runners) runner.start()
    this.schedulerLoop.start()
    this.lifecycle.start()
    this.startedValue = true
  }

  /** Stops everything at once (idempotent). */
  stop(): void {
    if (!this.activeValue) return
    this.activeValue = false
    this.stopParts()
  }

  private stopParts(): void {
    for (const runner of this.runners) runner.stop()
    this.schedulerLoop?.stop()
    this.lifecycle?.stop()
    this.informers?.stop()
    for (const informer of this.ownedInformers) informer.stop()
    this.statefulSetController?.stop()
    this.daemonSetController?.stop()
    for (const controller of this.batchControllers) controller.stop()
  }

  private end(reason: string): void {
    if (!this.activeValue) return
    this.stop()
    this.onEnded(this, reason)
  }
}

export class ControllerManager {
  private readonly options: ControllerManagerOptions
  private session: ManagerSession | undefined
  private pollTimer: Timer | undefined
  private stopped = false
  /** A term whose session failed, and when it may be tried again. */
  private retryAfter: { term: number; atMs: number } | undefined

  constructor(options: ControllerManagerOptions) {
    this.options = options
  }

  /** Starts following leadership. */
  start(): void {
    this.poll()
  }

  /** Stops the session, if any, and stops following leadership. */
  stop(): void {
    this.stopped = true
    this.pollTimer?.cancel()
    this.session?.stop()
    this.session = undefined
  }

  /** The term the running session was started for, undefined when not running. */
  get activeTerm(): number | undefined {
    return this.session?.started === true ? this.session.term : undefined
  }

  /** True when the controllers run (this node leads and the session has started). */
  get running(): boolean {
    return this.session?.started === true && this.session.isActive()
  }

  /** True when nothing is under way (no session, or a session with nothing to do right now). */
  get idle(): boolean {
    return this.session === undefined || this.session.idle
  }

  /** The running session's scheduler, for tests and status. */
  get scheduler(): SchedulerLoop | undefined {
    return this.session?.scheduler
  }

  /** The running session's node lifecycle controller, for tests and status. */
  get nodeLifecycle(): NodeLifecycleController | undefined {
    return this.session?.nodeLifecycle
  }

  /** Re-reads leadership now (the poll does this every `leadershipPollMs`). */
  poll(): void {
    if (this.stopped) return
    this.pollTimer?.cancel()
    this.pollTimer = this.options.timers.after(this.options.leadershipPollMs ?? LEADERSHIP_POLL_MS_DEFAULT, () => this.poll())
    const { isLeader, term } = this.options.leadership.status()
    const session = this.session
    if (session !== undefined && (!isLeader || session.term !== term)) {
      this.options.log(`controller manager: ${isLeader ? `term moved to ${term}` : 'no longer the leader'}; stopping the controllers of term ${session.term}`)
      session.stop()
      this.session = undefined
    }
    if (!isLeader || this.session !== undefined) return
    const nowMs = this.options.timers.monotonicMs()
    if (this.retryAfter !== undefined && this.retryAfter.term === term && nowMs < this.retryAfter.atMs) return
    this.startSession(term)
  }

  private startSession(term: number): void {
    const session = new ManagerSession(this.options, term, (ended, reason) => this.sessionEnded(ended, reason))
    this.session = session
    this.options.log(`controller manager: leader of term ${term}; starting the controllers`)
    session.start().then(
      () => {
        if (session.started) this.options.log(`controller manager: controllers of term ${term} running`)
      },
      (error: Error) => this.sessionEnded(session, `could not start: ${error.message}`),
    )
  }

  private sessionEnded(session: ManagerSession, reason: string): void {
    session.stop()
    if (this.session !== session) return
    this.session = undefined
    this.retryAfter = { term: session.term, atMs: this.options.timers.monotonicMs() + RESTART_DELAY_MS }
    this.options.log(`controller manager: controllers of term ${session.term} stopped: ${reason}`)
  }
}
