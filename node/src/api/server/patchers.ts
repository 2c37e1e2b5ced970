/**
 * PATCH bodies: one function per patch Content-Type, from the body text and the current object to
 * the patched object. Every PATCH path (the resource, `/status`, `/scale`) goes through
 * `patcherFor`, so supporting another patch type means adding one entry here.
 *
 * Server-side apply (`application/apply-patch+yaml`) has no entry yet and is answered with 415
 * UnsupportedMediaType like any other unknown type; it needs field ownership
 * (managedFields), which is a module of its own.
 */
import type { JsonObject } from '../machinery/canonical.ts'
import { PATCH_MEDIA_TYPES, applyPatch, type PatchType } from '../machinery/patch.ts'
import { unsupportedMediaType } from '../machinery/status.ts'
import { decodeBody, mediaTypeOf } from './request-body.ts'

/** What a patch function may need beyond the body and the object. */
export interface PatchContext {
  /** The request URL (server-side apply reads `fieldManager` and `force` from it). */
  readonly url: URL
}

/** Applies one PATCH body to the current object; throws ApiError 400/422 for bad patches. */
export type Patcher = (current: JsonObject, bodyText: string, context: PatchContext) => JsonObject

/** The patch types served, by type. JSON-based bodies are JSON text, whatever a client's habit. */
export const PATCHERS: Readonly<Partial<Record<PatchType, Patcher>>> = {
  json: (current, bodyText) => applyPatch('json', current, decodeBody(bodyText, 'json')),
  merge: (current, bodyText) => applyPatch('merge', current, decodeBody(bodyText, 'json')),
  strategic: (current, bodyText) => applyPatch('strategic', current, decodeBody(bodyText, 'json')),
}

/**
 * The patch function a PATCH request's Content-Type selects.
 * @throws ApiError 415 UnsupportedMediaType (listing the served types) for any other type.
 */
export function patcherFor(contentType: string | undefined): { readonly type: PatchType; readonly patch: Patcher } {
  const mediaType = mediaTypeOf(contentType)
  for (const [type, patch] of Object.entries(PATCHERS) as Array<[PatchType, Patcher | undefined]>) {
    if (patch !== undefined && PATCH_MEDIA_TYPES[type] === mediaType) return { type, patch }
  }
  throw unsupportedMediaType(Object.keys(PATCHERS).map((type) => PATCH_MEDIA_TYPES[type as PatchType]))
}
