/**
 * Kubeconfig files: which ones to read, how several merge, and what the chosen context means for
 * the REST client — the servers to try in order, their CA and the credentials.
 *
 * Where the file comes from, first match wins:
 *   1. `--kubeconfig FILE` (the file must exist);
 *   2. `$KUBECONFIG`, a colon-separated list merged as kubectl merges it (the first file to name
 *      a cluster, user or context wins, and the first `current-context` wins; missing files are
 *      skipped);
 *   3. `~/.kube/config`;
 *   4. `<data dir>/kubeconfig`, for a node whose operator saved `flotilla kubeconfig` there.
 *      (`flotilla kubeconfig` prints to stdout and writes no file itself.)
 *
 * Failover: `flotilla kubeconfig` writes one cluster per node, all with the same cluster CA, and a
 * context per node. A Flotilla cluster has no master, so when the current context's server does
 * not answer, any other node will do: the endpoints are the current context's cluster first, then
 * every other cluster in the file that carries the same CA (data or file), in file order, all with
 * the current context's user. Clusters with another CA, or none, are never tried in its place, so
 * an unrelated cluster in the same file can never receive a request by accident.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { CommandError } from './errors.ts'

/** A `clusters[].cluster` entry. */
export interface KubeconfigCluster {
  readonly server: string
  /** PEM text of the CA, from `certificate-authority-data` or the file `certificate-authority` names. */
  readonly certificateAuthority?: string
  /** What identifies the CA for failover grouping: the data, or the resolved file path. */
  readonly certificateAuthorityKey?: string
  readonly insecureSkipTlsVerify: boolean
  readonly tlsServerName?: string
}

/** A `users[].user` entry (the credential kinds Flotilla and common clusters use). */
export interface KubeconfigUser {
  readonly token?: string
  readonly clientCertificate?: string
  readonly clientKey?: string
  readonly username?: string
  readonly password?: string
  /** Set when the user needs an exec plugin or auth provider, which this client does not run. */
  readonly unsupported?: string
}

/** A `contexts[].context` entry. */
export interface KubeconfigContext {
  readonly cluster: string
  readonly user: string
  readonly namespace?: string
}

/** One or more kubeconfig files merged. */
export interface Kubeconfig {
  readonly clusters: ReadonlyMap<string, KubeconfigCluster>
  readonly users: ReadonlyMap<string, KubeconfigUser>
  readonly contexts: ReadonlyMap<string, KubeconfigContext>
  readonly currentContext: string | undefined
  /** The files read, for messages. */
  readonly files: readonly string[]
}

/** A server to send requests to, with everything needed to reach it. */
export interface Endpoint {
  /** `https://10.0.0.1:6443` or `http://127.0.0.1:8080`, without a trailing slash. */
  readonly server: string
  readonly clusterName: string
  readonly certificateAuthority?: string
  readonly insecureSkipTlsVerify: boolean
  readonly tlsServerName?: string
  readonly user: KubeconfigUser
}

/** What the verbs talk to: the endpoints in failover order and the default namespace. */
export interface Connection {
  readonly contextName: string
  readonly namespace: string
  readonly endpoints: readonly Endpoint[]
}

/** Where to look for kubeconfig files. */
export interface KubeconfigSearch {
  readonly flag?: string
  readonly environment?: string
  readonly home?: string
  readonly dataDirectory?: string
}

/**
 * The kubeconfig files to read, in merge order (see the module comment).
 * @throws CommandError when `--kubeconfig` names a missing file or no kubeconfig exists anywhere.
 */
export function kubeconfigFiles(search: KubeconfigSearch): string[] {
  if (search.flag !== undefined && search.flag !== '') {
    if (!existsSync(search.flag)) throw new CommandError(`the kubeconfig file ${search.flag} does not exist`)
    return [search.flag]
  }
  if (search.environment !== undefined && search.environment !== '') {
    const files = search.environment.split(':').filter((file) => file !== '' && existsSync(file))
    if (files.length > 0) return files
  }
  const candidates = [
    ...(search.home !== undefined ? [join(search.home, '.kube', 'config')] : []),
    ...(search.dataDirectory !== undefined ? [join(search.dataDirectory, 'kubeconfig')] : []),
  ]
  const found = candidates.find((file) => existsSync(file))
  if (found !== undefined) return [found]
  throw new CommandError(
    `no kubeconfig found (looked at ${[...(search.environment ? ['$KUBECONFIG'] : []), ...candidates].join(', ')}); ` +
      'save one with `flotilla kubeconfig > ~/.kube/config` or pass --kubeconfig FILE',
  )
}

