// Goal: the lab's naming and address plan is right for any size: unique names and addresses,
// fixed MACs, zones round-robin, everything prefixed `fl-`, paths under the lab directory and
// bad sizes refused. Method: the pure plan function, no root needed.
import t from 'tap'
import { InvalidConfigError } from '../../lib/errors.ts'
import { labPlan, MAX_HOSTS } from '../../chaos/src/lab/plan.ts'

t.test('three hosts in three zones', async (t) => {
  const plan = labPlan({ hosts: 3, zones: 3, directory: '/tmp/lab-x' })
  t.equal(plan.switchNetns, 'fl-ul')
  t.equal(plan.overlay, 'host-gw', 'host-gw is the default overlay')
  t.equal(plan.stateFile, '/tmp/lab-x/lab.json')
  t.same(plan.hosts.map((host) => host.name), ['h1', 'h2', 'h3'])
  t.same(plan.hosts.map((host) => host.zone), ['z1', 'z2', 'z3'])
  const h2 = plan.hosts[1]!
  t.equal(h2.netns, 'fl-h2')
  t.equal(h2.underlayIp, '10.250.0.2')
  t.equal(h2.underlayMac, '02:00:0a:fa:00:02')
  t.equal(h2.podCidr, '10.244.2.0/24')
  t.equal(h2.engineBridgeIp, '10.244.2.1/24')
  t.equal(h2.dockerSocket, '/run/fl-h2/docker.sock')
  t.equal(h2.flotillaData, '/tmp/lab-x/h2/flotilla')
  t.equal(h2.cgroup, 'fl-h2')
  t.equal(h2.p2pListen, '/ip4/10.250.0.2/tcp/7946')
  t.equal(h2.kubeListen, '10.250.0.2:6443')
})

t.test('zones are assigned round-robin', async (t) => {
  const plan = labPlan({ hosts: 5, zones: 3 })
  t.same(plan.hosts.map((host) => host.zone), ['z1', 'z2', 'z3', 'z1', 'z2'])
  t.equal(plan.directory, '/tmp/flotilla-lab', 'the default lab directory')
})

t.test('the largest lab has unique names, addresses and MACs', async (t) => {
  const plan = labPlan({ hosts: MAX_HOSTS, zones: 7, overlay: 'vxlan' })
  for (const field of ['name', 'netns', 'underlayIp', 'underlayMac', 'podCidr', 'dockerSocket', 'cgroup'] as const) {
    t.equal(new Set(plan.hosts.map((host) => host[field])).size, MAX_HOSTS, `${field} is unique`)
  }
  t.ok(plan.hosts.every((host) => host.netns.startsWith('fl-') && host.cgroup.startsWith('fl-') && host.runDirectory.startsWith('/run/fl-')), 'every machine-wide name has the fl- prefix')
  t.ok(plan.hosts.every((host) => /^02:00:0a:fa:00:[0-9a-f]{2}$/.test(host.underlayMac)), 'locally administered MACs')
  t.equal(plan.hosts.at(-1)!.underlayMac, '02:00:0a:fa:00:fa')
  t.equal(plan.overlay, 'vxlan')
})

t.test('bad sizes are refused', async (t) => {
  t.throws(() => labPlan({ hosts: 0, zones: 1 }), InvalidConfigError)
  t.throws(() => labPlan({ hosts: MAX_HOSTS + 1, zones: 1 }), InvalidConfigError)
  t.throws(() => labPlan({ hosts: 2.5, zones: 1 }), InvalidConfigError)
  t.throws(() => labPlan({ hosts: 2, zones: 3 }), InvalidConfigError, 'more zones than hosts')
  t.throws(() => labPlan({ hosts: 2, zones: 0 }), InvalidConfigError)
  t.throws(() => labPlan({ hosts: 2, zones: 1, overlay: 'flannel' as 'vxlan' }), InvalidConfigError)
})
