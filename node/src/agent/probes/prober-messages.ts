/**
 * Error texts of the network probers in the shape Go's net package gives them, so events and
 * `kubectl describe` read as they do on a kubelet.
 */

/** `host:port`, with brackets around IPv6 addresses (Go's `net.JoinHostPort`). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

const DIAL_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ECONNRESET: 'read: connection reset by peer',
  ETIMEDOUT: 'i/o timeout',
}

/** `dial tcp 10.0.0.1:80: connect: connection refused` for a Node socket error. */
export function dialErrorMessage(address: string, error: Error): string {
  const code = 'code' in error && typeof error.code === 'string' ? error.code : ''
  return `dial tcp ${address}: ${DIAL_ERRORS[code] ?? error.message}`
}
