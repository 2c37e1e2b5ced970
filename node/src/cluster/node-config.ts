/**
 * A node's data directory: identity, cluster secret and the replicated state, all in one place so
 * that restarting a node with its directory resumes it without rejoining.
 *
 *   <data>/node.json   { clusterId, nodeId, name, zone, listen, apiPort, kubeListen }  mode 0600
 *   <data>/secret      the 32-byte cluster join secret                         mode 0600
 *   <data>/peer.key    libp2p Ed25519 identity (protobuf)                      mode 0600
 *   <data>/raft/       LevelDB: Raft log, hard state, snapshots, and the store
 *   <data>/tls/       the node's serving certificate and key for the Kubernetes API   mode 0600
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FlotillaError } from '../../../lib/errors.ts'

export class NodeConfigError extends FlotillaError {
  override name = 'NodeConfigError'
}

export interface NodeConfig {
  readonly clusterId: string
  /** Random 64-bit id, hex; never reused, so a removed node that comes back joins as a new one. */
  readonly nodeId: string
  /** Human name, unique in the cluster (defaults to the host name). */
  readonly name: string
  /** Value of the topology.kubernetes.io/zone label. */
  readonly zone: string
  /** libp2p listen multiaddrs. */
  readonly listen: readonly string[]
  /** Local admin/API port on 127.0.0.1 for the CLI. */
  readonly apiPort: number
  /** host:port where the Kubernetes API (HTTPS) listens; 0.0.0.0:6443 when absent. */
  readonly kubeListen?: string
}

export const NODE_NAME_PATTERN = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/

export function newNodeId(): string {
  return randomBytes(8).toString('hex')
}

export function newClusterId(): string {
  return `c-${randomBytes(8).toString('hex')}`
}

export function newJoinSecret(): Uint8Array {
  return new Uint8Array(randomBytes(32))
}

/** Checks a node name like Kubernetes checks node names (DNS subdomain, lower case). */
export function validateNodeName(name: string): void {
  if (!NODE_NAME_PATTERN.test(name)) {
    throw new NodeConfigError(`Invalid node name "${name}": use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (at most 63 characters)`)
  }
}

export function raftDirectory(dataDirectory: string): string {
  return join(dataDirectory, 'raft')
}

export function peerKeyPath(dataDirectory: string): string {
  return join(dataDirectory, 'peer.key')
}

export function isInitialized(dataDirectory: string): boolean {
  return existsSync(join(dataDirectory, 'node.json'))
}

/** Writes a new node's identity; refuses to overwrite an existing one. */
export function writeNodeConfig(dataDirectory: string, config: NodeConfig, secret: Uint8Array): void {
  validateNodeName(config.name)
  if (isInitialized(dataDirectory)) {
    throw new NodeConfigError(`${dataDirectory} already holds a Flotilla node (${join(dataDirectory, 'node.json')}); start it with \`flotilla start --data ${dataDirectory}\` or choose another directory`)
  }
  mkdirSync(dataDirectory, { recursive: true, mode: 0o700 })
  writeFileSync(join(dataDirectory, 'secret'), secret, { mode: 0o600, flag: 'wx' })
  writeFileSync(join(dataDirectory, 'node.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
}

export function readNodeConfig(dataDirectory: string): { config: NodeConfig; secret: Uint8Array } {
  const path = join(dataDirectory, 'node.json')
  if (!existsSync(path)) {
    throw new NodeConfigError(`${dataDirectory} holds no Flotilla node; create one with \`flotilla init\` or \`flotilla join <token>\``)
  }
  let config: NodeConfig
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as NodeConfig
  } catch (error) {
    throw new NodeConfigError(`Cannot read ${path}: ${(error as Error).message}`, { cause: error })
  }
  for (const field of ['clusterId', 'nodeId', 'name', 'zone'] as const) {
    if (typeof config[field] !== 'string' || config[field] === '') throw new NodeConfigError(`${path}: field "${field}" is missing`)
  }
  const secretPath = join(dataDirectory, 'secret')
  const mode = statSync(secretPath).mode & 0o777
  if ((mode & 0o077) !== 0) {
    // A readable secret lets any local user join the cluster; tighten it rather than refuse.
    chmodSync(secretPath, 0o600)
  }
  const secret = new Uint8Array(readFileSync(secretPath))
  if (secret.byteLength !== 32) throw new NodeConfigError(`${secretPath} must hold 32 bytes, found ${secret.byteLength}`)
  return { config, secret }
}
