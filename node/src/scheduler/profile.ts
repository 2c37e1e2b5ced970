/**
 * Scheduler configuration and the plugin set it selects (a "profile", as in kube-scheduler).
 *
 * Every field has a default that matches kube-scheduler's default profile, except
 * `percentageOfNodesToScore`, which defaults to 100 (evaluate every node) rather than kube's
 * adaptive sampling: a cluster of homelab size loses nothing by looking at every node, and the
 * full evaluation makes each decision the best one the plugins can find. Set it to 0 for kube's
 * adaptive rule, or to a percentage, to trade placement quality for throughput on big clusters
 * (see schedule.ts `feasibleNodesToFind`).
 */
import { InvalidConfigError } from '../../../lib/errors.ts'
import { FILTER_PLUGIN_NAMES, SCORE_PLUGIN_NAMES, type FilterPlugin, type FilterPluginName, type ScorePlugin, type ScorePluginName } from './framework.ts'
import { interPodAffinityFilterPlugin, interPodAffinityScorePlugin } from './plugins/inter-pod-affinity.ts'
import { nodeAffinityFilterPlugin, nodeAffinityScorePlugin } from './plugins/node-affinity.ts'
import { nodeNamePlugin } from './plugins/node-name.ts'
import { nodePortsPlugin } from './plugins/node-ports.ts'
import { nodeResourcesBalancedAllocationPlugin } from './plugins/node-resources-balanced-allocation.ts'
import { nodeResourcesFitFilterPlugin, nodeResourcesFitScorePlugin, type ResourceWeight, type ScoringStrategy } from './plugins/node-resources-fit.ts'
import { nodeUnschedulablePlugin } from './plugins/node-unschedulable.ts'
import { podTopologySpreadFilterPlugin, podTopologySpreadScorePlugin } from './plugins/pod-topology-spread.ts'
import { taintTolerationFilterPlugin, taintTolerationScorePlugin } from './plugins/taint-toleration.ts'
import { volumeBindingPlugin } from './plugins/volume-binding.ts'

