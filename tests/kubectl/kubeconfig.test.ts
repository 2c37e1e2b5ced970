// Goal: the verbs find the same kubeconfig kubectl would, merge several files the same way, and
// derive the failover list of a Flotilla cluster (every node with the cluster's CA) without ever
// mixing in another cluster. Method: kubeconfig files in a temporary directory, checked through
// kubeconfigFiles, loadKubeconfig and selectConnection.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { kubeconfigFiles, loadKubeconfig, parseKubeconfig, selectConnection } from '../../node/src/kubectl/kubeconfig.ts'

const CA_A = Buffer.from('-----BEGIN CERTIFICATE-----\ncluster-a\n-----END CERTIFICATE-----\n').toString('base64')
const CA_B = Buffer.from('-----BEGIN CERTIFICATE-----\ncluster-b\n-----END CERTIFICATE-----\n').toString('base64')

/** The shape `flotilla kubeconfig` writes (daemon.ts mintKubeconfig): one cluster and context per node. */
const FLOTILLA_KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: alpha
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: ${CA_A}
- name: beta
  cluster:
    server: https://10.0.0.2:6443
    certificate-authority-data: ${CA_A}
- name: other
  cluster:
    server: https://192.168.9.9:6443
    certificate-authority-data: ${CA_B}
- name: gamma
  cluster:
    server: https://10.0.0.3:6443/
    certificate-authority-data: ${CA_A}
contexts:
- name: alpha
  context:
    cluster: alpha
    user: admin
    namespace: default
- name: beta
  context:
    cluster: beta
    user: admin
    namespace: team-b
- name: other
  context:
    cluster: other
    user: admin
current-context: alpha
users:
- name: admin
  user:
    token: secret-token
`

t.test('selectConnection puts the context first, then the other nodes with the same CA', async (t) => {
  const config = parseKubeconfig(FLOTILLA_KUBECONFIG, '/tmp')
  const current = selectConnection(config)
  t.equal(current.contextName, 'alpha')
  t.equal(current.namespace, 'default')
  t.same(current.endpoints.map((endpoint) => endpoint.server), ['https://10.0.0.1:6443', 'https://10.0.0.2:6443', 'https://10.0.0.3:6443'], 'the cluster with another CA is never a failover target; the trailing slash is dropped')
  t.equal(current.endpoints[0]!.user.token, 'secret-token')
  t.match(current.endpoints[1]!.certificateAuthority, /cluster-a/)
  const beta = selectConnection(config, { contextName: 'beta' })
  t.same(beta.endpoints.map((endpoint) => endpoint.clusterName), ['beta', 'alpha', 'gamma'])
  t.equal(beta.namespace, 'team-b', 'the context namespace')
  t.equal(selectConnection(config, { contextName: 'beta', namespace: 'x' }).namespace, 'x', '-n wins')
  t.equal(selectConnection(config, { contextName: 'other' }).namespace, 'default', 'no namespace in the context: default')
  t.same(selectConnection(config, { contextName: 'other' }).endpoints.map((endpoint) => endpoint.clusterName), ['other'])
})

t.test('clusters without a CA are never grouped for failover', async (t) => {
  const config = parseKubeconfig(
    'clusters:\n- name: a\n  cluster: {server: "http://127.0.0.1:1"}\n- name: b\n  cluster: {server: "http://127.0.0.1:2"}\ncontexts:\n- name: a\n  context: {cluster: a, user: ""}\ncurrent-context: a\n',
    '/tmp',
  )
  t.same(selectConnection(config).endpoints.map((endpoint) => endpoint.server), ['http://127.0.0.1:1'])
})

t.test('selectConnection explains what is missing', async (t) => {
  const config = parseKubeconfig(FLOTILLA_KUBECONFIG, '/tmp')
  t.throws(() => selectConnection(config, { contextName: 'nope' }), { name: 'CommandError', message: /context "nope" does not exist/ })
  t.throws(() => selectConnection(parseKubeconfig('contexts: []\n', '/tmp')), /sets no current-context/)
  t.throws(() => selectConnection(parseKubeconfig('contexts:\n- name: c\n  context: {cluster: gone, user: u}\ncurrent-context: c\n', '/tmp')), /cluster "gone" of context "c" does not exist/)
  t.throws(
    () => selectConnection(parseKubeconfig('clusters:\n- name: k\n  cluster: {server: "https://x:1"}\nusers:\n- name: u\n  user:\n    exec: {command: aws}\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n', '/tmp')),
    /authenticates with an exec plugin, which flotilla does not support/,
  )
  t.throws(() => parseKubeconfig('clusters: {}\n', '/tmp', 'bad.yaml'), /bad.yaml: clusters must be a list/)
  t.throws(() => parseKubeconfig('clusters:\n- name: k\n  cluster: {server: "10.0.0.1:6443"}\n', '/tmp'), /expected https:\/\/host:port/)
  t.throws(() => parseKubeconfig('a: [unclosed\n', '/tmp', 'broken.yaml'), /broken.yaml is not valid YAML/)
})

t.test('kubeconfigFiles searches --kubeconfig, $KUBECONFIG, ~/.kube/config, then the data directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-kubeconfig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const home = join(dir, 'home')
  const data = join(dir, 'data')
  mkdirSync(join(home, '.kube'), { recursive: true })
  mkdirSync(data)
  const homeConfig = join(home, '.kube', 'config')
  const dataConfig = join(data, 'kubeconfig')
  const first = join(dir, 'first')
  const second = join(dir, 'second')
  writeFileSync(dataConfig, FLOTILLA_KUBECONFIG)
  t.same(kubeconfigFiles({ home, dataDirectory: data }), [dataConfig], 'the data directory is the last resort')
  writeFileSync(homeConfig, FLOTILLA_KUBECONFIG)
  t.same(kubeconfigFiles({ home, dataDirectory: data }), [homeConfig])
  writeFileSync(first, 'current-context: from-first\n')
  writeFileSync(second, 'current-context: from-second\n')
  t.same(kubeconfigFiles({ environment: `${first}:${join(dir, 'missing')}:${second}`, home, dataDirectory: data }), [first, second], 'missing files in $KUBECONFIG are skipped')
  t.same(kubeconfigFiles({ flag: second, environment: first, home }), [second], '--kubeconfig wins')
  t.throws(() => kubeconfigFiles({ flag: join(dir, 'missing') }), /does not exist/)
  t.throws(() => kubeconfigFiles({ home: join(dir, 'nobody') }), /no kubeconfig found .*flotilla kubeconfig > ~\/\.kube\/config/)
})

t.test('loadKubeconfig merges files: the first definition of each name and the first current-context win', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-kubeconfig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nfrom-file\n-----END CERTIFICATE-----\n')
  writeFileSync(join(dir, 'token'), 'file-token\n')
  const first = join(dir, 'first')
  const second = join(dir, 'second')
  writeFileSync(first, 'clusters:\n- name: k\n  cluster: {server: "https://first:6443", certificate-authority: ca.crt}\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n')
  writeFileSync(second, 'clusters:\n- name: k\n  cluster: {server: "https://second:6443"}\nusers:\n- name: u\n  user: {tokenFile: token}\ncurrent-context: c\n')
  const config = loadKubeconfig([first, second])
  const connection = selectConnection(config)
  t.equal(connection.endpoints[0]!.server, 'https://first:6443', 'the first file defines cluster k')
  t.match(connection.endpoints[0]!.certificateAuthority, /from-file/, 'relative paths resolve against the file directory')
  t.equal(connection.endpoints[0]!.user.token, 'file-token', 'tokenFile is read and trimmed')
})
