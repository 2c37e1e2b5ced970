/** Free TCP ports, for processes that must pick their listen port before they start. */
import { createServer } from 'node:net'

/** A port that is free on `host` right now (the OS picks it; another process may take it later). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}
