/**
 * Manifests for `apply -f` and `delete -f`: files, directories and stdin, split into objects.
 *
 * - A file holds YAML documents separated by `---`, or JSON (one object or a List); empty
 *   documents (a leading `---`, comments only) are skipped.
 * - `kind: List` (and `…List` kinds with `items`) are flattened into their items, as kubectl does.
 * - A directory contributes its `.yaml`, `.yml` and `.json` files in name order (subdirectories
 *   only with `recursive`).
 * - `-` reads stdin.
 *
 * Every object must have `apiVersion`, `kind` and `metadata.name`; a document that lacks one is a
 * CommandError naming the source and document number, before anything is sent.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { CommandError } from './errors.ts'

/** One object of a manifest and where it came from (for messages). */
export interface ManifestObject {
  readonly object: JsonObject
  /** The file name, or `-` for stdin. */
  readonly source: string
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json'])

/**
 * Splits manifest text into objects (see the module comment).
 * @throws CommandError for YAML or JSON syntax errors and for objects missing apiVersion, kind or name.
 */
export function splitManifest(text: string, source: string): JsonObject[] {
  const documents: unknown[] = []
  const trimmed = text.trimStart()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      documents.push(JSON.parse(text) as unknown)
    } catch (error) {
      throw new CommandError(`${source}: invalid JSON: ${(error as Error).message}`)
    }
  } else {
    for (const [index, document] of parseAllDocuments(text).entries()) {
      const problem = document.errors[0]
      if (problem !== undefined) throw new CommandError(`${source}: YAML document ${index + 1}: ${problem.message.split('\n')[0]}`)
      documents.push(document.toJS() as unknown)
    }
  }
  const objects: JsonObject[] = []
  let number = 0
  for (const document of documents) {
    for (const object of flattenLists(document)) {
      number += 1
      objects.push(checkObject(object, source, number))
    }
  }
  return objects
}

/**
 * Reads every manifest under `paths` (files, directories, `-` for stdin) in order.
 * @throws CommandError for missing paths, unreadable files and invalid documents.
 */
export async function readManifests(paths: readonly string[], options: { recursive: boolean; readStdin: () => Promise<string> }): Promise<ManifestObject[]> {
  if (paths.length === 0) throw new CommandError('must specify one of -f or -k')
  const result: ManifestObject[] = []
  for (const path of paths) {
    if (path === '-') {
      for (const object of splitManifest(await options.readStdin(), '-')) result.push({ object, source: '-' })
      continue
    }
    for (const file of manifestFiles(path, options.recursive, true)) {
      let text: string
      try {
        text = readFileSync(file, 'utf8')
      } catch (error) {
        throw new CommandError(`cannot read ${file}: ${(error as Error).message}`)
      }
      for (const object of splitManifest(text, file)) result.push({ object, source: file })
    }
  }
  if (result.length === 0) throw new CommandError(`no objects found in ${paths.join(', ')}`)
  return result
}

/** The manifest files of a path: itself, or a directory's manifest files in name order. */
function manifestFiles(path: string, recursive: boolean, top: boolean): string[] {
  let isDirectory: boolean
  try {
    isDirectory = statSync(path).isDirectory()
  } catch {
    throw new CommandError(`the path "${path}" does not exist`)
  }
  if (!isDirectory) return [path]
  if (!top && !recursive) return []
  const files: string[] = []
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const child = join(path, entry.name)
    if (entry.isDirectory()) files.push(...manifestFiles(child, recursive, false))
    else if (MANIFEST_EXTENSIONS.has(extname(entry.name))) files.push(child)
  }
  return files
}

/** A document's objects: nothing for an empty document, the items of a List, else itself. */
function flattenLists(document: unknown): unknown[] {
  if (document === null || document === undefined) return []
  if (Array.isArray(document)) return document.flatMap(flattenLists)
  if (isJsonObject(document) && typeof document['kind'] === 'string' && document['kind'].endsWith('List') && Array.isArray(document['items'])) {
    return document['items'].flatMap(flattenLists)
  }
  return [document]
}

function checkObject(value: unknown, source: string, number: number): JsonObject {
  if (!isJsonObject(value)) throw new CommandError(`${source}: object ${number} is not a mapping`)
  const missing: string[] = []
  if (typeof value['apiVersion'] !== 'string' || value['apiVersion'] === '') missing.push('apiVersion not set')
  if (typeof value['kind'] !== 'string' || value['kind'] === '') missing.push('kind not set')
  const metadata = value['metadata']
  if (!isJsonObject(metadata) || typeof metadata['name'] !== 'string' || metadata['name'] === '') missing.push('metadata.name not set')
  if (missing.length > 0) throw new CommandError(`error validating "${source}" (object ${number}): [${missing.join(', ')}]`)
  return value
}