/** What can be configured. */
export interface SchedulerConfig {
  /** NodeResourcesFit scoring: LeastAllocated spreads, MostAllocated bin-packs. */
  readonly scoringStrategy: ScoringStrategy
  /** Resources and weights of the NodeResourcesFit score. */
  readonly resourceWeights: readonly ResourceWeight[]
  /** Weight of each score plugin; 0 disables a plugin's score. */
  readonly scoreWeights: Readonly<Record<ScorePluginName, number>>
  /** Filter plugins to leave out (none by default). */
  readonly disabledFilters: readonly FilterPluginName[]
  /**
   * Share of the nodes to find feasible before scoring stops looking, in percent: 100 looks at
   * every node; 0 applies kube's adaptive rule (50% minus 1% per 125 nodes, at least 5%); either
   * way at least `minFeasibleNodesToFind` nodes are looked for.
   */
  readonly percentageOfNodesToScore: number
  /** The floor of the sampling above (kube's minFeasibleNodesToFind). */
  readonly minFeasibleNodesToFind: number
  /** Weight of placed pods' required affinity terms in the InterPodAffinity score (0–100). */
  readonly hardPodAffinityWeight: number
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = Object.freeze({
  scoringStrategy: 'LeastAllocated',
  resourceWeights: Object.freeze([
    { name: 'cpu', weight: 1 },
    { name: 'memory', weight: 1 },
  ]),
  // kube-scheduler's default weights: taints matter most, then affinity and spreading, then load.
  scoreWeights: Object.freeze({
    TaintToleration: 3,
    NodeAffinity: 2,
    NodeResourcesFit: 1,
    PodTopologySpread: 2,
    InterPodAffinity: 2,
    NodeResourcesBalancedAllocation: 1,
  }),
  disabledFilters: Object.freeze([]),
  percentageOfNodesToScore: 100,
  minFeasibleNodesToFind: 100,
  hardPodAffinityWeight: 1,
})

/** Overrides of the defaults; score weights may be given for some plugins only. */
export type SchedulerConfigOverrides = Partial<Omit<SchedulerConfig, 'scoreWeights'>> & {
  readonly scoreWeights?: Partial<Record<ScorePluginName, number>>
}

/** The plugins one configuration selects, in run order. */
export interface SchedulerProfile {
  readonly config: SchedulerConfig
  readonly filters: readonly FilterPlugin[]
  readonly scorers: readonly { readonly plugin: ScorePlugin; readonly weight: number }[]
}

/**
 * A profile from the defaults overridden by `overrides`.
 * @throws InvalidConfigError when a value is out of range.
 */
export function schedulerProfile(overrides: SchedulerConfigOverrides = {}): SchedulerProfile {
  const config: SchedulerConfig = {
    ...DEFAULT_SCHEDULER_CONFIG,
    ...overrides,
    scoreWeights: { ...DEFAULT_SCHEDULER_CONFIG.scoreWeights, ...overrides.scoreWeights },
  }
  validate(config)
  const filterPlugins: Record<FilterPluginName, FilterPlugin> = {
    NodeUnschedulable: nodeUnschedulablePlugin,
    NodeName: nodeNamePlugin,
    TaintToleration: taintTolerationFilterPlugin,
    NodeAffinity: nodeAffinityFilterPlugin,
    NodePorts: nodePortsPlugin,
    NodeResourcesFit: nodeResourcesFitFilterPlugin,
    VolumeBinding: volumeBindingPlugin,
    PodTopologySpread: podTopologySpreadFilterPlugin,
    InterPodAffinity: interPodAffinityFilterPlugin,
  }
  const scorePlugins: Record<ScorePluginName, ScorePlugin> = {
    TaintToleration: taintTolerationScorePlugin,
    NodeAffinity: nodeAffinityScorePlugin,
    NodeResourcesFit: nodeResourcesFitScorePlugin(config.scoringStrategy, config.resourceWeights),
    PodTopologySpread: podTopologySpreadScorePlugin,
    InterPodAffinity: interPodAffinityScorePlugin(config.hardPodAffinityWeight),
    NodeResourcesBalancedAllocation: nodeResourcesBalancedAllocationPlugin,
  }
  const disabled = new Set(config.disabledFilters)
  return {
    config,
    filters: FILTER_PLUGIN_NAMES.filter((name) => !disabled.has(name)).map((name) => filterPlugins[name]),
    scorers: SCORE_PLUGIN_NAMES.filter((name) => config.scoreWeights[name] > 0).map((name) => ({ plugin: scorePlugins[name], weight: config.scoreWeights[name] })),
  }
}

/** The default profile. */
export const DEFAULT_SCHEDULER_PROFILE: SchedulerProfile = schedulerProfile()

function validate(config: SchedulerConfig): void {
  if (config.scoringStrategy !== 'LeastAllocated' && config.scoringStrategy !== 'MostAllocated') {
    throw new InvalidConfigError(`Cannot use scoring strategy "${String(config.scoringStrategy)}": expected LeastAllocated or MostAllocated`)
  }
  for (const [name, weight] of Object.entries(config.scoreWeights)) {
    if (!SCORE_PLUGIN_NAMES.includes(name as ScorePluginName)) throw new InvalidConfigError(`Cannot weigh unknown score plugin "${name}"`)
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) throw new InvalidConfigError(`Score weight of ${name} must be an integer in [0, 100]: current value is ${weight}`)
  }
  for (const { name, weight } of config.resourceWeights) {
    if (!Number.isInteger(weight) || weight < 1 || weight > 100) throw new InvalidConfigError(`Resource weight of ${name} must be an integer in [1, 100]: current value is ${weight}`)
  }
  for (const name of config.disabledFilters) {
    if (!FILTER_PLUGIN_NAMES.includes(name)) throw new InvalidConfigError(`Cannot disable unknown filter plugin "${name}"`)
  }
  const percentage = config.percentageOfNodesToScore
  if (!Number.isInteger(percentage) || percentage < 0 || percentage > 100) {
    throw new InvalidConfigError(`percentageOfNodesToScore must be an integer in [0, 100]: current value is ${percentage}`)
  }
  if (!Number.isInteger(config.minFeasibleNodesToFind) || config.minFeasibleNodesToFind < 1) {
    throw new InvalidConfigError(`minFeasibleNodesToFind must be a positive integer: current value is ${config.minFeasibleNodesToFind}`)
  }
  const hard = config.hardPodAffinityWeight
  if (!Number.isInteger(hard) || hard < 0 || hard > 100) throw new InvalidConfigError(`hardPodAffinityWeight must be an integer in [0, 100]: current value is ${hard}`)
}
