import assert from 'node:assert/strict';

import { createBalancer, parseNodes } from '../../data-plane/balancer/index.js';
import type { Balancer, PickContext, UpstreamNode } from '../../data-plane/balancer/index.js';

const NO_KEY: PickContext = {};

/** Host names of `count` picks in a row. */
function sequence(balancer: Balancer, count: number, ctx: PickContext = NO_KEY): string[] {
  return Array.from({ length: count }, () => balancer.pick(ctx)?.host ?? 'none');
}

/** How many times each node id was picked. */
function tally(picks: Iterable<UpstreamNode | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of picks) {
    const id = node?.id ?? 'none';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function keys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `user-${i}`);
}

describe('parseNodes', function () {
  const cases: {
    name: string;
    nodes: unknown;
    scheme: 'http' | 'https';
    want: Partial<UpstreamNode>[];
  }[] = [
    {
      name: 'a host:port map',
      nodes: { '127.0.0.1:8080': 3 },
      scheme: 'http',
      want: [{ host: '127.0.0.1', port: 8080, weight: 3, priority: 0, id: '127.0.0.1:8080' }],
    },
    {
      name: 'port 80 for http when the map key has none',
      nodes: { 'example.com': 1 },
      scheme: 'http',
      want: [{ host: 'example.com', port: 80, id: 'example.com:80' }],
    },
    {
      name: 'port 443 for https when the map key has none',
      nodes: { 'example.com': 1 },
      scheme: 'https',
      want: [{ host: 'example.com', port: 443, id: 'example.com:443' }],
    },
    {
      name: 'bracketed IPv6 map keys with and without a port',
      nodes: { '[::1]:8080': 1, '[fe80::2]': 2 },
      scheme: 'http',
      want: [
        { host: '::1', port: 8080, id: '[::1]:8080' },
        { host: 'fe80::2', port: 80, id: '[fe80::2]:80' },
      ],
    },
    {
      name: 'the array form with priority and default port',
      nodes: [
        { host: 'a.local', port: 81, weight: 2, priority: 5 },
        { host: 'b.local', weight: 1 },
      ],
      scheme: 'https',
      want: [
        { host: 'a.local', port: 81, weight: 2, priority: 5, id: 'a.local:81' },
        { host: 'b.local', port: 443, weight: 1, priority: 0, id: 'b.local:443' },
      ],
    },
    {
      name: 'IPv6 hosts in the array form, bare or bracketed',
      nodes: [
        { host: '::1', port: 9000, weight: 1 },
        { host: '[::2]', weight: 1 },
      ],
      scheme: 'http',
      want: [
        { host: '::1', id: '[::1]:9000' },
        { host: '::2', id: '[::2]:80' },
      ],
    },
    {
      name: 'zero-weight nodes',
      nodes: { 'a:1': 0 },
      scheme: 'http',
      want: [{ host: 'a', port: 1, weight: 0 }],
    },
  ];

  for (const { name, nodes, scheme, want } of cases) {
    it(`should read ${name}`, function () {
      const got = parseNodes(nodes, scheme);
      assert.equal(got.length, want.length);
      // Each case names only the fields it is about.
      want.forEach((fields, i) => assert.deepEqual({ ...got[i], ...fields }, got[i]));
    });
  }

  const invalid: [string, unknown][] = [
    ['a string', 'a:80'],
    ['null', null],
    ['an out-of-range port', { 'a:70000': 1 }],
    ['a non-numeric port', { 'a:http': 1 }],
    ['a negative weight', { 'a:80': -1 }],
    ['an array item without a host', [{ weight: 1 }]],
  ];

  for (const [name, nodes] of invalid) {
    it(`should reject ${name}`, function () {
      assert.throws(() => parseNodes(nodes, 'http'), TypeError);
    });
  }
});

