/**
 * The wire format of endpoint gossip: what one node says about the pods it runs, so that every
 * other node's service proxy can follow readiness and deletions without waiting for Raft.
 *
 * A report is versioned JSON (`{"v":1,"node":…,"sequence":…,"complete":…,"pods":[…]}`), bounded
 * in bytes, pods and string lengths, and validated field by field on receipt: bytes from the
 * network are untrusted, so decoding never throws — a malformed message comes back as a reason
 * the receiver counts, and goes no further.
 *
 * Sequence numbers order one node's reports (gossip does not). They are restart-safe because a
 * publisher starts from the wall clock in milliseconds and only ever moves up (see
 * `nextSequence`), so a restarted daemon's reports supersede its previous life's.
 */
import { isIP } from 'node:net'

/** The version this module writes and the only one it reads. */
export const ENDPOINT_REPORT_VERSION = 1
/** Largest encoded report (a node with POD_REPORTS_MAX long-named pods stays well under it). */
export const ENDPOINT_REPORT_BYTES_MAX = 512 * 1024
/** Pods one report may carry; the kubelet's default is 110 per node, so this is ample headroom. */
export const POD_REPORTS_MAX = 1000
/** A node name is a DNS subdomain. */
const NODE_NAME_LENGTH_MAX = 253
/** Kubernetes uids are 36-character UUIDs; other sources (tests, imports) get some slack. */
const UID_LENGTH_MAX = 128
/** A namespace is a DNS label. */
const NAMESPACE_LENGTH_MAX = 63
/** A pod name is a DNS subdomain. */
const POD_NAME_LENGTH_MAX = 253

/** What a node says about one of its pods that has an IP. */
export interface PodReport {
  readonly uid: string
  readonly namespace: string
  readonly name: string
  /** status.podIP. */
  readonly ip: string
  /** The pod's Ready condition is True. */
  readonly ready: boolean
  /** The pod has a deletionTimestamp (it is shutting down). */
  readonly terminating: boolean
}

/** One node's report about all of its pods with an IP. */
export interface EndpointReport {
  readonly node: string
  /** Increases with every report of the node, across restarts. */
  readonly sequence: number
  /**
   * True when `pods` lists every pod of the node that has an IP, so a pod missing from it is gone.
   * False while the node's agent is still finding its pods after a start, or when it has more
   * than POD_REPORTS_MAX: then only the listed pods may be acted on.
   */
  readonly complete: boolean
  /** Sorted by uid. */
  readonly pods: readonly PodReport[]
}

/** Why a received message was dropped. */
export type ReportRejection = 'too-large' | 'not-json' | 'wrong-version' | 'malformed'

/** The result of decoding: a report, or why the bytes are not one. */
export type ReportDecoding = { readonly ok: true; readonly report: EndpointReport } | { readonly ok: false; readonly reason: ReportRejection }

/** The next sequence number after `previous`: the wall clock in ms, or one more when that is not ahead. */
export function nextSequence(previous: number, realtimeMs: number): number {
  return Math.max(previous + 1, Math.floor(realtimeMs))
}

/**
 * The bytes of `report`, within ENDPOINT_REPORT_BYTES_MAX. A report with more than
 * POD_REPORTS_MAX pods (or too long to fit) is cut to its first pods by uid and marked
 * incomplete, so that receivers do not take the pods left out for gone.
 */
export function encodeReport(report: EndpointReport): Uint8Array {
  const pods = [...report.pods].sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))
  let podsMax = POD_REPORTS_MAX
  for (;;) {
    const truncated = pods.length > podsMax
    const wire = {
      v: ENDPOINT_REPORT_VERSION,
      node: report.node,
      sequence: report.sequence,
      complete: report.complete && !truncated,
      pods: pods.slice(0, podsMax).map((pod) => ({ uid: pod.uid, namespace: pod.namespace, name: pod.name, ip: pod.ip, ready: pod.ready, terminating: pod.terminating })),
    }
    const bytes = new TextEncoder().encode(JSON.stringify(wire))
    if (bytes.byteLength <= ENDPOINT_REPORT_BYTES_MAX || podsMax === 0) return bytes
    podsMax = Math.floor(Math.min(podsMax, pods.length) / 2)
  }
}

/** A report from gossip bytes, or the reason they are not a valid one. Never throws. */
export function decodeReport(data: Uint8Array): ReportDecoding {
  if (data.byteLength > ENDPOINT_REPORT_BYTES_MAX) return { ok: false, reason: 'too-large' }
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch {
    return { ok: false, reason: 'not-json' }
  }
  if (!isRecord(value)) return { ok: false, reason: 'malformed' }
  if (value['v'] !== ENDPOINT_REPORT_VERSION) return { ok: false, reason: 'wrong-version' }
  const { node, sequence, complete, pods } = value
  if (!isBoundedString(node, NODE_NAME_LENGTH_MAX)) return { ok: false, reason: 'malformed' }
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0) return { ok: false, reason: 'malformed' }
  if (typeof complete !== 'boolean' || !Array.isArray(pods) || pods.length > POD_REPORTS_MAX) return { ok: false, reason: 'malformed' }
  const decoded: PodReport[] = []
  const uids = new Set<string>()
  for (const entry of pods) {
    const pod = decodePod(entry)
    // Two entries for one uid would make the report ambiguous; a correct publisher never sends them.
    if (pod === undefined || uids.has(pod.uid)) return { ok: false, reason: 'malformed' }
    uids.add(pod.uid)
    decoded.push(pod)
  }
  decoded.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))
  return { ok: true, report: { node, sequence, complete, pods: decoded } }
}

/** The pod report in `value`, or undefined when it breaks the wire format's rules (bounds, an IP). */
export function decodePod(value: unknown): PodReport | undefined {
  if (!isRecord(value)) return undefined
  const { uid, namespace, name, ip, ready, terminating } = value
  if (!isBoundedString(uid, UID_LENGTH_MAX) || !isBoundedString(namespace, NAMESPACE_LENGTH_MAX) || !isBoundedString(name, POD_NAME_LENGTH_MAX)) return undefined
  if (typeof ip !== 'string' || isIP(ip) === 0) return undefined
  if (typeof ready !== 'boolean' || typeof terminating !== 'boolean') return undefined
  return { uid, namespace, name, ip, ready, terminating }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isBoundedString(value: unknown, lengthMax: number): value is string {
  return typeof value === 'string' && value !== '' && value.length <= lengthMax
}

/** True when two reports say the same about the same pods (sequence numbers aside). */
export function sameReportContent(a: EndpointReport, b: EndpointReport): boolean {
  if (a.node !== b.node || a.complete !== b.complete || a.pods.length !== b.pods.length) return false
  return a.pods.every((pod, index) => samePodReport(pod, b.pods[index]))
}

export function samePodReport(a: PodReport, b: PodReport | undefined): boolean {
  return b !== undefined && a.uid === b.uid && a.namespace === b.namespace && a.name === b.name && a.ip === b.ip && a.ready === b.ready && a.terminating === b.terminating
}
