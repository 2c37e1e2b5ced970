/**
 * A datadriven test runner in the style of cockroachdb/datadriven (used by etcd-raft): a file is a
 * sequence of blocks
 *
 *   command arg1 key=value
 *   ----
 *   expected output
 *
 * separated by blank lines; `#` lines are comments. The runner executes each command and compares
 * its output. With REWRITE=1 it writes the actual output back into the file instead: read the
 * diff before committing it.
 */
import { readFileSync, writeFileSync } from 'node:fs'

export interface Command {
  readonly name: string
  /** Positional arguments. */
  readonly args: readonly string[]
  /** key=value arguments. */
  readonly options: ReadonlyMap<string, string>
  readonly line: number
}

interface Block {
  readonly header: string[]
  readonly command: Command
  readonly expected: string
}

function parseCommand(text: string, line: number): Command {
  const words = text.trim().split(/\s+/)
  const args: string[] = []
  const options = new Map<string, string>()
  for (const word of words.slice(1)) {
    const equals = word.indexOf('=')
    if (equals > 0) options.set(word.slice(0, equals), word.slice(equals + 1))
    else args.push(word)
  }
  return { name: words[0]!, args, options, line }
}

function parseFile(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.split('\n')
  const blocks: Block[] = []
  let header: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.trim() === '' || line.startsWith('#')) {
      header.push(line)
      continue
    }
    const command = parseCommand(line, i + 1)
    if (lines[i + 1] !== '----') throw new Error(`line ${i + 2}: expected ---- after command "${line}"`)
    i += 2
    const expected: string[] = []
    while (i < lines.length && lines[i] !== '') expected.push(lines[i++]!)
    // Leave the blank line that ended the block to the next block's header.
    i--
    blocks.push({ header, command, expected: expected.join('\n') })
    header = []
  }
  return { blocks, trailer: header }
}

/** Runs the file through `execute`; returns mismatches (or rewrites the file under REWRITE=1). */
export function runDataDriven(path: string, execute: (command: Command) => string): Array<{ line: number; command: string; expected: string; actual: string }> {
  const { blocks, trailer } = parseFile(readFileSync(path, 'utf8'))
  const mismatches: Array<{ line: number; command: string; expected: string; actual: string }> = []
  const rewritten: string[] = []
  for (const block of blocks) {
    const actual = execute(block.command).replace(/\n+$/, '') || 'ok'
    const commandText = [block.command.name, ...block.command.args, ...[...block.command.options].map(([k, v]) => `${k}=${v}`)].join(' ')
    if (actual !== block.expected) mismatches.push({ line: block.command.line, command: commandText, expected: block.expected, actual })
    rewritten.push(...block.header, commandText, '----', actual)
  }
  rewritten.push(...trailer)
  if (process.env['REWRITE'] === '1') {
    writeFileSync(path, rewritten.join('\n').replace(/\n*$/, '\n'))
    return []
  }
  return mismatches
}