/**
 * Reads and merges kubeconfig files.
 * @throws CommandError naming the file when one is not valid YAML or not a kubeconfig.
 */
export function loadKubeconfig(files: readonly string[]): Kubeconfig {
  const clusters = new Map<string, KubeconfigCluster>()
  const users = new Map<string, KubeconfigUser>()
  const contexts = new Map<string, KubeconfigContext>()
  let currentContext: string | undefined
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      throw new CommandError(`cannot read the kubeconfig ${file}: ${(error as Error).message}`, { cause: error })
    }
    const parsed = parseKubeconfig(text, resolve(dirname(file)), file)
    for (const [name, cluster] of parsed.clusters) if (!clusters.has(name)) clusters.set(name, cluster)
    for (const [name, user] of parsed.users) if (!users.has(name)) users.set(name, user)
    for (const [name, context] of parsed.contexts) if (!contexts.has(name)) contexts.set(name, context)
    currentContext ??= parsed.currentContext
  }
  return { clusters, users, contexts, currentContext, files }
}

/**
 * Parses one kubeconfig document. Relative file references resolve against `baseDirectory` (the
 * file's directory), as kubectl resolves them.
 * @throws CommandError when the text is not a kubeconfig.
 */
export function parseKubeconfig(text: string, baseDirectory: string, fileName = 'kubeconfig'): Kubeconfig {
  let document: unknown
  try {
    document = parseYaml(text)
  } catch (error) {
    throw new CommandError(`the kubeconfig ${fileName} is not valid YAML: ${(error as Error).message.split('\n')[0]}`, { cause: error })
  }
  if (document === null || document === undefined) document = {}
  if (!isRecord(document)) throw new CommandError(`the kubeconfig ${fileName} is not a mapping`)
  const clusters = new Map<string, KubeconfigCluster>()
  for (const entry of namedEntries(document['clusters'], 'cluster', fileName)) clusters.set(entry.name, parseCluster(entry.value, baseDirectory, fileName, entry.name))
  const users = new Map<string, KubeconfigUser>()
  for (const entry of namedEntries(document['users'], 'user', fileName)) users.set(entry.name, parseUser(entry.value, baseDirectory, fileName))
  const contexts = new Map<string, KubeconfigContext>()
  for (const entry of namedEntries(document['contexts'], 'context', fileName)) {
    const namespace = optionalString(entry.value['namespace'])
    contexts.set(entry.name, { cluster: optionalString(entry.value['cluster']) ?? '', user: optionalString(entry.value['user']) ?? '', ...(namespace !== undefined ? { namespace } : {}) })
  }
  const current = optionalString(document['current-context'])
  return { clusters, users, contexts, currentContext: current, files: [fileName] }
}

/**
 * The connection for a context (the current one unless `contextName` is given): its cluster's
 * server first, then the other servers of the same Flotilla cluster (same CA).
 * @throws CommandError when the context, its cluster or its user is missing.
 */
export function selectConnection(config: Kubeconfig, options: { contextName?: string; namespace?: string } = {}): Connection {
  const contextName = options.contextName ?? config.currentContext
  if (contextName === undefined || contextName === '') {
    throw new CommandError(`the kubeconfig (${config.files.join(', ')}) sets no current-context; pass --context NAME`)
  }
  const context = config.contexts.get(contextName)
  if (context === undefined) throw new CommandError(`context "${contextName}" does not exist in the kubeconfig (${config.files.join(', ')})`)
  const cluster = config.clusters.get(context.cluster)
  if (cluster === undefined) throw new CommandError(`cluster "${context.cluster}" of context "${contextName}" does not exist in the kubeconfig`)
  if (cluster.server === '') throw new CommandError(`cluster "${context.cluster}" has no server`)
  const user = context.user === '' ? {} : config.users.get(context.user)
  if (user === undefined) throw new CommandError(`user "${context.user}" of context "${contextName}" does not exist in the kubeconfig`)
  if (user.unsupported !== undefined) throw new CommandError(`user "${context.user}" authenticates with ${user.unsupported}, which flotilla does not support; use a token or a client certificate`)
  const endpoint = (name: string, entry: KubeconfigCluster): Endpoint => ({
    server: entry.server.replace(/\/+$/, ''),
    clusterName: name,
    ...(entry.certificateAuthority !== undefined ? { certificateAuthority: entry.certificateAuthority } : {}),
    insecureSkipTlsVerify: entry.insecureSkipTlsVerify,
    ...(entry.tlsServerName !== undefined ? { tlsServerName: entry.tlsServerName } : {}),
    user,
  })
  const endpoints = [endpoint(context.cluster, cluster)]
  const seen = new Set([endpoints[0]!.server])
  if (cluster.certificateAuthorityKey !== undefined) {
    for (const [name, other] of config.clusters) {
      if (name === context.cluster || other.certificateAuthorityKey !== cluster.certificateAuthorityKey) continue
      const candidate = endpoint(name, other)
      if (candidate.server === '' || seen.has(candidate.server)) continue
      seen.add(candidate.server)
      endpoints.push(candidate)
    }
  }
  return { contextName, namespace: options.namespace ?? context.namespace ?? 'default', endpoints }
}

