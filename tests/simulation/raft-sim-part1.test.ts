// Goal: Raft keeps its safety properties and a linearizable key-value register under message
// loss, duplication, reordering, partitions, crashes, restarts and membership churn. Method: the
// deterministic simulator (cluster-sim.ts) over a range of seeds; part 1 of 2, so that the
// range runs on both cores.
import t from 'tap'
import { runSeeds, seedRange } from './sim-seeds.ts'

const { first, count } = seedRange(1, 2)
if (count > 0) runSeeds(t, first, count)
else t.pass('no seeds in this part')
