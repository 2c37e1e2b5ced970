/**
 * The cluster's certificate authority and each node's serving certificate, made with the openssl
 * command-line tool (Debian's `openssl`; Node can verify certificates but not issue them).
 *
 * The CA is created once at `flotilla init` and replicated through the store, so every node can
 * issue its own serving certificate for the addresses it listens on; kubeconfigs carry the CA.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FlotillaError } from '../../../../lib/errors.ts'

const run = promisify(execFile)

export class CertificateError extends FlotillaError {
  override name = 'CertificateError'
}

export interface KeyAndCertificate {
  readonly certPem: string
  readonly keyPem: string
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run('openssl', [...args], { cwd, timeout: 30_000 })
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? (error as Error).message
    throw new CertificateError(`openssl ${args[0]} failed: ${stderr.trim()}`, { cause: error })
  }
}

async function inTemporaryDirectory<T>(work: (directory: string) => Promise<T>): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), 'flotilla-tls-'))
  try {
    return await work(directory)
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

/** A new self-signed CA (EC P-256, 10 years). */
export async function createCertificateAuthority(commonName: string): Promise<KeyAndCertificate> {
  return inTemporaryDirectory(async (directory) => {
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key'], directory)
    await openssl(
      ['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '3650', '-subj', `/CN=${commonName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt'],
      directory,
    )
    return { certPem: readFileSync(join(directory, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(directory, 'ca.key'), 'utf8') }
  })
}

/** A serving certificate for `ipAddresses` and `dnsNames`, signed by `ca` (EC P-256, ~2 years). */
export async function issueServingCertificate(
  ca: KeyAndCertificate,
  options: { readonly commonName: string; readonly ipAddresses: readonly string[]; readonly dnsNames: readonly string[]; readonly validDays?: number },
): Promise<KeyAndCertificate> {
  if (options.ipAddresses.length + options.dnsNames.length === 0) throw new CertificateError('A serving certificate needs at least one address or name')
  return inTemporaryDirectory(async (directory) => {
    writeFileSync(join(directory, 'ca.crt'), ca.certPem)
    writeFileSync(join(directory, 'ca.key'), ca.keyPem, { mode: 0o600 })
    const names = [...options.ipAddresses.map((address) => `IP:${address}`), ...options.dnsNames.map((name) => `DNS:${name}`)]
    writeFileSync(join(directory, 'ext.cnf'), `subjectAltName=${names.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`)
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'node.key'], directory)
    await openssl(['req', '-new', '-key', 'node.key', '-subj', `/CN=${options.commonName}`, '-out', 'node.csr'], directory)
    await openssl(
      ['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-sha256', '-days', String(options.validDays ?? 825), '-extfile', 'ext.cnf', '-out', 'node.crt'],
      directory,
    )
    return { certPem: readFileSync(join(directory, 'node.crt'), 'utf8'), keyPem: readFileSync(join(directory, 'node.key'), 'utf8') }
  })
}