function parseCluster(value: Record<string, unknown>, baseDirectory: string, fileName: string, name: string): KubeconfigCluster {
  const server = optionalString(value['server']) ?? ''
  if (server !== '' && !/^https?:\/\/[^/]+/.test(server)) throw new CommandError(`cluster "${name}" in ${fileName} has server "${server}"; expected https://host:port or http://host:port`)
  const data = optionalString(value['certificate-authority-data'])
  const file = optionalString(value['certificate-authority'])
  let certificateAuthority: string | undefined
  let certificateAuthorityKey: string | undefined
  if (data !== undefined) {
    certificateAuthority = Buffer.from(data, 'base64').toString('utf8')
    certificateAuthorityKey = `data:${data.replace(/\s+/g, '')}`
  } else if (file !== undefined) {
    const path = isAbsolute(file) ? file : join(baseDirectory, file)
    certificateAuthority = readReferencedFile(path, `certificate-authority of cluster "${name}"`)
    certificateAuthorityKey = `file:${path}`
  }
  const tlsServerName = optionalString(value['tls-server-name'])
  return {
    server,
    ...(certificateAuthority !== undefined ? { certificateAuthority } : {}),
    ...(certificateAuthorityKey !== undefined ? { certificateAuthorityKey } : {}),
    insecureSkipTlsVerify: value['insecure-skip-tls-verify'] === true,
    ...(tlsServerName !== undefined ? { tlsServerName } : {}),
  }
}

function parseUser(value: Record<string, unknown>, baseDirectory: string, fileName: string): KubeconfigUser {
  const fileOrData = (fileKey: string, dataKey: string, what: string): string | undefined => {
    const data = optionalString(value[dataKey])
    if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8')
    const file = optionalString(value[fileKey])
    if (file === undefined) return undefined
    return readReferencedFile(isAbsolute(file) ? file : join(baseDirectory, file), `${what} in ${fileName}`)
  }
  const tokenFile = optionalString(value['tokenFile'])
  const token = optionalString(value['token']) ?? (tokenFile !== undefined ? readReferencedFile(isAbsolute(tokenFile) ? tokenFile : join(baseDirectory, tokenFile), `tokenFile in ${fileName}`).trim() : undefined)
  const clientCertificate = fileOrData('client-certificate', 'client-certificate-data', 'client-certificate')
  const clientKey = fileOrData('client-key', 'client-key-data', 'client-key')
  const username = optionalString(value['username'])
  const password = optionalString(value['password'])
  const unsupported = value['exec'] !== undefined && value['exec'] !== null ? 'an exec plugin' : value['auth-provider'] !== undefined && value['auth-provider'] !== null ? 'an auth provider' : undefined
  return {
    ...(token !== undefined ? { token } : {}),
    ...(clientCertificate !== undefined ? { clientCertificate } : {}),
    ...(clientKey !== undefined ? { clientKey } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(unsupported !== undefined && token === undefined && clientCertificate === undefined ? { unsupported } : {}),
  }
}

function readReferencedFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new CommandError(`cannot read ${what} (${path}): ${(error as Error).message}`, { cause: error })
  }
}

/** `[{name, <field>: {...}}]` entries; malformed ones are a CommandError naming the file. */
function namedEntries(list: unknown, field: string, fileName: string): Array<{ name: string; value: Record<string, unknown> }> {
  if (list === undefined || list === null) return []
  if (!Array.isArray(list)) throw new CommandError(`the kubeconfig ${fileName}: ${field}s must be a list`)
  return list.map((entry: unknown, index) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string') throw new CommandError(`the kubeconfig ${fileName}: ${field}s[${index}] has no name`)
    const value = entry[field]
    return { name: entry['name'], value: isRecord(value) ? value : {} }
  })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}
