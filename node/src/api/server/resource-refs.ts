/**
 * ResourceRefs (where a resource's objects live in the store) from the registry's definitions.
 */
import type { ResourceDefinition, ResourceRegistry } from '../discovery/resources.ts'
import type { ResourceRef } from './object-store.ts'

/** The ref of a registered resource. */
export function refOf(definition: ResourceDefinition): ResourceRef {
  return {
    group: definition.group,
    resource: definition.name,
    kind: definition.kind,
    apiVersion: definition.group === '' ? definition.version : `${definition.group}/${definition.version}`,
    namespaced: definition.namespaced,
  }
}

/** The Namespace resource (core v1). */
export const NAMESPACES: ResourceRef = { group: '', resource: 'namespaces', kind: 'Namespace', apiVersion: 'v1', namespaced: false }

/**
 * Every stored resource of the registry, once per store location: a resource served in several
 * versions lives in one place, so only its first version is kept.
 */
export function storedResources(registry: ResourceRegistry): ResourceRef[] {
  const seen = new Set<string>()
  const refs: ResourceRef[] = []
  for (const groupVersion of registry.groupVersions()) {
    for (const definition of registry.resourcesOf(groupVersion.group, groupVersion.version) ?? []) {
      const location = `${definition.group}/${definition.name}`
      if (seen.has(location)) continue
      seen.add(location)
      refs.push(refOf(definition))
    }
  }
  return refs
}
