/**
 * PATCH bodies: which patch type a Content-Type names, and one function per patch type that is a
 * pure patch (from the body text and the current object to the patched object). Every PATCH path
 * (the resource, `/status`, `/scale`) goes through `patchTypeFor`, so supporting another patch
 * type means adding one entry here.
 *
 * Server-side apply (`application/apply-patch+yaml`) is a patch type but not a patch function:
 * it needs the field managers and may create the object, so object-apply.ts serves it.
 */
import type { JsonObject } from '../machinery/canonical.ts'
import { PATCH_MEDIA_TYPES, applyPatch, type PatchType } from '../machinery/patch.ts'
import { unsupportedMediaType } from '../machinery/status.ts'
import { checkNestingDepth, decodeBody, mediaTypeOf } from './request-body.ts'

/** Applies one PATCH body to the current object; throws ApiError 400/422 for bad patches. */
export type Patcher = (current: JsonObject, bodyText: string) => JsonObject

/** The patch types that are plain patches. */
export type PlainPatchType = Exclude<PatchType, 'apply'>

/** The patch function of each plain patch type. JSON-based bodies are JSON text, whatever a client's habit. */
export const PATCHERS: Readonly<Record<PlainPatchType, Patcher>> = {
  json: (current, bodyText) => checkedResult(applyPatch('json', current, decodeBody(bodyText, 'json'))),
  merge: (current, bodyText) => checkedResult(applyPatch('merge', current, decodeBody(bodyText, 'json'))),
  strategic: (current, bodyText) => checkedResult(applyPatch('strategic', current, decodeBody(bodyText, 'json'))),
}

/** Every patch type, in the order kube-apiserver lists them in a 415. */
export const ALL_PATCH_TYPES: readonly PatchType[] = ['json', 'merge', 'strategic', 'apply']

/**
 * A JSON Patch can nest deeper than its body (`copy` an object into itself, repeatedly), so the
 * result is held to the body's nesting limit too.
 */
function checkedResult(patched: JsonObject): JsonObject {
  checkNestingDepth(patched, 'the patched object')
  return patched
}

/**
 * The patch type a PATCH request's Content-Type selects among `supported`.
 * @throws ApiError 415 UnsupportedMediaType (listing the supported types) for any other type.
 */
export function patchTypeFor<T extends PatchType = PatchType>(contentType: string | undefined, supported: readonly T[] = ALL_PATCH_TYPES as readonly T[]): T {
  const mediaType = mediaTypeOf(contentType)
  const type = supported.find((candidate) => PATCH_MEDIA_TYPES[candidate] === mediaType)
  if (type === undefined) throw unsupportedMediaType(supported.map((candidate) => PATCH_MEDIA_TYPES[candidate]))
  return type
}