describe('createBalancer', function () {
  for (const type of ['random', 'constructor']) {
    it(`should reject the unknown type ${type}`, function () {
      assert.throws(() => createBalancer({ nodes: { 'a:80': 1 }, type }), /roundrobin/);
    });
  }

  const types = ['roundrobin', 'chash', 'least_conn'];

  for (const type of types) {
    describe(`${type} (shared behaviour)`, function () {
      const ctx: PickContext = { hashKey: 'user-1' };

      it('should never pick a zero-weight node', function () {
        const balancer = createBalancer({ nodes: { 'a:80': 1, 'zero:80': 0, 'b:80': 2 }, type });
        const picks = keys(300).map((hashKey) => balancer.pick({ hashKey }));
        assert.equal(tally(picks).get('zero:80'), undefined);
        assert.equal(balancer.pick(ctx, new Set(['a:80', 'b:80'])), undefined);
      });

      it('should return undefined when every node is excluded', function () {
        const balancer = createBalancer({ nodes: { 'a:80': 1, 'b:80': 1 }, type });
        assert.equal(balancer.pick(ctx, new Set(['a:80', 'b:80'])), undefined);
        assert.equal(balancer.pick(NO_KEY, new Set(['a:80', 'b:80'])), undefined);
      });

      it('should return undefined with no nodes', function () {
        assert.equal(createBalancer({ nodes: {}, type }).pick(ctx), undefined);
      });

      it('should use lower priorities only when all higher nodes are excluded', function () {
        const balancer = createBalancer({
          nodes: [
            { host: 'low', port: 80, weight: 9, priority: -1 },
            { host: 'high1', port: 80, weight: 1, priority: 10 },
            { host: 'high2', port: 80, weight: 1, priority: 10 },
            { host: 'mid', port: 80, weight: 1 },
          ],
          type,
        });

        const hosts = new Set(keys(50).map((hashKey) => balancer.pick({ hashKey })?.host));
        assert.deepEqual([...hosts].sort(), ['high1', 'high2']);
        assert.equal(balancer.pick(ctx, new Set(['high1:80', 'high2:80']))?.host, 'mid');
        assert.equal(balancer.pick(ctx, new Set(['high1:80', 'high2:80', 'mid:80']))?.host, 'low');
      });
    });
  }
});

describe('roundrobin balancer', function () {
  it('should interleave a 5:1:1 split the way nginx does', function () {
    const balancer = createBalancer({ nodes: { 'a:80': 5, 'b:80': 1, 'c:80': 1 } });
    const cycle = ['a', 'a', 'b', 'a', 'c', 'a', 'a'];
    assert.deepEqual(sequence(balancer, 14), [...cycle, ...cycle]);
  });

  const shares: [string, Record<string, number>, number][] = [
    ['5:1:1', { 'a:80': 5, 'b:80': 1, 'c:80': 1 }, 700],
    ['3:2', { 'a:80': 3, 'b:80': 2 }, 500],
    ['1:1:1:1', { 'a:80': 1, 'b:80': 1, 'c:80': 1, 'd:80': 1 }, 400],
  ];

  for (const [name, nodes, picks] of shares) {
    it(`should give exact ${name} shares over ${picks} picks`, function () {
      const balancer = createBalancer({ nodes, type: 'roundrobin' });
      const counts = tally(Array.from({ length: picks }, () => balancer.pick(NO_KEY)));
      const total = Object.values(nodes).reduce((sum, w) => sum + w, 0);
      for (const [id, weight] of Object.entries(nodes)) {
        assert.equal(counts.get(id), (picks * weight) / total, id);
      }
    });
  }

  it('should skip excluded nodes and keep the others proportional', function () {
    const balancer = createBalancer({ nodes: { 'a:80': 2, 'b:80': 1, 'c:80': 5 } });
    const exclude = new Set(['c:80']);
    const counts = tally(Array.from({ length: 300 }, () => balancer.pick(NO_KEY, exclude)));
    assert.deepEqual(Object.fromEntries(counts), { 'a:80': 200, 'b:80': 100 });
  });
});

