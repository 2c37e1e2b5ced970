/**
 * The `nft` command line in JSON mode: apply one batch (`nft -j -f <file>`; one netlink
 * transaction, so a batch with any bad command changes nothing) and read a table back
 * (`nft -j list table`). Optionally inside a network namespace (`ip netns exec <ns> nft …`), which
 * is how tests program namespaces they own without touching the host's ruleset.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FlotillaError } from '../../../lib/errors.ts'

/** nft refused a batch or a listing; `stderr` is nft's own message. */
export class NftError extends FlotillaError {
  override name = 'NftError'
  readonly exitCode: number | null
  readonly stderr: string

  constructor(message: string, exitCode: number | null, stderr: string) {
    super(`${message}: ${stderr.trim() || `exit code ${String(exitCode)}`}`)
    this.exitCode = exitCode
    this.stderr = stderr
  }
}

export interface NftOptions {
  /** Run inside this network namespace (`ip netns exec`); the caller's namespace when unset. */
  readonly netns?: string
  /** The nft binary (default `nft`, found on PATH). */
  readonly nftPath?: string
}

interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

function run(options: NftOptions, args: readonly string[], stdin: string | undefined): Promise<RunResult> {
  const nft = options.nftPath ?? 'nft'
  const [command, commandArgs] = options.netns === undefined ? [nft, [...args]] : ['ip', ['netns', 'exec', options.netns, nft, ...args]]
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { stdio: ['pipe', 'pipe', 'pipe'] })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    child.on('error', (error) => reject(new NftError(`cannot run ${command}`, null, error.message)))
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }))
    // EPIPE when nft exits early is reported through its exit code and stderr instead.
    child.stdin.on('error', () => {})
    child.stdin.end(stdin ?? '')
  })
}

/**
 * Applies `batch` (`{ nftables: [...] }`) as one transaction.
 * @throws NftError with nft's message when nft rejects it (then nothing of it was applied).
 */
export async function applyNftBatch(batch: unknown, options: NftOptions = {}): Promise<void> {
  const result = await withBatchFile(batch, (path) => run(options, ['-j', '-f', path], undefined))
  if (result.code !== 0) throw new NftError('nft rejected the batch', result.code, result.stderr)
}

/**
 * Runs `use` with the batch in a private temporary file. `nft -f -` cannot read Node's stdin: Node
 * gives children a socket, and nft opens /dev/stdin, which fails on sockets ("No such device").
 * A command-line argument would hit the kernel's 128 KiB limit on large rulesets.
 */
async function withBatchFile<T>(batch: unknown, use: (path: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'flotilla-nft-'))
  try {
    const path = join(directory, 'batch.json')
    await writeFile(path, JSON.stringify(batch), { mode: 0o600 })
    return await use(path)
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}

/**
 * The table as nft's JSON listing, or undefined when the table does not exist.
 * @throws NftError for any other failure.
 */
export async function listNftTable(family: string, table: string, options: NftOptions = {}): Promise<unknown> {
  const result = await run(options, ['-j', 'list', 'table', family, table], undefined)
  if (result.code !== 0) {
    if (/No such file or directory/.test(result.stderr)) return undefined
    throw new NftError(`nft list table ${family} ${table} failed`, result.code, result.stderr)
  }
  try {
    return JSON.parse(result.stdout) as unknown
  } catch (error) {
    throw new NftError(`nft list table ${family} ${table} printed no JSON`, result.code, String(error))
  }
}

/** Deletes the table if it exists (teardown). */
export async function deleteNftTable(family: string, table: string, options: NftOptions = {}): Promise<void> {
  const batch = { nftables: [{ add: { table: { family, name: table } } }, { delete: { table: { family, name: table } } }] }
  const result = await withBatchFile(batch, (path) => run(options, ['-j', '-f', path], undefined))
  if (result.code !== 0) throw new NftError(`deleting table ${family} ${table} failed`, result.code, result.stderr)
}
