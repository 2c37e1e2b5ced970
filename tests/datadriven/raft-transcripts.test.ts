// Goal: each protocol scenario in consensus/testdata/*.txt behaves exactly as its transcript
// says (messages, state changes, applied entries). Method: the datadriven runner over the
// RaftInteraction environment; REWRITE=1 regenerates the transcripts for review.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { RaftInteraction } from './raft-interaction.ts'
import { runDataDriven } from './runner.ts'

const directory = join(import.meta.dirname, '../../consensus/testdata')
for (const file of readdirSync(directory).filter((name) => name.endsWith('.txt')).sort()) {
  t.test(`transcript ${file}`, async (t) => {
    const interaction = new RaftInteraction()
    const mismatches = runDataDriven(join(directory, file), (command) => interaction.execute(command))
    for (const mismatch of mismatches) {
      t.equal(mismatch.actual, mismatch.expected, `${file}:${mismatch.line} ${mismatch.command}`)
    }
    t.equal(mismatches.length, 0, `${file} matches its transcript`)
  })
}
