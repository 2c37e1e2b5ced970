/**
 * What every verb works with: the output streams, the connection chosen from the kubeconfig and
 * global flags, the REST client and the discovery catalog. The kubeconfig is read, and discovery
 * runs, only when a verb first needs them (and at most once per command), so `cluster status`
 * works without a kubeconfig and `logs` does no discovery at all.
 */
import { selectConnection, kubeconfigFiles, loadKubeconfig, type Connection, type KubeconfigSearch } from './kubeconfig.ts'
import { ResourceCatalog } from './resource-catalog.ts'
import { RestClient } from './rest-client.ts'

/** Where a verb writes and reads, so that tests can capture it. */
export interface CommandIo {
  /** Standard output. */
  write(text: string): void
  /** Standard error. */
  error(text: string): void
  /** True when standard output is a terminal (live progress displays). */
  readonly isTty: boolean
  /** The whole of standard input (for `-f -`). */
  readStdin(): Promise<string>
  /** Milliseconds since the epoch (ages in tables and describe). */
  nowMs(): number
}

/** The global flags, already parsed. */
export interface GlobalOptions {
  readonly kubeconfig: KubeconfigSearch
  readonly context?: string
  /** `-n`: overrides the context's namespace. */
  readonly namespace?: string
  /** `--request-timeout`; undefined for the client's default. */
  readonly requestTimeoutMs?: number
  /** `--data`: the node directory `cluster status` asks about. */
  readonly dataDirectory: string
}

export class CommandContext {
  readonly io: CommandIo
  readonly options: GlobalOptions
  private connectionValue: Connection | undefined
  private clientValue: RestClient | undefined
  private catalogValue: Promise<ResourceCatalog> | undefined

  constructor(io: CommandIo, options: GlobalOptions) {
    this.io = io
    this.options = options
  }

  /** The kubeconfig context in force. @throws CommandError when there is no usable kubeconfig. */
  get connection(): Connection {
    this.connectionValue ??= selectConnection(loadKubeconfig(kubeconfigFiles(this.options.kubeconfig)), {
      ...(this.options.context !== undefined ? { contextName: this.options.context } : {}),
      ...(this.options.namespace !== undefined ? { namespace: this.options.namespace } : {}),
    })
    return this.connectionValue
  }

  /** The namespace for namespaced requests: `-n`, else the context's, else `default`. */
  get namespace(): string {
    return this.connection.namespace
  }

  get client(): RestClient {
    this.clientValue ??= new RestClient({
      endpoints: this.connection.endpoints,
      ...(this.options.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.options.requestTimeoutMs } : {}),
      onFailover: (message) => this.io.error(`Warning: ${message}\n`),
    })
    return this.clientValue
  }

  /** The server's resource types (discovered on first use). */
  catalog(): Promise<ResourceCatalog> {
    this.catalogValue ??= ResourceCatalog.discover(this.client)
    return this.catalogValue
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.clientValue?.close()
  }
}
