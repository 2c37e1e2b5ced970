/**
 * The underlay: a "switch" network namespace holding one bridge, with a port per host. It lives in
 * its own namespace, not the root one, because there Docker's FORWARD policy DROP plus
 * br_netfilter would drop all bridged IPv4; it is also where fault injection will live, out of
 * reach of the daemons under test that own the host namespaces.
 */
import { attempt, ipIn, run } from './exec.ts'
import type { LabPlan } from './plan.ts'

export async function switchUp(plan: LabPlan): Promise<void> {
  await run('ip', ['netns', 'add', plan.switchNetns])
  await ipIn(plan.switchNetns, ['link', 'set', 'lo', 'up'])
  await ipIn(plan.switchNetns, ['link', 'add', plan.switchBridge, 'type', 'bridge'])
  await ipIn(plan.switchNetns, ['link', 'set', plan.switchBridge, 'up'])
  // Every new namespace starts with br_netfilter on; a switch must forward frames untouched.
  await run('nsenter', [`--net=/run/netns/${plan.switchNetns}`, '--', 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0'])
}

/** Removes the switch namespace (and with it every port left on the bridge); absent is fine. */
export async function switchDown(plan: LabPlan): Promise<void> {
  await attempt('ip', ['netns', 'del', plan.switchNetns])
}

/** The network namespaces that exist now, by name. */
export async function listNetns(): Promise<string[]> {
  const output = await run('ip', ['netns', 'list'])
  return output
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '')
}
