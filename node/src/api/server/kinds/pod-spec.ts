/**
 * PodSpec defaults and validation, shared by Pods and every workload's pod template
 * (`SetDefaults_PodSpec`, `ValidatePodSpec`, `ValidatePodTemplateSpec`).
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../../machinery/names.ts'
import { containerListErrors, containerNames, defaultContainer } from './containers.ts'
import { enumErrors, messagesAsErrors, nonNegativeErrors } from './field-checks.ts'
import { ipMessages } from './formats.ts'
import { childPath, indexPath, isInteger, isSet, listAt, objectAt, objectsAt, setDefault, setDefaultUnlessNonZero, stringAt } from './json-access.ts'
import { labelMapErrors } from './labels.ts'
import { annotationErrors } from './metadata.ts'
import { affinityErrors, tolerationsErrors, topologySpreadErrors } from './scheduling.ts'
import { defaultVolume, volumesErrors } from './volumes.ts'

export const RESTART_POLICIES: readonly string[] = ['Always', 'OnFailure', 'Never']
const DNS_POLICIES: readonly string[] = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']
/** Pods get 30 s between SIGTERM and SIGKILL unless they ask otherwise. */
const TERMINATION_GRACE_PERIOD_SECONDS_DEFAULT = 30
const ACTIVE_DEADLINE_SECONDS_MAX = 2 ** 31 - 1

/**
 * Fills a PodSpec's defaults in place: restart policy, DNS policy, scheduler, grace period,
 * security context, and every container's and volume's defaults. On the host network a
 * container port is also its host port.
 */
export function defaultPodSpecInPlace(spec: JsonObject): void {
  setDefaultUnlessNonZero(spec, 'dnsPolicy', 'ClusterFirst')
  setDefaultUnlessNonZero(spec, 'restartPolicy', 'Always')
  setDefault(spec, 'terminationGracePeriodSeconds', TERMINATION_GRACE_PERIOD_SECONDS_DEFAULT)
  setDefaultUnlessNonZero(spec, 'schedulerName', 'default-scheduler')
  setDefault(spec, 'securityContext', {})
  if (!isSet(spec['containers'])) spec['containers'] = []
  for (const list of ['containers', 'initContainers']) {
    for (const container of objectsAt(spec[list])) {
      defaultContainer(container)
      if (spec['hostNetwork'] === true) for (const port of objectsAt(container['ports'])) setDefaultUnlessNonZero(port, 'hostPort', port['containerPort'] ?? 0)
    }
  }
  for (const volume of objectsAt(spec['volumes'])) defaultVolume(volume)
}

/** Fills the defaults of a pod template (`{metadata, spec}`) in place. */
export function defaultPodTemplateInPlace(template: JsonObject): void {
  const spec = isJsonObject(template['spec']) ? template['spec'] : (template['spec'] = {})
  defaultPodSpecInPlace(spec)
}

/** `dnsPolicy: None` needs a `dnsConfig` with at least one nameserver; nameservers are IPs. */
function dnsConfigErrors(spec: JsonObject, path: string): FieldError[] {
  const config = spec['dnsConfig']
  const configPath = childPath(path, 'dnsConfig')
  if (spec['dnsPolicy'] === 'None' && !isSet(config)) return [fieldRequired(configPath, 'must provide `dnsConfig` when `dnsPolicy` is None')]
  const nameservers = listAt(objectAt(config)['nameservers'])
  const errors: FieldError[] = []
  const nameserversPath = childPath(configPath, 'nameservers')
  if (spec['dnsPolicy'] === 'None' && nameservers.length === 0) {
    errors.push(fieldRequired(nameserversPath, 'must provide at least one DNS nameserver when `dnsPolicy` is None'))
  }
  if (nameservers.length > 3) errors.push(fieldInvalid(nameserversPath, nameservers, 'must not have more than 3 nameservers'))
  nameservers.forEach((nameserver, i) => {
    const address = stringAt(nameserver)
    errors.push(...messagesAsErrors(ipMessages(address), indexPath(nameserversPath, i), address))
  })
  return errors
}

/** Optional name-like fields of a pod spec and the rule each follows. */
const NAME_FIELDS: ReadonlyArray<readonly [string, (value: string) => string[]]> = [
  ['serviceAccountName', dns1123SubdomainErrors],
  ['nodeName', dns1123SubdomainErrors],
  ['hostname', dns1123LabelErrors],
  ['subdomain', dns1123LabelErrors],
  ['priorityClassName', dns1123SubdomainErrors],
]

export interface PodSpecOptions {
  /** Volumes that exist without being listed in `volumes` (a StatefulSet's claim templates). */
  readonly extraVolumes?: ReadonlySet<string>
}

/** Every problem of a (defaulted) PodSpec under `path`. */
export function podSpecErrors(spec: JsonObject, path: string, options: PodSpecOptions = {}): FieldError[] {
  const { errors, names: volumes } = volumesErrors(spec['volumes'], childPath(path, 'volumes'))
  for (const name of options.extraVolumes ?? []) volumes.add(name)
  errors.push(...containerListErrors(spec['containers'], childPath(path, 'containers'), { takenNames: new Set(), volumes, init: false }))
  errors.push(...containerListErrors(spec['initContainers'], childPath(path, 'initContainers'), { takenNames: containerNames(spec['containers']), volumes, init: true }))
  errors.push(...enumErrors(spec['restartPolicy'], childPath(path, 'restartPolicy'), RESTART_POLICIES))
  errors.push(...enumErrors(spec['dnsPolicy'], childPath(path, 'dnsPolicy'), DNS_POLICIES))
  errors.push(...labelMapErrors(spec['nodeSelector'], childPath(path, 'nodeSelector')))
  errors.push(...affinityErrors(spec['affinity'], childPath(path, 'affinity')))
  errors.push(...dnsConfigErrors(spec, path))
  errors.push(...topologySpreadErrors(spec['topologySpreadConstraints'], childPath(path, 'topologySpreadConstraints')))
  for (const [field, rule] of NAME_FIELDS) {
    const value = stringAt(spec[field])
    if (value !== '') errors.push(...messagesAsErrors(rule(value), childPath(path, field), value))
  }
  const deadline = spec['activeDeadlineSeconds']
  if (isSet(deadline) && (!isInteger(deadline) || deadline < 1 || deadline > ACTIVE_DEADLINE_SECONDS_MAX)) {
    errors.push(fieldInvalid(childPath(path, 'activeDeadlineSeconds'), deadline, `must be between 1 and ${ACTIVE_DEADLINE_SECONDS_MAX}, inclusive`))
  }
  errors.push(...tolerationsErrors(spec['tolerations'], childPath(path, 'tolerations')))
  errors.push(...nonNegativeErrors(spec['terminationGracePeriodSeconds'], childPath(path, 'terminationGracePeriodSeconds')))
  return errors
}

/** A pod template (`{metadata, spec}`) under `path`: its labels, annotations and spec. */
export function podTemplateErrors(value: JsonValue | undefined, path: string, options: PodSpecOptions = {}): FieldError[] {
  if (!isJsonObject(value)) return [fieldRequired(path)]
  const metadata = objectAt(value['metadata'])
  return [
    ...labelMapErrors(metadata['labels'], childPath(childPath(path, 'metadata'), 'labels')),
    ...annotationErrors(metadata['annotations'], childPath(childPath(path, 'metadata'), 'annotations')),
    ...podSpecErrors(objectAt(value['spec']), childPath(path, 'spec'), options),
  ]
}
