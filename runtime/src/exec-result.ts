/**
 * `execSync` for any runtime: runs an ExecSession to completion with a deadline and bounded
 * output, as probes need. Both runtimes share it so a probe times out the same way on each.
 */
import type { Readable } from 'node:stream'

import type { Timers } from '../../lib/timers.ts'
import type { ExecResult, ExecSession } from './runtime.ts'

/** Output kept per stream; the rest is read and dropped (the kubelet keeps 10 KiB of probe output too). */
export const EXEC_OUTPUT_BYTES_MAX = 10 * 1024

/** Reads a stream to its end, keeping its first `limitBytes` bytes. */
function boundedText(stream: Readable | undefined, limitBytes: number): { readonly ended: Promise<void>; text(): string } {
  const chunks: Buffer[] = []
  let keptBytes = 0
  if (stream === undefined) return { ended: Promise.resolve(), text: () => '' }
  const ended = new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      if (keptBytes >= limitBytes) return
      const piece = bytes.subarray(0, limitBytes - keptBytes)
      chunks.push(piece)
      keptBytes += piece.length
    })
    stream.once('end', () => resolve())
    stream.once('close', () => resolve())
    stream.once('error', () => resolve())
  })
  return { ended, text: () => Buffer.concat(chunks).toString('utf8') }
}

/**
 * Waits for the session's exit code and the end of its output, or for `timeoutMs` (then closes the
 * session and reports `timedOut` with exit code -1 and the output so far).
 */
export async function collectExecResult(session: ExecSession, timeoutMs: number, timers: Timers): Promise<ExecResult> {
  session.stdin?.end()
  const stdout = boundedText(session.stdout, EXEC_OUTPUT_BYTES_MAX)
  const stderr = boundedText(session.stderr, EXEC_OUTPUT_BYTES_MAX)
  let timer: { cancel(): void } | undefined
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = timers.after(timeoutMs, () => resolve('timeout'))
  })
  const finished = Promise.all([session.exitCode, stdout.ended, stderr.ended]).then(([exitCode]) => exitCode)
  const outcome = await Promise.race([finished, timedOut])
  timer?.cancel()
  if (outcome === 'timeout') {
    session.close()
    return { exitCode: -1, stdout: stdout.text(), stderr: stderr.text(), timedOut: true }
  }
  return { exitCode: outcome, stdout: stdout.text(), stderr: stderr.text(), timedOut: false }
}
