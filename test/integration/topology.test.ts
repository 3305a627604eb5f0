// Proves the test topology itself, with plain routing and no NAT, so that a later NAT test failure points at the
// daemon and not at the plumbing. Needs root (network namespaces).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { buildGatewayTopology, type GatewayTopology } from '../../lab/topology.js';
import { startWhoamiServer, whoami } from '../../lab/whoami-client.js';

const notRoot = process.getuid?.() !== 0;

async function netnsList(): Promise<string[]> {
  const { stdout } = await execa('ip', ['netns', 'list']);
  // Lines look like "name (id: 3)" or just "name".
  return stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter(Boolean);
}

describe('gateway test topology', { skip: notRoot ? 'needs root to create network namespaces' : false }, () => {
  let topo: GatewayTopology | undefined;

  before(async () => {
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
  });

  after(async () => {
    if (!topo) return;
    const names = topo.namespaces.map((ns) => ns.name);
    await topo.destroy();
    const leftover = (await netnsList()).filter((name) => names.includes(name));
    assert.deepEqual(leftover, [], 'namespaces left behind after destroy()');
  });

  const env = (): GatewayTopology => {
    assert.ok(topo, 'topology was not built');
    return topo;
  };

  it('starts closed: the gateway does not forward and the server has no route to the pods', async () => {
    const { server, pods, addr } = env();
    await assert.rejects(server.ip(['route', 'get', addr.pods.a.v4]), /unreachable/i);
    // Also shows that whoami reports a dropped connection as a failure rather than hanging.
    const result = await whoami(pods.a, addr.server.v4, 8080, 1000);
    assert.deepEqual(result, { ok: false, error: 'ETIMEDOUT' });
  });

  it('podA reaches the server with its own addresses once the gateway routes without NAT', async () => {
    const { gateway, server, pods, addr } = env();
    await gateway.sysctl({ 'net.ipv4.ip_forward': 1, 'net.ipv6.conf.all.forwarding': 1 });
    await gateway.ip(['route', 'add', addr.podRange.v4, 'via', addr.node.v4]);
    await gateway.ip(['-6', 'route', 'add', addr.podRange.v6, 'via', addr.node.v6]);
    // Test-only return route: in real tests the server never learns pod addresses, NAT hides them.
    await server.ip(['route', 'add', addr.podRange.v4, 'via', addr.gateway.outside4]);
    await server.ip(['-6', 'route', 'add', addr.podRange.v6, 'via', addr.gateway.outside6]);

    assert.deepEqual(await whoami(pods.a, addr.server.v4), { ok: true, seenAs: addr.pods.a.v4 });
    assert.deepEqual(await whoami(pods.a, addr.server.v6), { ok: true, seenAs: addr.pods.a.v6 });
  });
});
