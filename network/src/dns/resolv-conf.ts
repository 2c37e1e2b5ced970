/**
 * The resolver configuration a pod gets, pure: kubelet's dns.go (GetPodDNS) rules per dnsPolicy,
 * plus reading and writing resolv.conf text. The agent puts the result into the sandbox
 * (runtime SandboxConfig.dns) and the runtime writes /etc/resolv.conf from it.
 *
 * - ClusterFirst (the default): the node's cluster DNS address, search
 *   `<ns>.svc.<domain> svc.<domain> <domain>` followed by the host's own search domains, and
 *   `options ndots:5`. A hostNetwork pod with ClusterFirst gets Default instead (as kubelet does:
 *   only ClusterFirstWithHostNet gives a host-network pod the cluster DNS).
 * - ClusterFirstWithHostNet: as ClusterFirst, for host-network pods too.
 * - Default: the node's resolv.conf (nameservers, search, options) as it is.
 * - None: nothing but the pod's `dnsConfig`.
 * `spec.dnsConfig` is merged on top for every policy: nameservers and searches appended without
 * duplicates, options replacing those of the same name. Kubelet's limits then apply: at most 3
 * nameservers and 32 search domains of at most 2048 characters in all (the rest dropped).
 */

/** The configuration of a stub resolver; the shape of runtime SandboxConfig.dns. */
export interface ResolverConfig {
  readonly servers: readonly string[]
  readonly searches: readonly string[]
  /** Options as written in resolv.conf: `ndots:5`, `edns0`, … */
  readonly options: readonly string[]
}

/** The node facts a pod's resolver configuration depends on. */
export interface NodeDnsFacts {
  /** Where this node's cluster DNS server listens (usually one address, the node's). */
  readonly clusterDnsServers: readonly string[]
  readonly clusterDomain: string
  /** The node's own resolver configuration (from its /etc/resolv.conf). */
  readonly host: ResolverConfig
}

/** glibc's resolver reads at most 3 nameservers (MAXNS). */
export const NAMESERVERS_MAX = 3
/** Kubelet's MaxDNSSearchPaths and MaxDNSSearchListChars (since Kubernetes 1.28). */
export const SEARCHES_MAX = 32
export const SEARCH_CHARS_MAX = 2048

type Fields = Readonly<Record<string, unknown>>
function fields(value: unknown): Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {}
}
function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string' && item !== '') : []
}

/** Parses resolv.conf text; unknown directives and comments are ignored, `domain` counts as a search. */
export function parseResolvConf(content: string): ResolverConfig {
  const servers: string[] = []
  let searches: string[] = []
  const options: string[] = []
  for (const rawLine of content.split('\n')) {
    const line = rawLine.replace(/[#;].*$/, '').trim()
    const [keyword, ...values] = line.split(/\s+/)
    if (keyword === 'nameserver' && values[0] !== undefined) servers.push(values[0])
    // The last search or domain line wins (resolv.conf(5)).
    else if (keyword === 'search' || keyword === 'domain') searches = values.filter((value) => value !== '')
    else if (keyword === 'options') options.push(...values.filter((value) => value !== ''))
  }
  return { servers, searches, options }
}

/** resolv.conf text for a configuration (empty sections are left out). */
export function renderResolvConf(config: ResolverConfig): string {
  const lines = config.servers.map((server) => `nameserver ${server}`)
  if (config.searches.length > 0) lines.push(`search ${config.searches.join(' ')}`)
  if (config.options.length > 0) lines.push(`options ${config.options.join(' ')}`)
  return lines.map((line) => `${line}\n`).join('')
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)]
}

/** Options merged by name (the part before ':'); later ones replace earlier ones in place. */
function mergeOptions(base: readonly string[], overrides: readonly string[]): string[] {
  const byName = new Map<string, string>()
  for (const option of [...base, ...overrides]) byName.set(option.split(':')[0] as string, option)
  return [...byName.values()]
}

function limitSearches(searches: readonly string[]): string[] {
  const kept: string[] = []
  let chars = 0
  for (const search of searches) {
    if (kept.length === SEARCHES_MAX || chars + search.length + (kept.length > 0 ? 1 : 0) > SEARCH_CHARS_MAX) break
    chars += search.length + (kept.length > 0 ? 1 : 0)
    kept.push(search)
  }
  return kept
}

/** The pod's dnsPolicy after kubelet's defaulting (empty → ClusterFirst). */
export function effectiveDnsPolicy(pod: unknown): 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None' {
  const spec = fields(fields(pod)['spec'])
  const policy = spec['dnsPolicy']
  if (policy === 'Default' || policy === 'None') return policy
  if (policy === 'ClusterFirstWithHostNet') return 'ClusterFirstWithHostNet'
  return spec['hostNetwork'] === true ? 'Default' : 'ClusterFirst'
}

/** The resolver configuration of `pod` on a node. */
export function podResolverConfig(pod: unknown, node: NodeDnsFacts): ResolverConfig {
  const namespace = (fields(fields(pod)['metadata'])['namespace'] as string | undefined) || 'default'
  const domain = node.clusterDomain
  let base: ResolverConfig
  switch (effectiveDnsPolicy(pod)) {
    case 'ClusterFirst':
    case 'ClusterFirstWithHostNet':
      base = { servers: node.clusterDnsServers, searches: [`${namespace}.svc.${domain}`, `svc.${domain}`, domain, ...node.host.searches], options: ['ndots:5'] }
      break
    case 'Default':
      base = node.host
      break
    case 'None':
      base = { servers: [], searches: [], options: [] }
      break
  }
  const dnsConfig = fields(fields(fields(pod)['spec'])['dnsConfig'])
  const extraOptions = Array.isArray(dnsConfig['options'])
    ? dnsConfig['options'].flatMap((option) => {
        const name = fields(option)['name']
        const value = fields(option)['value']
        if (typeof name !== 'string' || name === '') return []
        return [typeof value === 'string' && value !== '' ? `${name}:${value}` : name]
      })
    : []
  return {
    servers: unique([...base.servers, ...strings(dnsConfig['nameservers'])]).slice(0, NAMESERVERS_MAX),
    searches: limitSearches(unique([...base.searches, ...strings(dnsConfig['searches'])])),
    options: mergeOptions(base.options, extraOptions),
  }
}
