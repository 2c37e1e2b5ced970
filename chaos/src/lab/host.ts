/**
 * One emulated host's network: its namespace, a veth to the switch with a fixed MAC and the
 * underlay address, loopback, forwarding. Deliberately no default route: nothing a host runs can
 * reach beyond the lab's underlay.
 */
import { attempt, ipIn, run } from './exec.ts'
import type { HostPlan, LabPlan } from './plan.ts'
import { UNDERLAY_PREFIX_LENGTH } from './plan.ts'

export async function hostNetworkUp(plan: LabPlan, host: HostPlan): Promise<void> {
  await run('ip', ['netns', 'add', host.netns])
  await ipIn(plan.switchNetns, ['link', 'add', host.switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'address', host.underlayMac, 'netns', host.netns])
  await ipIn(plan.switchNetns, ['link', 'set', host.switchPort, 'master', plan.switchBridge, 'up'])
  await ipIn(host.netns, ['link', 'set', 'lo', 'up'])
  await ipIn(host.netns, ['addr', 'add', `${host.underlayIp}/${UNDERLAY_PREFIX_LENGTH}`, 'dev', 'eth0'])
  await ipIn(host.netns, ['link', 'set', 'eth0', 'up'])
  await run('nsenter', [`--net=/run/netns/${host.netns}`, '--', 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
}

/** Deletes the host's namespace and its switch port; either being absent is fine. */
export async function hostNetworkDown(plan: LabPlan, host: HostPlan): Promise<void> {
  await attempt('ip', ['netns', 'del', host.netns])
  // The veth pair dies with the namespace; the explicit delete covers a namespace that was never made.
  await attempt('ip', ['-n', plan.switchNetns, 'link', 'del', host.switchPort])
}