describe('chash balancer', function () {
  const four = { 'a:80': 1, 'b:80': 1, 'c:80': 1, 'd:80': 1 };

  it('should send the same key to the same node every time', function () {
    const balancer = createBalancer({ nodes: four, type: 'chash' });
    for (const hashKey of keys(100)) {
      const first = balancer.pick({ hashKey });
      for (let i = 0; i < 20; i++) assert.equal(balancer.pick({ hashKey }), first);
    }
  });

  it('should agree across balancers built from the same nodes in any order', function () {
    const one = createBalancer({ nodes: four, type: 'chash' });
    const reversed = Object.fromEntries(Object.entries(four).reverse());
    const two = createBalancer({ nodes: reversed, type: 'chash' });
    for (const hashKey of keys(1000)) {
      assert.equal(one.pick({ hashKey })?.id, two.pick({ hashKey })?.id);
    }
  });

  it('should spread 10,000 keys roughly in proportion to weight', function () {
    const nodes = { 'a:80': 1, 'b:80': 2, 'c:80': 3, 'd:80': 2 };
    const balancer = createBalancer({ nodes, type: 'chash' });
    const counts = tally(keys(10_000).map((hashKey) => balancer.pick({ hashKey })));

    for (const [id, weight] of Object.entries(nodes)) {
      const expected = (10_000 * weight) / 8;
      const got = counts.get(id) ?? 0;
      assert.ok(Math.abs(got - expected) < expected * 0.3, `${id}: ${got} vs ${expected}`);
    }
  });

  it('should move only the removed node keys when one of four is removed', function () {
    const before = createBalancer({ nodes: four, type: 'chash' });
    const after = createBalancer({
      nodes: { 'a:80': 1, 'b:80': 1, 'd:80': 1 },
      type: 'chash',
    });

    let moved = 0;
    for (const hashKey of keys(10_000)) {
      const was = before.pick({ hashKey })?.id;
      const now = after.pick({ hashKey })?.id;
      if (was === now) continue;
      moved++;
      assert.equal(was, 'c:80', `${hashKey} moved off a node that stayed`);
    }
    assert.ok(moved / 10_000 < 0.4, `moved ${moved}`);
    assert.ok(moved > 0);
  });

  it('should walk the ring to the next node when the owner is excluded', function () {
    const balancer = createBalancer({ nodes: four, type: 'chash' });
    const removed = createBalancer({ nodes: { 'a:80': 1, 'b:80': 1, 'd:80': 1 }, type: 'chash' });

    for (const hashKey of keys(200)) {
      const owner = balancer.pick({ hashKey });
      assert.ok(owner !== undefined);
      const next = balancer.pick({ hashKey }, new Set([owner.id]));
      assert.notEqual(next?.id, owner.id);
      assert.equal(balancer.pick({ hashKey }, new Set([owner.id])), next);
      // The next node on the ring is where the key would go without the owner.
      if (owner.id === 'c:80') assert.equal(next?.id, removed.pick({ hashKey })?.id);
    }
  });

  const missing: [string, PickContext][] = [
    ['absent', {}],
    ['empty', { hashKey: '' }],
  ];

  for (const [name, ctx] of missing) {
    it(`should fall back to round-robin when the key is ${name}`, function () {
      const balancer = createBalancer({ nodes: { 'a:80': 1, 'b:80': 1 }, type: 'chash' });
      assert.deepEqual(sequence(balancer, 4, ctx), ['a', 'b', 'a', 'b']);
    });
  }

  it('should still route by weight when weights exceed the ring size', function () {
    const balancer = createBalancer({ nodes: { 'a:80': 100_000, 'b:80': 1 }, type: 'chash' });
    const counts = tally(keys(1000).map((hashKey) => balancer.pick({ hashKey })));
    assert.equal(counts.get('none'), undefined);
    assert.ok((counts.get('a:80') ?? 0) > 990);
  });
});

describe('least_conn balancer', function () {
  function nodeOf(balancer: Balancer, id: string): UpstreamNode {
    for (let i = 0; i < 10; i++) {
      const node = balancer.pick(NO_KEY);
      if (node?.id === id) return node;
    }
    throw new Error(`${id} never picked`);
  }

  it('should pick the idle node', function () {
    const balancer = createBalancer({
      nodes: { 'a:80': 1, 'b:80': 1, 'c:80': 1 },
      type: 'least_conn',
    });
    balancer.acquire(nodeOf(balancer, 'a:80'));
    balancer.acquire(nodeOf(balancer, 'c:80'));
    assert.equal(sequence(balancer, 3).join(), 'b,b,b');
  });

  it('should prefer a node again once its requests are released', function () {
    const balancer = createBalancer({ nodes: { 'a:80': 1, 'b:80': 1 }, type: 'least_conn' });
    const a = nodeOf(balancer, 'a:80');
    balancer.acquire(a);
    balancer.acquire(a);
    balancer.acquire(nodeOf(balancer, 'b:80'));
    assert.equal(balancer.pick(NO_KEY)?.id, 'b:80');

    balancer.release(a);
    balancer.release(a);
    balancer.release(a); // a stray release must not drive the count negative
    assert.equal(balancer.pick(NO_KEY)?.id, 'a:80');
  });

  it('should take turns among equally loaded nodes', function () {
    const balancer = createBalancer({
      nodes: { 'a:80': 1, 'b:80': 1, 'c:80': 1 },
      type: 'least_conn',
    });
    assert.deepEqual(sequence(balancer, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('should load nodes in proportion to weight', function () {
    const balancer = createBalancer({ nodes: { 'a:80': 3, 'b:80': 1 }, type: 'least_conn' });
    const picks: (UpstreamNode | undefined)[] = [];
    for (let i = 0; i < 40; i++) {
      const node = balancer.pick(NO_KEY);
      if (node !== undefined) balancer.acquire(node);
      picks.push(node);
    }
    assert.deepEqual(Object.fromEntries(tally(picks)), { 'a:80': 30, 'b:80': 10 });
  });

  it('should count requests per priority group', function () {
    const balancer = createBalancer({
      nodes: [
        { host: 'a', port: 80, weight: 1, priority: 1 },
        { host: 'b', port: 80, weight: 1, priority: 1 },
        { host: 'backup', port: 80, weight: 1 },
      ],
      type: 'least_conn',
    });
    balancer.acquire(nodeOf(balancer, 'a:80'));
    assert.equal(sequence(balancer, 2).join(), 'b,b');
  });
});
