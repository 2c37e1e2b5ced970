/**
 * Runs one in-process path of the controllers benchmark in its own process, so that its CPU time
 * and its peak RSS are its own and not those of an earlier path:
 *
 *   node bench/controllers-inprocess-child.ts '{"nodes":1000,"replicas":10000,"seed":1}'
 *
 * Prints the ControllersPathResult as one JSON line on stdout (nothing else goes there).
 */
import { benchInProcess, type InProcessOptions } from './controllers-inprocess.ts'

const options = JSON.parse(process.argv[2] ?? '{}') as InProcessOptions
const result = await benchInProcess(options)
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
