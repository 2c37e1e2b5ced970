/**
 * The Docker create options for sandboxes and containers (pure: config in, request body out).
 */
import type Docker from 'dockerode'

import type { ContainerConfig, ContainerResources, Mount, SandboxConfig } from '../runtime.ts'

/**
 * Log rotation for every object: json-file (what `docker logs` and our log streams read) with a
 * bound, so a chatty container cannot fill the node's disk. Two files keep the latest output
 * readable right after a rotation.
 */
export const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } } as const

/** Docker's floor for CpuShares (the kernel's minimum cpu.shares). */
const CPU_SHARES_MIN = 2

export function sandboxCreateOptions(options: { name: string; image: string; labels: Record<string, string>; config: SandboxConfig }): Docker.ContainerCreateOptions {
  const { config } = options
  const hostConfig: Docker.HostConfig = {
    NetworkMode: config.network,
    // Containers join the sandbox's IPC namespace, which Docker only allows for a shareable one.
    IpcMode: 'shareable',
    LogConfig: { ...LOG_CONFIG },
    RestartPolicy: { Name: 'no' },
  }
  // Docker refuses DNS settings for the host's network namespace (it uses the host's resolv.conf).
  if (config.dns !== undefined && config.network !== 'host') {
    hostConfig.Dns = [...config.dns.servers]
    hostConfig.DnsSearch = [...config.dns.searches]
    hostConfig.DnsOptions = [...config.dns.options]
  }
  return {
    name: options.name,
    Image: options.image,
    Hostname: config.hostname,
    Labels: options.labels,
    HostConfig: hostConfig,
  }
}

export function containerCreateOptions(options: { name: string; sandboxId: string; labels: Record<string, string>; config: ContainerConfig }): Docker.ContainerCreateOptions {
  const { config, sandboxId } = options
  const body: Docker.ContainerCreateOptions = {
    name: options.name,
    Image: config.image,
    Env: (config.env ?? []).map((variable) => `${variable.name}=${variable.value}`),
    Labels: options.labels,
    Tty: config.tty === true,
    OpenStdin: config.stdin === true,
    StdinOnce: config.stdinOnce === true,
    AttachStdin: config.stdin === true,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      // The pod's containers share the sandbox's network and IPC namespaces but not its PID
      // namespace (Kubernetes' default shareProcessNamespace: false).
      NetworkMode: `container:${sandboxId}`,
      IpcMode: `container:${sandboxId}`,
      Binds: (config.mounts ?? []).map(bindFromMount),
      Privileged: config.privileged === true,
      LogConfig: { ...LOG_CONFIG },
      RestartPolicy: { Name: 'no' },
      ...resourceLimits(config.resources),
    },
  }
  // Kubernetes semantics: `command` replaces the image's ENTRYPOINT and drops its CMD, `args`
  // replaces its CMD. Docker drops the image's CMD too when Entrypoint is set, so mapping the two
  // fields one to one is enough.
  if (config.command !== undefined) body.Entrypoint = [...config.command]
  if (config.args !== undefined) body.Cmd = [...config.args]
  if (config.workingDir !== undefined && config.workingDir !== '') body.WorkingDir = config.workingDir
  if (config.runAsUser !== undefined) body.User = String(config.runAsUser)
  return body
}

/** `host:container[:ro]`, the Binds syntax. */
export function bindFromMount(mount: Mount): string {
  return `${mount.hostPath}:${mount.containerPath}${mount.readOnly ? ':ro' : ''}`
}

/** The HostConfig fields for CPU and memory limits. */
export function resourceLimits(resources: ContainerResources | undefined): Docker.HostConfig {
  const limits: Docker.HostConfig = {}
  if (resources === undefined) return limits
  if (resources.cpuLimitMillis !== undefined && resources.cpuLimitMillis > 0) {
    limits.NanoCpus = Math.round(resources.cpuLimitMillis * 1_000_000)
  }
  if (resources.cpuRequestMillis !== undefined && resources.cpuRequestMillis > 0) {
    limits.CpuShares = Math.max(CPU_SHARES_MIN, Math.floor((resources.cpuRequestMillis * 1024) / 1000))
  }
  if (resources.memoryLimitBytes !== undefined && resources.memoryLimitBytes > 0) {
    limits.Memory = Math.floor(resources.memoryLimitBytes)
    // Without swap in the limit a container over its memory would swap instead of being
    // OOM-killed, which is not what Kubernetes promises.
    limits.MemorySwap = limits.Memory
  }
  return limits
}
