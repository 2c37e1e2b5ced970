/**
 * ResourceQuota enforcement on create: an object that would push a namespace past one of its
 * quotas is refused with 403 Forbidden (`exceeded quota: …`), as kube-apiserver's ResourceQuota
 * admission plugin does. Usage is each quota's `status.used`, which the quota controller on the
 * leader keeps current; unlike Kubernetes, admission does not reserve the amount in the quota
 * with a compare-and-swap, so two creates racing within one controller pass may both fit.
 */
import type { JsonObject } from '../machinery/canonical.ts'
import { forbidden } from '../machinery/status.ts'
import { quotaAdmissionError } from '../../controllers/resource-quota-admission.ts'
import { RESOURCE_QUOTAS } from '../../controllers/resource-quota.ts'
import type { ObjectStore, ResourceRef } from './object-store.ts'

/** Throws 403 Forbidden when creating `object` in `namespace` would exceed a ResourceQuota. */
export async function admitQuota(objects: ObjectStore, resource: ResourceRef, namespace: string, name: string, object: JsonObject): Promise<void> {
  const { items: quotas } = await objects.list(RESOURCE_QUOTAS, namespace)
  if (quotas.length === 0) return
  const message = quotaAdmissionError({ resource: { group: resource.group, resource: resource.resource }, object: { ...object, metadata: { ...(object['metadata'] as JsonObject), namespace } }, quotas })
  if (message !== undefined) throw forbidden({ group: resource.group, resource: resource.resource }, name, message)
}
